//! Verifies a depot's TUF repository (docs/security.md, "Client"), following the client
//! workflow of The Update Framework 1.0.31 (§5): the root rotation chain, then timestamp,
//! snapshot and targets, then only the one hashed bin a target path falls in, and the target
//! itself. Trusted copies of every role are kept in a cache directory between runs, so a
//! version that went down is refused even after a restart, and a bin whose version did not
//! change is not downloaded again.
//!
//! ```no_run
//! # async fn run() -> Result<(), habitat_depot_client::Error> {
//! use habitat_core::{ChannelName, OriginName, PackageName, PackageTarget};
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
mod meta;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use habitat_core::{
    Blake2bHash, ChannelName, FullyQualifiedIdent, NamedRevision, OriginName, PackageIdent,
    PackageName, PackageTarget,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::Mutex;

pub use error::TufError;
pub use fetch::Fetch;

use cache::Cache;
use meta::{Common, Document, MetaFile, MetaList, Refusal, Root, TargetFile, Targets};

use crate::error::Result;
use crate::url::DepotUrl;

/// The most root versions one refresh follows (spec §5.3.3).
const MAX_ROOT_ROTATIONS: u64 = 256;
/// Size limits of what is read, by role.
const ROOT_LIMIT: usize = 1 << 20;
const TIMESTAMP_LIMIT: usize = 64 << 10;
const SNAPSHOT_LIMIT: usize = 4 << 20;
const TARGETS_LIMIT: usize = 16 << 20;

/// A channel's public releases of one package on one target, newest first, as the depot's
/// signed index lists them (docs/formats.md). Only a [`TufClient`] makes one, from a target
/// that verified.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ChannelIndex {
    /// The origin.
    pub origin: OriginName,
    /// The channel.
    pub channel: ChannelName,
    /// The package name.
    pub name: PackageName,
    /// The target.
    pub target: PackageTarget,
    /// The releases, newest first (the order `latest` uses).
    pub releases: Vec<IndexedRelease>,
}

impl ChannelIndex {
    /// The newest release that satisfies `query` (the first matching one).
    pub fn latest(&self, query: &PackageIdent) -> Option<&IndexedRelease> {
        self.releases.iter().find(|r| query.satisfied_by(&r.ident))
    }
}

/// One release in a [`ChannelIndex`]: what its artifact must be.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct IndexedRelease {
    /// The release.
    #[serde(deserialize_with = "crate::types::from_str")]
    pub ident: FullyQualifiedIdent,
    /// The BLAKE2b-256 of the `.hart` (the depot's `checksum`).
    #[serde(deserialize_with = "crate::types::from_str")]
    pub checksum: Blake2bHash,
    /// The sha256 of the `.hart`, lowercase hex.
    pub sha256: String,
    /// The `.hart`'s size in bytes.
    pub size: u64,
    /// The origin key that signed it.
    pub signer: NamedRevision,
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

