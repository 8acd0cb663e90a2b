//! Publishing: the store's outbox says which origins, packages and keys changed; the publisher
//! rebuilds their targets (channel indexes and key files), signs new versions of the bins they
//! fall in, then a new snapshot and timestamp, and stores all of it in one transaction. It also
//! re-signs what is about to expire: the timestamp when less than half a day is left, the
//! snapshot and bins when less than half a week is.
//!
//! One publisher runs per depot at a time: the embedded store belongs to one process, and on
//! PostgreSQL the process holding the `tuf-publisher` lock publishes (docs/security.md).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use habitat_core::OriginName;
use habitat_core::tuf::layout::{
    self, ChannelIndex, IndexedRelease, ONLINE_DAYS, TIMESTAMP_DAYS, bin_of,
};
use habitat_core::tuf::metadata::expiry;
use habitat_core::tuf::{self, MetaFile, Role, SPEC_VERSION, Signed, Snapshot, Targets, Timestamp};
use time::OffsetDateTime;

use super::{RepoError, backfill, keys};
use crate::crypto::ServerKey;
use crate::store::{
    ArtifactStore, MetadataStore, Page, TufChange, TufCurrent, TufIndexRow, TufMetadataRow,
    TufPublish, TufScope, TufTargetUpsert,
};

/// Outbox rows taken per cycle.
const BATCH: usize = 2000;
/// Re-sign the timestamp when less than this is left.
const TIMESTAMP_MARGIN: time::Duration = time::Duration::hours(12);
/// Re-sign the snapshot and bins when less than this is left.
const ONLINE_MARGIN: time::Duration = time::Duration::hours(84);
/// How long a version that is no longer current stays available (a client that read the
/// timestamp before it changed can still fetch what that timestamp names).
const GRACE: time::Duration = time::Duration::hours(24);
/// How often every bin's expiry is looked at, and old versions collected.
const BIN_CHECK_EVERY: Duration = Duration::from_secs(600);

/// What one cycle did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cycle {
    /// Outbox rows consumed.
    pub changes: usize,
    /// Targets added or changed.
    pub upserted: usize,
    /// Targets removed.
    pub removed: usize,
    /// Bins given a new version.
    pub bins: usize,
    /// The new timestamp version, if one was published.
    pub timestamp: Option<u64>,
}

/// The depot's publisher. Cycles are serialized: a second caller waits for the first.
pub struct Publisher {
    store: Arc<dyn MetadataStore>,
    artifacts: Arc<dyn ArtifactStore>,
    server_key: Arc<ServerKey>,
    last_bin_check: tokio::sync::Mutex<Option<Instant>>,
}

impl Publisher {
    /// A publisher over the depot's stores.
    pub fn new(
        store: Arc<dyn MetadataStore>,
        artifacts: Arc<dyn ArtifactStore>,
        server_key: Arc<ServerKey>,
    ) -> Self {
        Self {
            store,
            artifacts,
            server_key,
            last_bin_check: tokio::sync::Mutex::new(None),
        }
    }

    /// Publishes what the outbox holds and re-signs what is about to expire; every ten minutes
    /// also deletes versions older than the grace period that are no longer current. A depot
    /// without a TUF repository does nothing.
    pub async fn cycle(&self, now: OffsetDateTime) -> Result<Cycle, RepoError> {
        let mut last_bin_check = self.last_bin_check.lock().await;
        if !self.store.tuf_initialized().await? {
            return Ok(Cycle::default());
        }
        let check_bins = last_bin_check.is_none_or(|at| at.elapsed() >= BIN_CHECK_EVERY);
        let cycle = self.run(now, None, check_bins).await?;
        if check_bins {
            let collected = self.store.tuf_collect(now - GRACE).await?;
            if collected.metadata + collected.targets > 0 {
                tracing::debug!(
                    metadata = collected.metadata,
                    targets = collected.targets,
                    "TUF: collected versions past their grace period"
                );
            }
            *last_bin_check = Some(Instant::now());
        }
        Ok(cycle)
    }

    /// Records the SHA-256 and signer of packages stored before the depot recorded them (each
    /// such package then has an outbox row, so the next cycle publishes it). Run by `tuf init`
    /// and once when `hab-depot start` starts: a package whose artifact cannot be read is
    /// logged and left out of the indexes, not looked at again every cycle.
    pub async fn backfill(&self) -> Result<backfill::Backfilled, RepoError> {
        Ok(backfill::run(self.store.as_ref(), self.artifacts.as_ref()).await?)
    }

