//! Packages and channels: uploads, listings, latest, search, promotion.

use rusqlite::{OptionalExtension, params, params_from_iter};

use super::rows::*;
use super::tuf::{outbox, outbox_package, outbox_packages};
use super::*;
use crate::store::sql::{PackageWhere, Placeholders, VisibleTo};

pub(super) async fn insert_package(store: &SqliteStore, package: &Package) -> StoreResult<Package> {
    let package = package.clone();
    store
        .write(move |tx| {
            let id = insert_package_in(tx, &package)?;
            outbox_packages(tx, std::slice::from_ref(&package), &ts(now()))?;
            Ok(Package { id, ..package })
        })
        .await
}

pub(super) async fn import_packages(store: &SqliteStore, packages: &[Package]) -> StoreResult<()> {
    let packages = packages.to_vec();
    store
        .write(move |tx| {
            for package in &packages {
                insert_package_in(tx, package)?;
            }
            outbox_packages(tx, &packages, &ts(now()))
        })
        .await
}

pub(super) async fn package(
    store: &SqliteStore,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
) -> StoreResult<Option<Package>> {
    let ident = ident.clone();
    store.with(move |c| {
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

pub(super) async fn packages(
    store: &SqliteStore,
    filter: &PackageFilter,
    page: Page,
) -> StoreResult<Paged<Package>> {
    listed(store, filter, page, PACKAGE_COLS).await
}

pub(super) async fn package_list(
    store: &SqliteStore,
    filter: &PackageFilter,
    page: Page,
) -> StoreResult<Paged<Package>> {
    listed(store, filter, page, LIST_COLS).await
}

/// One page of the packages `filter` selects, their `columns`.
async fn listed(
    store: &SqliteStore,
    filter: &PackageFilter,
    page: Page,
    columns: &'static str,
) -> StoreResult<Paged<Package>> {
    let filter = filter.clone();
    store
        .with(move |c| {
            let (where_sql, values) = filter_sql(&filter);
            let table = if filter.channel.is_some() {
                PACKAGES_BY_ID
            } else {
                PACKAGES
            };
            page_from(c, table, columns, &where_sql, values, page)
        })
        .await
}

pub(super) async fn latest(
    store: &SqliteStore,
    filter: &PackageFilter,
) -> StoreResult<Option<Package>> {
    let filter = filter.clone();
    store.with(move |c| {
        let (where_sql, values) = filter_sql(&filter);
        let sql = format!("SELECT {PACKAGE_COLS} FROM packages p WHERE {where_sql} ORDER BY {NEWEST_FIRST} LIMIT 1");
        c.prepare_cached(&sql)
            .and_then(|mut stmt| stmt.query_row(params_from_iter(&values), package_row).optional())
            .map_err(backend)
    })
    .await
}

pub(super) async fn latest_with_channels(
    store: &SqliteStore,
    filter: &PackageFilter,
) -> StoreResult<Option<(Package, Vec<ChannelMembership>)>> {
    let filter = filter.clone();
    store.with(move |c| {
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

pub(super) async fn search(
    store: &SqliteStore,
    query: &str,
    distinct: bool,
    private_origins: &[OriginName],
    page: Page,
) -> StoreResult<Paged<Package>> {
    let sql = PackageWhere::search(Placeholders::Question, query, distinct, private_origins);
    store
        .with(move |c| {
            let (where_sql, values) = bound(sql);
            page_of(c, &where_sql, values, page)
        })
        .await
}

pub(super) async fn rdeps(
    store: &SqliteStore,
    origin: &OriginName,
    name: &str,
    target: PackageTarget,
) -> StoreResult<Vec<String>> {
    let (origin, name) = (origin.clone(), name.to_owned());
    store
        .with(move |c| {
            // The distinct dependent names of one range of `package_tdeps_dependents` (read
            // alone), each kept if one of its dependent releases is public.
            let sql = format!(
                "SELECT x.o || '/' || x.n FROM (SELECT DISTINCT d.pkg_origin o, d.pkg_name n \
                 FROM package_tdeps d WHERE d.dep_origin = ?1 AND d.dep_name = ?2 \
                 AND d.pkg_target = ?3) x \
                 WHERE EXISTS (SELECT 1 FROM package_tdeps d2 \
                 JOIN packages p INDEXED BY packages_dependents ON p.id = d2.package_id \
                 WHERE d2.dep_origin = ?1 AND d2.dep_name = ?2 AND d2.pkg_target = ?3 \
                 AND d2.pkg_origin = x.o AND d2.pkg_name = x.n AND {}) ORDER BY 1",
                VisibleTo::public().clause("p")
            );
            all_cached(
                c,
                &sql,
                params![origin.as_str(), name, target.as_str()],
                |r| r.get(0),
            )
        })
        .await
}

pub(super) async fn delete_package(store: &SqliteStore, id: i64, account: &str) -> StoreResult<()> {
    let account = account.to_owned();
    let address = crate::audit::client_address();
    store.write(move |tx| {
        let (origin, ident, target): (String, String, String) = tx
            .query_row(
                "SELECT origin, origin || '/' || name || '/' || version || '/' || release, target FROM packages WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(backend)?
            .ok_or_else(|| StoreError::NotFound(format!("package `{id}`")))?;
        let channel: Option<String> = tx
            .query_row(
                "SELECT c.name FROM channel_packages cp JOIN channels c ON c.id = cp.channel_id \
                 WHERE cp.package_id = ?1 AND c.name <> 'unstable' ORDER BY c.name LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        if let Some(channel) = channel {
            return Err(StoreError::Refused(format!("{ident} is in channel `{channel}`")));
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
        outbox_package(tx, id, &ts(now()))?;
        tx.execute("DELETE FROM packages WHERE id = ?1", [id]).map_err(backend)?;
        tx.execute(
            "INSERT INTO audit (at, account, action, origin, package_id, ident, target, address) \
             VALUES (?1, ?2, 'delete', ?3, ?4, ?5, ?6, ?7)",
            params![ts(now()), account, origin, id, ident, target, address],
        )
        .map_err(backend)?;
        Ok(())
    })
    .await
}

pub(super) async fn set_visibility(
    store: &SqliteStore,
    id: i64,
    visibility: Visibility,
) -> StoreResult<()> {
    store
        .write(move |tx| {
            // A change either way makes the package enter or leave its indexes.
            tx.execute(
                "INSERT INTO tuf_outbox (origin, scope, name, created_at) \
                 SELECT p.origin, 'package', p.name, ?3 FROM packages p \
                 WHERE p.id = ?2 AND p.visibility <> ?1 AND EXISTS (SELECT 1 FROM tuf_metadata)",
                params![visibility.as_str(), id, ts(now())],
            )
            .map_err(backend)?;
            tx.execute(
                "UPDATE packages SET visibility = ?1 WHERE id = ?2",
                params![visibility.as_str(), id],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
}

pub(super) async fn package_checksums(
    store: &SqliteStore,
) -> StoreResult<Vec<(i64, FullyQualifiedIdent, PackageTarget, Blake2bHash, u64)>> {
    store
        .with(|c| {
            all(
                c,
                "SELECT id, origin || '/' || name || '/' || version || '/' || release, target, \
             checksum, size FROM packages ORDER BY id",
                [],
                |row| {
                    Ok((
                        row.get(0)?,
                        parse_col(&row.get::<_, String>(1)?)?,
                        parse_col(&row.get::<_, String>(2)?)?,
                        parse_col(&row.get::<_, String>(3)?)?,
                        row.get::<_, i64>(4)? as u64,
                    ))
                },
            )
        })
        .await
}

pub(super) async fn channels(
    store: &SqliteStore,
    origin: &OriginName,
) -> StoreResult<Vec<ChannelName>> {
    let origin = origin.clone();
    store
        .with(move |c| {
            all(
                c,
                "SELECT c.name FROM channels c JOIN origins o ON o.id = c.origin_id \
             WHERE o.name = ?1 ORDER BY c.name",
                [origin.as_str()],
                |r| parse_col(&r.get::<_, String>(0)?),
            )
        })
        .await
}

pub(super) async fn create_channel(
    store: &SqliteStore,
    origin: &OriginName,
    channel: &ChannelName,
) -> StoreResult<()> {
    let (origin, channel) = (origin.clone(), channel.clone());
    store
        .write(move |tx| {
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

pub(super) async fn delete_channel(
    store: &SqliteStore,
    origin: &OriginName,
    channel: &ChannelName,
) -> StoreResult<()> {
    let (origin, channel) = (origin.clone(), channel.clone());
    store
        .write(move |tx| {
            if matches!(channel.as_str(), "unstable" | "stable") {
                return Err(StoreError::Refused(format!(
                    "channel `{channel}` cannot be deleted"
                )));
            }
            let id = channel_id(tx, &origin, &channel)?;
            tx.execute("DELETE FROM channels WHERE id = ?1", [id])
                .map_err(backend)?;
            outbox(tx, &origin, &TufScope::Origin, &ts(now()))?;
            Ok(())
        })
        .await
}

pub(super) async fn all_channel_names(store: &SqliteStore) -> StoreResult<Vec<ChannelName>> {
    store
        .with(|c| {
            all(
                c,
                "SELECT DISTINCT name FROM channels ORDER BY name",
                [],
                |r| parse_col(&r.get::<_, String>(0)?),
            )
        })
        .await
}

pub(super) async fn package_channels(
    store: &SqliteStore,
    package_id: i64,
) -> StoreResult<Vec<ChannelMembership>> {
    store.with(move |c| channels_of(c, package_id)).await
}

pub(super) async fn change_channel(
    store: &SqliteStore,
    package_id: i64,
    origin: &OriginName,
    channel: &ChannelName,
    action: ChannelAction,
    account: &str,
) -> StoreResult<()> {
    let (origin, channel, account) = (origin.clone(), channel.clone(), account.to_owned());
    let address = crate::audit::client_address();
    store.write(move |tx| {
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
                "INSERT INTO audit (at, account, action, origin, channel, package_id, ident, target, address) \
                 SELECT ?1, ?2, ?3, ?4, ?5, p.id, p.origin || '/' || p.name || '/' || p.version || '/' || p.release, p.target, ?7 \
                 FROM packages p WHERE p.id = ?6",
                params![stamp, account, action_name, origin.as_str(), channel.as_str(), package_id, address],
            )
            .map_err(backend)?;
            outbox_package(tx, package_id, &stamp)?;
        }
        Ok(())
    })
    .await
}

pub(super) async fn apply_memberships(
    store: &SqliteStore,
    memberships: &[(i64, OriginName, ChannelName)],
    account: &str,
) -> StoreResult<u64> {
    let (memberships, account) = (memberships.to_vec(), account.to_owned());
    let address = crate::audit::client_address();
    store
        .write(move |tx| {
            let stamp = ts(now());
            let mut added = 0;
            for (package_id, origin, channel) in &memberships {
                let oid = origin_id(tx, origin)?;
                tx.execute(
                    "INSERT OR IGNORE INTO channels (origin_id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![oid, channel.as_str(), stamp],
                )
                .map_err(backend)?;
                let cid = channel_id(tx, origin, channel)?;
                let changed = tx
                    .execute(
                        "INSERT OR IGNORE INTO channel_packages (channel_id, package_id, promoted_at) VALUES (?1, ?2, ?3)",
                        params![cid, package_id, stamp],
                    )
                    .map_err(backend)?;
                if changed > 0 {
                    tx.execute(
                        "INSERT INTO audit (at, account, action, origin, channel, package_id, ident, target, address) \
                         SELECT ?1, ?2, 'promote', ?3, ?4, p.id, p.origin || '/' || p.name || '/' || p.version || '/' || p.release, p.target, ?6 \
                         FROM packages p WHERE p.id = ?5",
                        params![stamp, account, origin.as_str(), channel.as_str(), package_id, address],
                    )
                    .map_err(backend)?;
                    outbox_package(tx, *package_id, &stamp)?;
                    added += 1;
                }
            }
            Ok(added)
        })
        .await
}

pub(super) async fn change_channel_all(
    store: &SqliteStore,
    origin: &OriginName,
    source: &ChannelName,
    target: &ChannelName,
    action: ChannelAction,
    account: &str,
) -> StoreResult<u64> {
    let (origin, source, target, account) = (
        origin.clone(),
        source.clone(),
        target.clone(),
        account.to_owned(),
    );
    let address = crate::audit::client_address();
    store
        .write(move |tx| {
            let (sid, tid) = (channel_id(tx, &origin, &source)?, channel_id(tx, &origin, &target)?);
            let stamp = ts(now());
            // The packages that change: those of `source` not yet in `target` (promote) or in it
            // (demote); the audit rows are written from the same list before the change.
            let (action_name, membership) = match action {
                ChannelAction::Promote => ("promote", "NOT EXISTS"),
                ChannelAction::Demote => ("demote", "EXISTS"),
            };
            let changing = format!(
                "FROM channel_packages s JOIN packages p ON p.id = s.package_id WHERE s.channel_id = ?1 \
                 AND {membership} (SELECT 1 FROM channel_packages t WHERE t.channel_id = ?2 AND t.package_id = s.package_id)"
            );
            tx.execute(
                &format!(
                    "INSERT INTO audit (at, account, action, origin, channel, package_id, ident, target, address) \
                     SELECT ?3, ?4, ?5, ?6, ?7, p.id, p.origin || '/' || p.name || '/' || p.version || '/' || p.release, p.target, ?8 \
                     {changing} ORDER BY p.id"
                ),
                params![sid, tid, stamp, account, action_name, origin.as_str(), target.as_str(), address],
            )
            .map_err(backend)?;
            tx.execute(
                &format!(
                    "INSERT INTO tuf_outbox (origin, scope, name, created_at) \
                     SELECT DISTINCT p.origin, 'package', p.name, ?3 {changing} \
                     AND p.visibility = 'public' AND EXISTS (SELECT 1 FROM tuf_metadata)"
                ),
                params![sid, tid, stamp],
            )
            .map_err(backend)?;
            let changed = match action {
                ChannelAction::Promote => tx.execute(
                    "INSERT OR IGNORE INTO channel_packages (channel_id, package_id, promoted_at) \
                     SELECT ?2, package_id, ?3 FROM channel_packages WHERE channel_id = ?1",
                    params![sid, tid, stamp],
                ),
                ChannelAction::Demote => tx.execute(
                    "DELETE FROM channel_packages WHERE channel_id = ?2 AND package_id IN \
                     (SELECT package_id FROM channel_packages WHERE channel_id = ?1)",
                    params![sid, tid],
                ),
            }
            .map_err(backend)?;
            Ok(changed as u64)
        })
        .await
}
