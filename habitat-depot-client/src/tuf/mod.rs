//! Verifies a depot's TUF repository (docs/security.md, "Client"), following the client
//! workflow of The Update Framework 1.0.31 (§5): the root rotation chain, then timestamp,
//! snapshot and targets, then only the one hashed bin a target path falls in, and the target
//! itself. Trusted copies of every role are kept in a cache directory between runs, so a
//! version that went down is refused even after a restart, and a bin whose version did not
//! change is not downloaded again.
//!
//! ```no_run
//! # async fn run() -> Result<(), habitat_depot_client::Error> {
//! use habitat_core::{ChannelName, OriginName, PackageIdent, PackageName, PackageTarget};
//! use habitat_depot_client::Client;
//! use habitat_depot_client::tuf::TufClient;
//!
//! let client = Client::new("http://localhost:9636".parse()?, None)?;
//! let pinned = std::fs::read("1.root.json").expect("a pinned root");
//! let tuf = TufClient::new(client, &pinned, "/hab/cache/tuf/localhost_9636")?;
//! let origin: OriginName = "core".parse()?;
//! let name: PackageName = "redis".parse()?;
//! let index = tuf
//!     .index(&origin, &ChannelName::stable(), &name, PackageTarget::X86_64Linux)
//!     .await?;
//! if let Some(latest) = index.as_ref().and_then(|i| i.releases.first()) {
//!     println!("{} {}", latest.ident, latest.checksum);
//! }
//! # Ok(()) }
//! ```

mod cache;
mod error;
mod fetch;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use habitat_core::tuf::layout::{channel_index_path, metadata_file, origin_key_path};
use habitat_core::tuf::{
    DelegatedRole, Key, MetaFile, Role, RoleKeys, Root, Snapshot, TargetFile, Targets, Timestamp,
    Unverified, sha256_hex,
};
use habitat_core::{ChannelName, OriginName, PackageIdent, PackageName, PackageTarget};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;

pub use error::TufError;
pub use fetch::Fetch;
pub use habitat_core::tuf::layout::{ChannelIndex, IndexedRelease};

use cache::Cache;

use crate::error::Result;
use crate::url::DepotUrl;

/// The most root versions one refresh follows (spec §5.3.3).
const MAX_ROOT_ROTATIONS: u64 = 256;
/// Size limits of what is read, by role.
const ROOT_LIMIT: usize = 1 << 20;
const TIMESTAMP_LIMIT: usize = 64 << 10;
const SNAPSHOT_LIMIT: usize = 4 << 20;
const TARGETS_LIMIT: usize = 16 << 20;

/// The newest release of `index` that satisfies `query`: the first matching one, since an
/// index lists its releases newest first.
pub fn latest<'a>(index: &'a ChannelIndex, query: &PackageIdent) -> Option<&'a IndexedRelease> {
    index.releases.iter().find(|r| query.satisfied_by(&r.ident))
}

/// The cache directory of a depot's trusted metadata: `tuf/{host}_{port}` beside the key
/// cache directory `keys` (`hab/cache/tuf/localhost_9636` beside `hab/cache/keys`).
pub fn cache_dir(key_cache: &Path, url: &DepotUrl) -> PathBuf {
    let root = url.api_root();
    let host = root
        .host_str()
        .unwrap_or("depot")
        .replace([':', '[', ']'], "_");
    let port = root.port_or_known_default().unwrap_or(0);
    let base = key_cache.parent().unwrap_or(key_cache);
    base.join("tuf").join(format!("{host}_{port}"))
}

/// A verifier of one depot's TUF repository over a [`Fetch`] (a [`crate::Client`] for a real
/// depot). Calls take `&self`; one refresh runs at a time.
#[derive(Debug)]
pub struct TufClient<F = crate::Client> {
    fetch: F,
    depot: String,
    cache: Cache,
    clock: Option<OffsetDateTime>,
    downloaded: AtomicU64,
    state: Mutex<State>,
}

