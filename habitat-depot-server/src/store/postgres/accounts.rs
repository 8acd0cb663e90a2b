//! Accounts and tokens.

use habitat_core::Blake2bHash;
use time::OffsetDateTime;

use super::rows::*;
use super::*;

pub(super) async fn create_account(
    store: &PostgresStore,
    name: &str,
    email: Option<&str>,
) -> StoreResult<Account> {
    transaction!(store, |tx| {
        let created = now();
        let id: i64 = query_one(
            &tx,
            "INSERT INTO accounts (name, email, created_at) VALUES ($1, $2, $3) RETURNING id",
            &[&name, &email, &ts(created)],
        )
        .await
        .map_err(conflict_as(format!("account `{name}`")))?
        .get(0);
        Account {
            id,
            name: name.to_owned(),
            email: email.map(str::to_owned),
            created_at: created,
        }
    })
}

pub(super) async fn account_by_name(
    store: &PostgresStore,
    name: &str,
) -> StoreResult<Option<Account>> {
    read!(async {
        let client = store.client().await?;
        query_opt(
            &client,
            "SELECT id, name, email, created_at FROM accounts WHERE name = $1",
            &[&name],
        )
        .await?
        .map(|row| account_row(&row))
        .transpose()
    })
}

pub(super) async fn accounts(store: &PostgresStore) -> StoreResult<Vec<Account>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT id, name, email, created_at FROM accounts ORDER BY name",
            &[],
        )
        .await?
        .iter()
        .map(account_row)
        .collect()
    })
}

pub(super) async fn create_token(
    store: &PostgresStore,
    account_id: i64,
    name: &str,
    hash: &Blake2bHash,
    expires_at: Option<OffsetDateTime>,
) -> StoreResult<TokenRecord> {
    transaction!(store, |tx| {
        let created = now();
        let id: i64 = query_one(
            &tx,
            "INSERT INTO tokens (account_id, name, hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &account_id,
                &name,
                &&hash.as_bytes()[..],
                &ts(created),
                &expires_at.map(ts),
            ],
        )
        .await
        .map_err(conflict_as("token"))?
        .get(0);
        TokenRecord {
            id,
            account_id,
            name: name.to_owned(),
            hash: *hash,
            created_at: created,
            last_used_at: None,
            expires_at,
        }
    })
}

pub(super) async fn authenticate(
    store: &PostgresStore,
    hash: &Blake2bHash,
) -> StoreResult<Option<(TokenRecord, Account)>> {
    read!(async {
        let client = store.client().await?;
        let found = query_opt(
            &client,
            "SELECT t.id, t.account_id, t.name, t.hash, t.created_at, t.last_used_at, \
             t.expires_at, a.id, a.name, a.email, a.created_at \
             FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.hash = $1",
            &[&&hash.as_bytes()[..]],
        )
        .await?;
        let Some(row) = found else {
            return Ok(None);
        };
        let token = token_row(&row)?;
        let account = account_at(&row, 7)?;
        let stamp = now();
        let stale = token
            .last_used_at
            .is_none_or(|t| stamp - t > time::Duration::minutes(1));
        if stale {
            execute(
                &client,
                "UPDATE tokens SET last_used_at = $1 WHERE id = $2",
                &[&ts(stamp), &token.id],
            )
            .await?;
        }
        Ok(Some((token, account)))
    })
}

pub(super) async fn tokens(
    store: &PostgresStore,
    account_id: i64,
) -> StoreResult<Vec<TokenRecord>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            &format!("SELECT {TOKEN_COLS} FROM tokens WHERE account_id = $1 ORDER BY id"),
            &[&account_id],
        )
        .await?
        .iter()
        .map(token_row)
        .collect()
    })
}

pub(super) async fn delete_token(
    store: &PostgresStore,
    account_id: i64,
    token_id: i64,
) -> StoreResult<bool> {
    read!(async {
        let client = store.client().await?;
        let n = execute(
            &client,
            "DELETE FROM tokens WHERE id = $1 AND account_id = $2",
            &[&token_id, &account_id],
        )
        .await?;
        Ok(n > 0)
    })
}