    /// Rebuilds everything of every origin (every package index and key), as `tuf init` does
    /// after writing the first metadata.
    pub async fn rebuild(&self, now: OffsetDateTime) -> Result<Cycle, RepoError> {
        let _serial = self.last_bin_check.lock().await;
        let changes = self.every_origin().await?;
        self.run(now, Some(changes), false).await
    }

    /// The target paths whose current entry is not what the database says it should be
    /// (fsck's comparison of the whole repository with the database).
    pub async fn stale_targets(&self) -> Result<Vec<String>, RepoError> {
        let changed = self.changed_targets(&self.every_origin().await?).await?;
        Ok(changed
            .upserts
            .into_keys()
            .chain(changed.removals)
            .collect())
    }

    /// A change of everything of each origin of the depot.
    async fn every_origin(&self) -> Result<Vec<TufChange>, RepoError> {
        let all = Page {
            offset: 0,
            limit: u64::MAX >> 1,
        };
        Ok(self
            .store
            .origins_matching("", all)
            .await?
            .items
            .into_iter()
            .map(|origin| TufChange {
                id: 0,
                origin,
                scope: TufScope::Origin,
            })
            .collect())
    }

    /// Stores `rows` (a new root, a new top-level targets) together with a new version of every
    /// bin, the snapshot and the timestamp, all signed with `online`: what a root rotation
    /// publishes.
    pub async fn resign_all(
        &self,
        now: OffsetDateTime,
        mut rows: Vec<TufMetadataRow>,
        online: &SigningKey,
    ) -> Result<u64, RepoError> {
        let _serial = self.last_bin_check.lock().await;
        let mut snapshot: Signed<Snapshot> = parse_stored(&self.latest("snapshot").await?)?;
        if let Some(targets) = rows.iter().find(|row| row.role == "targets") {
            snapshot
                .signed
                .meta
                .insert("targets.json".into(), meta_version(targets.version));
        }
        for bin in layout::bin_names() {
            let latest = self.latest(&bin).await?;
            let stored: Signed<Targets> = parse_stored(&latest)?;
            let document = Targets {
                version: latest.version + 1,
                expires: expiry(now, ONLINE_DAYS),
                ..stored.signed
            };
            snapshot
                .signed
                .meta
                .insert(format!("{bin}.json"), meta_version(document.version));
            rows.push(signed_row(&bin, document, online)?);
        }
        let document = Snapshot {
            version: snapshot.signed.version + 1,
            expires: expiry(now, ONLINE_DAYS),
            ..snapshot.signed
        };
        let snapshot_row = signed_row("snapshot", document, online)?;
        let timestamp: Signed<Timestamp> = parse_stored(&self.latest("timestamp").await?)?;
        let timestamp_row = signed_row(
            "timestamp",
            timestamp_for(timestamp.signed.version + 1, &snapshot_row, now),
            online,
        )?;
        let version = timestamp_row.version;
        rows.extend([snapshot_row, timestamp_row]);
        self.store
            .tuf_publish(TufPublish {
                consumed: Vec::new(),
                upserts: Vec::new(),
                removals: Vec::new(),
                metadata: rows,
            })
            .await?;
        Ok(version)
    }

