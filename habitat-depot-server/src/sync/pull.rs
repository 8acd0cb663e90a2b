//! The pull-through cache (docs/mirroring.md, "Pull-through cache"): for the origins of the
//! `[[upstream]]` entries, a read route that finds nothing here (the latest release of a name,
//! in a channel or not; a release's JSON or download; the origin's public keys) first fetches
//! it from the upstream, checks it exactly as an upload (the key checks of [`fetch`], then
//! [`crate::ingest`] through [`fetch::store`]), stores it after its transitive dependencies,
//! adds the channel membership the upstream has for the asked channel, and only then lets the
//! route answer from this depot's stores: a client never gets bytes that were not checked.
//!
//! - One fetch at a time per thing: concurrent requests for the same package (or the same
//!   `latest`, or key) wait on the one fetch in flight ([`PullThrough`] keeps them).
//! - Only origins that are listed and do not exist here, or were created by the cache (owned
//!   by the reserved account [`CACHE_ACCOUNT`], which no one can sign in as), are fetched: an
//!   origin made here by a user is never filled from an upstream.
//! - A `latest` answer is asked of the upstream again after `metadata_max_age`; when the
//!   upstream cannot be reached then, the cached answer is served and a warning logged. An
//!   upstream 404 is remembered for `negative_ttl`: no request for the same thing until then.
//!
//! The routes call [`latest`], [`release`], [`keys`] and [`key`] before they read the stores,
//! and keep deciding access with [`crate::authz`] as for any package.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName, PackageIdent, PackageTarget};
use habitat_depot_client::{Client, DepotUrl, RetryPolicy, Token, Visibility as ClientVisibility};
use tokio::sync::OnceCell;

use super::fetch::{self, FetchError, Remote, Upstream};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::ingest::IngestError;
use crate::settings::{Settings, SettingsError, UpstreamSettings, check_upstreams};
use crate::store::{ChannelAction, PackageFilter, StoreError, Visibility};

/// The account that owns the origins the cache creates, and that the audit log names for the
/// channel memberships it adds. Not a valid account name (`:`), so nobody can create, sign up
/// as or be given a token for it: a cached origin takes no upload and no promotion.
pub const CACHE_ACCOUNT: &str = "hab-depot:cache";

/// Remembered entries past which expired ones are dropped.
const PRUNE_AT: usize = 10_000;

/// Why something could not be fetched from an upstream. Cloned to every request waiting on
/// the same fetch.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// The upstream answered 404.
    #[error("the upstream `{url}` has no {what}")]
    NotFound {
        /// The upstream's URL.
        url: String,
        /// What was asked.
        what: String,
    },
    /// The upstream could not be reached, or answered with an error.
    #[error("the upstream `{url}` did not answer for {what}: {problem}")]
    Unavailable {
        /// The upstream's URL.
        url: String,
        /// What was asked.
        what: String,
        /// What went wrong.
        problem: String,
    },
    /// What the upstream sent failed a check (checksum, key, signature, archive...), or the
    /// package needs something no upstream serves: nothing of it was stored.
    #[error("{what} from the upstream `{url}` is refused: {problem}")]
    Refused {
        /// The upstream's URL.
        url: String,
        /// What was fetched.
        what: String,
        /// Which check failed.
        problem: String,
    },
    /// This depot's stores or files failed.
    #[error("{what}: {problem}")]
    Local {
        /// What was being done.
        what: String,
        /// What failed.
        problem: String,
    },
}

impl From<PullError> for ApiError {
    /// 404 for an upstream 404, 502 `upstream_unavailable` or `upstream_refused`, and 500 for a
    /// failure of this depot (docs/api.md, "Pull-through cache").
    fn from(error: PullError) -> Self {
        match &error {
            PullError::NotFound { .. } => ApiError::not_found(error.to_string()),
            PullError::Unavailable { .. } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                error.to_string(),
            ),
            PullError::Refused { .. } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_refused",
                error.to_string(),
            ),
            PullError::Local { .. } => ApiError::internal(&error),
        }
    }
}

