//! Origins, members, invitations and origin keys.

use rusqlite::{OptionalExtension, params};

use super::rows::*;
use super::*;

pub(super) async fn create_origin(
    store: &SqliteStore,
    name: &OriginName,
    owner_id: i64,
    visibility: Visibility,
) -> StoreResult<Origin> {
    let name = name.clone();
    store.write(move |tx| {
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

pub(super) async fn origin(store: &SqliteStore, name: &OriginName) -> StoreResult<Option<Origin>> {
    let name = name.clone();
    store.with(move |c| {
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

pub(super) async fn delete_origin(
    store: &SqliteStore,
    name: &OriginName,
) -> StoreResult<Result<(), OriginContents>> {
    let name = name.clone();
    store.write(move |tx| {
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
        tuf::outbox(tx, &name, &TufScope::Origin, &ts(now()))?;
        Ok(Ok(()))
    })
    .await
}

pub(super) async fn role(
    store: &SqliteStore,
    origin: &OriginName,
    account_id: i64,
) -> StoreResult<Option<Role>> {
    let origin = origin.clone();
    store.with(move |c| {
        let role: Option<String> = c
            .prepare_cached(
                "SELECT m.role FROM members m JOIN origins o ON o.id = m.origin_id WHERE o.name = ?1 AND m.account_id = ?2",
            )
            .and_then(|mut role| {
                role.query_row(params![origin.as_str(), account_id], |r| r.get(0))
                    .optional()
            })
            .map_err(backend)?;
        Ok(role.and_then(|r| Role::parse(&r)))
    })
    .await
}

pub(super) async fn members(store: &SqliteStore, origin: &OriginName) -> StoreResult<Vec<Member>> {
    let origin = origin.clone();
    store
        .with(move |c| {
            all(
                c,
                "SELECT a.name, m.role FROM members m JOIN origins o ON o.id = m.origin_id \
                 JOIN accounts a ON a.id = m.account_id WHERE o.name = ?1 ORDER BY a.name",
                [origin.as_str()],
                |row| {
                    Ok(Member {
                        name: row.get(0)?,
                        role: Role::parse(&row.get::<_, String>(1)?)
                            .ok_or_else(|| conversion("bad role"))?,
                    })
                },
            )
        })
        .await
}

pub(super) async fn set_role(
    store: &SqliteStore,
    origin: &OriginName,
    account: &str,
    role: Role,
) -> StoreResult<()> {
    let (origin, account) = (origin.clone(), account.to_owned());
    store.write(move |tx| {
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

pub(super) async fn remove_member(
    store: &SqliteStore,
    origin: &OriginName,
    account: &str,
) -> StoreResult<()> {
    let (origin, account) = (origin.clone(), account.to_owned());
    store
        .write(move |tx| {
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

pub(super) async fn transfer_origin(
    store: &SqliteStore,
    origin: &OriginName,
    account: &str,
) -> StoreResult<()> {
    let (origin, account) = (origin.clone(), account.to_owned());
    store
        .write(move |tx| {
            let (oid, aid) = (origin_id(tx, &origin)?, account_id(tx, &account)?);
            let member = tx
                .execute(
                    "UPDATE members SET role = 'owner' WHERE origin_id = ?1 AND account_id = ?2",
                    [oid, aid],
                )
                .map_err(backend)?;
            if member == 0 {
                return Err(StoreError::NotFound(format!(
                    "member `{account}` of origin `{origin}`"
                )));
            }
            tx.execute(
                "UPDATE members SET role = 'maintainer' WHERE origin_id = ?1 AND account_id = \
                 (SELECT owner_id FROM origins WHERE id = ?1) AND account_id <> ?2",
                [oid, aid],
            )
            .map_err(backend)?;
            tx.execute("UPDATE origins SET owner_id = ?2 WHERE id = ?1", [oid, aid])
                .map_err(backend)?;
            Ok(())
        })
        .await
}

pub(super) async fn account_origins(
    store: &SqliteStore,
    account_id: i64,
) -> StoreResult<Vec<(OriginName, Role)>> {
    store
        .with(move |c| {
            all(
                c,
                "SELECT o.name, m.role FROM members m JOIN origins o ON o.id = m.origin_id \
             WHERE m.account_id = ?1 ORDER BY o.name",
                [account_id],
                |row| {
                    Ok((
                        parse_col(&row.get::<_, String>(0)?)?,
                        Role::parse(&row.get::<_, String>(1)?)
                            .ok_or_else(|| conversion("bad role"))?,
                    ))
                },
            )
        })
        .await
}

pub(super) async fn create_invitation(
    store: &SqliteStore,
    origin: &OriginName,
    account: &str,
    invited_by: &str,
) -> StoreResult<Invitation> {
    let (origin, account, invited_by) = (origin.clone(), account.to_owned(), invited_by.to_owned());
    store.write(move |tx| {
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

pub(super) async fn invitation(store: &SqliteStore, id: i64) -> StoreResult<Option<Invitation>> {
    store
        .with(move |c| {
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

pub(super) async fn origin_invitations(
    store: &SqliteStore,
    origin: &OriginName,
) -> StoreResult<Vec<Invitation>> {
    let origin = origin.clone();
    store
        .with(move |c| {
            all(
                c,
                &format!("{INVITATION_SELECT} WHERE o.name = ?1 ORDER BY i.id"),
                [origin.as_str()],
                invitation_row,
            )
        })
        .await
}

pub(super) async fn account_invitations(
    store: &SqliteStore,
    account_id: i64,
) -> StoreResult<Vec<Invitation>> {
    store
        .with(move |c| {
            all(
                c,
                &format!("{INVITATION_SELECT} WHERE i.account_id = ?1 ORDER BY i.id"),
                [account_id],
                invitation_row,
            )
        })
        .await
}

pub(super) async fn accept_invitation(store: &SqliteStore, id: i64) -> StoreResult<()> {
    store.write(move |tx| {
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

pub(super) async fn delete_invitation(store: &SqliteStore, id: i64) -> StoreResult<()> {
    store
        .write(move |tx| {
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

pub(super) async fn add_public_key(
    store: &SqliteStore,
    origin: &OriginName,
    revision: &str,
    body: &str,
) -> StoreResult<OriginKey> {
    let (origin, revision, body) = (origin.clone(), revision.to_owned(), body.to_owned());
    store.write(move |tx| {
        let oid = origin_id(tx, &origin)?;
        let created = now();
        tx.execute(
            "INSERT INTO public_keys (origin_id, revision, body, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![oid, revision, body, ts(created)],
        )
        .map_err(conflict_as(format!("key `{origin}-{revision}`")))?;
        tuf::outbox(tx, &origin, &TufScope::Keys, &ts(created))?;
        Ok(OriginKey { origin, revision, body, created_at: created })
    })
    .await
}

pub(super) async fn public_keys(
    store: &SqliteStore,
    origin: &OriginName,
) -> StoreResult<Vec<OriginKey>> {
    let origin = origin.clone();
    store
        .with(move |c| {
            all(
                c,
                "SELECT k.revision, k.body, k.created_at FROM public_keys k \
             JOIN origins o ON o.id = k.origin_id WHERE o.name = ?1 ORDER BY k.revision DESC",
                [origin.as_str()],
                |row| {
                    Ok(OriginKey {
                        origin: origin.clone(),
                        revision: row.get(0)?,
                        body: row.get(1)?,
                        created_at: parse_ts(&row.get::<_, String>(2)?)?,
                    })
                },
            )
        })
        .await
}

pub(super) async fn public_key(
    store: &SqliteStore,
    origin: &OriginName,
    revision: &str,
) -> StoreResult<Option<OriginKey>> {
    let keys = public_keys(store, origin).await?;
    Ok(keys.into_iter().find(|k| k.revision == revision))
}

pub(super) async fn put_secret_key(store: &SqliteStore, key: &SecretOriginKey) -> StoreResult<()> {
    let key = key.clone();
    store.write(move |tx| {
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

pub(super) async fn latest_secret_key(
    store: &SqliteStore,
    origin: &OriginName,
) -> StoreResult<Option<SecretOriginKey>> {
    let origin = origin.clone();
    store.with(move |c| {
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
