//! Packages and channels: uploads, listings, latest, search, promotion.

use habitat_core::Blake2bHash;

use super::insert::insert_packages;
use super::rows::*;
use super::tuf::{outbox, outbox_package, outbox_packages};
use super::*;
use crate::store::sql::{PackageWhere, Placeholders, VisibleTo};

pub(super) async fn insert_package(
    store: &PostgresStore,
    package: &Package,
) -> StoreResult<Package> {
    transaction!(store, |tx| {
        let ids = insert_packages(&tx, std::slice::from_ref(package)).await?;
        outbox_packages(&tx, std::slice::from_ref(package)).await?;
        Package {
            id: ids.first().copied().unwrap_or_default(),
            ..package.clone()
        }
    })
}

pub(super) async fn import_packages(
    store: &PostgresStore,
    packages: &[Package],
) -> StoreResult<()> {
    transaction!(store, |tx| {
        insert_packages(&tx, packages).await?;
        outbox_packages(&tx, packages).await?;
    })
}

pub(super) async fn package(
    store: &PostgresStore,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
) -> StoreResult<Option<Package>> {
    read!(async {
        let client = store.client().await?;
        query_opt(
            &client,
            &format!(
                "SELECT {PACKAGE_COLS} FROM packages p WHERE p.origin = $1 AND p.name = $2 \
                 AND p.version = $3 AND p.release = $4 AND p.target = $5"
            ),
            &[
                &ident.origin().as_str(),
                &ident.name().as_str(),
                &ident.version(),
                &ident.release(),
                &target.as_str(),
            ],
        )
        .await?
        .map(|row| package_row(&row))
        .transpose()
    })
}

pub(super) async fn packages(
    store: &PostgresStore,
    filter: &PackageFilter,
    page: Page,
) -> StoreResult<Paged<Package>> {
    listed(store, filter, page, PACKAGE_COLS).await
}

pub(super) async fn package_list(
    store: &PostgresStore,
    filter: &PackageFilter,
    page: Page,
) -> StoreResult<Paged<Package>> {
    listed(store, filter, page, LIST_COLS).await
}

/// One page of the packages `filter` selects, read as `columns` ([`PACKAGE_COLS`] or
/// [`LIST_COLS`]).
async fn listed(
    store: &PostgresStore,
    filter: &PackageFilter,
    page: Page,
    columns: &'static str,
) -> StoreResult<Paged<Package>> {
    read!(async {
        let client = store.client().await?;
        page_of(&client, FilterSql::new(filter), page, columns).await
    })
}

pub(super) async fn latest(
    store: &PostgresStore,
    filter: &PackageFilter,
) -> StoreResult<Option<Package>> {
    read!(async {
        let client = store.client().await?;
        latest_in(&client, filter).await
    })
}

pub(super) async fn latest_with_channels(
    store: &PostgresStore,
    filter: &PackageFilter,
) -> StoreResult<Option<(Package, Vec<ChannelMembership>)>> {
    read!(async {
        let client = store.client().await?;
        latest_with_channels_in(&client, filter).await
    })
}

pub(super) async fn search(
    store: &PostgresStore,
    query: &str,
    distinct: bool,
    private_origins: &[OriginName],
    page: Page,
) -> StoreResult<Paged<Package>> {
    read!(async {
        let client = store.client().await?;
        let sql = PackageWhere::search(Placeholders::Dollar, query, distinct, private_origins);
        page_of(&client, sql.into(), page, PACKAGE_COLS).await
    })
}

pub(super) async fn rdeps(
    store: &PostgresStore,
    origin: &OriginName,
    name: &str,
    target: PackageTarget,
) -> StoreResult<Vec<String>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            &format!(
                // The distinct dependent names of one range of `package_tdeps_dependents`,
                // each kept if one of its dependent releases is public.
                "SELECT x.o || '/' || x.n FROM (SELECT DISTINCT d.pkg_origin o, d.pkg_name n \
                 FROM package_tdeps d WHERE d.dep_origin = $1 AND d.dep_name = $2 \
                 AND d.pkg_target = $3) x \
                 WHERE EXISTS (SELECT 1 FROM package_tdeps d2 \
                 JOIN packages p ON p.id = d2.package_id \
                 WHERE d2.dep_origin = $1 AND d2.dep_name = $2 AND d2.pkg_target = $3 \
                 AND d2.pkg_origin = x.o AND d2.pkg_name = x.n AND {}) ORDER BY 1",
                VisibleTo::public().clause("p")
            ),
            &[&origin.as_str(), &name, &target.as_str()],
        )
        .await?
        .iter()
        .map(|row| column(row, 0))
        .collect()
    })
}

