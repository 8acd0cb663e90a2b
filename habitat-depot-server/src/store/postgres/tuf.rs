//! The TUF repository's rows: outbox, metadata versions, targets, the online key, and the
//! release facts (SHA-256, signer) their indexes list.

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::rows::*;
use super::*;
use crate::store::tuf::{index_package, prefix_end};

/// The condition under which an outbox row is written: the repository is initialized.
const INITIALIZED: &str = "EXISTS (SELECT 1 FROM tuf_metadata)";

/// Writes an outbox row for package `package_id`'s name if the package is public (private
/// packages are in no index) and the repository is initialized, in the caller's transaction.
pub(super) async fn outbox_package(tx: &Transaction<'_>, package_id: i64, stamp: &str) -> Step<()> {
    execute(
        tx,
        &format!(
            "INSERT INTO tuf_outbox (origin, scope, name, created_at) \
             SELECT p.origin, 'package', p.name, $2 FROM packages p \
             WHERE p.id = $1 AND p.visibility = 'public' AND {INITIALIZED}"
        ),
        &[&package_id, &stamp],
    )
    .await?;
    Ok(())
}

/// Writes an outbox row of `scope` for `origin` if the repository is initialized, in the
/// caller's transaction.
pub(super) async fn outbox(
    tx: &Transaction<'_>,
    origin: &OriginName,
    scope: &TufScope,
    stamp: &str,
) -> Step<()> {
    execute(
        tx,
        &format!(
            "INSERT INTO tuf_outbox (origin, scope, name, created_at) \
             SELECT $1, $2, $3, $4 WHERE {INITIALIZED}"
        ),
        &[&origin.as_str(), &scope.as_str(), &scope.name(), &stamp],
    )
    .await?;
    Ok(())
}

/// Writes one outbox row for each distinct public (origin, name) among `packages`, in one
/// statement in the caller's transaction (an import of many releases of one name writes one
/// row).
pub(super) async fn outbox_packages(tx: &Transaction<'_>, packages: &[Package]) -> Step<()> {
    let mut seen = std::collections::HashSet::new();
    let (mut origins, mut names) = (Vec::new(), Vec::new());
    for package in packages {
        let ident = &package.ident;
        if package.visibility == Visibility::Public && seen.insert((ident.origin(), ident.name())) {
            origins.push(ident.origin().as_str());
            names.push(ident.name().as_str());
        }
    }
    if origins.is_empty() {
        return Ok(());
    }
    execute(
        tx,
        &format!(
            "INSERT INTO tuf_outbox (origin, scope, name, created_at) \
             SELECT o, 'package', n, $3 FROM unnest($1::text[], $2::text[]) AS x(o, n) \
             WHERE {INITIALIZED}"
        ),
        &[&origins, &names, &ts(now())],
    )
    .await?;
    Ok(())
}

/// An unsigned count or limit as PostgreSQL's `BIGINT` (a larger one is the largest).
fn bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) async fn packages_missing_tuf_facts(
    store: &PostgresStore,
    after: i64,
    limit: usize,
) -> StoreResult<Vec<(i64, Blake2bHash)>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT id, checksum FROM packages WHERE (sha256 IS NULL OR signer IS NULL) \
             AND id > $1 ORDER BY id LIMIT $2",
            &[&after, &bigint(limit as u64)],
        )
        .await?
        .iter()
        .map(|row| Ok((column(row, 0)?, parse_col(column::<&str>(row, 1)?)?)))
        .collect()
    })
}

pub(super) async fn set_package_tuf_facts(
    store: &PostgresStore,
    id: i64,
    sha256: &str,
    signer: &str,
) -> StoreResult<()> {
    transaction!(store, |tx| {
        let changed = execute(
            &tx,
            "UPDATE packages SET sha256 = $2, signer = $3 WHERE id = $1",
            &[&id, &sha256, &signer],
        )
        .await?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("package `{id}`")).into());
        }
        outbox_package(&tx, id, &ts(now())).await?;
    })
}

pub(super) async fn tuf_initialized(store: &PostgresStore) -> StoreResult<bool> {
    read!(async {
        let client = store.client().await?;
        let row = query_one(&client, &format!("SELECT {INITIALIZED}"), &[]).await?;
        column(&row, 0)
    })
}

pub(super) async fn tuf_put_key(
    store: &PostgresStore,
    name: &str,
    public: &str,
    secret_encrypted: &[u8],
) -> StoreResult<()> {
    read!(async {
        let client = store.client().await?;
        execute(
            &client,
            "INSERT INTO tuf_keys (name, public, secret_encrypted) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET public = excluded.public, \
             secret_encrypted = excluded.secret_encrypted",
            &[&name, &public, &secret_encrypted],
        )
        .await?;
        Ok(())
    })
}

pub(super) async fn tuf_key(store: &PostgresStore, name: &str) -> StoreResult<Option<TufKey>> {
    read!(async {
        let client = store.client().await?;
        query_opt(
            &client,
            "SELECT public, secret_encrypted FROM tuf_keys WHERE name = $1",
            &[&name],
        )
        .await?
        .map(|row| {
            Ok(TufKey {
                name: name.to_owned(),
                public: column(&row, 0)?,
                secret_encrypted: column(&row, 1)?,
            })
        })
        .transpose()
    })
}