type Outcome = Result<(), PullError>;

/// A fetch, boxed.
type Work = std::pin::Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// One `[[upstream]]`, with its client.
#[derive(Debug)]
struct Source {
    settings: UpstreamSettings,
    client: Client,
}

impl Source {
    /// The [`PullError`] of a client error while asking for `what`.
    fn failed(&self, what: &str, error: &habitat_depot_client::Error) -> PullError {
        use habitat_depot_client::Error as E;
        let (url, what) = (self.settings.url.clone(), what.to_owned());
        if error.is_not_found() {
            return PullError::NotFound { url, what };
        }
        let problem = error.to_string();
        match error {
            E::ChecksumMismatch { .. }
            | E::UnsafeFileName { .. }
            | E::Decode { .. }
            | E::UnexpectedKey { .. } => PullError::Refused { url, what, problem },
            E::Io { .. } => PullError::Local { what, problem },
            _ => PullError::Unavailable { url, what, problem },
        }
    }

    /// The [`PullError`] of a refused check.
    fn refused(&self, what: &str, problem: impl Into<String>) -> PullError {
        PullError::Refused {
            url: self.settings.url.clone(),
            what: what.to_owned(),
            problem: problem.into(),
        }
    }

    /// The [`PullError`] of a failed key check or store.
    fn fetch_failed(&self, what: &str, error: FetchError) -> PullError {
        match error {
            FetchError::Upstream { what, error } => self.failed(&what, &error),
            FetchError::Ingest(IngestError::Store(e)) | FetchError::Store(e) => local(what, e),
            e @ (FetchError::TrustedKey { .. } | FetchError::File { .. }) => local(what, e),
            other => self.refused(what, other.to_string()),
        }
    }
}

/// The [`PullError`] of a local failure.
fn local(what: &str, problem: impl std::fmt::Display) -> PullError {
    PullError::Local {
        what: what.to_owned(),
        problem: problem.to_string(),
    }
}

impl From<StoreError> for PullError {
    fn from(error: StoreError) -> Self {
        local("the stores", error)
    }
}

/// The cache's state, in [`AppState::pull`]: the upstreams with their clients, the fetches in
/// flight, and what was asked upstream lately (fresh `latest` answers, remembered 404s).
#[derive(Debug, Default)]
pub struct PullThrough {
    sources: Vec<Source>,
    /// The fetch in flight for each thing (`package IDENT TARGET`, `latest …`, `key …`).
    flights: Mutex<HashMap<String, Arc<OnceCell<Outcome>>>>,
    /// Until when each `latest` (or key list) answer is served without asking upstream.
    fresh: Mutex<HashMap<String, Instant>>,
    /// Until when each upstream 404 is remembered.
    missing: Mutex<HashMap<String, Instant>>,
}

