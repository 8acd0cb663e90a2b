//! What the busiest pages would otherwise ask the store on every request, kept in memory a
//! few seconds: the visible package names (for the home page's count, search and the origin
//! page), per visibility scope, and the pages themselves as anonymous viewers see them. One
//! cache per router (so per depot process).
//!
//! Both are exact for this process's own writes: every request that may change something (any
//! method but `GET` and `HEAD`, API and forms alike) moves the [`Generation`] on when it ends,
//! and nothing read before that is used after it. Writes made by another process (another
//! instance of a scale-out depot on the same PostgreSQL, or `hab-depot` commands on the
//! server's shell) show within [`FRESH_FOR`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use habitat_core::OriginName;

use crate::AppState;
use crate::identity::session::Viewer;
use crate::store::StoreResult;

/// How long a list of names or a page is used before it is read again (when this process
/// changed nothing meanwhile).
pub const FRESH_FOR: Duration = Duration::from_secs(5);

/// Pages kept at most, and their bytes at most; past either the page cache starts over.
const MAX_PAGES: usize = 4096;
const MAX_PAGE_BYTES: usize = 32 << 20;

/// A page larger than this is not kept.
const MAX_ONE_PAGE: usize = 256 << 10;

/// Scopes kept at most; past that the cache starts over (scopes are the viewers' memberships,
/// so there are few distinct ones in practice).
const MAX_SCOPES: usize = 256;

/// Every visible origin/name pair, by origin and name.
pub type Names = Arc<Vec<(OriginName, String)>>;