pub(super) async fn tuf_changes(
    store: &PostgresStore,
    limit: usize,
) -> StoreResult<Vec<TufChange>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT id, origin, scope, name FROM tuf_outbox ORDER BY id LIMIT $1",
            &[&bigint(limit as u64)],
        )
        .await?
        .iter()
        .map(|row| {
            let scope: &str = column(row, 2)?;
            Ok(TufChange {
                id: column(row, 0)?,
                origin: parse_col(column::<&str>(row, 1)?)?,
                scope: TufScope::from_row(scope, column(row, 3)?).ok_or_else(|| {
                    Fail::Store(StoreError::Invalid(format!(
                        "the database holds an unknown TUF outbox scope `{scope}`"
                    )))
                })?,
            })
        })
        .collect()
    })
}

pub(super) async fn tuf_index_rows(
    store: &PostgresStore,
    origin: &OriginName,
    name: &str,
) -> StoreResult<Vec<TufIndexRow>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            &format!(
                "SELECT c.name, p.origin || '/' || p.name || '/' || p.version || '/' || \
                 p.release, p.target, p.checksum, p.sha256, p.size, p.signer \
                 FROM packages p JOIN channel_packages cp ON cp.package_id = p.id \
                 JOIN channels c ON c.id = cp.channel_id \
                 WHERE p.origin = $1 AND p.name = $2 AND p.visibility = 'public' \
                 ORDER BY c.name, p.target, {NEWEST_FIRST}"
            ),
            &[&origin.as_str(), &name],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(TufIndexRow {
                channel: parse_col(column::<&str>(row, 0)?)?,
                ident: parse_col(column::<&str>(row, 1)?)?,
                target: parse_col(column::<&str>(row, 2)?)?,
                checksum: parse_col(column::<&str>(row, 3)?)?,
                sha256: column(row, 4)?,
                size: column::<i64>(row, 5)? as u64,
                signer: column(row, 6)?,
            })
        })
        .collect()
    })
}

pub(super) async fn tuf_origin_package_names(
    store: &PostgresStore,
    origin: &OriginName,
) -> StoreResult<Vec<String>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT DISTINCT name FROM packages WHERE origin = $1 ORDER BY name",
            &[&origin.as_str()],
        )
        .await?
        .iter()
        .map(|row| column(row, 0))
        .collect()
    })
}

/// The columns [`current_row`] reads.
const CURRENT_COLS: &str = "path, bin, sha256, blake2b, length";

fn current_row(row: &Row) -> Step<TufCurrent> {
    Ok(TufCurrent {
        path: column(row, 0)?,
        bin: column(row, 1)?,
        sha256: column(row, 2)?,
        blake2b: column(row, 3)?,
        length: column::<i64>(row, 4)? as u64,
    })
}

pub(super) async fn tuf_current_in_bin(
    store: &PostgresStore,
    bin: &str,
) -> StoreResult<Vec<TufCurrent>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            &format!("SELECT {CURRENT_COLS} FROM tuf_current WHERE bin = $1 ORDER BY path"),
            &[&bin],
        )
        .await?
        .iter()
        .map(current_row)
        .collect()
    })
}

pub(super) async fn tuf_current(
    store: &PostgresStore,
    path: &str,
) -> StoreResult<Option<TufCurrent>> {
    read!(async {
        let client = store.client().await?;
        query_opt(
            &client,
            &format!("SELECT {CURRENT_COLS} FROM tuf_current WHERE path = $1"),
            &[&path],
        )
        .await?
        .map(|row| current_row(&row))
        .transpose()
    })
}

pub(super) async fn tuf_current_paths_under(
    store: &PostgresStore,
    prefix: &str,
) -> StoreResult<Vec<String>> {
    read!(async {
        let client = store.client().await?;
        let rows = match prefix_end(prefix) {
            Some(end) => {
                query(
                    &client,
                    "SELECT path FROM tuf_current WHERE path >= $1 AND path < $2 ORDER BY path",
                    &[&prefix, &end],
                )
                .await?
            }
            None => {
                query(
                    &client,
                    "SELECT path FROM tuf_current WHERE path >= $1 ORDER BY path",
                    &[&prefix],
                )
                .await?
            }
        };
        rows.iter().map(|row| column(row, 0)).collect()
    })
}

pub(super) async fn tuf_current_package_paths(
    store: &PostgresStore,
    origin: &OriginName,
    name: &str,
) -> StoreResult<Vec<String>> {
    let package = format!("{origin}/{name}");
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT path FROM tuf_current WHERE package = $1 ORDER BY path",
            &[&package],
        )
        .await?
        .iter()
        .map(|row| column(row, 0))
        .collect()
    })
}

