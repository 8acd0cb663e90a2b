//! The scale-out metadata store: PostgreSQL, through a pool of connections.
//!
//! Any number of `hab-depot` processes may share one database: nothing here keeps state that
//! must agree across processes. Uniqueness is the database's (a unique violation becomes
//! [`StoreError::Conflict`], so of two processes racing to insert the same package exactly one
//! wins); every change that spans rows runs in one transaction; check-then-change operations
//! lock the rows they check (`FOR UPDATE`, `FOR KEY SHARE`) so they answer as the embedded
//! store's serialized writers would. A transaction that fails with a serialization failure or a
//! deadlock runs again, a few times.
//!
//! Migrations are applied by [`PostgresStore::connect`] in one transaction holding an advisory
//! lock, so several processes starting at once apply each migration exactly once.
//!
//! Connections are plain TCP or Unix sockets ([`tokio_postgres::NoTls`]): run the database on a
//! trusted network, or reach it through a TLS tunnel.
//!
//! ```no_run
//! # async fn run() -> habitat_depot_server::store::StoreResult<()> {
//! use habitat_depot_server::store::MetadataStore;
//! use habitat_depot_server::store::postgres::PostgresStore;
//!
//! let store = PostgresStore::connect("postgres://depot@127.0.0.1:5432/depot", 8).await?;
//! store.ping().await?;
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls};

use super::by_area::metadata_store_by_area;
use super::*;

/// Runs `$body` in a transaction on a pooled connection, with `$tx` bound to the transaction,
/// then commits and yields the body's value. Inside the body `?` works on database errors and
/// store errors alike. A serialization failure or deadlock rolls back and runs the body again,
/// up to [`RETRIES`] times, so the body must only change the database.
macro_rules! transaction {
    ($store:expr, |$tx:ident| $body:block) => {{
        let mut attempt: u32 = 0;
        loop {
            let mut client = $store.client().await?;
            let outcome: Step<_> = async {
                let $tx = client.transaction().await?;
                let value = $body;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match outcome {
                Err(fail) if retryable(&fail) && attempt < RETRIES => {
                    attempt += 1;
                    backoff(attempt).await;
                }
                outcome => break outcome.map_err(StoreError::from),
            }
        }
    }};
}

/// Runs `$body` (an `async` block yielding a [`Step`]) and converts its outcome.
macro_rules! read {
    ($body:expr) => {{
        let outcome: Step<_> = $body.await;
        outcome.map_err(StoreError::from)
    }};
}

mod accounts;
mod audit;
mod bundles;
mod dump;
mod insert;
mod origins;
mod packages;
mod pages;
mod rows;
mod schema;
mod sessions;
mod tuf;

use schema::{MIGRATIONS, MIGRATIONS_TABLE};

/// How often a transaction that hit a serialization failure or deadlock runs again.
const RETRIES: u32 = 5;

/// The advisory lock key migrations hold ("habdepot" in ASCII).
const MIGRATION_LOCK: i64 = 0x6861_6264_6570_6f74;

/// How long a caller waits for a free pooled connection before failing.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// How long opening one connection may take, unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL metadata store. Cloning is cheap: clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool", &self.pool.status())
            .finish()
    }
}

/// What a step inside a store operation fails with: the store's answer, or a database error
/// (kept whole, so a transaction can tell whether running again may help).
pub(super) enum Fail {
    Store(StoreError),
    Db(tokio_postgres::Error),
}

/// The result of one step of a store operation.
pub(super) type Step<T> = Result<T, Fail>;

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<Fail> for StoreError {
    fn from(fail: Fail) -> Self {
        match fail {
            Fail::Store(e) => e,
            Fail::Db(e) => db_error(e),
        }
    }
}

/// A database error as a store error: text PostgreSQL cannot hold (a NUL character) is refused,
/// anything else is the backend failing (its SQLSTATE code and the server's message kept for
/// the log).
fn db_error(e: tokio_postgres::Error) -> StoreError {
    db_error_in("PostgreSQL statement", e)
}

