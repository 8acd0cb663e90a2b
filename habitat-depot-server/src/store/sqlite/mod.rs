//! The embedded metadata store: SQLite in WAL mode, in the data directory.
//!
//! Blocking SQLite calls run on tokio's blocking pool, each on a connection taken from a small
//! pool. Writes use `BEGIN IMMEDIATE` transactions, so two writers never interleave; SQLite's
//! unique constraints decide races (the loser gets [`StoreError::Conflict`]).

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Semaphore;

use super::*;

mod dump;
mod rows;
mod schema;

use rows::*;
use schema::MIGRATIONS;

/// Connections kept open; SQLite serializes writers anyway, readers run in parallel in WAL.
const POOL_SIZE: usize = 4;

/// The embedded metadata store.
#[derive(Clone)]
pub struct SqliteStore {
    path: Arc<Path>,
    pool: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

/// A configured connection to the database file.
fn connect(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    // Room for every statement the hot paths reuse (their SQL varies with the filter).
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )
    .map_err(backend)?;
    Ok(conn)
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
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
        let _permit = self.permits.acquire().await.map_err(backend)?;
        let pool = self.pool.clone();
        let mut conn = pool
            .lock()
            .map_err(backend)?
            .pop()
            .ok_or_else(|| backend("no free connection"))?;
        let outcome = tokio::task::spawn_blocking(move || {
            let result = f(&mut conn);
            (conn, result)
        })
        .await;
        match outcome {
            Ok((conn, result)) => {
                pool.lock().map_err(backend)?.push(conn);
                result
            }
            // The call panicked and took its connection along: replace it, so the pool keeps
            // its size, and report the failure.
            Err(panicked) => {
                pool.lock().map_err(backend)?.push(connect(&self.path)?);
                Err(backend(panicked))
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
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let applied: usize = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {applied}, newer than this hab-depot knows ({}): \
             run a newer hab-depot",
            MIGRATIONS.len()
        )));
    }
    for migration in MIGRATIONS.iter().skip(applied) {
        tx.execute_batch(migration).map_err(backend)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len())
        .map_err(backend)?;
    tx.commit().map_err(backend)
}

