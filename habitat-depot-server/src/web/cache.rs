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

/// The pages' cache.
#[derive(Default)]
pub struct PageCache {
    names: Mutex<HashMap<Vec<OriginName>, (Instant, Names)>>,
}

impl PageCache {
    /// The package names a viewer whose private scope is `private_origins` may see: from the
    /// cache while fresh, else from the store.
    pub async fn names(
        &self,
        state: &AppState,
        private_origins: &[OriginName],
    ) -> StoreResult<Names> {
        if let Some(names) = self.fresh(private_origins) {
            return Ok(names);
        }
        let names: Names = Arc::new(state.metadata.package_names(None, private_origins).await?);
        let mut cache = self.lock();
        if cache.len() >= MAX_SCOPES {
            cache.clear();
        }
        cache.insert(private_origins.to_vec(), (Instant::now(), names.clone()));
        Ok(names)
    }

    fn fresh(&self, private_origins: &[OriginName]) -> Option<Names> {
        let cache = self.lock();
        let (at, names) = cache.get(private_origins)?;
        (at.elapsed() < FRESH_FOR).then(|| names.clone())
    }

    /// The map; a poisoned lock still holds a whole map (each change is one insert or clear).
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<OriginName>, (Instant, Names)>> {
        self.names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