/// [`db_error`] while doing `context`.
fn db_error_in(context: &str, e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::CHARACTER_NOT_IN_REPERTOIRE) {
        return StoreError::Refused(
            "a text value holds a NUL character, which PostgreSQL cannot store".to_owned(),
        );
    }
    StoreError::backend(context, e)
}

/// A unique violation becomes a conflict naming `what`, as in the embedded store.
pub(super) fn conflict_as(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Fail {
    let what = what.into();
    move |e| match e.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
            Fail::Store(StoreError::Conflict(what))
        }
        _ => Fail::Db(e),
    }
}

/// Serialization failures and deadlocks: running the transaction again may succeed.
fn retryable(fail: &Fail) -> bool {
    matches!(fail, Fail::Db(e) if matches!(
        e.code(),
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
    ))
}

/// A short, growing, jittered pause before running a transaction again.
async fn backoff(attempt: u32) {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos() % 10))
        .unwrap_or(0);
    let millis = 5 * (1u64 << attempt.min(6)) + jitter;
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`,
    /// or key=value pairs) with a pool of at most `pool_size` connections (at least 1), and
    /// applies missing schema migrations.
    ///
    /// Several processes may connect at once: migrations run in one transaction holding an
    /// advisory lock, so each is applied exactly once. Connections do not use TLS. A pooled
    /// connection is verified before each use, so one that died (a restart of the server)
    /// is replaced, not handed out.
    ///
    /// Fails with [`StoreError::Backend`] when the database cannot be reached, and with
    /// [`StoreError::Invalid`] when the URL does not parse, the database's encoding is not UTF8,
    /// or its schema is newer than this `hab-depot` knows.
    pub async fn connect(url: &str, pool_size: usize) -> StoreResult<Self> {
        // Only the parse error's own text ("invalid connection string"), not its source: the
        // source may quote a piece of the URL, which may hold a password.
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("hab-depot");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A pooled connection is checked with an empty query (one round trip) before it
                // is handed out: after a PostgreSQL restart, or a backend ended by an
                // administrator, its dead connections are replaced rather than failing the
                // next requests (checking only whether the client saw the close races with it).
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| {
                StoreError::backend(
                    "cannot build the PostgreSQL connection pool",
                    BackendError::Pool(Box::new(e)),
                )
            })?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// A pooled connection.
    async fn client(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => {
                db_error_in("cannot connect to PostgreSQL", e)
            }
            e => StoreError::backend(
                "no PostgreSQL connection came free",
                BackendError::Pool(Box::new(e)),
            ),
        })
    }

    /// Applies the migrations this database lacks, in one transaction under an advisory lock
    /// (other processes starting at the same time wait, then find nothing left to do).
    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        read!(async {
            let encoding: String = client
                .query_one("SELECT current_setting('server_encoding')", &[])
                .await?
                .get(0);
            if encoding != "UTF8" {
                return Err(StoreError::Invalid(format!(
                    "the database's encoding is `{encoding}`; hab-depot needs `UTF8`"
                ))
                .into());
            }
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} \
                 (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)"
            ))
            .await?;
            let applied: i64 = tx
                .query_one(
                    &format!("SELECT coalesce(max(version), 0) FROM {MIGRATIONS_TABLE}"),
                    &[],
                )
                .await?
                .get(0);
            let known = MIGRATIONS.len() as i64;
            if applied > known {
                return Err(StoreError::Invalid(format!(
                    "the database has schema version {applied}, newer than this hab-depot \
                     knows ({known}): run a newer hab-depot"
                ))
                .into());
            }
            for (version, migration) in (1_i64..).zip(MIGRATIONS).skip(applied as usize) {
                tx.batch_execute(migration).await?;
                tx.execute(
                    &format!(
                        "INSERT INTO {MIGRATIONS_TABLE} (version, applied_at) VALUES ($1, $2)"
                    ),
                    &[&version, &ts(now())],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

metadata_store_by_area!(PostgresStore, {
    async fn stored_totals(&self) -> StoreResult<StoredTotals> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*), coalesce(sum(size), 0)::BIGINT FROM packages",
                &[],
            )
            .await
            .map_err(|e| db_error(e).during("stored_totals"))?;
        Ok(StoredTotals {
            packages: row.get::<_, i64>(0) as u64,
            artifact_bytes: row.get::<_, i64>(1) as u64,
        })
    }

    fn pool_use(&self) -> Option<PoolUse> {
        let status = self.pool.status();
        Some(PoolUse {
            max_size: status.max_size as u64,
            size: status.size as u64,
            available: status.available as u64,
            waiting: status.waiting as u64,
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(db_error)?;
        Ok(())
    }

    async fn dump(&self) -> StoreResult<Dump> {
        let mut client = self.client().await?;
        read!(async {
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let dump = dump::dump(&tx).await?;
            tx.commit().await?;
            Ok(dump)
        })
    }

    async fn restore(&self, dump: &Dump) -> StoreResult<()> {
        transaction!(self, |tx| {
            dump::restore(&tx, dump).await?;
        })
    }

    async fn try_lock(&self, name: &str) -> StoreResult<Option<StoreLock>> {
        // A session-level advisory lock, on a connection taken out of the pool for as long as
        // the lock is held: dropping it closes the session, and the server releases the lock
        // with it, even if this process dies.
        let key = lock_key(name);
        let client = self.client().await?;
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await
            .map_err(|e| db_error(e).during("try_lock"))?
            .get(0);
        Ok(taken.then(|| StoreLock::holding(LockSession(Some(client)))))
    }

    async fn mirrored_manifest(
        &self,
        upstream: &str,
        origin: &OriginName,
        channel: &ChannelName,
        target: PackageTarget,
    ) -> StoreResult<Option<MirroredManifest>> {
        let (origin_text, channel_text, target_text) =
            (origin.to_string(), channel.to_string(), target.to_string());
        let found = read!(async {
            let client = self.client().await?;
            let row = rows::query_opt(
                &client,
                "SELECT etag, packages FROM mirrored_manifests \
                 WHERE upstream = $1 AND origin = $2 AND channel = $3 AND target = $4",
                &[&upstream, &origin_text, &channel_text, &target_text],
            )
            .await?;
            Ok(match row {
                Some(row) => Some((
                    rows::column::<String>(&row, 0)?,
                    rows::column::<String>(&row, 1)?,
                )),
                None => None,
            })
        })
        .map_err(|e| e.during("mirrored_manifest"))?;
        Ok(found.map(|(etag, packages)| MirroredManifest {
            upstream: upstream.to_owned(),
            origin: origin.clone(),
            channel: channel.clone(),
            target,
            etag,
            packages,
        }))
    }

    async fn put_mirrored_manifest(&self, manifest: &MirroredManifest) -> StoreResult<()> {
        let (origin, channel, target) = (
            manifest.origin.to_string(),
            manifest.channel.to_string(),
            manifest.target.to_string(),
        );
        read!(async {
            let client = self.client().await?;
            rows::execute(
                &client,
                "INSERT INTO mirrored_manifests \
                 (upstream, origin, channel, target, etag, packages) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (upstream, origin, channel, target) \
                 DO UPDATE SET etag = excluded.etag, packages = excluded.packages",
                &[
                    &manifest.upstream,
                    &origin,
                    &channel,
                    &target,
                    &manifest.etag,
                    &manifest.packages,
                ],
            )
            .await?;
            Ok(())
        })
        .map_err(|e| e.during("put_mirrored_manifest"))
    }

    async fn bundle_import(&self, signer: &str) -> StoreResult<Option<BundleImport>> {
        bundles::bundle_import(self, signer).await
    }

    async fn record_bundle_import(&self, import: &BundleImport) -> StoreResult<()> {
        bundles::record_bundle_import(self, import).await
    }
});

/// The advisory lock key of [`MetadataStore::try_lock`]'s `name`: the first 8 bytes of its
/// BLAKE2b hash.
fn lock_key(name: &str) -> i64 {
    let hash = Blake2bHash::digest(format!("hab-depot lock {name}").as_bytes());
    let mut first = [0; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    i64::from_be_bytes(first)
}

/// A connection holding a session-level advisory lock; dropping it closes the connection
/// (rather than returning it to the pool, where the lock would stay held).
struct LockSession(Option<Object>);

impl Drop for LockSession {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(Object::take(client));
        }
    }
}
