//! Origins, members, invitations and origin keys.

use super::rows::*;
use super::*;

pub(super) async fn create_origin(
    store: &PostgresStore,
    name: &OriginName,
    owner_id: i64,
    visibility: Visibility,
) -> StoreResult<Origin> {
    transaction!(store, |tx| {
        let created = now();
        let id: i64 = query_one(
            &tx,
            "INSERT INTO origins (name, owner_id, default_visibility, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
            &[
                &name.as_str(),
                &owner_id,
                &visibility.as_str(),
                &ts(created),
            ],
        )
        .await
        .map_err(conflict_as(format!("origin `{name}`")))?
        .get(0);
        execute(
            &tx,
            "INSERT INTO members (origin_id, account_id, role) VALUES ($1, $2, 'owner')",
            &[&id, &owner_id],
        )
        .await?;
        execute(
            &tx,
            "INSERT INTO channels (origin_id, name, created_at) \
             VALUES ($1, 'unstable', $2), ($1, 'stable', $2)",
            &[&id, &ts(created)],
        )
        .await?;
        let owner: String = query_one(&tx, "SELECT name FROM accounts WHERE id = $1", &[&owner_id])
            .await?
            .get(0);
        Origin {
            name: name.clone(),
            owner,
            default_package_visibility: visibility,
            created_at: created,
        }
    })
}

pub(super) async fn origin(
    store: &PostgresStore,
    name: &OriginName,
) -> StoreResult<Option<Origin>> {
    read!(async {
        let client = store.client().await?;
        let Some(row) = query_opt(
            &client,
            "SELECT a.name, o.default_visibility, o.created_at FROM origins o \
             JOIN accounts a ON a.id = o.owner_id WHERE o.name = $1",
            &[&name.as_str()],
        )
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(Origin {
            name: name.clone(),
            owner: column(&row, 0)?,
            default_package_visibility: parse_visibility(&column::<String>(&row, 1)?)?,
            created_at: parse_ts(&column::<String>(&row, 2)?)?,
        }))
    })
}

pub(super) async fn delete_origin(
    store: &PostgresStore,
    name: &OriginName,
) -> StoreResult<Result<(), OriginContents>> {
    transaction!(store, |tx| {
        // The lock waits for changes that add rows under the origin (they hold a key-share
        // lock on it) and makes them wait for this one.
        let id = origin_id(&tx, name, Lock::Update).await?;
        let count = async |sql: &str, value: &(dyn tokio_postgres::types::ToSql + Sync)| {
            query_one(&tx, sql, &[value])
                .await
                .map(|row| row.get::<_, i64>(0) as u64)
        };
        let contents = OriginContents {
            packages: count(
                "SELECT count(*) FROM packages WHERE origin = $1",
                &name.as_str(),
            )
            .await?,
            members: count(
                "SELECT count(*) FROM members WHERE origin_id = $1 AND role <> 'owner'",
                &id,
            )
            .await?,
            extra_channels: count(
                "SELECT count(*) FROM channels WHERE origin_id = $1 \
                 AND name NOT IN ('unstable', 'stable')",
                &id,
            )
            .await?,
        };
        if contents == OriginContents::default() {
            execute(&tx, "DELETE FROM origins WHERE id = $1", &[&id]).await?;
            tuf::outbox(&tx, name, &TufScope::Origin, &ts(now())).await?;
            Ok(())
        } else {
            Err(contents)
        }
    })
}

pub(super) async fn role(
    store: &PostgresStore,
    origin: &OriginName,
    account_id: i64,
) -> StoreResult<Option<Role>> {
    read!(async {
        let client = store.client().await?;
        let role: Option<String> = query_opt(
            &client,
            "SELECT m.role FROM members m JOIN origins o ON o.id = m.origin_id \
             WHERE o.name = $1 AND m.account_id = $2",
            &[&origin.as_str(), &account_id],
        )
        .await?
        .map(|row| column(&row, 0))
        .transpose()?;
        Ok(role.and_then(|r| Role::parse(&r)))
    })
}

pub(super) async fn members(
    store: &PostgresStore,
    origin: &OriginName,
) -> StoreResult<Vec<Member>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT a.name, m.role FROM members m JOIN origins o ON o.id = m.origin_id \
             JOIN accounts a ON a.id = m.account_id WHERE o.name = $1 ORDER BY a.name",
            &[&origin.as_str()],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(Member {
                name: column(row, 0)?,
                role: parse_role(&column::<String>(row, 1)?)?,
            })
        })
        .collect()
    })
}

pub(super) async fn set_role(
    store: &PostgresStore,
    origin: &OriginName,
    account: &str,
    role: Role,
) -> StoreResult<()> {
    transaction!(store, |tx| {
        let oid = origin_id(&tx, origin, Lock::KeyShare).await?;
        let aid = account_id(&tx, account).await?;
        let n = execute(
            &tx,
            "UPDATE members SET role = $1 WHERE origin_id = $2 AND account_id = $3 \
             AND role <> 'owner'",
            &[&role.as_str(), &oid, &aid],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "member `{account}` of origin `{origin}` (other than the owner)"
            ))
            .into());
        }
    })
}