fn metadata_row(row: &Row) -> Step<TufMetadataRow> {
    Ok(TufMetadataRow {
        role: column(row, 0)?,
        version: column::<i64>(row, 1)? as u64,
        body: column(row, 2)?,
        expires_at: parse_ts(column(row, 3)?)?,
    })
}

pub(super) async fn tuf_latest(
    store: &PostgresStore,
    role: &str,
) -> StoreResult<Option<TufMetadataRow>> {
    read!(async {
        let client = store.client().await?;
        query_opt(
            &client,
            "SELECT role, version, body, expires_at FROM tuf_metadata WHERE role = $1 \
             ORDER BY version DESC LIMIT 1",
            &[&role],
        )
        .await?
        .map(|row| metadata_row(&row))
        .transpose()
    })
}

pub(super) async fn tuf_latest_versions(store: &PostgresStore) -> StoreResult<Vec<TufMetadataRow>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT DISTINCT ON (role) role, version, ''::bytea, expires_at FROM tuf_metadata \
             ORDER BY role, version DESC",
            &[],
        )
        .await?
        .iter()
        .map(metadata_row)
        .collect()
    })
}

pub(super) async fn tuf_metadata(
    store: &PostgresStore,
    role: &str,
    version: u64,
) -> StoreResult<Option<TufMetadataRow>> {
    let Ok(version) = i64::try_from(version) else {
        return Ok(None);
    };
    read!(async {
        let client = store.client().await?;
        query_opt(
            &client,
            "SELECT role, version, body, expires_at FROM tuf_metadata \
             WHERE role = $1 AND version = $2",
            &[&role, &version],
        )
        .await?
        .map(|row| metadata_row(&row))
        .transpose()
    })
}

pub(super) async fn tuf_target_body(
    store: &PostgresStore,
    path: &str,
    hash_hex: &str,
) -> StoreResult<Option<Vec<u8>>> {
    read!(async {
        let client = store.client().await?;
        query_opt(
            &client,
            "(SELECT body FROM tuf_targets WHERE sha256 = $2 AND path = $1) \
             UNION ALL (SELECT body FROM tuf_targets WHERE blake2b = $2 AND path = $1) LIMIT 1",
            &[&path, &hash_hex],
        )
        .await?
        .map(|row| column(&row, 0))
        .transpose()
    })
}

pub(super) async fn tuf_publish(store: &PostgresStore, publish: TufPublish) -> StoreResult<()> {
    transaction!(store, |tx| {
        apply_publish(&tx, &publish).await?;
    })
}

/// The statements of one publish, in the caller's transaction.
async fn apply_publish<C: GenericClient>(tx: &C, publish: &TufPublish) -> Step<()> {
    let stamp = ts(now());
    if !publish.consumed.is_empty() {
        execute(
            tx,
            "DELETE FROM tuf_outbox WHERE id = ANY($1)",
            &[&publish.consumed],
        )
        .await?;
    }
    for write in &publish.upserts {
        let entry = &write.current;
        let length = bigint(entry.length);
        execute(
            tx,
            "INSERT INTO tuf_targets (sha256, path, blake2b, length, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (sha256) DO UPDATE SET created_at = excluded.created_at",
            &[
                &entry.sha256,
                &entry.path,
                &entry.blake2b,
                &length,
                &write.body,
                &stamp,
            ],
        )
        .await?;
        execute(
            tx,
            "INSERT INTO tuf_current (path, bin, sha256, blake2b, length, package) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (path) DO UPDATE SET \
             bin = excluded.bin, sha256 = excluded.sha256, blake2b = excluded.blake2b, \
             length = excluded.length",
            &[
                &entry.path,
                &entry.bin,
                &entry.sha256,
                &entry.blake2b,
                &length,
                &index_package(&entry.path),
            ],
        )
        .await?;
    }
    if !publish.removals.is_empty() {
        execute(
            tx,
            "DELETE FROM tuf_current WHERE path = ANY($1)",
            &[&publish.removals],
        )
        .await?;
    }
    for row in &publish.metadata {
        execute(
            tx,
            "INSERT INTO tuf_metadata (role, version, body, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &row.role,
                &bigint(row.version),
                &row.body,
                &ts(row.expires_at),
                &stamp,
            ],
        )
        .await
        .map_err(conflict_as(format!(
            "version {} of TUF role `{}`",
            row.version, row.role
        )))?;
    }
    Ok(())
}

pub(super) async fn tuf_collect(
    store: &PostgresStore,
    older_than: OffsetDateTime,
) -> StoreResult<TufCollected> {
    let cutoff = ts(older_than);
    transaction!(store, |tx| {
        let metadata = execute(
            &tx,
            "DELETE FROM tuf_metadata m WHERE m.created_at < $1 AND m.role <> 'root' \
             AND m.version < (SELECT max(n.version) FROM tuf_metadata n WHERE n.role = m.role)",
            &[&cutoff],
        )
        .await?;
        let targets = execute(
            &tx,
            "DELETE FROM tuf_targets t WHERE t.created_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM tuf_current c WHERE c.sha256 = t.sha256)",
            &[&cutoff],
        )
        .await?;
        TufCollected { metadata, targets }
    })
}