    async fn run(
        &self,
        now: OffsetDateTime,
        given: Option<Vec<TufChange>>,
        check_bins: bool,
    ) -> Result<Cycle, RepoError> {
        let changes = match given {
            Some(changes) => changes,
            None => self.store.tuf_changes(BATCH).await?,
        };
        let consumed: Vec<i64> = changes.iter().map(|c| c.id).filter(|id| *id > 0).collect();
        let targets = self.changed_targets(&changes).await?;

        let mut bins: BTreeMap<String, BTreeMap<String, tuf::TargetFile>> = BTreeMap::new();
        for bin in targets.bins() {
            let mut content: BTreeMap<String, tuf::TargetFile> = self
                .store
                .tuf_current_in_bin(&bin)
                .await?
                .into_iter()
                .map(|current| (current.path.clone(), target_file_of(&current)))
                .collect();
            targets.apply(&bin, &mut content);
            bins.insert(bin, content);
        }
        if check_bins {
            for latest in self.store.tuf_latest_versions().await? {
                let is_bin = latest.role.starts_with("bin-");
                if !is_bin
                    || bins.contains_key(&latest.role)
                    || latest.expires_at - now >= ONLINE_MARGIN
                {
                    continue;
                }
                let row = self.latest(&latest.role).await?;
                let stored: Signed<Targets> = parse_stored(&row)?;
                bins.insert(latest.role, stored.signed.targets);
            }
        }

        let snapshot_row = self.latest("snapshot").await?;
        let timestamp_row = self.latest("timestamp").await?;
        let snapshot_due = snapshot_row.expires_at - now < ONLINE_MARGIN;
        let timestamp_due = timestamp_row.expires_at - now < TIMESTAMP_MARGIN;
        if bins.is_empty() && !snapshot_due && !timestamp_due {
            // Nothing to sign: the common case of a write that changed nothing public.
            if !consumed.is_empty() {
                self.store
                    .tuf_publish(TufPublish {
                        consumed: consumed.clone(),
                        ..TufPublish::default()
                    })
                    .await?;
            }
            return Ok(Cycle {
                changes: consumed.len(),
                ..Cycle::default()
            });
        }

        let online = keys::online_key(self.store.as_ref(), &self.server_key).await?;
        let mut metadata = Vec::new();
        let mut snapshot: Signed<Snapshot> = parse_stored(&snapshot_row)?;
        for (bin, content) in &bins {
            let version = self.latest(bin).await?.version + 1;
            let document = Targets {
                type_name: "targets".into(),
                spec_version: SPEC_VERSION.into(),
                version,
                expires: expiry(now, ONLINE_DAYS),
                targets: content.clone(),
                delegations: None,
            };
            metadata.push(signed_row(bin, document, &online)?);
            snapshot
                .signed
                .meta
                .insert(format!("{bin}.json"), meta_version(version));
        }

        let new_snapshot = !bins.is_empty() || snapshot_due;
        if new_snapshot {
            let mut document = snapshot.signed;
            document.version += 1;
            document.expires = expiry(now, ONLINE_DAYS);
            metadata.push(signed_row("snapshot", document, &online)?);
        }
        let mut timestamp_version = None;
        if new_snapshot || timestamp_due {
            let current: Signed<Timestamp> = parse_stored(&timestamp_row)?;
            let named = match metadata.last() {
                Some(row) if new_snapshot => row,
                _ => &snapshot_row,
            };
            let version = current.signed.version + 1;
            let document = timestamp_for(version, named, now);
            metadata.push(signed_row("timestamp", document, &online)?);
            timestamp_version = Some(version);
        }

        let cycle = Cycle {
            changes: consumed.len(),
            upserted: targets.upserts.len(),
            removed: targets.removals.len(),
            bins: bins.len(),
            timestamp: timestamp_version,
        };
        if consumed.is_empty() && metadata.is_empty() {
            return Ok(cycle);
        }
        self.store
            .tuf_publish(TufPublish {
                consumed,
                upserts: targets.upserts.into_values().collect(),
                removals: targets.removals.into_iter().collect(),
                metadata,
            })
            .await?;
        Ok(cycle)
    }

    /// The targets the changes touch, as they should now be: new or changed ones and removed
    /// ones (compared with what the bins list now).
    async fn changed_targets(&self, changes: &[TufChange]) -> Result<TargetChanges, RepoError> {
        let mut names: BTreeSet<(OriginName, String)> = BTreeSet::new();
        let mut key_origins: BTreeSet<OriginName> = BTreeSet::new();
        for change in changes {
            match &change.scope {
                TufScope::Package(name) => {
                    names.insert((change.origin.clone(), name.clone()));
                }
                TufScope::Keys => {
                    key_origins.insert(change.origin.clone());
                }
                TufScope::Origin => {
                    key_origins.insert(change.origin.clone());
                    for name in self.store.tuf_origin_package_names(&change.origin).await? {
                        names.insert((change.origin.clone(), name));
                    }
                    let prefix = format!("channels/{}/", change.origin);
                    for path in self.store.tuf_current_paths_under(&prefix).await? {
                        if let Some(name) = path.split('/').nth(3) {
                            names.insert((change.origin.clone(), name.to_string()));
                        }
                    }
                }
            }
        }

        let mut changed = TargetChanges::default();
        for (origin, name) in &names {
            let rows = self.store.tuf_index_rows(origin, name).await?;
            let wanted = channel_indexes(origin, name, rows)?;
            // This name's indexes only (from an index), not every path of its origin.
            let existing = self.store.tuf_current_package_paths(origin, name).await?;
            self.compare(&mut changed, wanted, existing.iter()).await?;
        }
        for origin in &key_origins {
            let wanted = self
                .store
                .public_keys(origin)
                .await?
                .into_iter()
                .map(|key| {
                    (
                        layout::origin_key_path(origin, &key.revision),
                        key.body.into_bytes(),
                    )
                })
                .collect();
            let prefix = format!("keys/{origin}/");
            let existing = self.store.tuf_current_paths_under(&prefix).await?;
            self.compare(&mut changed, wanted, existing.iter()).await?;
        }
        Ok(changed)
    }