pub(super) async fn delete_package(
    store: &PostgresStore,
    id: i64,
    account: &str,
) -> StoreResult<()> {
    let address = crate::audit::client_address();
    transaction!(store, |tx| {
        // The lock waits for promotions and for uploads that depend on this package (they
        // hold key-share locks on it) and makes later ones wait for this delete.
        let row = query_opt(
            &tx,
            "SELECT origin, origin || '/' || name || '/' || version || '/' || release, target \
             FROM packages WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("package `{id}`")))?;
        let (origin, ident, target): (String, String, String) =
            (column(&row, 0)?, column(&row, 1)?, column(&row, 2)?);
        let channel: Option<String> = query_opt(
            &tx,
            "SELECT c.name FROM channel_packages cp JOIN channels c ON c.id = cp.channel_id \
             WHERE cp.package_id = $1 AND c.name <> 'unstable' ORDER BY c.name LIMIT 1",
            &[&id],
        )
        .await?
        .map(|row| column(&row, 0))
        .transpose()?;
        if let Some(channel) = channel {
            return Err(StoreError::Refused(format!("{ident} is in channel `{channel}`")).into());
        }
        let dependent: Option<String> = query_opt(
            &tx,
            "SELECT p.origin || '/' || p.name || '/' || p.version || '/' || p.release \
             FROM package_tdeps d JOIN packages p ON p.id = d.package_id \
             WHERE d.dep_ident = $1 AND p.target = $2 LIMIT 1",
            &[&ident, &target],
        )
        .await?
        .map(|row| column(&row, 0))
        .transpose()?;
        if let Some(dependent) = dependent {
            return Err(StoreError::Refused(format!("{dependent} depends on {ident}")).into());
        }
        outbox_package(&tx, id, &ts(now())).await?;
        execute(&tx, "DELETE FROM packages WHERE id = $1", &[&id]).await?;
        execute(
            &tx,
            "INSERT INTO audit (at, account, action, origin, package_id, ident, target, address) \
             VALUES ($1, $2, 'delete', $3, $4, $5, $6, $7)",
            &[
                &ts(now()),
                &account,
                &origin,
                &id,
                &ident,
                &target,
                &address,
            ],
        )
        .await?;
    })
}

pub(super) async fn set_visibility(
    store: &PostgresStore,
    id: i64,
    visibility: Visibility,
) -> StoreResult<()> {
    read!(async {
        let client = store.client().await?;
        // One statement: the outbox row (a change either way makes the package enter or leave
        // its indexes) is read from the row as it was before the update.
        execute(
            &client,
            "WITH o AS (INSERT INTO tuf_outbox (origin, scope, name, created_at) \
             SELECT p.origin, 'package', p.name, $3 FROM packages p \
             WHERE p.id = $2 AND p.visibility <> $1 AND EXISTS (SELECT 1 FROM tuf_metadata)) \
             UPDATE packages SET visibility = $1 WHERE id = $2",
            &[&visibility.as_str(), &id, &ts(now())],
        )
        .await?;
        Ok(())
    })
}

pub(super) async fn package_checksums(
    store: &PostgresStore,
) -> StoreResult<Vec<(i64, FullyQualifiedIdent, PackageTarget, Blake2bHash, u64)>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT id, origin || '/' || name || '/' || version || '/' || release, target, \
             checksum, size FROM packages ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            Ok((
                column(row, 0)?,
                parse_col(&column::<String>(row, 1)?)?,
                parse_col(&column::<String>(row, 2)?)?,
                parse_col(&column::<String>(row, 3)?)?,
                column::<i64>(row, 4)? as u64,
            ))
        })
        .collect()
    })
}