/// One scope's names: the last list read (if any: when, at which generation) and the lock its
/// refresher holds.
#[derive(Default)]
struct Slot {
    loaded: Option<(Instant, u64, Names)>,
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

/// The pages' cache. A list older than [`FRESH_FOR`] has one refresher: the request that
/// takes its scope's lock reads the names again while the others keep serving the old list, so
/// a stale moment never makes every request in flight walk the names at once. A list read
/// before a write of this process is never served again: every request waits for the new one.
#[derive(Default)]
pub struct PageCache {
    names: Mutex<HashMap<Vec<OriginName>, Slot>>,
    pages: Mutex<Pages>,
    generation: Generation,
}

/// This process's count of requests that may have changed something.
#[derive(Default)]
pub struct Generation(AtomicU64);

impl Generation {
    /// The current count.
    fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Counts one more change.
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Rendered pages by path and query, as anonymous viewers get them.
#[derive(Default)]
struct Pages {
    by_uri: HashMap<String, Kept>,
    bytes: usize,
}

/// One rendered page: when and at which generation it was rendered, its type and its body.
struct Kept {
    at: Instant,
    generation: u64,
    content_type: HeaderValue,
    body: Bytes,
}

impl PageCache {
    /// The package names a viewer whose private scope is `private_origins` may see: from the
    /// cache while fresh (or while another request reloads it), else from the store.
    pub async fn names(
        &self,
        state: &AppState,
        private_origins: &[OriginName],
    ) -> StoreResult<Names> {
        let generation = self.generation.now();
        let refresh = match self.find(private_origins, generation) {
            Found::Fresh(names) => return Ok(names),
            Found::Stale(names, refresh) => match refresh.try_lock_owned() {
                Ok(guard) => guard,
                // Someone else is reading them again: the old list serves meanwhile.
                Err(_) => return Ok(names),
            },
            Found::Missing(refresh) => {
                let guard = refresh.lock_owned().await;
                // Whoever held the lock before may have read them already.
                if let Found::Fresh(names) = self.find(private_origins, generation) {
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
            Some((Instant::now(), generation, names.clone()));
        drop(cache);
        drop(refresh);
        Ok(names)
    }

    fn find(&self, private_origins: &[OriginName], generation: u64) -> Found {
        let mut cache = self.lock();
        if cache.len() >= MAX_SCOPES && !cache.contains_key(private_origins) {
            cache.clear();
        }
        let slot = cache.entry(private_origins.to_vec()).or_default();
        match &slot.loaded {
            // Read before one of this process's writes: as good as none.
            Some((_, read_at, _)) if *read_at != generation => Found::Missing(slot.refresh.clone()),
            Some((at, _, names)) if at.elapsed() < FRESH_FOR => Found::Fresh(names.clone()),
            Some((_, _, names)) => Found::Stale(names.clone(), slot.refresh.clone()),
            None => Found::Missing(slot.refresh.clone()),
        }
    }

    /// The page kept for `uri`, if it is fresh and was rendered at `generation`.
    fn page(&self, uri: &str, generation: u64) -> Option<Response> {
        let pages = self.lock_pages();
        let kept = pages.by_uri.get(uri)?;
        if kept.generation != generation || kept.at.elapsed() >= FRESH_FOR {
            return None;
        }
        Some(
            (
                [(CONTENT_TYPE, kept.content_type.clone())],
                kept.body.clone(),
            )
                .into_response(),
        )
    }

    /// Keeps the page rendered for `uri` at `generation`.
    fn keep(&self, uri: String, generation: u64, content_type: HeaderValue, body: Bytes) {
        let mut pages = self.lock_pages();
        if pages.by_uri.len() >= MAX_PAGES || pages.bytes + body.len() > MAX_PAGE_BYTES {
            pages.by_uri.clear();
            pages.bytes = 0;
        }
        pages.bytes += body.len();
        let kept = Kept {
            at: Instant::now(),
            generation,
            content_type,
            body,
        };
        if let Some(old) = pages.by_uri.insert(uri, kept) {
            pages.bytes -= old.body.len();
        }
    }

    /// The pages; a poisoned lock still holds a usable map (a byte count out of step with it
    /// only makes the cache start over sooner or later).
    fn lock_pages(&self) -> std::sync::MutexGuard<'_, Pages> {
        self.pages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The map; a poisoned lock still holds a whole map (each change is one insert or clear).
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<OriginName>, Slot>> {
        self.names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The middleware over the whole router that moves the [`Generation`] on when a request that
/// may have changed something (any method but `GET` and `HEAD`) has been answered, whatever
/// the answer.
pub async fn count_changes(
    State(cache): State<Arc<PageCache>>,
    request: Request,
    next: Next,
) -> Response {
    let reads_only = matches!(*request.method(), Method::GET | Method::HEAD);
    let response = next.run(request).await;
    if !reads_only {
        cache.generation.bump();
    }
    response
}

/// Whether the page at `path` is the same for every anonymous viewer and may be kept: the
/// home page, search, packages, origins and channels (not a download, not sign-in).
fn keepable(path: &str) -> bool {
    path == "/"
        || path == "/search"
        || (path.starts_with("/pkgs/") && !path.ends_with("/download"))
        || path.starts_with("/origins/")
        || path.starts_with("/channels/")
}

/// The middleware of the web pages that answers anonymous viewers' `GET`s of the pages
/// [`keepable`] says from the cache while fresh, and keeps each such page it renders (a `200`
/// without cookies). A request with `Cache-Control: no-cache` (a browser's forced reload) is
/// rendered anew, and the new page kept.
pub async fn pages(State(cache): State<Arc<PageCache>>, request: Request, next: Next) -> Response {
    let anonymous = request
        .extensions()
        .get::<Viewer>()
        .is_some_and(|v| v.account().is_none());
    if !anonymous || request.method() != Method::GET || !keepable(request.uri().path()) {
        return next.run(request).await;
    }
    let uri = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
    let generation = cache.generation.now();
    let reload = request
        .headers()
        .get_all(CACHE_CONTROL)
        .iter()
        .any(|v| v.as_bytes().windows(8).any(|w| w == b"no-cache"));
    if !reload && let Some(page) = cache.page(&uri, generation) {
        return page;
    }
    let csrf = request
        .extensions()
        .get::<Viewer>()
        .map(|v| v.csrf_token().to_owned())
        .unwrap_or_default();
    let response = next.run(request).await;
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    let small = response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= MAX_ONE_PAGE as u64);
    let Some(content_type) = content_type.filter(|_| {
        small && response.status() == StatusCode::OK && !response.headers().contains_key(SET_COOKIE)
    }) else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, MAX_ONE_PAGE).await {
        Ok(body) => body,
        // A rendered page is all in memory: its body cannot fail.
        Err(e) => {
            tracing::error!(error = %e, "cannot read a rendered page");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be sent",
            )
                .into_response();
        }
    };
    // A page that carries this viewer's form token is not the same for every viewer.
    let personal = !csrf.is_empty() && body.windows(csrf.len()).any(|w| w == csrf.as_bytes());
    if !personal {
        cache.keep(uri, generation, content_type, body.clone());
    }
    Response::from_parts(parts, axum::body::Body::from(body))
}
