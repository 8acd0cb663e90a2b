//! Accounts and tokens.

use rusqlite::{OptionalExtension, params};

use super::rows::*;
use super::*;

pub(super) async fn create_account(
    store: &SqliteStore,
    name: &str,
    email: Option<&str>,
) -> StoreResult<Account> {
    let (name, email) = (name.to_owned(), email.map(str::to_owned));
    store
        .write(move |tx| {
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

pub(super) async fn account_by_name(
    store: &SqliteStore,
    name: &str,
) -> StoreResult<Option<Account>> {
    let name = name.to_owned();
    store
        .with(move |c| {
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

pub(super) async fn accounts(store: &SqliteStore) -> StoreResult<Vec<Account>> {
    store
        .with(|c| {
            all(
                c,
                "SELECT id, name, email, created_at FROM accounts ORDER BY name",
                [],
                account_row,
            )
        })
        .await
}

pub(super) async fn create_token(
    store: &SqliteStore,
    account_id: i64,
    name: &str,
    hash: &Blake2bHash,
    expires_at: Option<OffsetDateTime>,
) -> StoreResult<TokenRecord> {
    let (name, hash) = (name.to_owned(), *hash);
    store.write(move |tx| {
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

pub(super) async fn authenticate(
    store: &SqliteStore,
    hash: &Blake2bHash,
) -> StoreResult<Option<(TokenRecord, Account)>> {
    let hash = *hash;
    store.with(move |c| {
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

pub(super) async fn tokens(store: &SqliteStore, account_id: i64) -> StoreResult<Vec<TokenRecord>> {
    store
        .with(move |c| {
            all(
                c,
                &format!("SELECT {TOKEN_COLS} FROM tokens WHERE account_id = ?1 ORDER BY id"),
                [account_id],
                token_row,
            )
        })
        .await
}

pub(super) async fn delete_token(
    store: &SqliteStore,
    account_id: i64,
    token_id: i64,
) -> StoreResult<bool> {
    store
        .write(move |tx| {
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