/// What is trusted now: each role verified.
#[derive(Debug)]
struct State {
    root: Root,
    timestamp: Option<Timestamp>,
    snapshot: Option<Snapshot>,
    targets: Option<Targets>,
    /// Bins verified against the current targets.
    bins: HashMap<String, Targets>,
    /// When the last refresh started: what expiries are checked against.
    started: Option<OffsetDateTime>,
}

impl<F: Fetch> TufClient<F> {
    /// A verifier that trusts `pinned_root` (a root metadata file, typically `1.root.json`)
    /// and keeps its trusted copies in `cache_dir`. A root trusted already in the cache, of
    /// a higher version than the pinned one, is where the rotation chain goes on from.
    ///
    /// # Errors
    /// [`TufError::PinnedRoot`] when the pinned root is not root metadata signed by its own
    /// keys; [`Error::Io`](crate::Error::Io) when the cache cannot be read or written.
    pub fn new(fetch: F, pinned_root: &[u8], cache_dir: impl Into<PathBuf>) -> Result<Self> {
        let cache = Cache::new(cache_dir.into());
        let pinned = self_signed_root(pinned_root).map_err(|reason| TufError::PinnedRoot {
            path: cache.dir().join("root.json"),
            reason,
        })?;
        let cached = match cache.read("root")? {
            Some(bytes) => self_signed_root(&bytes).ok(),
            None => None,
        };
        let root = match cached {
            Some(cached) if cached.version >= pinned.version => cached,
            _ => {
                cache.write("root", pinned_root)?;
                pinned
            }
        };
        Ok(Self::with_root(fetch, cache, root))
    }

    /// A verifier from the root trusted in `cache_dir` (written by [`TufClient::trust`] or an
    /// earlier run), `Ok(None)` when there is none.
    ///
    /// # Errors
    /// [`TufError::PinnedRoot`] when the cached root is not root metadata signed by its own
    /// keys; [`Error::Io`](crate::Error::Io) when it cannot be read.
    pub fn from_cache(fetch: F, cache_dir: impl Into<PathBuf>) -> Result<Option<Self>> {
        let cache = Cache::new(cache_dir.into());
        let Some(bytes) = cache.read("root")? else {
            return Ok(None);
        };
        let root = self_signed_root(&bytes).map_err(|reason| TufError::PinnedRoot {
            path: cache.dir().join("root.json"),
            reason,
        })?;
        Ok(Some(Self::with_root(fetch, cache, root)))
    }

    /// Fetches the depot's `1.root.json`, checks that the sha256 of its bytes is
    /// `root_sha256` (a fingerprint obtained out of band), and pins it in `cache_dir`,
    /// forgetting whatever was trusted there. Returns the root's bytes.
    ///
    /// # Errors
    /// [`TufError::Fingerprint`] when the fingerprint differs; [`TufError::Missing`] when the
    /// depot has no TUF repository; [`TufError::Malformed`] when the file is not a root signed
    /// by its own keys.
    pub async fn trust(fetch: &F, root_sha256: &str, cache_dir: &Path) -> Result<Vec<u8>> {
        let depot = fetch.depot();
        let bytes = fetch
            .fetch("metadata/1.root.json", ROOT_LIMIT)
            .await?
            .ok_or_else(|| TufError::Missing {
                depot: depot.clone(),
                what: "1.root.json".into(),
            })?;
        let found = sha256_hex(&bytes);
        let expected = root_sha256.trim();
        if !found.eq_ignore_ascii_case(expected) {
            return Err(TufError::Fingerprint {
                depot,
                expected: expected.to_owned(),
                found,
            }
            .into());
        }
        self_signed_root(&bytes).map_err(|reason| TufError::Malformed {
            depot,
            role: "root".into(),
            reason,
        })?;
        let cache = Cache::new(cache_dir.to_owned());
        cache.write("root", &bytes)?;
        cache.clear()?;
        Ok(bytes.to_vec())
    }

    fn with_root(fetch: F, cache: Cache, root: Root) -> Self {
        Self {
            depot: fetch.depot(),
            fetch,
            cache,
            clock: None,
            downloaded: AtomicU64::new(0),
            state: Mutex::new(State {
                root,
                timestamp: None,
                snapshot: None,
                targets: None,
                bins: HashMap::new(),
                started: None,
            }),
        }
    }

