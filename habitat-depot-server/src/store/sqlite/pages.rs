//! What only the web pages ask: the newest uploads, the number of origins, origins by name,
//! the visible package names (all, or one origin's) and their newest releases, an origin's
//! default visibility.

use rusqlite::{params, params_from_iter};

use super::rows::*;
use super::*;
use crate::store::sql::{PackageWhere, Placeholders, VisibleTo};

/// The caller's private origins as SQLite values, for a [`VisibleTo`] rule numbered from 1.
fn origin_values(private_origins: &[OriginName]) -> Vec<rusqlite::types::Value> {
    private_origins
        .iter()
        .map(|o| rusqlite::types::Value::Text(o.to_string()))
        .collect()
}

pub(super) async fn recent_packages(
    store: &SqliteStore,
    private_origins: &[OriginName],
    limit: u64,
) -> StoreResult<Vec<Package>> {
    let visible = VisibleTo::new(Placeholders::Question, private_origins, 1);
    let values = origin_values(private_origins);
    store
        .with(move |c| {
            // Ids grow with every upload: the primary key walked backwards is "newest first".
            let sql = format!(
                "SELECT {LIST_COLS} FROM packages p WHERE {} ORDER BY p.id DESC LIMIT {limit}",
                visible.clause("p")
            );
            all_cached(c, &sql, params_from_iter(&values), package_row)
        })
        .await
}

pub(super) async fn origin_count(store: &SqliteStore) -> StoreResult<u64> {
    store
        .with(|c| {
            c.prepare_cached("SELECT count(*) FROM origins")
                .and_then(|mut count| count.query_row([], |r| r.get::<_, i64>(0)))
                .map(|n| n as u64)
                .map_err(backend)
        })
        .await
}

pub(super) async fn origins_matching(
    store: &SqliteStore,
    query: &str,
    page: Page,
) -> StoreResult<Paged<OriginName>> {
    let query = query.to_owned();
    store
        .with(move |c| {
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM origins WHERE instr(name, ?1) > 0")
                .and_then(|mut count| count.query_row([&query], |r| r.get(0)))
                .map_err(backend)?;
            let items = all_cached(
                c,
                "SELECT name FROM origins WHERE instr(name, ?1) > 0 ORDER BY name LIMIT ?2 OFFSET ?3",
                params![query, page.limit as i64, page.offset as i64],
                |r| parse_col(&r.get::<_, String>(0)?),
            )?;
            Ok(Paged {
                items,
                total: total as u64,
            })
        })
        .await
}

pub(super) async fn package_names(
    store: &SqliteStore,
    origin: Option<&OriginName>,
    private_origins: &[OriginName],
) -> StoreResult<Vec<(OriginName, String)>> {
    let (sql, values) = bound(PackageWhere::names(
        Placeholders::Question,
        origin,
        private_origins,
    ));
    store
        .with(move |c| {
            all_cached(c, &sql, params_from_iter(&values), |r| {
                Ok((parse_col(&r.get::<_, String>(0)?)?, r.get::<_, String>(1)?))
            })
        })
        .await
}

pub(super) async fn newest_releases(
    store: &SqliteStore,
    names: &[(OriginName, String)],
    private_origins: &[OriginName],
) -> StoreResult<Vec<Package>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let (sql, values) = bound(PackageWhere::newest_of(
        Placeholders::Question,
        LIST_COLS,
        names,
        private_origins,
    ));
    let order: Vec<(OriginName, String)> = names.to_vec();
    store
        .with(move |c| {
            // The text depends only on how many names and origins are bound, so a page of
            // results repeats it: kept prepared in the connection's cache.
            let mut found = all_cached(c, &sql, params_from_iter(&values), package_row)?;
            found.sort_by_key(|p| {
                order
                    .iter()
                    .position(|(o, n)| p.ident.origin() == o && p.ident.name().as_str() == n)
            });
            Ok(found)
        })
        .await
}

pub(super) async fn set_default_visibility(
    store: &SqliteStore,
    origin: &OriginName,
    visibility: Visibility,
) -> StoreResult<()> {
    let origin = origin.clone();
    store
        .write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE origins SET default_visibility = ?1 WHERE name = ?2",
                    params![visibility.as_str(), origin.as_str()],
                )
                .map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("origin `{origin}`")));
            }
            Ok(())
        })
        .await
}