    /// Records in `changed` which of `wanted` differ from what is current, and which of
    /// `existing` are no longer wanted.
    async fn compare<'a>(
        &self,
        changed: &mut TargetChanges,
        wanted: BTreeMap<String, Vec<u8>>,
        existing: impl Iterator<Item = &'a String>,
    ) -> Result<(), RepoError> {
        for path in existing {
            if !wanted.contains_key(path) {
                changed.removals.insert(path.clone());
            }
        }
        for (path, body) in wanted {
            let entry = tuf::target_file(&body);
            let sha256 = entry.hashes.get("sha256").cloned().unwrap_or_default();
            let current = self.store.tuf_current(&path).await?;
            if current.is_some_and(|c| c.sha256 == sha256) {
                continue;
            }
            let blake2b = entry.hashes.get("blake2b-256").cloned().unwrap_or_default();
            changed.upserts.insert(
                path.clone(),
                TufTargetUpsert {
                    current: TufCurrent {
                        bin: bin_of(&path),
                        path,
                        sha256,
                        blake2b,
                        length: entry.length,
                    },
                    body,
                },
            );
        }
        Ok(())
    }

    async fn latest(&self, role: &str) -> Result<TufMetadataRow, RepoError> {
        self.store
            .tuf_latest(role)
            .await?
            .ok_or_else(|| RepoError::Corrupt(format!("no `{role}` metadata is stored")))
    }
}

/// Targets to add or change (by path) and to remove.
#[derive(Default)]
struct TargetChanges {
    upserts: BTreeMap<String, TufTargetUpsert>,
    removals: BTreeSet<String>,
}

impl TargetChanges {
    fn bins(&self) -> BTreeSet<String> {
        self.upserts
            .values()
            .map(|u| u.current.bin.clone())
            .chain(self.removals.iter().map(|path| bin_of(path)))
            .collect()
    }

    fn apply(&self, bin: &str, content: &mut BTreeMap<String, tuf::TargetFile>) {
        for path in &self.removals {
            content.remove(path);
        }
        for upsert in self.upserts.values().filter(|u| u.current.bin == bin) {
            content.insert(upsert.current.path.clone(), target_file_of(&upsert.current));
        }
    }
}

fn target_file_of(current: &TufCurrent) -> tuf::TargetFile {
    tuf::TargetFile {
        length: current.length,
        hashes: BTreeMap::from([
            ("sha256".to_string(), current.sha256.clone()),
            ("blake2b-256".to_string(), current.blake2b.clone()),
        ]),
    }
}

/// The channel indexes of one package name: one per channel and target it has public
/// releases in, newest release first.
fn channel_indexes(
    origin: &OriginName,
    name: &str,
    rows: Vec<TufIndexRow>,
) -> Result<BTreeMap<String, Vec<u8>>, RepoError> {
    let mut grouped: BTreeMap<(String, String), Vec<IndexedRelease>> = BTreeMap::new();
    for row in rows {
        let (Some(sha256), Some(signer)) = (row.sha256, row.signer) else {
            tracing::warn!(ident = %row.ident, "left out of TUF: its artifact's SHA-256 is not known");
            continue;
        };
        grouped
            .entry((row.channel.to_string(), row.target.to_string()))
            .or_default()
            .push(IndexedRelease {
                ident: row.ident,
                checksum: row.checksum.to_string(),
                sha256,
                size: row.size,
                signer,
            });
    }
    grouped
        .into_iter()
        .map(|((channel, target), mut releases)| {
            releases.sort_by(|a, b| b.ident.cmp_release(&a.ident));
            let path = layout::channel_index_path(origin.as_str(), &channel, name, &target);
            let index = ChannelIndex {
                origin: origin.to_string(),
                channel,
                name: name.to_string(),
                target,
                releases,
            };
            let body = serde_json::to_vec(&index)
                .map_err(|e| RepoError::Corrupt(format!("cannot write `{path}`: {e}")))?;
            Ok((path, body))
        })
        .collect()
}

