//! Identities, browser sessions and sign-ins in flight.

use rusqlite::{OptionalExtension, Row, params};

use super::rows::*;
use super::*;

const IDENTITY_COLS: &str =
    "i.provider, i.subject, i.account_id, i.username, i.email, i.created_at, i.last_sign_in_at";

fn identity_row(row: &Row<'_>) -> rusqlite::Result<Identity> {
    Ok(Identity {
        provider: row.get(0)?,
        subject: row.get(1)?,
        account_id: row.get(2)?,
        username: row.get(3)?,
        email: row.get(4)?,
        created_at: parse_ts(&row.get::<_, String>(5)?)?,
        last_sign_in_at: row
            .get::<_, Option<String>>(6)?
            .map(|t| parse_ts(&t))
            .transpose()?,
    })
}

/// The account columns at `at` of a joined row.
fn joined_account(row: &Row<'_>, at: usize) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get(at)?,
        name: row.get(at + 1)?,
        email: row.get(at + 2)?,
        created_at: parse_ts(&row.get::<_, String>(at + 3)?)?,
    })
}

fn hash_col(bytes: Vec<u8>) -> rusqlite::Result<Blake2bHash> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| conversion("hash is not 32 bytes"))?;
    Ok(Blake2bHash::from_bytes(bytes))
}

pub(super) async fn identity(
    store: &SqliteStore,
    provider: &str,
    subject: &str,
) -> StoreResult<Option<(Identity, Account)>> {
    let (provider, subject) = (provider.to_owned(), subject.to_owned());
    store
        .with(move |c| {
            let sql = format!(
                "SELECT {IDENTITY_COLS}, a.id, a.name, a.email, a.created_at FROM identities i \
                 JOIN accounts a ON a.id = i.account_id WHERE i.provider = ?1 AND i.subject = ?2"
            );
            c.query_row(&sql, [provider, subject], |row| {
                Ok((identity_row(row)?, joined_account(row, 7)?))
            })
            .optional()
            .map_err(backend)
        })
        .await
}

pub(super) async fn identities(store: &SqliteStore, account_id: i64) -> StoreResult<Vec<Identity>> {
    store
        .with(move |c| {
            all(
                c,
                &format!(
                    "SELECT {IDENTITY_COLS} FROM identities i WHERE i.account_id = ?1 \
                     ORDER BY i.provider, i.subject"
                ),
                [account_id],
                identity_row,
            )
        })
        .await
}

fn insert_identity(
    tx: &rusqlite::Transaction<'_>,
    account_id: i64,
    identity: &NewIdentity,
    signed_in: bool,
) -> StoreResult<Identity> {
    let created = now();
    let last_sign_in_at = signed_in.then_some(created);
    tx.execute(
        "INSERT INTO identities \
         (provider, subject, account_id, username, email, created_at, last_sign_in_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            identity.provider,
            identity.subject,
            account_id,
            identity.username,
            identity.email,
            ts(created),
            last_sign_in_at.map(ts)
        ],
    )
    .map_err(conflict_as("identity"))?;
    Ok(Identity {
        provider: identity.provider.clone(),
        subject: identity.subject.clone(),
        account_id,
        username: identity.username.clone(),
        email: identity.email.clone(),
        created_at: created,
        last_sign_in_at,
    })
}

pub(super) async fn sign_up(
    store: &SqliteStore,
    name: &str,
    identity: &NewIdentity,
) -> StoreResult<Account> {
    let (name, identity) = (name.to_owned(), identity.clone());
    store
        .write(move |tx| {
            let created = now();
            tx.execute(
                "INSERT INTO accounts (name, email, created_at) VALUES (?1, ?2, ?3)",
                params![name, identity.email, ts(created)],
            )
            .map_err(conflict_as(format!("account `{name}`")))?;
            let account = Account {
                id: tx.last_insert_rowid(),
                name,
                email: identity.email.clone(),
                created_at: created,
            };
            insert_identity(tx, account.id, &identity, true)?;
            Ok(account)
        })
        .await
}

pub(super) async fn link_identity(
    store: &SqliteStore,
    account_id: i64,
    identity: &NewIdentity,
) -> StoreResult<Identity> {
    let identity = identity.clone();
    store
        .write(move |tx| insert_identity(tx, account_id, &identity, false))
        .await
}