pub(super) async fn channels(
    store: &PostgresStore,
    origin: &OriginName,
) -> StoreResult<Vec<ChannelName>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT c.name FROM channels c JOIN origins o ON o.id = c.origin_id \
             WHERE o.name = $1 ORDER BY c.name",
            &[&origin.as_str()],
        )
        .await?
        .iter()
        .map(|row| parse_col(&column::<String>(row, 0)?))
        .collect()
    })
}

pub(super) async fn create_channel(
    store: &PostgresStore,
    origin: &OriginName,
    channel: &ChannelName,
) -> StoreResult<()> {
    transaction!(store, |tx| {
        let oid = origin_id(&tx, origin, Lock::KeyShare).await?;
        execute(
            &tx,
            "INSERT INTO channels (origin_id, name, created_at) VALUES ($1, $2, $3)",
            &[&oid, &channel.as_str(), &ts(now())],
        )
        .await
        .map_err(conflict_as(format!(
            "channel `{channel}` of origin `{origin}`"
        )))?;
    })
}

pub(super) async fn delete_channel(
    store: &PostgresStore,
    origin: &OriginName,
    channel: &ChannelName,
) -> StoreResult<()> {
    transaction!(store, |tx| {
        if matches!(channel.as_str(), "unstable" | "stable") {
            return Err(
                StoreError::Refused(format!("channel `{channel}` cannot be deleted")).into(),
            );
        }
        let id = channel_id(&tx, origin, channel, Lock::Update).await?;
        execute(&tx, "DELETE FROM channels WHERE id = $1", &[&id]).await?;
        outbox(&tx, origin, &TufScope::Origin, &ts(now())).await?;
    })
}

pub(super) async fn all_channel_names(store: &PostgresStore) -> StoreResult<Vec<ChannelName>> {
    read!(async {
        let client = store.client().await?;
        query(
            &client,
            "SELECT DISTINCT name FROM channels ORDER BY name",
            &[],
        )
        .await?
        .iter()
        .map(|row| parse_col(&column::<String>(row, 0)?))
        .collect()
    })
}

pub(super) async fn package_channels(
    store: &PostgresStore,
    package_id: i64,
) -> StoreResult<Vec<ChannelMembership>> {
    read!(async {
        let client = store.client().await?;
        channels_of(&client, package_id).await
    })
}

pub(super) async fn change_channel(
    store: &PostgresStore,
    package_id: i64,
    origin: &OriginName,
    channel: &ChannelName,
    action: ChannelAction,
    account: &str,
) -> StoreResult<()> {
    let address = crate::audit::client_address();
    transaction!(store, |tx| {
        let cid = channel_id(&tx, origin, channel, Lock::KeyShare).await?;
        let stamp = ts(now());
        let (action_name, changed) = match action {
            ChannelAction::Promote => (
                "promote",
                execute(
                    &tx,
                    "INSERT INTO channel_packages (channel_id, package_id, promoted_at) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&cid, &package_id, &stamp],
                )
                .await?,
            ),
            ChannelAction::Demote => {
                let n = execute(
                    &tx,
                    "DELETE FROM channel_packages WHERE channel_id = $1 AND package_id = $2",
                    &[&cid, &package_id],
                )
                .await?;
                if n == 0 {
                    return Err(
                        StoreError::NotFound(format!("package in channel `{channel}`")).into(),
                    );
                }
                ("demote", n)
            }
        };
        if changed > 0 {
            execute(
                &tx,
                "INSERT INTO audit (at, account, action, origin, channel, package_id, ident, \
                 target, address) SELECT $1, $2, $3, $4, $5, p.id, \
                 p.origin || '/' || p.name || '/' || p.version || '/' || p.release, p.target, $7 \
                 FROM packages p WHERE p.id = $6",
                &[
                    &stamp,
                    &account,
                    &action_name,
                    &origin.as_str(),
                    &channel.as_str(),
                    &package_id,
                    &address,
                ],
            )
            .await?;
            outbox_package(&tx, package_id, &stamp).await?;
        }
    })
}