pub(super) async fn remove_member(
    store: &PostgresStore,
    origin: &OriginName,
    account: &str,
) -> StoreResult<()> {
    transaction!(store, |tx| {
        let oid = origin_id(&tx, origin, Lock::KeyShare).await?;
        let aid = account_id(&tx, account).await?;
        let role: Option<String> = query_opt(
            &tx,
            "SELECT role FROM members WHERE origin_id = $1 AND account_id = $2 FOR UPDATE",
            &[&oid, &aid],
        )
        .await?
        .map(|row| column(&row, 0))
        .transpose()?;
        match role.as_deref() {
            None => {
                return Err(StoreError::NotFound(format!(
                    "member `{account}` of origin `{origin}`"
                ))
                .into());
            }
            Some("owner") => {
                return Err(StoreError::Refused(format!(
                    "`{account}` owns origin `{origin}` and cannot be removed"
                ))
                .into());
            }
            Some(_) => {
                execute(
                    &tx,
                    "DELETE FROM members WHERE origin_id = $1 AND account_id = $2",
                    &[&oid, &aid],
                )
                .await?;
            }
        }
    })
}

pub(super) async fn transfer_origin(
    store: &PostgresStore,
    origin: &OriginName,
    account: &str,
) -> StoreResult<()> {
    transaction!(store, |tx| {
        let oid = origin_id(&tx, origin, Lock::Update).await?;
        let aid = account_id(&tx, account).await?;
        let member = execute(
            &tx,
            "UPDATE members SET role = 'owner' WHERE origin_id = $1 AND account_id = $2",
            &[&oid, &aid],
        )
        .await?;
        if member == 0 {
            return Err(
                StoreError::NotFound(format!("member `{account}` of origin `{origin}`")).into(),
            );
        }
        execute(
            &tx,
            "UPDATE members SET role = 'maintainer' WHERE origin_id = $1 AND account_id = \
             (SELECT owner_id FROM origins WHERE id = $1) AND account_id <> $2",
            &[&oid, &aid],
        )
        .await?;
        execute(
            &tx,
            "UPDATE origins SET owner_id = $2 WHERE id = $1",
            &[&oid, &aid],
        )
        .await?;
    })
}

pub(super) async fn account_origins(
    store: &PostgresStore,
    account_id: i64,
) -> StoreResult<Vec<(OriginName, Role)>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT o.name, m.role FROM members m JOIN origins o ON o.id = m.origin_id \
             WHERE m.account_id = $1 ORDER BY o.name",
            &[&account_id],
        )
        .await?
        .iter()
        .map(|row| {
            Ok((
                parse_col(&column::<String>(row, 0)?)?,
                parse_role(&column::<String>(row, 1)?)?,
            ))
        })
        .collect()
    })
}

pub(super) async fn create_invitation(
    store: &PostgresStore,
    origin: &OriginName,
    account: &str,
    invited_by: &str,
) -> StoreResult<Invitation> {
    transaction!(store, |tx| {
        let oid = origin_id(&tx, origin, Lock::KeyShare).await?;
        let aid = account_id(&tx, account).await?;
        let members: i64 = query_one(
            &tx,
            "SELECT count(*) FROM members WHERE origin_id = $1 AND account_id = $2",
            &[&oid, &aid],
        )
        .await?
        .get(0);
        if members > 0 {
            return Err(
                StoreError::Conflict(format!("member `{account}` of origin `{origin}`")).into(),
            );
        }
        let created = now();
        let id: i64 = query_one(
            &tx,
            "INSERT INTO invitations (origin_id, account_id, invited_by, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
            &[&oid, &aid, &invited_by, &ts(created)],
        )
        .await
        .map_err(conflict_as(format!(
            "invitation of `{account}` to origin `{origin}`"
        )))?
        .get(0);
        Invitation {
            id,
            origin: origin.clone(),
            account: account.to_owned(),
            invited_by: invited_by.to_owned(),
            created_at: created,
        }
    })
}

pub(super) async fn invitation(store: &PostgresStore, id: i64) -> StoreResult<Option<Invitation>> {
    read!(async {
        let client = store.client().await?;
        query_opt(
            &client,
            &format!("{INVITATION_SELECT} WHERE i.id = $1"),
            &[&id],
        )
        .await?
        .map(|row| invitation_row(&row))
        .transpose()
    })
}

pub(super) async fn origin_invitations(
    store: &PostgresStore,
    origin: &OriginName,
) -> StoreResult<Vec<Invitation>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            &format!("{INVITATION_SELECT} WHERE o.name = $1 ORDER BY i.id"),
            &[&origin.as_str()],
        )
        .await?
        .iter()
        .map(invitation_row)
        .collect()
    })
}

