//! What only the web pages ask: the newest uploads, the home page's counts, origins by name,
//! an origin's packages by name, an origin's default visibility.

use super::rows::*;
use super::*;
use crate::store::sql::{Placeholders, VisibleTo};

/// The caller's private origins as the one text-array parameter of a [`VisibleTo`] rule (none
/// when there are none).
fn origin_array(private_origins: &[OriginName]) -> Option<Vec<String>> {
    (!private_origins.is_empty()).then(|| private_origins.iter().map(|o| o.to_string()).collect())
}

pub(super) async fn recent_packages(
    store: &PostgresStore,
    private_origins: &[OriginName],
    limit: u64,
) -> StoreResult<Vec<Package>> {
    let visible = VisibleTo::new(Placeholders::Dollar, private_origins, 1);
    let origins = origin_array(private_origins);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    read!(async {
        let client = store.client().await?;
        // Ids grow with every upload: the primary key walked backwards is "newest first".
        let rows = match &origins {
            Some(origins) => query(
                &client,
                &format!(
                    "SELECT {PACKAGE_COLS} FROM packages p WHERE {} ORDER BY p.id DESC LIMIT $2",
                    visible.clause("p")
                ),
                &[origins, &limit],
            )
            .await?,
            None => query(
                &client,
                &format!(
                    "SELECT {PACKAGE_COLS} FROM packages p WHERE {} ORDER BY p.id DESC LIMIT $1",
                    visible.clause("p")
                ),
                &[&limit],
            )
            .await?,
        };
        rows.iter().map(package_row).collect::<Step<Vec<_>>>()
    })
}

pub(super) async fn depot_counts(
    store: &PostgresStore,
    private_origins: &[OriginName],
) -> StoreResult<DepotCounts> {
    let visible = VisibleTo::new(Placeholders::Dollar, private_origins, 1);
    let origins = origin_array(private_origins);
    read!(async {
        let client = store.client().await?;
        let origin_count: i64 = query_one(&client, "SELECT count(*) FROM origins", &[])
            .await?
            .get(0);
        let sql = format!(
            "SELECT count(*) FROM (SELECT DISTINCT p.origin, p.name FROM packages p WHERE {}) n",
            visible.clause("p")
        );
        let row = match &origins {
            Some(origins) => query_one(&client, &sql, &[origins]).await?,
            None => query_one(&client, &sql, &[]).await?,
        };
        let packages: i64 = row.get(0);
        Ok(DepotCounts {
            origins: origin_count as u64,
            packages: packages as u64,
        })
    })
}

pub(super) async fn origins_matching(
    store: &PostgresStore,
    query_text: &str,
    page: Page,
) -> StoreResult<Paged<OriginName>> {
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let (limit, offset) = (clamp(page.limit), clamp(page.offset));
    read!(async {
        let client = store.client().await?;
        let total: i64 = query_one(
            &client,
            "SELECT count(*) FROM origins WHERE strpos(name, $1) > 0",
            &[&query_text],
        )
        .await?
        .get(0);
        let items = query(
            &client,
            "SELECT name FROM origins WHERE strpos(name, $1) > 0 ORDER BY name LIMIT $2 OFFSET $3",
            &[&query_text, &limit, &offset],
        )
        .await?
        .iter()
        .map(|row| parse_col(column::<&str>(row, 0)?))
        .collect::<Step<Vec<OriginName>>>()?;
        Ok(Paged {
            items,
            total: total as u64,
        })
    })
}

pub(super) async fn package_names(
    store: &PostgresStore,
    origin: &OriginName,
    private_origins: &[OriginName],
    page: Page,
) -> StoreResult<Paged<Package>> {
    let filter = PackageFilter {
        origin: Some(origin.clone()),
        private_origins: private_origins.to_vec(),
        ..PackageFilter::default()
    };
    read!(async {
        let client = store.client().await?;
        // The filter binds the origin as $1 and the private origins (if any) as $2.
        let mut sql = FilterSql::new(&filter);
        let visible = VisibleTo::new(Placeholders::Dollar, private_origins, 2);
        // The newest visible release of each name (a private newest release must not hide the
        // visible ones), by the `packages_latest` index.
        sql.clause = format!(
            "{} AND p.id = (SELECT p2.id FROM packages p2 WHERE p2.origin = p.origin \
             AND p2.name = p.name AND {} \
             ORDER BY p2.version_key DESC, p2.release DESC, p2.version DESC LIMIT 1)",
            sql.clause,
            visible.clause("p2")
        );
        page_of(&client, sql, page).await
    })
}

pub(super) async fn set_default_visibility(
    store: &PostgresStore,
    origin: &OriginName,
    visibility: Visibility,
) -> StoreResult<()> {
    transaction!(store, |tx| {
        let changed = execute(
            &tx,
            "UPDATE origins SET default_visibility = $1 WHERE name = $2",
            &[&visibility.as_str(), &origin.as_str()],
        )
        .await?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("origin `{origin}`")).into());
        }
    })
}
