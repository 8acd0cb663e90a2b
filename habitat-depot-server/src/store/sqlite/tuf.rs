//! The TUF repository's rows: outbox, metadata versions, targets, the online key, and the
//! release facts (SHA-256, signer) their indexes list.

use rusqlite::{OptionalExtension, Row, params};

use super::rows::*;
use super::*;
use crate::store::tuf::{index_package, prefix_end};

/// The condition under which an outbox row is written: the repository is initialized.
const INITIALIZED: &str = "EXISTS (SELECT 1 FROM tuf_metadata)";

/// Writes an outbox row for package `package_id`'s name if the package is public (private
/// packages are in no index) and the repository is initialized, in the caller's transaction.
pub(super) fn outbox_package(tx: &Connection, package_id: i64, stamp: &str) -> StoreResult<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO tuf_outbox (origin, scope, name, created_at) \
         SELECT p.origin, 'package', p.name, ?2 FROM packages p \
         WHERE p.id = ?1 AND p.visibility = 'public' AND {INITIALIZED}"
    ))
    .and_then(|mut stmt| stmt.execute(params![package_id, stamp]))
    .map_err(backend)?;
    Ok(())
}

/// Writes an outbox row of `scope` for `origin` if the repository is initialized, in the
/// caller's transaction.
pub(super) fn outbox(
    tx: &Connection,
    origin: &OriginName,
    scope: &TufScope,
    stamp: &str,
) -> StoreResult<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO tuf_outbox (origin, scope, name, created_at) \
         SELECT ?1, ?2, ?3, ?4 WHERE {INITIALIZED}"
    ))
    .and_then(|mut stmt| {
        stmt.execute(params![
            origin.as_str(),
            scope.as_str(),
            scope.name(),
            stamp
        ])
    })
    .map_err(backend)?;
    Ok(())
}

/// Writes one outbox row for each distinct public (origin, name) among `packages`, in the
/// caller's transaction (an import of many releases of one name writes one row).
pub(super) fn outbox_packages(
    tx: &Connection,
    packages: &[Package],
    stamp: &str,
) -> StoreResult<()> {
    let mut seen = std::collections::HashSet::new();
    for package in packages {
        let ident = &package.ident;
        if package.visibility == Visibility::Public && seen.insert((ident.origin(), ident.name())) {
            let scope = TufScope::Package(ident.name().to_string());
            outbox(tx, ident.origin(), &scope, stamp)?;
        }
    }
    Ok(())
}

pub(super) async fn packages_missing_tuf_facts(
    store: &SqliteStore,
    after: i64,
    limit: usize,
) -> StoreResult<Vec<(i64, Blake2bHash)>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    store
        .with(move |c| {
            all(
                c,
                "SELECT id, checksum FROM packages WHERE (sha256 IS NULL OR signer IS NULL) \
                 AND id > ?1 ORDER BY id LIMIT ?2",
                [after, limit],
                |r| Ok((r.get(0)?, parse_col(&r.get::<_, String>(1)?)?)),
            )
        })
        .await
}

pub(super) async fn set_package_tuf_facts(
    store: &SqliteStore,
    id: i64,
    sha256: &str,
    signer: &str,
) -> StoreResult<()> {
    let (sha256, signer) = (sha256.to_owned(), signer.to_owned());
    store
        .write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE packages SET sha256 = ?2, signer = ?3 WHERE id = ?1",
                    params![id, sha256, signer],
                )
                .map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("package `{id}`")));
            }
            outbox_package(tx, id, &ts(now()))
        })
        .await
}

pub(super) async fn tuf_initialized(store: &SqliteStore) -> StoreResult<bool> {
    store
        .with(|c| {
            c.query_row(&format!("SELECT {INITIALIZED}"), [], |r| r.get(0))
                .map_err(backend)
        })
        .await
}