pub(super) async fn account_invitations(
    store: &PostgresStore,
    account_id: i64,
) -> StoreResult<Vec<Invitation>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            &format!("{INVITATION_SELECT} WHERE i.account_id = $1 ORDER BY i.id"),
            &[&account_id],
        )
        .await?
        .iter()
        .map(invitation_row)
        .collect()
    })
}

pub(super) async fn accept_invitation(store: &PostgresStore, id: i64) -> StoreResult<()> {
    transaction!(store, |tx| {
        // Locked, so of two accepts at once the second finds it gone, as it would in turn.
        let row = query_opt(
            &tx,
            "SELECT origin_id, account_id FROM invitations WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("invitation `{id}`")))?;
        let (oid, aid): (i64, i64) = (column(&row, 0)?, column(&row, 1)?);
        execute(
            &tx,
            "INSERT INTO members (origin_id, account_id, role) VALUES ($1, $2, 'member') \
             ON CONFLICT DO NOTHING",
            &[&oid, &aid],
        )
        .await?;
        execute(&tx, "DELETE FROM invitations WHERE id = $1", &[&id]).await?;
    })
}

pub(super) async fn delete_invitation(store: &PostgresStore, id: i64) -> StoreResult<()> {
    read!(async {
        let client = store.client().await?;
        match execute(&client, "DELETE FROM invitations WHERE id = $1", &[&id]).await? {
            0 => Err(StoreError::NotFound(format!("invitation `{id}`")).into()),
            _ => Ok(()),
        }
    })
}

pub(super) async fn add_public_key(
    store: &PostgresStore,
    origin: &OriginName,
    revision: &str,
    body: &str,
) -> StoreResult<OriginKey> {
    transaction!(store, |tx| {
        let oid = origin_id(&tx, origin, Lock::KeyShare).await?;
        let created = now();
        execute(
            &tx,
            "INSERT INTO public_keys (origin_id, revision, body, created_at) \
             VALUES ($1, $2, $3, $4)",
            &[&oid, &revision, &body, &ts(created)],
        )
        .await
        .map_err(conflict_as(format!("key `{origin}-{revision}`")))?;
        tuf::outbox(&tx, origin, &TufScope::Keys, &ts(created)).await?;
        OriginKey {
            origin: origin.clone(),
            revision: revision.to_owned(),
            body: body.to_owned(),
            created_at: created,
        }
    })
}

pub(super) async fn public_keys(
    store: &PostgresStore,
    origin: &OriginName,
) -> StoreResult<Vec<OriginKey>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT k.revision, k.body, k.created_at FROM public_keys k \
             JOIN origins o ON o.id = k.origin_id WHERE o.name = $1 ORDER BY k.revision DESC",
            &[&origin.as_str()],
        )
        .await?
        .iter()
        .map(|row| key_row(origin, row))
        .collect()
    })
}

pub(super) async fn public_key(
    store: &PostgresStore,
    origin: &OriginName,
    revision: &str,
) -> StoreResult<Option<OriginKey>> {
    read!(async {
        let client = store.client().await?;
        query_opt(
            &client,
            "SELECT k.revision, k.body, k.created_at FROM public_keys k \
             JOIN origins o ON o.id = k.origin_id WHERE o.name = $1 AND k.revision = $2",
            &[&origin.as_str(), &revision],
        )
        .await?
        .map(|row| key_row(origin, &row))
        .transpose()
    })
}

pub(super) async fn put_secret_key(
    store: &PostgresStore,
    key: &SecretOriginKey,
) -> StoreResult<()> {
    transaction!(store, |tx| {
        let oid = origin_id(&tx, &key.origin, Lock::KeyShare).await?;
        execute(
            &tx,
            "INSERT INTO secret_keys (origin_id, revision, encrypted) VALUES ($1, $2, $3) \
             ON CONFLICT (origin_id, revision) DO UPDATE SET encrypted = excluded.encrypted",
            &[&oid, &key.revision, &key.encrypted],
        )
        .await?;
    })
}

pub(super) async fn latest_secret_key(
    store: &PostgresStore,
    origin: &OriginName,
) -> StoreResult<Option<SecretOriginKey>> {
    read!(async {
        let client = store.client().await?;
        let Some(row) = query_opt(
            &client,
            "SELECT k.revision, k.encrypted FROM secret_keys k \
             JOIN origins o ON o.id = k.origin_id WHERE o.name = $1 \
             ORDER BY k.revision DESC LIMIT 1",
            &[&origin.as_str()],
        )
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(SecretOriginKey {
            origin: origin.clone(),
            revision: column(&row, 0)?,
            encrypted: column(&row, 1)?,
        }))
    })
}
