//! The embedded metadata store: SQLite in WAL mode, in the data directory.
//!
//! Blocking SQLite calls run on tokio's blocking pool, each on a connection taken from a small
//! pool. Writes use `BEGIN IMMEDIATE` transactions, so two writers never interleave; SQLite's
//! unique constraints decide races (the loser gets [`StoreError::Conflict`]).

use std::path::Path;
use std::sync::{Arc, Mutex};

use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Semaphore;

use super::by_area::metadata_store_by_area;
use super::*;

mod accounts;
mod audit;
mod bundles;
mod dump;
mod origins;
mod packages;
mod pages;
mod rows;
mod schema;
mod sessions;
mod tuf;

use schema::MIGRATIONS;

/// Connections kept open; SQLite serializes writers anyway, readers run in parallel in WAL.
const POOL_SIZE: usize = 4;

/// How much of the database file each connection reads through a memory map (address space,
/// not memory: the kernel's page cache is shared by every connection).
const MMAP_BYTES: u64 = 1 << 30;

/// The embedded metadata store.
#[derive(Clone)]
pub struct SqliteStore {
    path: Arc<Path>,
    pool: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

/// A configured connection to the database file.
fn connect(path: &Path) -> StoreResult<Connection> {
    let cannot_open = |e: rusqlite::Error| {
        StoreError::backend(
            format!("cannot open the SQLite database `{}`", path.display()),
            e,
        )
    };
    let conn = Connection::open(path).map_err(cannot_open)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(cannot_open)?;
    // Room for every statement the hot paths reuse (their SQL varies with the filter).
    conn.set_prepared_statement_cache_capacity(64);
    // Reads map the database file (up to `MMAP_BYTES`) instead of copying each page through
    // a read call into every connection's own cache: the pages' listings touch many rows.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA mmap_size = {MMAP_BYTES};"
    ))
    .map_err(cannot_open)?;
    Ok(conn)
}

/// A failed SQLite call, its error (and extended result code) kept for the log.
fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::backend("SQLite statement", e)
}

/// A unique-constraint failure becomes a conflict naming `what`.
fn conflict_as(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError {
    let what = what.into();
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(what),
        _ => backend(e),
    }
}

fn parse_ts(text: &str) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn parse_col<T: std::str::FromStr>(text: &str) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn conversion(reason: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        reason.to_owned().into(),
    )
}

/// The pool's connections. The lock only guards a push or a pop, which leave the list whole
/// even if a thread panicked holding it, so a poisoned lock is still used.
fn lock(pool: &Mutex<Vec<Connection>>) -> std::sync::MutexGuard<'_, Vec<Connection>> {
    pool.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SqliteStore {
    /// Opens (creating if needed) `path`, applies migrations, and sets WAL mode.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let mut connections = Vec::with_capacity(POOL_SIZE);
        for i in 0..POOL_SIZE {
            let mut conn = connect(path)?;
            if i == 0 {
                migrate(&mut conn)?;
            }
            connections.push(conn);
        }
        Ok(Self {
            path: Arc::from(path),
            pool: Arc::new(Mutex::new(connections)),
            permits: Arc::new(Semaphore::new(POOL_SIZE)),
        })
    }

    /// Runs `f` on a pooled connection on the blocking pool.
    async fn with<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let _permit =
            self.permits.acquire().await.map_err(|e| {
                StoreError::backend("SQLite connections", BackendError::Pool(e.into()))
            })?;
        let pool = self.pool.clone();
        let mut conn = lock(&pool)
            .pop()
            .ok_or_else(|| StoreError::Invalid("no free SQLite connection".to_owned()))?;
        let outcome = tokio::task::spawn_blocking(move || {
            let result = f(&mut conn);
            (conn, result)
        })
        .await;
        match outcome {
            Ok((conn, result)) => {
                lock(&pool).push(conn);
                result
            }
            // The call panicked and took its connection along: replace it, so the pool keeps
            // its size, and report the failure.
            Err(panicked) => {
                lock(&pool).push(connect(&self.path)?);
                Err(StoreError::backend(
                    "a SQLite call did not finish",
                    panicked,
                ))
            }
        }
    }

    /// Runs `f` in an immediate (write) transaction.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.with(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let value = f(&tx)?;
            tx.commit().map_err(backend)?;
            Ok(value)
        })
        .await
    }
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let failed =
        |e: rusqlite::Error| StoreError::backend("cannot apply the SQLite schema migrations", e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    let applied: usize = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(failed)?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Invalid(format!(
            "the database has schema version {applied}, newer than this hab-depot knows ({}): \
             run a newer hab-depot",
            MIGRATIONS.len()
        )));
    }
    for migration in MIGRATIONS.iter().skip(applied) {
        tx.execute_batch(migration).map_err(failed)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len())
        .map_err(failed)?;
    tx.commit().map_err(failed)
}

