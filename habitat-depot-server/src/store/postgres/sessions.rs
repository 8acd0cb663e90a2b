//! Identities, browser sessions and sign-ins in flight.

use habitat_core::Blake2bHash;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::rows::*;
use super::*;

const IDENTITY_COLS: &str =
    "i.provider, i.subject, i.account_id, i.username, i.email, i.created_at, i.last_sign_in_at";

fn identity_row(row: &Row) -> Step<Identity> {
    Ok(Identity {
        provider: column(row, 0)?,
        subject: column(row, 1)?,
        account_id: column(row, 2)?,
        username: column(row, 3)?,
        email: column(row, 4)?,
        created_at: parse_ts(column(row, 5)?)?,
        last_sign_in_at: column::<Option<&str>>(row, 6)?.map(parse_ts).transpose()?,
    })
}

fn hash_col(row: &Row, i: usize) -> Step<Blake2bHash> {
    let bytes: Vec<u8> = column(row, i)?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Fail::Store(StoreError::Invalid("hash is not 32 bytes".to_owned())))?;
    Ok(Blake2bHash::from_bytes(bytes))
}

pub(super) async fn identity(
    store: &PostgresStore,
    provider: &str,
    subject: &str,
) -> StoreResult<Option<(Identity, Account)>> {
    read!(async {
        let client = store.client().await?;
        let sql = format!(
            "SELECT {IDENTITY_COLS}, a.id, a.name, a.email, a.created_at FROM identities i \
             JOIN accounts a ON a.id = i.account_id WHERE i.provider = $1 AND i.subject = $2"
        );
        match query_opt(&client, &sql, &[&provider, &subject]).await? {
            Some(row) => Ok(Some((identity_row(&row)?, account_at(&row, 7)?))),
            None => Ok(None),
        }
    })
}

pub(super) async fn identities(
    store: &PostgresStore,
    account_id: i64,
) -> StoreResult<Vec<Identity>> {
    read!(async {
        let client = store.client().await?;
        let sql = format!(
            "SELECT {IDENTITY_COLS} FROM identities i WHERE i.account_id = $1 \
             ORDER BY i.provider, i.subject"
        );
        query(&client, &sql, &[&account_id])
            .await?
            .iter()
            .map(identity_row)
            .collect()
    })
}

async fn insert_identity(
    tx: &deadpool_postgres::Transaction<'_>,
    account_id: i64,
    identity: &NewIdentity,
    signed_in: bool,
) -> Step<Identity> {
    let created = now();
    let last_sign_in_at = signed_in.then_some(created);
    execute(
        tx,
        "INSERT INTO identities \
         (provider, subject, account_id, username, email, created_at, last_sign_in_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &identity.provider,
            &identity.subject,
            &account_id,
            &identity.username,
            &identity.email,
            &ts(created),
            &last_sign_in_at.map(ts),
        ],
    )
    .await
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
    store: &PostgresStore,
    name: &str,
    identity: &NewIdentity,
) -> StoreResult<Account> {
    transaction!(store, |tx| {
        let created = now();
        let id: i64 = query_one(
            &tx,
            "INSERT INTO accounts (name, email, created_at) VALUES ($1, $2, $3) RETURNING id",
            &[&name, &identity.email, &ts(created)],
        )
        .await
        .map_err(conflict_as(format!("account `{name}`")))?
        .get(0);
        insert_identity(&tx, id, identity, true).await?;
        Account {
            id,
            name: name.to_owned(),
            email: identity.email.clone(),
            created_at: created,
        }
    })
}

pub(super) async fn link_identity(
    store: &PostgresStore,
    account_id: i64,
    identity: &NewIdentity,
) -> StoreResult<Identity> {
    transaction!(store, |tx| {
        insert_identity(&tx, account_id, identity, false).await?
    })
}

pub(super) async fn record_sign_in(
    store: &PostgresStore,
    identity: &NewIdentity,
) -> StoreResult<()> {
    read!(async {
        let client = store.client().await?;
        execute(
            &client,
            "UPDATE identities SET username = $1, email = $2, last_sign_in_at = $3 \
             WHERE provider = $4 AND subject = $5",
            &[
                &identity.username,
                &identity.email,
                &ts(now()),
                &identity.provider,
                &identity.subject,
            ],
        )
        .await?;
        Ok(())
    })
}