/// What is trusted now.
#[derive(Debug)]
struct State {
    root: Document<Root>,
    timestamp: Option<Document<MetaList>>,
    snapshot: Option<Document<MetaList>>,
    targets: Option<Document<Targets>>,
    /// Bins verified against the current targets.
    bins: HashMap<String, Document<Targets>>,
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
    /// keys; [`Error::Io`](crate::Error::Io) when the cache cannot be read.
    pub fn new(fetch: F, pinned_root: &[u8], cache_dir: impl Into<PathBuf>) -> Result<Self> {
        let cache = Cache::new(cache_dir.into());
        let pinned = self_signed_root(pinned_root).map_err(|reason| TufError::PinnedRoot {
            path: cache.dir().join("root.json"),
            reason,
        })?;
        let root = match cache.read("root")? {
            Some(bytes) => match self_signed_root(&bytes) {
                Ok(cached) if cached.signed.common.version >= pinned.signed.common.version => {
                    cached
                }
                _ => {
                    cache.write("root", pinned_root)?;
                    pinned
                }
            },
            None => {
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
        if !found.eq_ignore_ascii_case(root_sha256.trim()) {
            return Err(TufError::Fingerprint {
                depot,
                expected: root_sha256.trim().to_owned(),
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

    fn with_root(fetch: F, cache: Cache, root: Document<Root>) -> Self {
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
        self.state.lock().await.root.signed.common.version
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
        let path = format!("channels/{origin}/{channel}/{name}/{target}.json");
        let Some(body) = self.target(&path).await? else {
            return Ok(None);
        };
        let index: ChannelIndex =
            serde_json::from_slice(&body).map_err(|e| TufError::Malformed {
                depot: self.depot.clone(),
                role: path.clone(),
                reason: e.to_string(),
            })?;
        if index.origin != *origin
            || index.channel != *channel
            || index.name != *name
            || index.target != target
        {
            return Err(TufError::Mismatch {
                depot: self.depot.clone(),
                what: path,
                reason: format!(
                    "it is the index of `{}/{}` in `{}` ({})",
                    index.origin, index.name, index.channel, index.target
                ),
            }
            .into());
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
        let path = format!("keys/{origin}/{origin}-{revision}.pub");
        let Some(body) = self.target(&path).await? else {
            return Ok(None);
        };
        String::from_utf8(body.to_vec()).map(Some).map_err(|_| {
            TufError::Malformed {
                depot: self.depot.clone(),
                role: path,
                reason: "the key file is not UTF-8 text".into(),
            }
            .into()
        })
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
            return Err(self
                .mismatch(path, "the metadata lists no sha256 for it".into())
                .into());
        };
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (format!("{dir}/"), name),
            None => (String::new(), path),
        };
        let url_path = format!("targets/{dir}{sha256}.{name}");
        let limit = usize::try_from(file.length).unwrap_or(usize::MAX);
        let body = self.download(&url_path, limit, path).await?;
        check_file(&body, file.length, &file.hashes)
            .map_err(|reason| self.mismatch(path, reason))?;
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

    fn refused(&self, role: &str, refusal: Refusal) -> TufError {
        match refusal {
            Refusal::Decode(reason) => TufError::Malformed {
                depot: self.depot.clone(),
                role: role.to_owned(),
                reason,
            },
            Refusal::Signatures { valid, threshold } => TufError::Signature {
                depot: self.depot.clone(),
                role: role.to_owned(),
                valid,
                threshold,
            },
        }
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

    /// Refuses a role whose type is not `kind` or that expired at `started`.
    fn check_common(
        &self,
        role: &str,
        kind: &str,
        common: &Common,
        started: OffsetDateTime,
    ) -> Result<(), TufError> {
        if common.kind != kind {
            return Err(TufError::Malformed {
                depot: self.depot.clone(),
                role: role.to_owned(),
                reason: format!("its `_type` is `{}`", common.kind),
            });
        }
        match meta::expiry(common) {
            Some(expires) if expires > started => Ok(()),
            Some(_) => Err(TufError::Expired {
                depot: self.depot.clone(),
                role: role.to_owned(),
                expires: common.expires.clone(),
            }),
            None => Err(TufError::Malformed {
                depot: self.depot.clone(),
                role: role.to_owned(),
                reason: format!("`expires` is not an RFC 3339 time: `{}`", common.expires),
            }),
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
        let first = state.root.signed.clone();
        for _ in 0..MAX_ROOT_ROTATIONS {
            let next = state.root.signed.common.version + 1;
            let name = format!("{next}.root.json");
            let Some(bytes) = self
                .fetch
                .fetch(&format!("metadata/{name}"), ROOT_LIMIT)
                .await?
            else {
                break;
            };
            self.downloaded
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            let new: Document<Root> =
                Document::parse(&bytes).map_err(|r| self.refused("root", r))?;
            let trusted = &state.root.signed;
            let keys = role_keys(trusted, "root").map_err(|r| self.refused("root", r))?;
            new.verify(&trusted.keys, &keys.keyids, keys.threshold)
                .map_err(|r| self.refused("root", r))?;
            let own = role_keys(&new.signed, "root").map_err(|r| self.refused("root", r))?;
            new.verify(&new.signed.keys, &own.keyids, own.threshold)
                .map_err(|r| self.refused("root", r))?;
            if new.signed.common.kind != "root" {
                return Err(self
                    .refused("root", Refusal::Decode("its `_type` is not `root`".into()))
                    .into());
            }
            if new.signed.common.version != next {
                return Err(self
                    .mismatch(
                        &name,
                        format!("it is version {}", new.signed.common.version),
                    )
                    .into());
            }
            self.cache.write("root", &bytes)?;
            state.root = new;
        }
        let root = state.root.signed.clone();
        self.check_common("root", "root", &root.common, started)?;
        if root.common.version != first.common.version {
            // §5.3.11: new timestamp or snapshot keys end what was trusted under the old ones
            // (a recovery from a fast-forward attack).
            let changed = |role: &str| first.roles.get(role) != root.roles.get(role);
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

    /// Loads a trusted copy from the cache when it still verifies under the current keys.
    fn load_cached<T: serde::de::DeserializeOwned>(
        &self,
        role: &str,
        keys: &std::collections::BTreeMap<String, meta::Key>,
        role_keys: &meta::RoleKeys,
    ) -> Result<Option<Document<T>>> {
        let Some(bytes) = self.cache.read(role)? else {
            return Ok(None);
        };
        Ok(Document::parse(&bytes).ok().filter(|doc: &Document<T>| {
            doc.verify(keys, &role_keys.keyids, role_keys.threshold)
                .is_ok()
        }))
    }

    /// §5.4: the timestamp, never older than the trusted one, nor naming an older snapshot.
    async fn update_timestamp(&self, state: &mut State, started: OffsetDateTime) -> Result<()> {
        let root = state.root.signed.clone();
        let keys = role_keys(&root, "timestamp").map_err(|r| self.refused("timestamp", r))?;
        if state.timestamp.is_none() {
            state.timestamp = self.load_cached("timestamp", &root.keys, &keys)?;
        }
        let bytes = self
            .download("metadata/timestamp.json", TIMESTAMP_LIMIT, "timestamp.json")
            .await?;
        let new: Document<MetaList> =
            Document::parse(&bytes).map_err(|r| self.refused("timestamp", r))?;
        new.verify(&root.keys, &keys.keyids, keys.threshold)
            .map_err(|r| self.refused("timestamp", r))?;
        let snapshot_of = |doc: &Document<MetaList>| -> Result<u64, TufError> {
            doc.signed
                .meta
                .get("snapshot.json")
                .map(|m| m.version)
                .ok_or_else(|| self.mismatch("timestamp", "it names no `snapshot.json`".into()))
        };
        let new_snapshot = snapshot_of(&new)?;
        if let Some(trusted) = &state.timestamp {
            let (version, known) = (new.signed.common.version, trusted.signed.common.version);
            if version < known {
                return Err(TufError::Rollback {
                    depot: self.depot.clone(),
                    role: "timestamp".into(),
                    version,
                    trusted: known,
                }
                .into());
            }
            let known_snapshot = snapshot_of(trusted)?;
            if new_snapshot < known_snapshot {
                return Err(TufError::Rollback {
                    depot: self.depot.clone(),
                    role: "snapshot".into(),
                    version: new_snapshot,
                    trusted: known_snapshot,
                }
                .into());
            }
            if version == known {
                // The same version again: the trusted copy stays (§5.4.3.1).
                self.check_common("timestamp", "timestamp", &trusted.signed.common, started)?;
                return Ok(());
            }
        }
        self.check_common("timestamp", "timestamp", &new.signed.common, started)?;
        self.cache.write("timestamp", &bytes)?;
        state.timestamp = Some(new);
        Ok(())
    }

    /// §5.5: the snapshot the timestamp names (its length and hashes), with no role's version
    /// lower than the trusted snapshot's.
    async fn update_snapshot(&self, state: &mut State, started: OffsetDateTime) -> Result<()> {
        let root = state.root.signed.clone();
        let keys = role_keys(&root, "snapshot").map_err(|r| self.refused("snapshot", r))?;
        let Some(expected) = state
            .timestamp
            .as_ref()
            .and_then(|t| t.signed.meta.get("snapshot.json"))
            .cloned()
        else {
            return Err(self
                .mismatch("timestamp", "it names no `snapshot.json`".into())
                .into());
        };
        if state.snapshot.is_none() {
            state.snapshot = self.load_cached("snapshot", &root.keys, &keys)?;
        }
        if let Some(trusted) = &state.snapshot
            && trusted.signed.common.version == expected.version
        {
            self.check_common("snapshot", "snapshot", &trusted.signed.common, started)?;
            return Ok(());
        }
        let name = format!("{}.snapshot.json", expected.version);
        let limit = limit_of(&expected, SNAPSHOT_LIMIT);
        let bytes = self
            .download(&format!("metadata/{name}"), limit, &name)
            .await?;
        check_meta(&bytes, &expected).map_err(|reason| self.mismatch(&name, reason))?;
        let new: Document<MetaList> =
            Document::parse(&bytes).map_err(|r| self.refused("snapshot", r))?;
        new.verify(&root.keys, &keys.keyids, keys.threshold)
            .map_err(|r| self.refused("snapshot", r))?;
        if new.signed.common.version != expected.version {
            return Err(self
                .mismatch(
                    &name,
                    format!(
                        "it is version {}, the timestamp names version {}",
                        new.signed.common.version, expected.version
                    ),
                )
                .into());
        }
        if let Some(trusted) = &state.snapshot {
            for (file, known) in &trusted.signed.meta {
                let role = file.strip_suffix(".json").unwrap_or(file);
                match new.signed.meta.get(file) {
                    None => {
                        return Err(self
                            .mismatch(&name, format!("it no longer lists `{file}`"))
                            .into());
                    }
                    Some(now) if now.version < known.version => {
                        return Err(TufError::Rollback {
                            depot: self.depot.clone(),
                            role: role.to_owned(),
                            version: now.version,
                            trusted: known.version,
                        }
                        .into());
                    }
                    Some(_) => {}
                }
            }
        }
        self.check_common("snapshot", "snapshot", &new.signed.common, started)?;
        self.cache.write("snapshot", &bytes)?;
        state.snapshot = Some(new);
        Ok(())
    }

    /// §5.6: the top-level targets of the version the snapshot names.
    async fn update_targets(&self, state: &mut State, started: OffsetDateTime) -> Result<()> {
        let root = state.root.signed.clone();
        let keys = role_keys(&root, "targets").map_err(|r| self.refused("targets", r))?;
        let expected = self.expected_in_snapshot(state, "targets")?;
        let current = state
            .targets
            .as_ref()
            .is_some_and(|t| t.signed.common.version == expected.version);
        if !current {
            state.bins.clear();
            let cached: Option<Document<Targets>> =
                self.load_cached("targets", &root.keys, &keys)?;
            state.targets = match cached {
                Some(doc) if doc.signed.common.version == expected.version => Some(doc),
                _ => {
                    let bytes = self.fetch_role("targets", &expected).await?;
                    let new: Document<Targets> =
                        Document::parse(&bytes).map_err(|r| self.refused("targets", r))?;
                    new.verify(&root.keys, &keys.keyids, keys.threshold)
                        .map_err(|r| self.refused("targets", r))?;
                    self.check_version("targets", &new.signed.common, &expected)?;
                    self.check_common("targets", "targets", &new.signed.common, started)?;
                    self.cache.write("targets", &bytes)?;
                    Some(new)
                }
            };
        }
        if let Some(targets) = &state.targets {
            self.check_common("targets", "targets", &targets.signed.common, started)?;
        }
        Ok(())
    }

    /// What the trusted snapshot says of `role`.
    fn expected_in_snapshot(&self, state: &State, role: &str) -> Result<MetaFile, TufError> {
        state
            .snapshot
            .as_ref()
            .and_then(|s| s.signed.meta.get(&format!("{role}.json")))
            .cloned()
            .ok_or_else(|| self.mismatch("snapshot", format!("it lists no `{role}.json`")))
    }

    /// Fetches `{V}.{role}.json` and checks its length and hashes when the snapshot gives
    /// them.
    async fn fetch_role(&self, role: &str, expected: &MetaFile) -> Result<Bytes> {
        let name = format!("{}.{role}.json", expected.version);
        let bytes = self
            .download(
                &format!("metadata/{name}"),
                limit_of(expected, TARGETS_LIMIT),
                &name,
            )
            .await?;
        check_meta(&bytes, expected).map_err(|reason| self.mismatch(&name, reason))?;
        Ok(bytes)
    }

    /// Refuses a role of another version than the snapshot names: mix-and-match.
    fn check_version(
        &self,
        role: &str,
        common: &Common,
        expected: &MetaFile,
    ) -> Result<(), TufError> {
        if common.version == expected.version {
            return Ok(());
        }
        Err(self.mismatch(
            role,
            format!(
                "it is version {}, the snapshot names version {}",
                common.version, expected.version
            ),
        ))
    }

    /// §5.6.7: the target's entry, from the top-level targets or the first delegated role
    /// whose hash prefixes (or paths) cover it; a terminating role ends the search.
    async fn find_target(&self, state: &mut State, path: &str) -> Result<Option<TargetFile>> {
        let Some(targets) = state.targets.clone() else {
            return Ok(None);
        };
        if let Some(file) = targets.signed.targets.get(path) {
            return Ok(Some(file.clone()));
        }
        let Some(delegations) = &targets.signed.delegations else {
            return Ok(None);
        };
        let hash = sha256_hex(path.as_bytes());
        for role in &delegations.roles {
            let covers = match (&role.path_hash_prefixes, &role.paths) {
                (Some(prefixes), _) => prefixes.iter().any(|p| hash.starts_with(p.as_str())),
                (None, Some(patterns)) => patterns.iter().any(|p| glob(p, path)),
                (None, None) => false,
            };
            if !covers {
                continue;
            }
            let bin = self.load_bin(state, role, &delegations.keys).await?;
            if let Some(file) = bin.signed.targets.get(path) {
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
        role: &meta::Delegation,
        keys: &std::collections::BTreeMap<String, meta::Key>,
    ) -> Result<Document<Targets>> {
        let name = role.name.as_str();
        let safe = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !safe {
            return Err(self
                .mismatch("targets", format!("it delegates to a role named `{name}`"))
                .into());
        }
        let started = state.started.unwrap_or_else(|| self.now());
        let expected = self.expected_in_snapshot(state, name)?;
        if let Some(bin) = state.bins.get(name)
            && bin.signed.common.version == expected.version
        {
            self.check_common(name, "targets", &bin.signed.common, started)?;
            return Ok(bin.clone());
        }
        let role_keys = meta::RoleKeys {
            keyids: role.keyids.clone(),
            threshold: role.threshold,
        };
        let cached: Option<Document<Targets>> = self.load_cached(name, keys, &role_keys)?;
        let bin = match cached {
            Some(doc) if doc.signed.common.version == expected.version => doc,
            _ => {
                let bytes = self.fetch_role(name, &expected).await?;
                let new: Document<Targets> =
                    Document::parse(&bytes).map_err(|r| self.refused(name, r))?;
                new.verify(keys, &role.keyids, role.threshold)
                    .map_err(|r| self.refused(name, r))?;
                self.check_version(name, &new.signed.common, &expected)?;
                self.check_common(name, "targets", &new.signed.common, started)?;
                self.cache.write(name, &bytes)?;
                new
            }
        };
        self.check_common(name, "targets", &bin.signed.common, started)?;
        state.bins.insert(name.to_owned(), bin.clone());
        Ok(bin)
    }
}

/// A root that parses and is signed by its own root keys' threshold.
fn self_signed_root(bytes: &[u8]) -> Result<Document<Root>, String> {
    let root: Document<Root> = Document::parse(bytes).map_err(|r| match r {
        Refusal::Decode(reason) => reason,
        Refusal::Signatures { .. } => "it is not signed".into(),
    })?;
    if root.signed.common.kind != "root" {
        return Err(format!(
            "its `_type` is `{}`, not `root`",
            root.signed.common.kind
        ));
    }
    let keys = role_keys(&root.signed, "root").map_err(|_| "it names no `root` role".to_owned())?;
    root.verify(&root.signed.keys, &keys.keyids, keys.threshold)
        .map_err(|r| match r {
            Refusal::Signatures { valid, threshold } => {
                format!("{valid} valid signature(s) by its own root keys, {threshold} needed")
            }
            Refusal::Decode(reason) => reason,
        })?;
    Ok(root)
}

/// The keys and threshold root gives `role`.
fn role_keys(root: &Root, role: &str) -> Result<meta::RoleKeys, Refusal> {
    root.roles
        .get(role)
        .cloned()
        .ok_or_else(|| Refusal::Decode(format!("the root names no `{role}` role")))
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
    if let Some(length) = expected.length
        && bytes.len() as u64 != length
    {
        return Err(format!("it is {} bytes long, not {length}", bytes.len()));
    }
    match &expected.hashes {
        Some(hashes) => check_hashes(bytes, hashes),
        None => Ok(()),
    }
}

/// Checks a target's length and every hash given of a kind we know; at least one must be.
fn check_file(
    bytes: &[u8],
    length: u64,
    hashes: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    if bytes.len() as u64 != length {
        return Err(format!("it is {} bytes long, not {length}", bytes.len()));
    }
    check_hashes(bytes, hashes)
}

fn check_hashes(
    bytes: &[u8],
    hashes: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    let mut checked = 0;
    for (kind, expected) in hashes {
        let found = match kind.as_str() {
            "sha256" => sha256_hex(bytes),
            "blake2b-256" => Blake2bHash::digest(bytes).to_string(),
            _ => continue,
        };
        if !found.eq_ignore_ascii_case(expected) {
            return Err(format!("its {kind} is `{found}`, not `{expected}`"));
        }
        checked += 1;
    }
    if checked == 0 {
        return Err("the metadata gives no sha256 or blake2b-256 hash of it".into());
    }
    Ok(())
}

/// Lowercase hex sha256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A delegation's `paths` pattern: `*` stands for any run of characters but `/`.
fn glob(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(p, s)| segment_glob(p.as_bytes(), s.as_bytes()))
}

fn segment_glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| segment_glob(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && segment_glob(rest, &text[1..]),
    }
}