/// A snapshot's entry for a role: its version only (lengths and hashes would make every
/// snapshot larger, and consistent snapshots name each version's file already).
pub(super) fn meta_version(version: u64) -> MetaFile {
    MetaFile {
        version,
        length: None,
        hashes: None,
    }
}

/// A timestamp of `version` naming the snapshot stored as `snapshot`, with its length and
/// SHA-256.
pub(super) fn timestamp_for(
    version: u64,
    snapshot: &TufMetadataRow,
    now: OffsetDateTime,
) -> Timestamp {
    Timestamp {
        type_name: "timestamp".into(),
        spec_version: SPEC_VERSION.into(),
        version,
        expires: expiry(now, TIMESTAMP_DAYS),
        meta: BTreeMap::from([(
            "snapshot.json".to_string(),
            MetaFile {
                version: snapshot.version,
                length: Some(snapshot.body.len() as u64),
                hashes: Some(BTreeMap::from([(
                    "sha256".to_string(),
                    tuf::sha256_hex(&snapshot.body),
                )])),
            },
        )]),
    }
}

/// Signs a document with one key and makes it a row to store.
pub(super) fn signed_row<T: Role>(
    role: &str,
    document: T,
    key: &SigningKey,
) -> Result<TufMetadataRow, RepoError> {
    let (version, expires_at) = (document.version(), document.expires());
    let signed = tuf::sign(document, &[key])?;
    Ok(TufMetadataRow {
        role: role.to_string(),
        version,
        body: metadata_bytes(&signed)?,
        expires_at,
    })
}

/// The bytes a signed document is served as.
pub(super) fn metadata_bytes<T: Role>(signed: &Signed<T>) -> Result<Vec<u8>, RepoError> {
    serde_json::to_vec(signed)
        .map_err(|e| RepoError::Corrupt(format!("cannot write metadata: {e}")))
}

/// A stored document, read back (it was written by this depot).
fn parse_stored<T: Role>(row: &TufMetadataRow) -> Result<Signed<T>, RepoError> {
    serde_json::from_slice(&row.body)
        .map_err(|e| RepoError::Corrupt(format!("`{}` version {}: {e}", row.role, row.version)))
}

/// The middleware that makes a change visible in TUF before it is answered, on the embedded
/// store: after any request but `GET` and `HEAD`, the publisher drains the outbox. (A
/// scale-out depot publishes from its leader within a second or two instead.)
pub async fn after_writes(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let reads_only = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let response = next.run(request).await;
    if !reads_only
        && state.settings.metadata.is_embedded()
        && let Err(e) = state.tuf.cycle(OffsetDateTime::now_utc()).await
    {
        tracing::warn!(error = %e, "TUF publisher");
    }
    response
}

/// Starts the background publisher of `hab-depot start`: once a second it publishes what the
/// outbox holds (changes made by another process or command) and re-signs what is about to
/// expire.
pub fn start(state: &crate::AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run_forever(
        state.tuf.clone(),
        state.metadata.clone(),
        Duration::from_secs(1),
    ))
}

/// Runs the publisher every `every` until the process ends. On PostgreSQL only the process
/// holding the `tuf-publisher` lock publishes; the others try again each round.
pub async fn run_forever(
    publisher: Arc<Publisher>,
    store: Arc<dyn MetadataStore>,
    every: Duration,
) {
    let mut lock = None;
    let mut backfilled = false;
    loop {
        if lock.is_none() {
            match store.try_lock("tuf-publisher").await {
                Ok(held) => lock = held,
                Err(e) => tracing::warn!(error = %e, "TUF publisher: cannot take its lock"),
            }
        }
        if lock.is_some() && !backfilled {
            match publisher.backfill().await {
                Ok(done) if done.filled > 0 => {
                    tracing::info!(
                        packages = done.filled,
                        "TUF: recorded the SHA-256 and signer of older packages"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "TUF backfill"),
            }
            backfilled = true;
        }
        if lock.is_some()
            && let Err(e) = publisher.cycle(OffsetDateTime::now_utc()).await
        {
            tracing::warn!(error = %e, "TUF publisher");
        }
        tokio::time::sleep(every).await;
    }
}
