//! What the busiest pages would otherwise ask the store on every request: the visible
//! package names (for the home page's count and for search), kept a few seconds per
//! visibility scope. One cache per router (so per depot), in memory; a scale-out depot's
//! processes each keep their own, so a new name reaches every search within [`FRESH_FOR`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use habitat_core::OriginName;

use crate::AppState;
use crate::store::StoreResult;

/// How long a list of names is used before it is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

/// Scopes kept at most; past that the cache starts over (scopes are the viewers' memberships,
/// so there are few distinct ones in practice).
const MAX_SCOPES: usize = 256;

/// Every visible origin/name pair, by origin and name.
pub type Names = Arc<Vec<(OriginName, String)>>;

/// One scope's names: the last list read (if any) and the lock its refresher holds.
#[derive(Default)]
struct Slot {
    loaded: Option<(Instant, Names)>,
    refresh: Arc<tokio::sync::Mutex<()>>,
}

/// What a request found in the cache.
enum Found {
    /// A fresh list: use it.
    Fresh(Names),
    /// A stale list, and the lock whoever reloads it takes.
    Stale(Names, Arc<tokio::sync::Mutex<()>>),
    /// No list yet, and the lock whoever reads it takes.
    Missing(Arc<tokio::sync::Mutex<()>>),
}

/// The pages' cache. A stale list has one refresher: the request that takes its scope's lock
/// reads the names again while the others keep serving the old list, so a stale moment never
/// makes every request in flight walk the names at once.
#[derive(Default)]
pub struct PageCache {
    names: Mutex<HashMap<Vec<OriginName>, Slot>>,
}

impl PageCache {
    /// The package names a viewer whose private scope is `private_origins` may see: from the
    /// cache while fresh (or while another request reloads it), else from the store.
    pub async fn names(
        &self,
        state: &AppState,
        private_origins: &[OriginName],
    ) -> StoreResult<Names> {
        let refresh = match self.find(private_origins) {
            Found::Fresh(names) => return Ok(names),
            Found::Stale(names, refresh) => match refresh.try_lock_owned() {
                Ok(guard) => guard,
                // Someone else is reading them again: the old list serves meanwhile.
                Err(_) => return Ok(names),
            },
            Found::Missing(refresh) => {
                let guard = refresh.lock_owned().await;
                // Whoever held the lock before may have read them already.
                if let Found::Fresh(names) = self.find(private_origins) {
                    return Ok(names);
                }
                guard
            }
        };
        let names: Names = Arc::new(state.metadata.package_names(None, private_origins).await?);
        let mut cache = self.lock();
        if cache.len() >= MAX_SCOPES && !cache.contains_key(private_origins) {
            cache.clear();
        }
        cache.entry(private_origins.to_vec()).or_default().loaded =
            Some((Instant::now(), names.clone()));
        drop(cache);
        drop(refresh);
        Ok(names)
    }

    fn find(&self, private_origins: &[OriginName]) -> Found {
        let mut cache = self.lock();
        if cache.len() >= MAX_SCOPES && !cache.contains_key(private_origins) {
            cache.clear();
        }
        let slot = cache.entry(private_origins.to_vec()).or_default();
        match &slot.loaded {
            Some((at, names)) if at.elapsed() < FRESH_FOR => Found::Fresh(names.clone()),
            Some((_, names)) => Found::Stale(names.clone(), slot.refresh.clone()),
            None => Found::Missing(slot.refresh.clone()),
        }
    }

    /// The map; a poisoned lock still holds a whole map (each change is one insert or clear).
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<OriginName>, Slot>> {
        self.names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