metadata_store_by_area!(SqliteStore, {
    async fn stored_totals(&self) -> StoreResult<StoredTotals> {
        self.with(|c| {
            c.query_row(
                "SELECT count(*), coalesce(sum(size), 0) FROM packages",
                [],
                |row| {
                    Ok(StoredTotals {
                        packages: row.get::<_, i64>(0)? as u64,
                        artifact_bytes: row.get::<_, i64>(1)? as u64,
                    })
                },
            )
            .map_err(backend)
        })
        .await
        .map_err(|e| e.during("stored_totals"))
    }

    async fn ping(&self) -> StoreResult<()> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
            .await
    }

    async fn dump(&self) -> StoreResult<Dump> {
        self.with(dump::dump).await
    }

    async fn restore(&self, dump: &Dump) -> StoreResult<()> {
        let dump = dump.clone();
        self.write(move |tx| dump::restore(tx, &dump)).await
    }

    async fn try_lock(&self, _name: &str) -> StoreResult<Option<StoreLock>> {
        // One process owns the data directory.
        Ok(Some(StoreLock::uncontended()))
    }

    async fn mirrored_manifest(
        &self,
        upstream: &str,
        origin: &OriginName,
        channel: &ChannelName,
        target: PackageTarget,
    ) -> StoreResult<Option<MirroredManifest>> {
        let key = [
            upstream.to_owned(),
            origin.to_string(),
            channel.to_string(),
            target.to_string(),
        ];
        let (origin, channel) = (origin.clone(), channel.clone());
        self.with(move |c| {
            let found = c
                .query_row(
                    "SELECT etag, packages FROM mirrored_manifests \
                     WHERE upstream = ?1 AND origin = ?2 AND channel = ?3 AND target = ?4",
                    rusqlite::params_from_iter(&key),
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()
                .map_err(backend)?;
            Ok(found.map(|(etag, packages)| MirroredManifest {
                upstream: key[0].clone(),
                origin,
                channel,
                target,
                etag,
                packages,
            }))
        })
        .await
        .map_err(|e| e.during("mirrored_manifest"))
    }

    async fn put_mirrored_manifest(&self, manifest: &MirroredManifest) -> StoreResult<()> {
        let row = [
            manifest.upstream.clone(),
            manifest.origin.to_string(),
            manifest.channel.to_string(),
            manifest.target.to_string(),
            manifest.etag.clone(),
            manifest.packages.clone(),
        ];
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO mirrored_manifests \
                 (upstream, origin, channel, target, etag, packages) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (upstream, origin, channel, target) \
                 DO UPDATE SET etag = excluded.etag, packages = excluded.packages",
                rusqlite::params_from_iter(&row),
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
        .map_err(|e| e.during("put_mirrored_manifest"))
    }

    async fn bundle_import(&self, signer: &str) -> StoreResult<Option<BundleImport>> {
        bundles::bundle_import(self, signer).await
    }

    async fn record_bundle_import(&self, import: &BundleImport) -> StoreResult<()> {
        bundles::record_bundle_import(self, import).await
    }
});