pub(super) async fn record_sign_in(store: &SqliteStore, identity: &NewIdentity) -> StoreResult<()> {
    let identity = identity.clone();
    store
        .write(move |tx| {
            tx.execute(
                "UPDATE identities SET username = ?1, email = ?2, last_sign_in_at = ?3 \
                 WHERE provider = ?4 AND subject = ?5",
                params![
                    identity.username,
                    identity.email,
                    ts(now()),
                    identity.provider,
                    identity.subject
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
}

pub(super) async fn create_session(
    store: &SqliteStore,
    account_id: i64,
    hash: &Blake2bHash,
    expires_at: OffsetDateTime,
) -> StoreResult<Session> {
    let hash = *hash;
    store
        .write(move |tx| {
            let created = now();
            // Expired sessions go when new ones come: the table stays the size of its use.
            tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [ts(created)])
                .map_err(backend)?;
            tx.execute(
                "INSERT INTO sessions (account_id, hash, created_at, last_seen_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?3, ?4)",
                params![
                    account_id,
                    &hash.as_bytes()[..],
                    ts(created),
                    ts(expires_at)
                ],
            )
            .map_err(conflict_as("session"))?;
            Ok(Session {
                id: tx.last_insert_rowid(),
                account_id,
                created_at: created,
                last_seen_at: created,
                expires_at,
            })
        })
        .await
}

pub(super) async fn session(
    store: &SqliteStore,
    hash: &Blake2bHash,
) -> StoreResult<Option<(Session, Account)>> {
    let hash = *hash;
    store
        .with(move |c| {
            c.query_row(
                "SELECT s.id, s.account_id, s.created_at, s.last_seen_at, s.expires_at, \
                 a.id, a.name, a.email, a.created_at FROM sessions s \
                 JOIN accounts a ON a.id = s.account_id WHERE s.hash = ?1",
                [&hash.as_bytes()[..]],
                |row| {
                    let session = Session {
                        id: row.get(0)?,
                        account_id: row.get(1)?,
                        created_at: parse_ts(&row.get::<_, String>(2)?)?,
                        last_seen_at: parse_ts(&row.get::<_, String>(3)?)?,
                        expires_at: parse_ts(&row.get::<_, String>(4)?)?,
                    };
                    Ok((session, joined_account(row, 5)?))
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
}

pub(super) async fn touch_session(store: &SqliteStore, id: i64) -> StoreResult<()> {
    store
        .write(move |tx| {
            tx.execute(
                "UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2",
                params![ts(now()), id],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
}

pub(super) async fn delete_session(store: &SqliteStore, hash: &Blake2bHash) -> StoreResult<()> {
    let hash = *hash;
    store
        .write(move |tx| {
            tx.execute(
                "DELETE FROM sessions WHERE hash = ?1",
                [&hash.as_bytes()[..]],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
}

pub(super) async fn put_login_flow(
    store: &SqliteStore,
    flow: &LoginFlow,
    stale_before: OffsetDateTime,
) -> StoreResult<()> {
    let flow = flow.clone();
    store
        .write(move |tx| {
            tx.execute(
                "DELETE FROM login_flows WHERE created_at < ?1",
                [ts(stale_before)],
            )
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO login_flows \
                 (state_hash, provider, browser_hash, nonce, verifier, return_to, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    &flow.state_hash.as_bytes()[..],
                    flow.provider,
                    &flow.browser_hash.as_bytes()[..],
                    flow.nonce,
                    flow.verifier,
                    flow.return_to,
                    ts(flow.created_at)
                ],
            )
            .map_err(conflict_as("sign-in state"))?;
            Ok(())
        })
        .await
}

pub(super) async fn take_login_flow(
    store: &SqliteStore,
    state_hash: &Blake2bHash,
) -> StoreResult<Option<LoginFlow>> {
    let state_hash = *state_hash;
    store
        .write(move |tx| {
            let key = &state_hash.as_bytes()[..];
            let flow = tx
                .query_row(
                    "SELECT state_hash, provider, browser_hash, nonce, verifier, return_to, \
                     created_at FROM login_flows WHERE state_hash = ?1",
                    [key],
                    |row| {
                        Ok(LoginFlow {
                            state_hash: hash_col(row.get(0)?)?,
                            provider: row.get(1)?,
                            browser_hash: hash_col(row.get(2)?)?,
                            nonce: row.get(3)?,
                            verifier: row.get(4)?,
                            return_to: row.get(5)?,
                            created_at: parse_ts(&row.get::<_, String>(6)?)?,
                        })
                    },
                )
                .optional()
                .map_err(backend)?;
            tx.execute("DELETE FROM login_flows WHERE state_hash = ?1", [key])
                .map_err(backend)?;
            Ok(flow)
        })
        .await
}