pub(super) async fn apply_memberships(
    store: &PostgresStore,
    memberships: &[(i64, OriginName, ChannelName)],
    account: &str,
) -> StoreResult<u64> {
    let address = crate::audit::client_address();
    transaction!(store, |tx| {
        let stamp = ts(now());
        let mut added: u64 = 0;
        for (package_id, origin, channel) in memberships {
            let oid = origin_id(&tx, origin, Lock::KeyShare).await?;
            execute(
                &tx,
                "INSERT INTO channels (origin_id, name, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&oid, &channel.as_str(), &stamp],
            )
            .await?;
            let cid = channel_id(&tx, origin, channel, Lock::KeyShare).await?;
            let changed = execute(
                &tx,
                "INSERT INTO channel_packages (channel_id, package_id, promoted_at) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&cid, package_id, &stamp],
            )
            .await?;
            if changed > 0 {
                execute(
                    &tx,
                    "INSERT INTO audit (at, account, action, origin, channel, package_id, ident, \
                     target, address) SELECT $1, $2, 'promote', $3, $4, p.id, \
                     p.origin || '/' || p.name || '/' || p.version || '/' || p.release, p.target, $6 \
                     FROM packages p WHERE p.id = $5",
                    &[
                        &stamp,
                        &account,
                        &origin.as_str(),
                        &channel.as_str(),
                        package_id,
                        &address,
                    ],
                )
                .await?;
                outbox_package(&tx, *package_id, &stamp).await?;
                added += 1;
            }
        }
        added
    })
}

pub(super) async fn change_channel_all(
    store: &PostgresStore,
    origin: &OriginName,
    source: &ChannelName,
    target: &ChannelName,
    action: ChannelAction,
    account: &str,
) -> StoreResult<u64> {
    let address = crate::audit::client_address();
    transaction!(store, |tx| {
        let sid = channel_id(&tx, origin, source, Lock::KeyShare).await?;
        // The target's row lock makes two bulk changes of one channel take turns.
        let tid = channel_id(&tx, origin, target, Lock::Update).await?;
        let stamp = ts(now());
        // The packages that change: those of `source` not yet in `target` (promote) or in it
        // (demote); the audit rows are written from the same list before the change.
        let (action_name, membership) = match action {
            ChannelAction::Promote => ("promote", "NOT EXISTS"),
            ChannelAction::Demote => ("demote", "EXISTS"),
        };
        execute(
            &tx,
            &format!(
                "INSERT INTO audit (at, account, action, origin, channel, package_id, ident, \
                 target, address) SELECT $3, $4, $5, $6, $7, p.id, \
                 p.origin || '/' || p.name || '/' || p.version || '/' || p.release, p.target, $8 \
                 FROM channel_packages s JOIN packages p ON p.id = s.package_id \
                 WHERE s.channel_id = $1 AND {membership} (SELECT 1 FROM channel_packages t \
                 WHERE t.channel_id = $2 AND t.package_id = s.package_id) ORDER BY p.id"
            ),
            &[
                &sid,
                &tid,
                &stamp,
                &account,
                &action_name,
                &origin.as_str(),
                &target.as_str(),
                &address,
            ],
        )
        .await?;
        execute(
            &tx,
            &format!(
                "INSERT INTO tuf_outbox (origin, scope, name, created_at) \
                 SELECT DISTINCT p.origin, 'package', p.name, $3 \
                 FROM channel_packages s JOIN packages p ON p.id = s.package_id \
                 WHERE s.channel_id = $1 AND {membership} (SELECT 1 FROM channel_packages t \
                 WHERE t.channel_id = $2 AND t.package_id = s.package_id) \
                 AND p.visibility = 'public' AND EXISTS (SELECT 1 FROM tuf_metadata)"
            ),
            &[&sid, &tid, &stamp],
        )
        .await?;
        match action {
            ChannelAction::Promote => {
                execute(
                    &tx,
                    "INSERT INTO channel_packages (channel_id, package_id, promoted_at) \
                     SELECT $2, package_id, $3 FROM channel_packages WHERE channel_id = $1 \
                     ON CONFLICT DO NOTHING",
                    &[&sid, &tid, &stamp],
                )
                .await?
            }
            ChannelAction::Demote => {
                execute(
                    &tx,
                    "DELETE FROM channel_packages WHERE channel_id = $2 AND package_id IN \
                     (SELECT package_id FROM channel_packages WHERE channel_id = $1)",
                    &[&sid, &tid],
                )
                .await?
            }
        }
    })
}