impl PullThrough {
    /// The cache of the `[[upstream]]` entries of `settings` (checked; each token file read);
    /// with none, nothing is ever fetched.
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        check_upstreams(settings)?;
        let sources = settings
            .upstreams
            .iter()
            .map(|upstream| {
                let problem = |problem: String| SettingsError::Upstream {
                    url: upstream.url.clone(),
                    problem,
                };
                let url: DepotUrl = upstream
                    .url
                    .parse()
                    .map_err(|e| problem(format!("not a depot URL: {e}")))?;
                let token = upstream
                    .token()?
                    .map(Token::new)
                    .transpose()
                    .map_err(|e| problem(format!("the token: {e}")))?;
                // A client waits on these answers: a short retry, and a bounded connect.
                let client = Client::builder(url)
                    .token(token)
                    .retry(RetryPolicy::new(2, Duration::from_millis(200)))
                    .connect_timeout(Duration::from_secs(5))
                    .user_agent(concat!("hab-depot/", env!("CARGO_PKG_VERSION"), " (cache)"))
                    .build()
                    .map_err(|e| problem(format!("cannot make its client: {e}")))?;
                Ok(Source {
                    settings: upstream.clone(),
                    client,
                })
            })
            .collect::<Result<_, SettingsError>>()?;
        Ok(Self {
            sources,
            ..Self::default()
        })
    }

    /// The index of the upstream that serves `origin`, if one does.
    fn source_of(&self, origin: &OriginName) -> Option<usize> {
        self.sources
            .iter()
            .position(|s| s.settings.origins.contains(origin))
    }

    /// Runs `work` for `key` unless a run for it is in flight, in which case its outcome is
    /// awaited instead. The work runs in its own task, so a client that goes away does not
    /// cut it short.
    ///
    /// The work comes boxed: a fetch is a large future, which must not sit in the state of
    /// every route's future that may start one.
    async fn flight(&self, key: String, work: Work) -> Outcome {
        let cell = lock(&self.flights).entry(key.clone()).or_default().clone();
        let outcome = cell
            .get_or_init(|| async move {
                match tokio::spawn(work).await {
                    Ok(outcome) => outcome,
                    Err(e) => Err(local("a fetch from the upstream", e)),
                }
            })
            .await
            .clone();
        // Done: the next request for it starts afresh (and finds what was stored).
        let mut flights = lock(&self.flights);
        if flights.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            flights.remove(&key);
        }
        outcome
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `key` is remembered in `map` (and not expired).
fn remembered(map: &Mutex<HashMap<String, Instant>>, key: &str) -> bool {
    lock(map)
        .get(key)
        .is_some_and(|until| *until > Instant::now())
}

/// Remembers `key` in `map` for `ttl`.
fn remember(map: &Mutex<HashMap<String, Instant>>, key: String, ttl: Duration) {
    let now = Instant::now();
    let mut map = lock(map);
    if map.len() >= PRUNE_AT {
        map.retain(|_, until| *until > now);
    }
    map.insert(key, now + ttl);
}

/// The upstream serving `origin`, if `origin` is listed and may be filled from it: it does not
/// exist here, or the cache created it.
async fn cacheable(state: &AppState, origin: &OriginName) -> Result<Option<usize>, StoreError> {
    let Some(index) = state.pull.source_of(origin) else {
        return Ok(None);
    };
    Ok(match state.metadata.origin(origin).await? {
        Some(here) if here.owner != CACHE_ACCOUNT => None,
        _ => Some(index),
    })
}

/// Before a `latest` route reads the stores (`here`, its answer): when the origin is cached
/// and the answer is older than `metadata_max_age` (or was never asked), the upstream's latest
/// release is fetched and stored with its dependencies, and added to the channel asked.
///
/// When the upstream fails, the route's own answer is served if it found something (a warning
/// is logged), else 502. An upstream 404 leaves the route's answer as it is.
pub async fn latest<T>(
    state: &AppState,
    filter: &PackageFilter,
    target: PackageTarget,
    here: impl Future<Output = ApiResult<T>>,
) -> ApiResult<T> {
    let (Some(origin), Some(name)) = (&filter.origin, &filter.name) else {
        return here.await;
    };
    let Some(index) = state.pull.source_of(origin) else {
        return here.await;
    };
    let source = &state.pull.sources[index];
    if filter
        .channel
        .as_ref()
        .is_some_and(|c| !source.settings.serves_channel(c))
    {
        return here.await;
    }
    let mut asked = format!("{origin}/{name}");
    if let Some(version) = &filter.version {
        asked = format!("{asked}/{version}");
    }
    let channel = filter.channel.clone();
    let key = format!(
        "latest {asked} {target} {}",
        channel.as_ref().map(|c| c.as_str()).unwrap_or("")
    );
    if remembered(&state.pull.fresh, &key) || remembered(&state.pull.missing, &key) {
        return here.await;
    }
    let Ok(ident) = asked.parse::<PackageIdent>() else {
        return here.await;
    };
    if cacheable(state, origin).await?.is_none() {
        return here.await;
    }
    let work = Box::pin(refresh_latest(
        state.clone(),
        index,
        ident,
        target,
        channel,
        key.clone(),
    ));
    let refreshed = state.pull.flight(key, work).await;
    let answer = here.await;
    match refreshed {
        Ok(()) | Err(PullError::NotFound { .. }) => answer,
        Err(error) => match answer {
            Err(miss) if miss.status == StatusCode::NOT_FOUND => Err(error.into()),
            Ok(cached) => {
                tracing::warn!(%error, "serving the cached `latest` answer of {asked}");
                Ok(cached)
            }
            other => other,
        },
    }
}