    /// This verifier with a fixed "now" for expiries (tests).
    pub fn at_time(mut self, now: OffsetDateTime) -> Self {
        self.clock = Some(now);
        self
    }

    /// The depot, as errors name it.
    pub fn depot(&self) -> &str {
        &self.depot
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        self.cache.dir()
    }

    /// Bytes of metadata and targets downloaded so far (what a benchmark counts).
    pub fn downloaded_bytes(&self) -> u64 {
        self.downloaded.load(Ordering::Relaxed)
    }

    /// The version of the trusted root.
    pub async fn root_version(&self) -> u64 {
        self.state.lock().await.root.version
    }

    /// Brings the trusted metadata up to date (spec §5.3–§5.6): new root versions one by
    /// one, the timestamp, the snapshot it names, the targets the snapshot names. Every role
    /// is checked against the time the refresh started. Bins are fetched only when a target
    /// is looked up.
    ///
    /// # Errors
    /// A [`TufError`] naming the role at fault: expired (freeze), a version lower than the
    /// trusted one (rollback), too few signatures, a version, length or hash other than the
    /// trusted metadata says (mix-and-match, a changed byte); or the transport's error.
    pub async fn refresh(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        self.refresh_locked(&mut state).await
    }

    /// The verified index of `name` in `channel` of `origin` for `target`, `Ok(None)` when
    /// the channel has no public release of it. Refreshes first unless this verifier has
    /// refreshed already.
    ///
    /// # Errors
    /// As [`TufClient::refresh`], and when the index does not match its hashes or length, or
    /// does not name what was asked.
    pub async fn index(
        &self,
        origin: &OriginName,
        channel: &ChannelName,
        name: &PackageName,
        target: PackageTarget,
    ) -> Result<Option<ChannelIndex>> {
        let (origin, channel, name, target) = (
            origin.as_str(),
            channel.as_str(),
            name.as_str(),
            target.to_string(),
        );
        let path = channel_index_path(origin, channel, name, &target);
        let Some(body) = self.target(&path).await? else {
            return Ok(None);
        };
        let index: ChannelIndex =
            serde_json::from_slice(&body).map_err(|e| TufError::Malformed {
                depot: self.depot.clone(),
                role: path.clone(),
                reason: e.to_string(),
            })?;
        if index.origin != origin
            || index.channel != channel
            || index.name != name
            || index.target != target
        {
            let reason = format!(
                "it is the index of `{}/{}` in `{}` ({})",
                index.origin, index.name, index.channel, index.target
            );
            return Err(self.mismatch(&path, reason).into());
        }
        Ok(Some(index))
    }

    /// The text of the public key `{origin}-{revision}` as the depot's verified `keys/`
    /// target holds it, `Ok(None)` when there is no such target.
    ///
    /// # Errors
    /// As [`TufClient::index`].
    pub async fn origin_key(&self, origin: &OriginName, revision: &str) -> Result<Option<String>> {
        let revision = crate::segment("key revision", revision)?;
        let path = origin_key_path(origin, revision);
        let Some(body) = self.target(&path).await? else {
            return Ok(None);
        };
        match String::from_utf8(body.to_vec()) {
            Ok(text) => Ok(Some(text)),
            Err(_) => Err(TufError::Malformed {
                depot: self.depot.clone(),
                role: path,
                reason: "the key file is not UTF-8 text".into(),
            }
            .into()),
        }
    }