pub(super) async fn tuf_put_key(
    store: &SqliteStore,
    name: &str,
    public: &str,
    secret_encrypted: &[u8],
) -> StoreResult<()> {
    let key = TufKey {
        name: name.to_owned(),
        public: public.to_owned(),
        secret_encrypted: secret_encrypted.to_vec(),
    };
    store
        .write(move |tx| {
            tx.execute(
                "INSERT INTO tuf_keys (name, public, secret_encrypted) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET public = excluded.public, \
                 secret_encrypted = excluded.secret_encrypted",
                params![key.name, key.public, key.secret_encrypted],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
}

pub(super) async fn tuf_key(store: &SqliteStore, name: &str) -> StoreResult<Option<TufKey>> {
    let name = name.to_owned();
    store
        .with(move |c| {
            c.query_row(
                "SELECT public, secret_encrypted FROM tuf_keys WHERE name = ?1",
                [&name],
                |r| {
                    Ok(TufKey {
                        name: name.clone(),
                        public: r.get(0)?,
                        secret_encrypted: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
}

pub(super) async fn tuf_changes(store: &SqliteStore, limit: usize) -> StoreResult<Vec<TufChange>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    store
        .with(move |c| {
            all(
                c,
                "SELECT id, origin, scope, name FROM tuf_outbox ORDER BY id LIMIT ?1",
                [limit],
                |r| {
                    let scope: String = r.get(2)?;
                    Ok(TufChange {
                        id: r.get(0)?,
                        origin: parse_col(&r.get::<_, String>(1)?)?,
                        scope: TufScope::from_row(&scope, r.get(3)?)
                            .ok_or_else(|| conversion("unknown TUF outbox scope"))?,
                    })
                },
            )
        })
        .await
}

pub(super) async fn tuf_index_rows(
    store: &SqliteStore,
    origin: &OriginName,
    name: &str,
) -> StoreResult<Vec<TufIndexRow>> {
    let (origin, name) = (origin.clone(), name.to_owned());
    store
        .with(move |c| {
            all_cached(
                c,
                &format!(
                    "SELECT c.name, p.origin || '/' || p.name || '/' || p.version || '/' || \
                     p.release, p.target, p.checksum, p.sha256, p.size, p.signer \
                     FROM packages p JOIN channel_packages cp ON cp.package_id = p.id \
                     JOIN channels c ON c.id = cp.channel_id \
                     WHERE p.origin = ?1 AND p.name = ?2 AND p.visibility = 'public' \
                     ORDER BY c.name, p.target, {NEWEST_FIRST}"
                ),
                params![origin.as_str(), name],
                |r| {
                    Ok(TufIndexRow {
                        channel: parse_col(&r.get::<_, String>(0)?)?,
                        ident: parse_col(&r.get::<_, String>(1)?)?,
                        target: parse_col(&r.get::<_, String>(2)?)?,
                        checksum: parse_col(&r.get::<_, String>(3)?)?,
                        sha256: r.get(4)?,
                        size: r.get::<_, i64>(5)? as u64,
                        signer: r.get(6)?,
                    })
                },
            )
        })
        .await
}

pub(super) async fn tuf_origin_package_names(
    store: &SqliteStore,
    origin: &OriginName,
) -> StoreResult<Vec<String>> {
    let origin = origin.clone();
    store
        .with(move |c| {
            all(
                c,
                "SELECT DISTINCT name FROM packages WHERE origin = ?1 ORDER BY name",
                [origin.as_str()],
                |r| r.get(0),
            )
        })
        .await
}

/// The columns [`current_row`] reads.
const CURRENT_COLS: &str = "path, bin, sha256, blake2b, length";

fn current_row(r: &Row<'_>) -> rusqlite::Result<TufCurrent> {
    Ok(TufCurrent {
        path: r.get(0)?,
        bin: r.get(1)?,
        sha256: r.get(2)?,
        blake2b: r.get(3)?,
        length: r.get::<_, i64>(4)? as u64,
    })
}

pub(super) async fn tuf_current_in_bin(
    store: &SqliteStore,
    bin: &str,
) -> StoreResult<Vec<TufCurrent>> {
    let bin = bin.to_owned();
    store
        .with(move |c| {
            all_cached(
                c,
                &format!("SELECT {CURRENT_COLS} FROM tuf_current WHERE bin = ?1 ORDER BY path"),
                [bin],
                current_row,
            )
        })
        .await
}

pub(super) async fn tuf_current(
    store: &SqliteStore,
    path: &str,
) -> StoreResult<Option<TufCurrent>> {
    let path = path.to_owned();
    store
        .with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {CURRENT_COLS} FROM tuf_current WHERE path = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([path], current_row).optional())
            .map_err(backend)
        })
        .await
}

pub(super) async fn tuf_current_paths_under(
    store: &SqliteStore,
    prefix: &str,
) -> StoreResult<Vec<String>> {
    let (start, end) = (prefix.to_owned(), prefix_end(prefix));
    store
        .with(move |c| match end {
            Some(end) => all_cached(
                c,
                "SELECT path FROM tuf_current WHERE path >= ?1 AND path < ?2 ORDER BY path",
                [start, end],
                |r| r.get(0),
            ),
            None => all_cached(
                c,
                "SELECT path FROM tuf_current WHERE path >= ?1 ORDER BY path",
                [start],
                |r| r.get(0),
            ),
        })
        .await
}

pub(super) async fn tuf_current_package_paths(
    store: &SqliteStore,
    origin: &OriginName,
    name: &str,
) -> StoreResult<Vec<String>> {
    let package = format!("{origin}/{name}");
    store
        .with(move |c| {
            all_cached(
                c,
                "SELECT path FROM tuf_current WHERE package = ?1 ORDER BY path",
                [package],
                |r| r.get(0),
            )
        })
        .await
}

fn metadata_row(r: &Row<'_>) -> rusqlite::Result<TufMetadataRow> {
    Ok(TufMetadataRow {
        role: r.get(0)?,
        version: r.get::<_, i64>(1)? as u64,
        body: r.get(2)?,
        expires_at: parse_ts(&r.get::<_, String>(3)?)?,
    })
}

pub(super) async fn tuf_latest(
    store: &SqliteStore,
    role: &str,
) -> StoreResult<Option<TufMetadataRow>> {
    let role = role.to_owned();
    store
        .with(move |c| {
            c.prepare_cached(
                "SELECT role, version, body, expires_at FROM tuf_metadata WHERE role = ?1 \
                 ORDER BY version DESC LIMIT 1",
            )
            .and_then(|mut stmt| stmt.query_row([role], metadata_row).optional())
            .map_err(backend)
        })
        .await
}

pub(super) async fn tuf_latest_versions(store: &SqliteStore) -> StoreResult<Vec<TufMetadataRow>> {
    store
        .with(|c| {
            all(
                c,
                "SELECT m.role, m.version, x'', m.expires_at FROM tuf_metadata m \
                 WHERE m.version = (SELECT max(n.version) FROM tuf_metadata n \
                 WHERE n.role = m.role) ORDER BY m.role",
                [],
                metadata_row,
            )
        })
        .await
}

pub(super) async fn tuf_metadata(
    store: &SqliteStore,
    role: &str,
    version: u64,
) -> StoreResult<Option<TufMetadataRow>> {
    let role = role.to_owned();
    let Ok(version) = i64::try_from(version) else {
        return Ok(None);
    };
    store
        .with(move |c| {
            c.prepare_cached(
                "SELECT role, version, body, expires_at FROM tuf_metadata \
                 WHERE role = ?1 AND version = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![role, version], metadata_row)
                    .optional()
            })
            .map_err(backend)
        })
        .await
}

pub(super) async fn tuf_target_body(
    store: &SqliteStore,
    path: &str,
    hash_hex: &str,
) -> StoreResult<Option<Vec<u8>>> {
    let (path, hash) = (path.to_owned(), hash_hex.to_owned());
    store
        .with(move |c| {
            c.prepare_cached(
                "SELECT body FROM tuf_targets WHERE sha256 = ?2 AND path = ?1 \
                 UNION ALL SELECT body FROM tuf_targets WHERE blake2b = ?2 AND path = ?1 \
                 LIMIT 1",
            )
            .and_then(|mut stmt| stmt.query_row([path, hash], |r| r.get(0)).optional())
            .map_err(backend)
        })
        .await
}

pub(super) async fn tuf_publish(store: &SqliteStore, publish: TufPublish) -> StoreResult<()> {
    store
        .write(move |tx| {
            let stamp = ts(now());
            let mut consume = tx
                .prepare_cached("DELETE FROM tuf_outbox WHERE id = ?1")
                .map_err(backend)?;
            for id in &publish.consumed {
                consume.execute([id]).map_err(backend)?;
            }
            let mut body = tx
                .prepare_cached(
                    "INSERT INTO tuf_targets (sha256, path, blake2b, length, body, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (sha256) DO UPDATE SET created_at = excluded.created_at",
                )
                .map_err(backend)?;
            let mut current = tx
                .prepare_cached(
                    "INSERT INTO tuf_current (path, bin, sha256, blake2b, length, package) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (path) DO UPDATE SET \
                     bin = excluded.bin, sha256 = excluded.sha256, blake2b = excluded.blake2b, \
                     length = excluded.length",
                )
                .map_err(backend)?;
            for write in &publish.upserts {
                let entry = &write.current;
                let length = entry.length as i64;
                body.execute(params![
                    entry.sha256,
                    entry.path,
                    entry.blake2b,
                    length,
                    write.body,
                    stamp
                ])
                .map_err(backend)?;
                current
                    .execute(params![
                        entry.path,
                        entry.bin,
                        entry.sha256,
                        entry.blake2b,
                        length,
                        index_package(&entry.path)
                    ])
                    .map_err(backend)?;
            }
            let mut remove = tx
                .prepare_cached("DELETE FROM tuf_current WHERE path = ?1")
                .map_err(backend)?;
            for path in &publish.removals {
                remove.execute([path]).map_err(backend)?;
            }
            let mut metadata = tx
                .prepare_cached(
                    "INSERT INTO tuf_metadata (role, version, body, expires_at, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(backend)?;
            for row in &publish.metadata {
                metadata
                    .execute(params![
                        row.role,
                        row.version as i64,
                        row.body,
                        ts(row.expires_at),
                        stamp
                    ])
                    .map_err(conflict_as(format!(
                        "version {} of TUF role `{}`",
                        row.version, row.role
                    )))?;
            }
            Ok(())
        })
        .await
}

pub(super) async fn tuf_collect(
    store: &SqliteStore,
    older_than: OffsetDateTime,
) -> StoreResult<TufCollected> {
    let cutoff = ts(older_than);
    store
        .write(move |tx| {
            let metadata = tx
                .execute(
                    "DELETE FROM tuf_metadata WHERE created_at < ?1 AND role <> 'root' \
                     AND version < (SELECT max(n.version) FROM tuf_metadata n \
                     WHERE n.role = tuf_metadata.role)",
                    [&cutoff],
                )
                .map_err(backend)?;
            let targets = tx
                .execute(
                    "DELETE FROM tuf_targets WHERE created_at < ?1 AND NOT EXISTS \
                     (SELECT 1 FROM tuf_current c WHERE c.sha256 = tuf_targets.sha256)",
                    [&cutoff],
                )
                .map_err(backend)?;
            Ok(TufCollected {
                metadata: metadata as u64,
                targets: targets as u64,
            })
        })
        .await
}