/// The channels a package is in, by name (a cached statement: `latest` asks on every call).
fn channels_of(c: &Connection, package_id: i64) -> StoreResult<Vec<ChannelMembership>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT c.name, cp.promoted_at FROM channel_packages cp JOIN channels c ON c.id = cp.channel_id \
             WHERE cp.package_id = ?1 ORDER BY c.name",
        )
        .map_err(backend)?;
    stmt.query_map([package_id], |row| {
        Ok(ChannelMembership {
            name: parse_col(&row.get::<_, String>(0)?)?,
            promoted_at: parse_ts(&row.get::<_, String>(1)?)?,
        })
    })
    .map_err(backend)?
    .collect::<rusqlite::Result<_>>()
    .map_err(backend)
}

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
            .await
    }

    async fn create_account(&self, name: &str, email: Option<&str>) -> StoreResult<Account> {
        let (name, email) = (name.to_owned(), email.map(str::to_owned));
        self.write(move |tx| {
            let created = now();
            tx.execute(
                "INSERT INTO accounts (name, email, created_at) VALUES (?1, ?2, ?3)",
                params![name, email, ts(created)],
            )
            .map_err(conflict_as(format!("account `{name}`")))?;
            Ok(Account {
                id: tx.last_insert_rowid(),
                name,
                email,
                created_at: created,
            })
        })
        .await
    }

    async fn account_by_name(&self, name: &str) -> StoreResult<Option<Account>> {
        let name = name.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT id, name, email, created_at FROM accounts WHERE name = ?1",
                [name],
                account_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn accounts(&self) -> StoreResult<Vec<Account>> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT id, name, email, created_at FROM accounts ORDER BY name")
                .map_err(backend)?;
            stmt.query_map([], account_row)
                .map_err(backend)?
                .collect::<rusqlite::Result<_>>()
                .map_err(backend)
        })
        .await
    }

    async fn create_token(
        &self,
        account_id: i64,
        name: &str,
        hash: &Blake2bHash,
        expires_at: Option<OffsetDateTime>,
    ) -> StoreResult<TokenRecord> {
        let (name, hash) = (name.to_owned(), *hash);
        self.write(move |tx| {
            let created = now();
            tx.execute(
                "INSERT INTO tokens (account_id, name, hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![account_id, name, &hash.as_bytes()[..], ts(created), expires_at.map(ts)],
            )
            .map_err(conflict_as("token"))?;
            Ok(TokenRecord {
                id: tx.last_insert_rowid(),
                account_id,
                name,
                hash,
                created_at: created,
                last_used_at: None,
                expires_at,
            })
        })
        .await
    }

    async fn authenticate(
        &self,
        hash: &Blake2bHash,
    ) -> StoreResult<Option<(TokenRecord, Account)>> {
        let hash = *hash;
        self.with(move |c| {
            let sql = concat!(
                "SELECT t.id, t.account_id, t.name, t.hash, t.created_at, t.last_used_at, t.expires_at, ",
                "                 a.id, a.name, a.email, a.created_at FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.hash = ?1"
            );
            let found = c
                .query_row(sql, [&hash.as_bytes()[..]], |row| {
                    let token = token_row(row)?;
                    let account = Account {
                        id: row.get(7)?,
                        name: row.get(8)?,
                        email: row.get(9)?,
                        created_at: parse_ts(&row.get::<_, String>(10)?)?,
                    };
                    Ok((token, account))
                })
                .optional()
                .map_err(backend)?;
            if let Some((token, _)) = &found {
                let stamp = now();
                let stale = token.last_used_at.is_none_or(|t| stamp - t > time::Duration::minutes(1));
                if stale {
                    c.execute("UPDATE tokens SET last_used_at = ?1 WHERE id = ?2", params![ts(stamp), token.id])
                        .map_err(backend)?;
                }
            }
            Ok(found)
        })
        .await
    }

    async fn tokens(&self, account_id: i64) -> StoreResult<Vec<TokenRecord>> {
        self.with(move |c| {
            let mut stmt = c
                .prepare(&format!(
                    "SELECT {TOKEN_COLS} FROM tokens WHERE account_id = ?1 ORDER BY id"
                ))
                .map_err(backend)?;
            stmt.query_map([account_id], token_row)
                .map_err(backend)?
                .collect::<rusqlite::Result<_>>()
                .map_err(backend)
        })
        .await
    }

    async fn delete_token(&self, account_id: i64, token_id: i64) -> StoreResult<bool> {
        self.write(move |tx| {
            let n = tx
                .execute(
                    "DELETE FROM tokens WHERE id = ?1 AND account_id = ?2",
                    [token_id, account_id],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_origin(
        &self,
        name: &OriginName,
        owner_id: i64,
        visibility: Visibility,
    ) -> StoreResult<Origin> {
        let name = name.clone();
        self.write(move |tx| {
            let created = now();
            tx.execute(
                "INSERT INTO origins (name, owner_id, default_visibility, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![name.as_str(), owner_id, visibility.as_str(), ts(created)],
            )
            .map_err(conflict_as(format!("origin `{name}`")))?;
            let id = tx.last_insert_rowid();
            tx.execute("INSERT INTO members (origin_id, account_id, role) VALUES (?1, ?2, 'owner')", [id, owner_id])
                .map_err(backend)?;
            for channel in ["unstable", "stable"] {
                tx.execute(
                    "INSERT INTO channels (origin_id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![id, channel, ts(created)],
                )
                .map_err(backend)?;
            }
            let owner: String =
                tx.query_row("SELECT name FROM accounts WHERE id = ?1", [owner_id], |r| r.get(0)).map_err(backend)?;
            Ok(Origin { name, owner, default_package_visibility: visibility, created_at: created })
        })
        .await
    }

    async fn origin(&self, name: &OriginName) -> StoreResult<Option<Origin>> {
        let name = name.clone();
        self.with(move |c| {
            c.prepare_cached(
                "SELECT a.name, o.default_visibility, o.created_at FROM origins o JOIN accounts a ON a.id = o.owner_id \
                 WHERE o.name = ?1",
            )
            .map_err(backend)?
            .query_row(
                [name.as_str()],
                |row| {
                    Ok(Origin {
                        name: name.clone(),
                        owner: row.get(0)?,
                        default_package_visibility: Visibility::parse(&row.get::<_, String>(1)?)
                            .ok_or_else(|| conversion("bad visibility"))?,
                        created_at: parse_ts(&row.get::<_, String>(2)?)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn delete_origin(&self, name: &OriginName) -> StoreResult<Result<(), OriginContents>> {
        let name = name.clone();
        self.write(move |tx| {
            let id = origin_id(tx, &name)?;
            let count = |sql: &str, p: &dyn rusqlite::ToSql| -> StoreResult<u64> {
                tx.query_row(sql, [p], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(backend)
            };
            let contents = OriginContents {
                packages: count("SELECT count(*) FROM packages WHERE origin = ?1", &name.as_str())?,
                members: count("SELECT count(*) FROM members WHERE origin_id = ?1 AND role <> 'owner'", &id)?,
                extra_channels: count(
                    "SELECT count(*) FROM channels WHERE origin_id = ?1 AND name NOT IN ('unstable', 'stable')",
                    &id,
                )?,
            };
            if contents != OriginContents::default() {
                return Ok(Err(contents));
            }
            tx.execute("DELETE FROM origins WHERE id = ?1", [id]).map_err(backend)?;
            Ok(Ok(()))
        })
        .await
    }

    async fn role(&self, origin: &OriginName, account_id: i64) -> StoreResult<Option<Role>> {
        let origin = origin.clone();
        self.with(move |c| {
            let role: Option<String> = c
                .query_row(
                    "SELECT m.role FROM members m JOIN origins o ON o.id = m.origin_id WHERE o.name = ?1 AND m.account_id = ?2",
                    params![origin.as_str(), account_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            Ok(role.and_then(|r| Role::parse(&r)))
        })
        .await
    }

    async fn members(&self, origin: &OriginName) -> StoreResult<Vec<Member>> {
        let origin = origin.clone();
        self.with(move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT a.name, m.role FROM members m JOIN origins o ON o.id = m.origin_id \
                     JOIN accounts a ON a.id = m.account_id WHERE o.name = ?1 ORDER BY a.name",
                )
                .map_err(backend)?;
            stmt.query_map([origin.as_str()], |row| {
                Ok(Member {
                    name: row.get(0)?,
                    role: Role::parse(&row.get::<_, String>(1)?)
                        .ok_or_else(|| conversion("bad role"))?,
                })
            })
            .map_err(backend)?
            .collect::<rusqlite::Result<_>>()
            .map_err(backend)
        })
        .await
    }

    async fn set_role(&self, origin: &OriginName, account: &str, role: Role) -> StoreResult<()> {
        let (origin, account) = (origin.clone(), account.to_owned());
        self.write(move |tx| {
            let (oid, aid) = (origin_id(tx, &origin)?, account_id(tx, &account)?);
            let n = tx
                .execute(
                    "UPDATE members SET role = ?1 WHERE origin_id = ?2 AND account_id = ?3 AND role <> 'owner'",
                    params![role.as_str(), oid, aid],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("member `{account}` of origin `{origin}` (other than the owner)")));
            }
            Ok(())
        })
        .await
    }

    async fn remove_member(&self, origin: &OriginName, account: &str) -> StoreResult<()> {
        let (origin, account) = (origin.clone(), account.to_owned());
        self.write(move |tx| {
            let (oid, aid) = (origin_id(tx, &origin)?, account_id(tx, &account)?);
            let role: Option<String> = tx
                .query_row(
                    "SELECT role FROM members WHERE origin_id = ?1 AND account_id = ?2",
                    [oid, aid],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            match role.as_deref() {
                None => Err(StoreError::NotFound(format!(
                    "member `{account}` of origin `{origin}`"
                ))),
                Some("owner") => Err(StoreError::Refused(format!(
                    "`{account}` owns origin `{origin}` and cannot be removed"
                ))),
                Some(_) => {
                    tx.execute(
                        "DELETE FROM members WHERE origin_id = ?1 AND account_id = ?2",
                        [oid, aid],
                    )
                    .map_err(backend)?;
                    Ok(())
                }
            }
        })
        .await
    }

    async fn account_origins(&self, account_id: i64) -> StoreResult<Vec<(OriginName, Role)>> {
        self.with(move |c| {
            let mut stmt = c
                .prepare("SELECT o.name, m.role FROM members m JOIN origins o ON o.id = m.origin_id WHERE m.account_id = ?1 ORDER BY o.name")
                .map_err(backend)?;
            stmt.query_map([account_id], |row| {
                Ok((
                    parse_col(&row.get::<_, String>(0)?)?,
                    Role::parse(&row.get::<_, String>(1)?).ok_or_else(|| conversion("bad role"))?,
                ))
            })
            .map_err(backend)?
            .collect::<rusqlite::Result<_>>()
            .map_err(backend)
        })
        .await
    }

    async fn create_invitation(
        &self,
        origin: &OriginName,
        account: &str,
        invited_by: &str,
    ) -> StoreResult<Invitation> {
        let (origin, account, invited_by) =
            (origin.clone(), account.to_owned(), invited_by.to_owned());
        self.write(move |tx| {
            let (oid, aid) = (origin_id(tx, &origin)?, account_id(tx, &account)?);
            let member: bool = tx
                .query_row("SELECT count(*) FROM members WHERE origin_id = ?1 AND account_id = ?2", [oid, aid], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n > 0)
                .map_err(backend)?;
            if member {
                return Err(StoreError::Conflict(format!("member `{account}` of origin `{origin}`")));
            }
            let created = now();
            tx.execute(
                "INSERT INTO invitations (origin_id, account_id, invited_by, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![oid, aid, invited_by, ts(created)],
            )
            .map_err(conflict_as(format!("invitation of `{account}` to origin `{origin}`")))?;
            Ok(Invitation { id: tx.last_insert_rowid(), origin, account, invited_by, created_at: created })
        })
        .await
    }

    async fn invitation(&self, id: i64) -> StoreResult<Option<Invitation>> {
        self.with(move |c| {
            c.query_row(
                &format!("{INVITATION_SELECT} WHERE i.id = ?1"),
                [id],
                invitation_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn origin_invitations(&self, origin: &OriginName) -> StoreResult<Vec<Invitation>> {
        let origin = origin.clone();
        self.with(move |c| {
            let mut stmt = c
                .prepare(&format!(
                    "{INVITATION_SELECT} WHERE o.name = ?1 ORDER BY i.id"
                ))
                .map_err(backend)?;
            stmt.query_map([origin.as_str()], invitation_row)
                .map_err(backend)?
                .collect::<rusqlite::Result<_>>()
                .map_err(backend)
        })
        .await
    }

    async fn account_invitations(&self, account_id: i64) -> StoreResult<Vec<Invitation>> {
        self.with(move |c| {
            let mut stmt = c
                .prepare(&format!(
                    "{INVITATION_SELECT} WHERE i.account_id = ?1 ORDER BY i.id"
                ))
                .map_err(backend)?;
            stmt.query_map([account_id], invitation_row)
                .map_err(backend)?
                .collect::<rusqlite::Result<_>>()
                .map_err(backend)
        })
        .await
    }

    async fn accept_invitation(&self, id: i64) -> StoreResult<()> {
        self.write(move |tx| {
            let (oid, aid): (i64, i64) = tx
                .query_row("SELECT origin_id, account_id FROM invitations WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(backend)?
                .ok_or_else(|| StoreError::NotFound(format!("invitation `{id}`")))?;
            tx.execute("INSERT OR IGNORE INTO members (origin_id, account_id, role) VALUES (?1, ?2, 'member')", [oid, aid])
                .map_err(backend)?;
            tx.execute("DELETE FROM invitations WHERE id = ?1", [id]).map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn delete_invitation(&self, id: i64) -> StoreResult<()> {
        self.write(move |tx| {
            match tx
                .execute("DELETE FROM invitations WHERE id = ?1", [id])
                .map_err(backend)?
            {
                0 => Err(StoreError::NotFound(format!("invitation `{id}`"))),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn add_public_key(
        &self,
        origin: &OriginName,
        revision: &str,
        body: &str,
    ) -> StoreResult<OriginKey> {
        let (origin, revision, body) = (origin.clone(), revision.to_owned(), body.to_owned());
        self.write(move |tx| {
            let oid = origin_id(tx, &origin)?;
            let created = now();
            tx.execute(
                "INSERT INTO public_keys (origin_id, revision, body, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![oid, revision, body, ts(created)],
            )
            .map_err(conflict_as(format!("key `{origin}-{revision}`")))?;
            Ok(OriginKey { origin, revision, body, created_at: created })
        })
        .await
    }

    async fn public_keys(&self, origin: &OriginName) -> StoreResult<Vec<OriginKey>> {
        let origin = origin.clone();
        self.with(move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT k.revision, k.body, k.created_at FROM public_keys k JOIN origins o ON o.id = k.origin_id \
                     WHERE o.name = ?1 ORDER BY k.revision DESC",
                )
                .map_err(backend)?;
            stmt.query_map([origin.as_str()], |row| {
                Ok(OriginKey {
                    origin: origin.clone(),
                    revision: row.get(0)?,
                    body: row.get(1)?,
                    created_at: parse_ts(&row.get::<_, String>(2)?)?,
                })
            })
            .map_err(backend)?
            .collect::<rusqlite::Result<_>>()
            .map_err(backend)
        })
        .await
    }

    async fn public_key(
        &self,
        origin: &OriginName,
        revision: &str,
    ) -> StoreResult<Option<OriginKey>> {
        let keys = self.public_keys(origin).await?;
        Ok(keys.into_iter().find(|k| k.revision == revision))
    }

    async fn put_secret_key(&self, key: &SecretOriginKey) -> StoreResult<()> {
        let key = key.clone();
        self.write(move |tx| {
            let oid = origin_id(tx, &key.origin)?;
            tx.execute(
                "INSERT OR REPLACE INTO secret_keys (origin_id, revision, encrypted) VALUES (?1, ?2, ?3)",
                params![oid, key.revision, key.encrypted],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn latest_secret_key(&self, origin: &OriginName) -> StoreResult<Option<SecretOriginKey>> {
        let origin = origin.clone();
        self.with(move |c| {
            c.query_row(
                "SELECT k.revision, k.encrypted FROM secret_keys k JOIN origins o ON o.id = k.origin_id \
                 WHERE o.name = ?1 ORDER BY k.revision DESC LIMIT 1",
                [origin.as_str()],
                |row| Ok(SecretOriginKey { origin: origin.clone(), revision: row.get(0)?, encrypted: row.get(1)? }),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn insert_package(&self, package: &Package) -> StoreResult<Package> {
        let package = package.clone();
        self.write(move |tx| {
            let id = insert_package_in(tx, &package)?;
            Ok(Package { id, ..package })
        })
        .await
    }

    async fn import_packages(&self, packages: &[Package]) -> StoreResult<()> {
        let packages = packages.to_vec();
        self.write(move |tx| {
            for package in &packages {
                insert_package_in(tx, package)?;
            }
            Ok(())
        })
        .await
    }

    async fn package(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
    ) -> StoreResult<Option<Package>> {
        let ident = ident.clone();
        self.with(move |c| {
            c.query_row(
                &format!(
                    "SELECT {PACKAGE_COLS} FROM packages p WHERE p.origin = ?1 AND p.name = ?2 AND p.version = ?3 \
                     AND p.release = ?4 AND p.target = ?5"
                ),
                params![ident.origin().as_str(), ident.name().as_str(), ident.version(), ident.release(), target.as_str()],
                package_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn packages(&self, filter: &PackageFilter, page: Page) -> StoreResult<Paged<Package>> {
        let filter = filter.clone();
        self.with(move |c| {
            let (where_sql, values) = filter_sql(&filter);
            page_of(c, &where_sql, values, page)
        })
        .await
    }

    async fn latest(&self, filter: &PackageFilter) -> StoreResult<Option<Package>> {
        let filter = filter.clone();
        self.with(move |c| {
            let (where_sql, values) = filter_sql(&filter);
            let sql = format!("SELECT {PACKAGE_COLS} FROM packages p WHERE {where_sql} ORDER BY {NEWEST_FIRST} LIMIT 1");
            c.prepare_cached(&sql)
                .and_then(|mut stmt| stmt.query_row(params_from_iter(&values), package_row).optional())
                .map_err(backend)
        })
        .await
    }

    async fn latest_with_channels(
        &self,
        filter: &PackageFilter,
    ) -> StoreResult<Option<(Package, Vec<ChannelMembership>)>> {
        let filter = filter.clone();
        self.with(move |c| {
            let (where_sql, values) = filter_sql(&filter);
            let sql = format!("SELECT {PACKAGE_COLS} FROM packages p WHERE {where_sql} ORDER BY {NEWEST_FIRST} LIMIT 1");
            let found = c
                .prepare_cached(&sql)
                .and_then(|mut stmt| stmt.query_row(params_from_iter(&values), package_row).optional())
                .map_err(backend)?;
            match found {
                Some(package) => {
                    let channels = channels_of(c, package.id)?;
                    Ok(Some((package, channels)))
                }
                None => Ok(None),
            }
        })
        .await
    }

    async fn search(
        &self,
        query: &str,
        distinct: bool,
        private_origins: &[OriginName],
        page: Page,
    ) -> StoreResult<Paged<Package>> {
        let query = query.to_owned();
        let filter = PackageFilter {
            private_origins: private_origins.to_vec(),
            ..PackageFilter::default()
        };
        self.with(move |c| {
            let (visible, mut values) = filter_sql(&filter);
            values.push(Value::Text(query));
            let q = values.len();
            let mut where_sql = format!("{visible} AND instr(p.origin || '/' || p.name, ?{q}) > 0");
            if distinct {
                // The newest release the caller may see: a private newest release must not
                // hide the package's visible ones.
                let visible2 = visible.replace("p.", "p2.");
                where_sql = format!(
                    "{where_sql} AND p.id = (SELECT p2.id FROM packages p2 WHERE p2.origin = p.origin AND p2.name = p.name \
                     AND {visible2} ORDER BY p2.version_key DESC, p2.release DESC, p2.version DESC LIMIT 1)"
                );
            }
            page_of(c, &where_sql, values, page)
        })
        .await
    }

    async fn rdeps(
        &self,
        origin: &OriginName,
        name: &str,
        target: PackageTarget,
    ) -> StoreResult<Vec<String>> {
        let (origin, name) = (origin.clone(), name.to_owned());
        self.with(move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT DISTINCT p.origin || '/' || p.name FROM package_tdeps d JOIN packages p ON p.id = d.package_id \
                     WHERE d.dep_origin = ?1 AND d.dep_name = ?2 AND p.target = ?3 AND p.visibility = 'public' ORDER BY 1",
                )
                .map_err(backend)?;
            stmt.query_map(params![origin.as_str(), name, target.as_str()], |r| r.get(0))
                .map_err(backend)?
                .collect::<rusqlite::Result<_>>()
                .map_err(backend)
        })
        .await
    }

    async fn delete_package(&self, id: i64) -> StoreResult<()> {
        self.write(move |tx| {
            let (ident, target): (String, String) = tx
                .query_row(
                    "SELECT origin || '/' || name || '/' || version || '/' || release, target FROM packages WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?
                .ok_or_else(|| StoreError::NotFound(format!("package `{id}`")))?;
            let in_stable: i64 = tx
                .query_row(
                    "SELECT count(*) FROM channel_packages cp JOIN channels c ON c.id = cp.channel_id \
                     WHERE cp.package_id = ?1 AND c.name = 'stable'",
                    [id],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if in_stable > 0 {
                return Err(StoreError::Refused(format!("{ident} is in channel `stable`")));
            }
            let dependent: Option<String> = tx
                .query_row(
                    "SELECT p.origin || '/' || p.name || '/' || p.version || '/' || p.release FROM package_tdeps d \
                     JOIN packages p ON p.id = d.package_id WHERE d.dep_ident = ?1 AND p.target = ?2 LIMIT 1",
                    params![ident, target],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            if let Some(dependent) = dependent {
                return Err(StoreError::Refused(format!("{dependent} depends on {ident}")));
            }
            tx.execute("DELETE FROM packages WHERE id = ?1", [id]).map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn set_visibility(&self, id: i64, visibility: Visibility) -> StoreResult<()> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE packages SET visibility = ?1 WHERE id = ?2",
                params![visibility.as_str(), id],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn package_checksums(
        &self,
    ) -> StoreResult<Vec<(i64, FullyQualifiedIdent, PackageTarget, Blake2bHash, u64)>> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT id, origin || '/' || name || '/' || version || '/' || release, target, checksum, size FROM packages ORDER BY id")
                .map_err(backend)?;
            stmt.query_map([], |row| {
                Ok((
                    row.get(0)?,
                    parse_col(&row.get::<_, String>(1)?)?,
                    parse_col(&row.get::<_, String>(2)?)?,
                    parse_col(&row.get::<_, String>(3)?)?,
                    row.get::<_, i64>(4)? as u64,
                ))
            })
            .map_err(backend)?
            .collect::<rusqlite::Result<_>>()
            .map_err(backend)
        })
        .await
    }

    async fn channels(&self, origin: &OriginName) -> StoreResult<Vec<ChannelName>> {
        let origin = origin.clone();
        self.with(move |c| {
            let mut stmt = c
                .prepare("SELECT c.name FROM channels c JOIN origins o ON o.id = c.origin_id WHERE o.name = ?1 ORDER BY c.name")
                .map_err(backend)?;
            stmt.query_map([origin.as_str()], |r| parse_col(&r.get::<_, String>(0)?))
                .map_err(backend)?
                .collect::<rusqlite::Result<_>>()
                .map_err(backend)
        })
        .await
    }

    async fn create_channel(&self, origin: &OriginName, channel: &ChannelName) -> StoreResult<()> {
        let (origin, channel) = (origin.clone(), channel.clone());
        self.write(move |tx| {
            let oid = origin_id(tx, &origin)?;
            tx.execute(
                "INSERT INTO channels (origin_id, name, created_at) VALUES (?1, ?2, ?3)",
                params![oid, channel.as_str(), ts(now())],
            )
            .map_err(conflict_as(format!(
                "channel `{channel}` of origin `{origin}`"
            )))?;
            Ok(())
        })
        .await
    }

    async fn delete_channel(&self, origin: &OriginName, channel: &ChannelName) -> StoreResult<()> {
        let (origin, channel) = (origin.clone(), channel.clone());
        self.write(move |tx| {
            if matches!(channel.as_str(), "unstable" | "stable") {
                return Err(StoreError::Refused(format!(
                    "channel `{channel}` cannot be deleted"
                )));
            }
            let id = channel_id(tx, &origin, &channel)?;
            tx.execute("DELETE FROM channels WHERE id = ?1", [id])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn all_channel_names(&self) -> StoreResult<Vec<ChannelName>> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT DISTINCT name FROM channels ORDER BY name")
                .map_err(backend)?;
            stmt.query_map([], |r| parse_col(&r.get::<_, String>(0)?))
                .map_err(backend)?
                .collect::<rusqlite::Result<_>>()
                .map_err(backend)
        })
        .await
    }

    async fn package_channels(&self, package_id: i64) -> StoreResult<Vec<ChannelMembership>> {
        self.with(move |c| channels_of(c, package_id)).await
    }

    async fn change_channel(
        &self,
        package_id: i64,
        origin: &OriginName,
        channel: &ChannelName,
        action: ChannelAction,
        account: &str,
    ) -> StoreResult<()> {
        let (origin, channel, account) = (origin.clone(), channel.clone(), account.to_owned());
        self.write(move |tx| {
            let cid = channel_id(tx, &origin, &channel)?;
            let stamp = ts(now());
            let (action_name, changed) = match action {
                ChannelAction::Promote => (
                    "promote",
                    tx.execute(
                        "INSERT OR IGNORE INTO channel_packages (channel_id, package_id, promoted_at) VALUES (?1, ?2, ?3)",
                        params![cid, package_id, stamp],
                    )
                    .map_err(backend)?,
                ),
                ChannelAction::Demote => {
                    let n = tx
                        .execute("DELETE FROM channel_packages WHERE channel_id = ?1 AND package_id = ?2", [cid, package_id])
                        .map_err(backend)?;
                    if n == 0 {
                        return Err(StoreError::NotFound(format!("package in channel `{channel}`")));
                    }
                    ("demote", n)
                }
            };
            if changed > 0 {
                tx.execute(
                    "INSERT INTO audit (at, account, action, origin, channel, package_id, ident, target) \
                     SELECT ?1, ?2, ?3, ?4, ?5, p.id, p.origin || '/' || p.name || '/' || p.version || '/' || p.release, p.target \
                     FROM packages p WHERE p.id = ?6",
                    params![stamp, account, action_name, origin.as_str(), channel.as_str(), package_id],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn dump(&self) -> StoreResult<Dump> {
        self.with(dump::dump).await
    }

    async fn restore(&self, dump: &Dump) -> StoreResult<()> {
        let dump = dump.clone();
        self.write(move |tx| dump::restore(tx, &dump)).await
    }
}