    /// The bytes of the target at `path`, checked against its length and hashes in the bin
    /// it falls in; `Ok(None)` when no role lists it. Refreshes first unless this verifier has
    /// refreshed already.
    ///
    /// # Errors
    /// As [`TufClient::index`].
    pub async fn target(&self, path: &str) -> Result<Option<Bytes>> {
        let file = {
            let mut state = self.state.lock().await;
            if state.started.is_none() {
                self.refresh_locked(&mut state).await?;
            }
            self.find_target(&mut state, path).await?
        };
        let Some(file) = file else {
            return Ok(None);
        };
        let Some(sha256) = file.hashes.get("sha256") else {
            let reason = "the metadata lists no sha256 of it".to_owned();
            return Err(self.mismatch(path, reason).into());
        };
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (format!("{dir}/"), name),
            None => (String::new(), path),
        };
        let url_path = format!("targets/{dir}{sha256}.{name}");
        let limit = usize::try_from(file.length).unwrap_or(usize::MAX);
        let body = self.download(&url_path, limit, path).await?;
        if !file.matches(&body) {
            return Err(self.mismatch(path, differs(&body, &file)).into());
        }
        Ok(Some(body))
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.unwrap_or_else(OffsetDateTime::now_utc)
    }

    fn mismatch(&self, what: &str, reason: String) -> TufError {
        TufError::Mismatch {
            depot: self.depot.clone(),
            what: what.to_owned(),
            reason,
        }
    }

    /// The depot's view of a refusal by the metadata checks of habitat-core.
    fn refused(&self, role: &str, err: habitat_core::tuf::TufError) -> TufError {
        match err {
            habitat_core::tuf::TufError::Threshold {
                valid, threshold, ..
            } => TufError::Signature {
                depot: self.depot.clone(),
                role: role.to_owned(),
                valid,
                threshold,
            },
            other => TufError::Malformed {
                depot: self.depot.clone(),
                role: role.to_owned(),
                reason: other.to_string(),
            },
        }
    }

    /// Parses `bytes` as role `T` and checks its signatures.
    fn verified<T: Role + DeserializeOwned>(
        &self,
        role: &str,
        bytes: &[u8],
        keys: &BTreeMap<String, Key>,
        role_keys: &RoleKeys,
    ) -> Result<T, TufError> {
        Unverified::<T>::parse(bytes)
            .and_then(|doc| doc.verify(role, role_keys, keys))
            .map_err(|e| self.refused(role, e))
    }

    /// Fetches a file that must be there, counting its bytes.
    async fn download(&self, url_path: &str, limit: usize, what: &str) -> Result<Bytes> {
        let bytes = self
            .fetch
            .fetch(url_path, limit)
            .await?
            .ok_or_else(|| TufError::Missing {
                depot: self.depot.clone(),
                what: what.to_owned(),
            })?;
        self.downloaded
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    /// Refuses a role that expired at `started`: the freeze attack.
    fn check_expiry(
        &self,
        role: &str,
        document: &impl Role,
        started: OffsetDateTime,
    ) -> Result<(), TufError> {
        let expires = document.expires();
        if expires > started {
            return Ok(());
        }
        Err(TufError::Expired {
            depot: self.depot.clone(),
            role: role.to_owned(),
            expires: expires
                .format(&Rfc3339)
                .unwrap_or_else(|_| expires.to_string()),
        })
    }

    /// Refuses a role of another version than the snapshot names: mix-and-match.
    fn check_version(
        &self,
        role: &str,
        document: &impl Role,
        expected: &MetaFile,
    ) -> Result<(), TufError> {
        if document.version() == expected.version {
            return Ok(());
        }
        let reason = format!(
            "it is version {}, the snapshot names version {}",
            document.version(),
            expected.version
        );
        Err(self.mismatch(role, reason))
    }

    fn rollback(&self, role: &str, version: u64, trusted: u64) -> TufError {
        TufError::Rollback {
            depot: self.depot.clone(),
            role: role.to_owned(),
            version,
            trusted,
        }
    }

    async fn refresh_locked(&self, state: &mut State) -> Result<()> {
        let started = self.now();
        state.started = Some(started);
        self.update_root(state, started).await?;
        self.update_timestamp(state, started).await?;
        self.update_snapshot(state, started).await?;
        self.update_targets(state, started).await?;
        Ok(())
    }

    /// §5.3: root N+1 until there is none, each signed by the trusted root's threshold and by
    /// its own.
    async fn update_root(&self, state: &mut State, started: OffsetDateTime) -> Result<()> {
        let first = state.root.clone();
        for _ in 0..MAX_ROOT_ROTATIONS {
            let next = state.root.version + 1;
            let name = metadata_file("root", next);
            let found = self
                .fetch
                .fetch(&format!("metadata/{name}"), ROOT_LIMIT)
                .await?;
            let Some(bytes) = found else {
                break;
            };
            self.downloaded
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            let new = Unverified::<Root>::parse(&bytes).map_err(|e| self.refused("root", e))?;
            let trusted = &state.root;
            let keys = role_keys(trusted, "root").map_err(|e| self.refused("root", e))?;
            new.check("root", &keys, &trusted.keys)
                .map_err(|e| self.refused("root", e))?;
            let own = role_keys(new.peek(), "root").map_err(|e| self.refused("root", e))?;
            let own_keys = new.peek().keys.clone();
            let new = new
                .verify("root", &own, &own_keys)
                .map_err(|e| self.refused("root", e))?;
            if new.version != next {
                let reason = format!("it is version {}", new.version);
                return Err(self.mismatch(&name, reason).into());
            }
            self.cache.write("root", &bytes)?;
            state.root = new;
        }
        self.check_expiry("root", &state.root, started)?;
        if state.root.version != first.version {
            // §5.3.11: new timestamp or snapshot keys end what was trusted under the old ones
            // (a recovery from a fast-forward attack).
            let changed = |role: &str| first.roles.get(role) != state.root.roles.get(role);
            if changed("timestamp") || changed("snapshot") {
                state.timestamp = None;
                state.snapshot = None;
                self.cache.remove("timestamp")?;
                self.cache.remove("snapshot")?;
            }
            if changed("targets") {
                state.targets = None;
                state.bins.clear();
            }
        }
        Ok(())
    }

    /// A trusted copy from the cache, when it still verifies under the current keys.
    fn load_cached<T: Role + DeserializeOwned>(
        &self,
        role: &str,
        keys: &BTreeMap<String, Key>,
        role_keys: &RoleKeys,
    ) -> Result<Option<T>> {
        let Some(bytes) = self.cache.read(role)? else {
            return Ok(None);
        };
        Ok(self.verified(role, &bytes, keys, role_keys).ok())
    }

    /// §5.4: the timestamp, never older than the trusted one, nor naming an older snapshot.
    async fn update_timestamp(&self, state: &mut State, started: OffsetDateTime) -> Result<()> {
        let root = state.root.clone();
        let keys = role_keys(&root, "timestamp").map_err(|e| self.refused("timestamp", e))?;
        if state.timestamp.is_none() {
            state.timestamp = self.load_cached("timestamp", &root.keys, &keys)?;
        }
        let bytes = self
            .download("metadata/timestamp.json", TIMESTAMP_LIMIT, "timestamp.json")
            .await?;
        let new: Timestamp = self.verified("timestamp", &bytes, &root.keys, &keys)?;
        let snapshot_of = |doc: &Timestamp| {
            doc.snapshot_meta()
                .map(|m| m.version)
                .map_err(|e| self.refused("timestamp", e))
        };
        let new_snapshot = snapshot_of(&new)?;
        if let Some(trusted) = &state.timestamp {
            if new.version < trusted.version {
                return Err(self
                    .rollback("timestamp", new.version, trusted.version)
                    .into());
            }
            let known_snapshot = snapshot_of(trusted)?;
            if new_snapshot < known_snapshot {
                return Err(self
                    .rollback("snapshot", new_snapshot, known_snapshot)
                    .into());
            }
            if new.version == trusted.version {
                // The same version again: the trusted copy stays (§5.4.3.1).
                self.check_expiry("timestamp", trusted, started)?;
                return Ok(());
            }
        }
        self.check_expiry("timestamp", &new, started)?;
        self.cache.write("timestamp", &bytes)?;
        state.timestamp = Some(new);
        Ok(())
    }

    /// §5.5: the snapshot the timestamp names (its length and hashes), with no role's version
    /// lower than in the trusted snapshot.
    async fn update_snapshot(&self, state: &mut State, started: OffsetDateTime) -> Result<()> {
        let root = state.root.clone();
        let keys = role_keys(&root, "snapshot").map_err(|e| self.refused("snapshot", e))?;
        let expected = match &state.timestamp {
            Some(timestamp) => timestamp
                .snapshot_meta()
                .map_err(|e| self.refused("timestamp", e))?
                .clone(),
            None => return Err(self.mismatch("timestamp", "none is trusted".into()).into()),
        };
        if state.snapshot.is_none() {
            state.snapshot = self.load_cached("snapshot", &root.keys, &keys)?;
        }
        if let Some(trusted) = &state.snapshot
            && trusted.version == expected.version
        {
            self.check_expiry("snapshot", trusted, started)?;
            return Ok(());
        }
        let name = metadata_file("snapshot", expected.version);
        let limit = limit_of(&expected, SNAPSHOT_LIMIT);
        let bytes = self
            .download(&format!("metadata/{name}"), limit, &name)
            .await?;
        check_meta(&bytes, &expected).map_err(|reason| self.mismatch(&name, reason))?;
        let new: Snapshot = self.verified("snapshot", &bytes, &root.keys, &keys)?;
        if new.version != expected.version {
            let reason = format!(
                "it is version {}, the timestamp names version {}",
                new.version, expected.version
            );
            return Err(self.mismatch(&name, reason).into());
        }
        if let Some(trusted) = &state.snapshot {
            for (file, known) in &trusted.meta {
                let role = file.strip_suffix(".json").unwrap_or(file);
                match new.meta.get(file) {
                    None => {
                        let reason = format!("it no longer lists `{file}`");
                        return Err(self.mismatch(&name, reason).into());
                    }
                    Some(listed) if listed.version < known.version => {
                        return Err(self.rollback(role, listed.version, known.version).into());
                    }
                    Some(_) => {}
                }
            }
        }
        self.check_expiry("snapshot", &new, started)?;
        self.cache.write("snapshot", &bytes)?;
        state.snapshot = Some(new);
        Ok(())
    }

    /// §5.6: the top-level targets of the version the snapshot names.
    async fn update_targets(&self, state: &mut State, started: OffsetDateTime) -> Result<()> {
        let root = state.root.clone();
        let keys = role_keys(&root, "targets").map_err(|e| self.refused("targets", e))?;
        let expected = self.expected_in_snapshot(state, "targets")?;
        let current = state
            .targets
            .as_ref()
            .is_some_and(|t| t.version == expected.version);
        if !current {
            state.bins.clear();
            let cached: Option<Targets> = self.load_cached("targets", &root.keys, &keys)?;
            let targets = match cached {
                Some(cached) if cached.version == expected.version => cached,
                _ => {
                    let bytes = self.fetch_role("targets", &expected).await?;
                    let new: Targets = self.verified("targets", &bytes, &root.keys, &keys)?;
                    self.check_version("targets", &new, &expected)?;
                    self.check_expiry("targets", &new, started)?;
                    self.cache.write("targets", &bytes)?;
                    new
                }
            };
            state.targets = Some(targets);
        }
        if let Some(targets) = &state.targets {
            self.check_expiry("targets", targets, started)?;
        }
        Ok(())
    }

    /// What the trusted snapshot says of `role`.
    fn expected_in_snapshot(&self, state: &State, role: &str) -> Result<MetaFile, TufError> {
        state
            .snapshot
            .as_ref()
            .and_then(|s| s.meta.get(&format!("{role}.json")))
            .cloned()
            .ok_or_else(|| self.mismatch("snapshot", format!("it lists no `{role}.json`")))
    }

    /// Fetches `{V}.{role}.json` and checks its length and hashes when the snapshot gives
    /// them.
    async fn fetch_role(&self, role: &str, expected: &MetaFile) -> Result<Bytes> {
        let name = metadata_file(role, expected.version);
        let limit = limit_of(expected, TARGETS_LIMIT);
        let bytes = self
            .download(&format!("metadata/{name}"), limit, &name)
            .await?;
        check_meta(&bytes, expected).map_err(|reason| self.mismatch(&name, reason))?;
        Ok(bytes)
    }

    /// §5.6.7: the target's entry, from the top-level targets or the first delegated role
    /// trusted for its path; a terminating role ends the search. The depot's bins delegate
    /// no further, so one level is searched.
    async fn find_target(&self, state: &mut State, path: &str) -> Result<Option<TargetFile>> {
        let Some(targets) = state.targets.clone() else {
            return Ok(None);
        };
        if let Some(file) = targets.targets.get(path) {
            return Ok(Some(file.clone()));
        }
        let Some(delegations) = &targets.delegations else {
            return Ok(None);
        };
        for role in &delegations.roles {
            if !role.is_trusted_for(path) {
                continue;
            }
            let bin = self.load_bin(state, role, &delegations.keys).await?;
            if let Some(file) = bin.targets.get(path) {
                return Ok(Some(file.clone()));
            }
            if role.terminating {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// A delegated role of the version the snapshot names: from memory, from the cache, or
    /// fetched (only when its version changed).
    async fn load_bin(
        &self,
        state: &mut State,
        role: &DelegatedRole,
        keys: &BTreeMap<String, Key>,
    ) -> Result<Targets> {
        let name = role.name.as_str();
        // The name becomes a file name in the cache.
        let safe = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !safe {
            let reason = format!("it delegates to a role named `{name}`");
            return Err(self.mismatch("targets", reason).into());
        }
        let started = state.started.unwrap_or_else(|| self.now());
        let expected = self.expected_in_snapshot(state, name)?;
        if let Some(bin) = state.bins.get(name)
            && bin.version == expected.version
        {
            self.check_expiry(name, bin, started)?;
            return Ok(bin.clone());
        }
        let role_keys = RoleKeys {
            keyids: role.keyids.clone(),
            threshold: role.threshold,
        };
        let cached: Option<Targets> = self.load_cached(name, keys, &role_keys)?;
        let bin = match cached {
            Some(cached) if cached.version == expected.version => cached,
            _ => {
                let bytes = self.fetch_role(name, &expected).await?;
                let new: Targets = self.verified(name, &bytes, keys, &role_keys)?;
                self.check_version(name, &new, &expected)?;
                self.check_expiry(name, &new, started)?;
                self.cache.write(name, &bytes)?;
                new
            }
        };
        self.check_expiry(name, &bin, started)?;
        state.bins.insert(name.to_owned(), bin.clone());
        Ok(bin)
    }
}

/// A root that parses and is signed by its own root keys' threshold.
fn self_signed_root(bytes: &[u8]) -> Result<Root, String> {
    let root = Unverified::<Root>::parse(bytes).map_err(|e| e.to_string())?;
    let keys = role_keys(root.peek(), "root").map_err(|e| e.to_string())?;
    let own = root.peek().keys.clone();
    root.verify("root", &keys, &own).map_err(|e| e.to_string())
}

/// The keys and threshold root gives `role`.
fn role_keys(root: &Root, role: &str) -> Result<RoleKeys, habitat_core::tuf::TufError> {
    root.roles.get(role).cloned().ok_or_else(|| {
        habitat_core::tuf::TufError::Invalid(format!("the root names no `{role}` role"))
    })
}

/// How much of a role to read: its length when the metadata gives it.
fn limit_of(expected: &MetaFile, default: usize) -> usize {
    expected
        .length
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(default)
}

/// Checks `bytes` against the length and hashes a `meta` entry gives, if any.
fn check_meta(bytes: &[u8], expected: &MetaFile) -> Result<(), String> {
    let length = expected.length.unwrap_or(bytes.len() as u64);
    let file = TargetFile {
        length,
        hashes: expected.hashes.clone().unwrap_or_default(),
    };
    if file.hashes.is_empty() {
        if bytes.len() as u64 != length {
            return Err(format!("it is {} bytes long, not {length}", bytes.len()));
        }
        return Ok(());
    }
    if file.matches(bytes) {
        Ok(())
    } else {
        Err(differs(bytes, &file))
    }
}

/// What differs between `bytes` and the entry they fail to match.
fn differs(bytes: &[u8], expected: &TargetFile) -> String {
    let listed = expected.hashes.get("sha256").map_or("none", String::as_str);
    format!(
        "it is {} bytes with sha256 `{}`, the metadata lists {} bytes with sha256 `{listed}`",
        bytes.len(),
        sha256_hex(bytes),
        expected.length
    )
}