pub(super) async fn create_session(
    store: &PostgresStore,
    account_id: i64,
    hash: &Blake2bHash,
    expires_at: OffsetDateTime,
) -> StoreResult<Session> {
    transaction!(store, |tx| {
        let created = now();
        // Expired sessions go when new ones come: the table stays the size of its use.
        execute(
            &tx,
            "DELETE FROM sessions WHERE expires_at <= $1",
            &[&ts(created)],
        )
        .await?;
        let id: i64 = query_one(
            &tx,
            "INSERT INTO sessions (account_id, hash, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $3, $4) RETURNING id",
            &[
                &account_id,
                &&hash.as_bytes()[..],
                &ts(created),
                &ts(expires_at),
            ],
        )
        .await
        .map_err(conflict_as("session"))?
        .get(0);
        Session {
            id,
            account_id,
            created_at: created,
            last_seen_at: created,
            expires_at,
        }
    })
}

pub(super) async fn session(
    store: &PostgresStore,
    hash: &Blake2bHash,
) -> StoreResult<Option<(Session, Account)>> {
    read!(async {
        let client = store.client().await?;
        let found = query_opt(
            &client,
            "SELECT s.id, s.account_id, s.created_at, s.last_seen_at, s.expires_at, \
             a.id, a.name, a.email, a.created_at FROM sessions s \
             JOIN accounts a ON a.id = s.account_id WHERE s.hash = $1",
            &[&&hash.as_bytes()[..]],
        )
        .await?;
        let Some(row) = found else {
            return Ok(None);
        };
        let session = Session {
            id: column(&row, 0)?,
            account_id: column(&row, 1)?,
            created_at: parse_ts(column(&row, 2)?)?,
            last_seen_at: parse_ts(column(&row, 3)?)?,
            expires_at: parse_ts(column(&row, 4)?)?,
        };
        Ok(Some((session, account_at(&row, 5)?)))
    })
}

pub(super) async fn touch_session(store: &PostgresStore, id: i64) -> StoreResult<()> {
    read!(async {
        let client = store.client().await?;
        execute(
            &client,
            "UPDATE sessions SET last_seen_at = $1 WHERE id = $2",
            &[&ts(now()), &id],
        )
        .await?;
        Ok(())
    })
}

pub(super) async fn delete_session(store: &PostgresStore, hash: &Blake2bHash) -> StoreResult<()> {
    read!(async {
        let client = store.client().await?;
        execute(
            &client,
            "DELETE FROM sessions WHERE hash = $1",
            &[&&hash.as_bytes()[..]],
        )
        .await?;
        Ok(())
    })
}

pub(super) async fn put_login_flow(
    store: &PostgresStore,
    flow: &LoginFlow,
    stale_before: OffsetDateTime,
) -> StoreResult<()> {
    transaction!(store, |tx| {
        execute(
            &tx,
            "DELETE FROM login_flows WHERE created_at < $1",
            &[&ts(stale_before)],
        )
        .await?;
        execute(
            &tx,
            "INSERT INTO login_flows \
             (state_hash, provider, browser_hash, nonce, verifier, return_to, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &&flow.state_hash.as_bytes()[..],
                &flow.provider,
                &&flow.browser_hash.as_bytes()[..],
                &flow.nonce,
                &flow.verifier,
                &flow.return_to,
                &ts(flow.created_at),
            ],
        )
        .await
        .map_err(conflict_as("sign-in state"))?;
    })
}

pub(super) async fn take_login_flow(
    store: &PostgresStore,
    state_hash: &Blake2bHash,
) -> StoreResult<Option<LoginFlow>> {
    read!(async {
        let client = store.client().await?;
        // One statement reads and deletes: two callbacks with the same state cannot both win.
        let found = query_opt(
            &client,
            "DELETE FROM login_flows WHERE state_hash = $1 RETURNING state_hash, provider, \
             browser_hash, nonce, verifier, return_to, created_at",
            &[&&state_hash.as_bytes()[..]],
        )
        .await?;
        let Some(row) = found else {
            return Ok(None);
        };
        Ok(Some(LoginFlow {
            state_hash: hash_col(&row, 0)?,
            provider: column(&row, 1)?,
            browser_hash: hash_col(&row, 2)?,
            nonce: column(&row, 3)?,
            verifier: column(&row, 4)?,
            return_to: column(&row, 5)?,
            created_at: parse_ts(column(&row, 6)?)?,
        }))
    })
}