/// Asks the upstream for its latest release of `ident`, stores it (with its dependencies)
/// when this depot lacks it, adds it to `channel`, and marks the answer fresh.
async fn refresh_latest(
    state: AppState,
    index: usize,
    ident: PackageIdent,
    target: PackageTarget,
    channel: Option<ChannelName>,
    key: String,
) -> Outcome {
    // A request that checked just before the previous refresh ended finds it done here.
    if remembered(&state.pull.fresh, &key) {
        return Ok(());
    }
    let source = &state.pull.sources[index];
    let place = channel
        .as_ref()
        .map(|c| format!(" in channel `{c}`"))
        .unwrap_or_default();
    let what = format!("latest release of {ident} for `{target}`{place}");
    let found = match source.client.latest(&ident, target, channel.as_ref()).await {
        Ok(found) => found,
        Err(e) => {
            let error = source.failed(&what, &e);
            if matches!(error, PullError::NotFound { .. }) {
                remember(&state.pull.missing, key, source.settings.negative_ttl());
            }
            return Err(error);
        }
    };
    if !ident.satisfied_by(&found.ident) || found.target != target {
        return Err(source.refused(
            &what,
            format!("it answered {} for `{}`", found.ident, found.target),
        ));
    }
    let remote = Remote {
        ident: found.ident.clone(),
        target,
        checksum: found.checksum,
        tdeps: found.tdeps,
        owner: found.owner,
    };
    store_package(&state, remote).await?;
    if let Some(channel) = &channel {
        add_membership(&state, &found.ident, target, channel).await?;
    }
    remember(&state.pull.fresh, key, source.settings.metadata_max_age());
    Ok(())
}

