//! What only the web pages ask: the newest uploads, the home page's counts, origins by name,
//! an origin's packages by name, an origin's default visibility.

use rusqlite::{params, params_from_iter};

use super::rows::*;
use super::*;
use crate::store::sql::{Placeholders, VisibleTo};

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
                "SELECT {PACKAGE_COLS} FROM packages p WHERE {} ORDER BY p.id DESC LIMIT {limit}",
                visible.clause("p")
            );
            all_cached(c, &sql, params_from_iter(&values), package_row)
        })
        .await
}

pub(super) async fn depot_counts(
    store: &SqliteStore,
    private_origins: &[OriginName],
) -> StoreResult<DepotCounts> {
    let visible = VisibleTo::new(Placeholders::Question, private_origins, 1);
    let values = origin_values(private_origins);
    store
        .with(move |c| {
            let origins: i64 = c
                .query_row("SELECT count(*) FROM origins", [], |r| r.get(0))
                .map_err(backend)?;
            let sql = format!(
                "SELECT count(*) FROM (SELECT DISTINCT p.origin, p.name FROM packages p WHERE {})",
                visible.clause("p")
            );
            let packages: i64 = c
                .prepare_cached(&sql)
                .and_then(|mut stmt| stmt.query_row(params_from_iter(&values), |r| r.get(0)))
                .map_err(backend)?;
            Ok(DepotCounts {
                origins: origins as u64,
                packages: packages as u64,
            })
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
                .query_row(
                    "SELECT count(*) FROM origins WHERE instr(name, ?1) > 0",
                    [&query],
                    |r| r.get(0),
                )
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
    origin: &OriginName,
    private_origins: &[OriginName],
    page: Page,
) -> StoreResult<Paged<Package>> {
    let visible = VisibleTo::new(Placeholders::Question, private_origins, 2);
    let mut values = vec![rusqlite::types::Value::Text(origin.to_string())];
    values.extend(origin_values(private_origins));
    store
        .with(move |c| {
            // The newest visible release of each name (a private newest release must not hide
            // the visible ones), by the `packages_latest` index.
            let where_sql = format!(
                "p.origin = ?1 AND {} AND p.id = (SELECT p2.id FROM packages p2 \
                 WHERE p2.origin = p.origin AND p2.name = p.name AND {} \
                 ORDER BY p2.version_key DESC, p2.release DESC, p2.version DESC LIMIT 1)",
                visible.clause("p"),
                visible.clause("p2")
            );
            page_of(c, &where_sql, values, page)
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