/// Before a route reads a release (its JSON, its download): when the origin is cached and the
/// release is not here, it is fetched and stored with its dependencies (and, for a channel's
/// route, added to that channel if the upstream has it there). An upstream 404 lets the route
/// answer its own 404; a failure is 502.
pub async fn release(
    state: &AppState,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
    channel: Option<&ChannelName>,
) -> ApiResult<()> {
    let Some(index) = state.pull.source_of(ident.origin()) else {
        return Ok(());
    };
    if channel.is_some_and(|c| !state.pull.sources[index].settings.serves_channel(c))
        || state.metadata.package(ident, target).await?.is_some()
    {
        return Ok(());
    }
    let key = format!(
        "release {ident} {target} {}",
        channel.map(|c| c.as_str()).unwrap_or("")
    );
    if remembered(&state.pull.missing, &key) || cacheable(state, ident.origin()).await?.is_none() {
        return Ok(());
    }
    let work = Box::pin(fetch_release(
        state.clone(),
        index,
        ident.clone(),
        target,
        channel.cloned(),
        key.clone(),
    ));
    match state.pull.flight(key, work).await {
        Ok(()) | Err(PullError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Asks the upstream for the release's JSON, stores it with its dependencies, and adds it to
/// `channel` when the upstream has it there.
async fn fetch_release(
    state: AppState,
    index: usize,
    ident: FullyQualifiedIdent,
    target: PackageTarget,
    channel: Option<ChannelName>,
    key: String,
) -> Outcome {
    // A request that checked just before the previous fetch ended finds it done here.
    if state.metadata.package(&ident, target).await?.is_some() {
        return Ok(());
    }
    let source = &state.pull.sources[index];
    let what = format!("package {ident} for `{target}`");
    let found = match source.client.package(&ident, target).await {
        Ok(found) => found,
        Err(e) => {
            let error = source.failed(&what, &e);
            if matches!(error, PullError::NotFound { .. }) {
                remember(&state.pull.missing, key, source.settings.negative_ttl());
            }
            return Err(error);
        }
    };
    if found.ident != ident || found.target != target {
        return Err(source.refused(
            &what,
            format!("it answered {} for `{}`", found.ident, found.target),
        ));
    }
    let remote = Remote {
        ident: ident.clone(),
        target,
        checksum: found.checksum,
        tdeps: found.tdeps,
        owner: found.owner,
    };
    store_package(&state, remote).await?;
    if let Some(channel) = &channel
        && found.channels.contains(channel)
    {
        add_membership(&state, &ident, target, channel).await?;
    }
    Ok(())
}

/// Stores `remote` and its transitive dependencies that are not here, dependencies first;
/// one fetch per package whoever asks.
async fn store_package(state: &AppState, remote: Remote) -> Outcome {
    let key = format!("package {} {}", remote.ident, remote.target);
    state
        .pull
        .flight(
            key,
            Box::pin(store_with_dependencies(state.clone(), remote)),
        )
        .await
}

/// [`store_package`]'s work.
async fn store_with_dependencies(state: AppState, remote: Remote) -> Outcome {
    if let Some(here) = state.metadata.package(&remote.ident, remote.target).await? {
        if here.checksum != remote.checksum {
            tracing::warn!(ident = %remote.ident, target = %remote.target, here = %here.checksum,
                upstream = %remote.checksum, "a cached package differs from the upstream's; kept");
        }
        return Ok(());
    }
    let target = remote.target;
    let mut dependencies = Vec::new();
    for dep in &remote.tdeps {
        if state.metadata.package(dep, target).await?.is_some() {
            continue;
        }
        let what = format!("package {} for `{target}`", remote.ident);
        let Some(index) = cacheable(&state, dep.origin()).await? else {
            return Err(PullError::Refused {
                url: upstream_url(&state, remote.ident.origin()),
                what,
                problem: format!(
                    "its dependency {dep} is not here, and origin `{}` is not cached from an \
                     upstream",
                    dep.origin()
                ),
            });
        };
        let source = &state.pull.sources[index];
        let found = source.client.package(dep, target).await.map_err(|e| {
            let problem = format!("its dependency {dep}: {e}");
            match source.failed(&what, &e) {
                PullError::NotFound { url, what } => PullError::Refused { url, what, problem },
                other => other,
            }
        })?;
        dependencies.push(Remote {
            ident: dep.clone(),
            target,
            checksum: found.checksum,
            tdeps: found.tdeps,
            owner: found.owner,
        });
    }
    super::dependencies_first(
        &mut dependencies,
        |d| d.tdeps.len(),
        |d| d.ident.to_string(),
    );
    for dep in dependencies {
        let key = format!("package {} {}", dep.ident, dep.target);
        state
            .pull
            .flight(key, Box::pin(store_if_missing(state.clone(), dep)))
            .await?;
    }
    store_one(&state, &remote).await
}

/// The URL of the upstream serving `origin`, for messages.
fn upstream_url(state: &AppState, origin: &OriginName) -> String {
    state
        .pull
        .source_of(origin)
        .map(|i| state.pull.sources[i].settings.url.clone())
        .unwrap_or_default()
}

/// Stores `remote` unless it is here (its dependencies are).
async fn store_if_missing(state: AppState, remote: Remote) -> Outcome {
    if state
        .metadata
        .package(&remote.ident, remote.target)
        .await?
        .is_some()
    {
        return Ok(());
    }
    store_one(&state, &remote).await
}

/// Downloads one package from the upstream of its origin, checks its signer's key (added here
/// only if the artifact verifies with it) and stores it through the ingest path.
async fn store_one(state: &AppState, remote: &Remote) -> Outcome {
    let (ident, target) = (&remote.ident, remote.target);
    let what = format!("package {ident} for `{target}`");
    let origin = ident.origin();
    let Some(index) = cacheable(state, origin).await? else {
        return Err(PullError::Refused {
            url: upstream_url(state, origin),
            what,
            problem: format!("origin `{origin}` exists here and is not a cached origin"),
        });
    };
    let source = &state.pull.sources[index];
    ensure_origin(state, source, origin).await?;
    let upstream = Upstream {
        client: source.client.clone(),
        pinned: fetch::pinned_keys(state).map_err(|e| local(&what, e))?,
    };
    let dir = tempfile::Builder::new()
        .prefix("pull-")
        .tempdir_in(&state.tmp_dir)
        .map_err(|e| local(&what, format!("cannot make a temp directory: {e}")))?;
    let downloaded = source
        .client
        .download(ident, target, None, dir.path(), |_| {})
        .await
        .map_err(|e| source.failed(&what, &e))?;
    if fetch::ensure_signer_key(state, &upstream, origin, &downloaded.path)
        .await
        .map_err(|e| source.fetch_failed(&what, e))?
    {
        tracing::info!(%origin, "added a public key of origin `{origin}` from the upstream");
    }
    match fetch::store(state, remote, downloaded).await {
        Ok(())
        | Err(FetchError::Ingest(
            IngestError::Exists { .. } | IngestError::StoredConcurrently { .. },
        )) => {
            tracing::info!(%ident, %target, upstream = %source.settings.url, "cached from the upstream");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(%ident, %target, error = %e, "refused a package from the upstream");
            Err(source.fetch_failed(&what, e))
        }
    }
}

/// Makes sure `origin` exists here as a cached origin: created, owned by [`CACHE_ACCOUNT`],
/// with the upstream's default package visibility, when it does not exist.
async fn ensure_origin(state: &AppState, source: &Source, origin: &OriginName) -> Outcome {
    let what = format!("origin `{origin}`");
    let not_cached = || source.refused(&what, "it exists here and is not a cached origin");
    match state.metadata.origin(origin).await? {
        Some(here) if here.owner == CACHE_ACCOUNT => return Ok(()),
        Some(_) => return Err(not_cached()),
        None => {}
    }
    let account = match state.metadata.account_by_name(CACHE_ACCOUNT).await? {
        Some(account) => account,
        None => match state.metadata.create_account(CACHE_ACCOUNT, None).await {
            Ok(account) => account,
            Err(StoreError::Conflict(_)) => state
                .metadata
                .account_by_name(CACHE_ACCOUNT)
                .await?
                .ok_or_else(|| local(&what, "the cache's account vanished"))?,
            Err(e) => return Err(e.into()),
        },
    };
    let visibility = match source.client.origin(origin).await {
        Ok(found) => match found.default_package_visibility {
            ClientVisibility::Private => Visibility::Private,
            _ => Visibility::Public,
        },
        Err(e) => return Err(source.failed(&what, &e)),
    };
    match state
        .metadata
        .create_origin(origin, account.id, visibility)
        .await
    {
        Ok(_) => {
            tracing::info!(%origin, upstream = %source.settings.url, "created a cached origin");
            Ok(())
        }
        Err(StoreError::Conflict(_)) => match state.metadata.origin(origin).await? {
            Some(here) if here.owner == CACHE_ACCOUNT => Ok(()),
            _ => Err(not_cached()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Adds the package to the channel here (created if missing), as the upstream has it.
async fn add_membership(
    state: &AppState,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
    channel: &ChannelName,
) -> Outcome {
    let Some(package) = state.metadata.package(ident, target).await? else {
        return Ok(());
    };
    let memberships = state.metadata.package_channels(package.id).await?;
    if memberships.iter().any(|m| &m.name == channel) {
        return Ok(());
    }
    let origin = ident.origin();
    if !state.metadata.channels(origin).await?.contains(channel) {
        match state.metadata.create_channel(origin, channel).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    state
        .metadata
        .change_channel(
            package.id,
            origin,
            channel,
            ChannelAction::Promote,
            CACHE_ACCOUNT,
        )
        .await?;
    Ok(())
}

/// Before the key list or latest key of an origin is read: when the origin is cached and its
/// list is older than `metadata_max_age`, the upstream's keys that are not here are added
/// (pinned `trusted_keys` apply; a revision here with another key is refused). When the
/// upstream fails, the keys here are served if there are any (a warning is logged), else 502.
pub async fn keys(state: &AppState, origin: &OriginName) -> ApiResult<()> {
    let Some(index) = state.pull.source_of(origin) else {
        return Ok(());
    };
    let key = format!("keys {origin}");
    if remembered(&state.pull.fresh, &key)
        || remembered(&state.pull.missing, &key)
        || cacheable(state, origin).await?.is_none()
    {
        return Ok(());
    }
    let work = Box::pin(refresh_keys(
        state.clone(),
        index,
        origin.clone(),
        key.clone(),
    ));
    match state.pull.flight(key, work).await {
        Ok(()) | Err(PullError::NotFound { .. }) => Ok(()),
        Err(error) => {
            if state.metadata.public_keys(origin).await?.is_empty() {
                Err(error.into())
            } else {
                tracing::warn!(%error, "serving the cached public keys of origin `{origin}`");
                Ok(())
            }
        }
    }
}

/// Adds the upstream's keys of `origin` that are not here, and marks the list fresh.
async fn refresh_keys(state: AppState, index: usize, origin: OriginName, key: String) -> Outcome {
    if remembered(&state.pull.fresh, &key) {
        return Ok(());
    }
    let source = &state.pull.sources[index];
    let what = format!("the public keys of origin `{origin}`");
    let listed = match source.client.public_keys(&origin).await {
        Ok(listed) => listed,
        Err(e) => {
            let error = source.failed(&what, &e);
            if matches!(error, PullError::NotFound { .. }) {
                remember(&state.pull.missing, key, source.settings.negative_ttl());
            }
            return Err(error);
        }
    };
    ensure_origin(&state, source, &origin).await?;
    let upstream = Upstream {
        client: source.client.clone(),
        pinned: fetch::pinned_keys(&state).map_err(|e| local(&what, e))?,
    };
    for info in listed {
        if state
            .metadata
            .public_key(&origin, &info.revision)
            .await?
            .is_none()
        {
            fetch::ensure_key(&state, &upstream, &origin, &info.revision)
                .await
                .map_err(|e| source.fetch_failed(&what, e))?;
        }
    }
    remember(&state.pull.fresh, key, source.settings.metadata_max_age());
    Ok(())
}

/// Before one public key is read: when the origin is cached and the key is not here, it is
/// fetched from the upstream (pinned `trusted_keys` apply). An upstream 404 lets the route
/// answer its own 404; a failure is 502.
pub async fn key(state: &AppState, origin: &OriginName, revision: &str) -> ApiResult<()> {
    let Some(index) = state.pull.source_of(origin) else {
        return Ok(());
    };
    let key = format!("key {origin}-{revision}");
    if state.metadata.public_key(origin, revision).await?.is_some()
        || remembered(&state.pull.missing, &key)
        || cacheable(state, origin).await?.is_none()
    {
        return Ok(());
    }
    let work = Box::pin(fetch_key(
        state.clone(),
        index,
        origin.clone(),
        revision.to_owned(),
        key.clone(),
    ));
    match state.pull.flight(key, work).await {
        Ok(()) | Err(PullError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Adds the upstream's key `origin-revision` here.
async fn fetch_key(
    state: AppState,
    index: usize,
    origin: OriginName,
    revision: String,
    key: String,
) -> Outcome {
    let source = &state.pull.sources[index];
    let what = format!("public key `{origin}-{revision}`");
    let upstream = Upstream {
        client: source.client.clone(),
        pinned: fetch::pinned_keys(&state).map_err(|e| local(&what, e))?,
    };
    // The origin first: a key needs it. Its absence upstream is the key's 404 too.
    let outcome = match ensure_origin(&state, source, &origin).await {
        Ok(()) => fetch::ensure_key(&state, &upstream, &origin, &revision)
            .await
            .map(drop)
            .map_err(|e| source.fetch_failed(&what, e)),
        Err(e) => Err(e),
    };
    if matches!(outcome, Err(PullError::NotFound { .. })) {
        remember(&state.pull.missing, key, source.settings.negative_ttl());
    }
    outcome
}
