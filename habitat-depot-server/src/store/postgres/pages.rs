//! What only the web pages ask: the newest uploads, the number of origins, origins by name,
//! the visible package names (all, or one origin's) and their newest releases, an origin's
//! default visibility.

use super::rows::*;
use super::*;
use crate::store::sql::{PackageWhere, Placeholders, VisibleTo};

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
        let rows =
            match &origins {
                Some(origins) => query(
                    &client,
                    &format!(
                        "SELECT {LIST_COLS} FROM packages p WHERE {} ORDER BY p.id DESC LIMIT $2",
                        visible.clause("p")
                    ),
                    &[origins, &limit],
                )
                .await?,
                None => query(
                    &client,
                    &format!(
                        "SELECT {LIST_COLS} FROM packages p WHERE {} ORDER BY p.id DESC LIMIT $1",
                        visible.clause("p")
                    ),
                    &[&limit],
                )
                .await?,
            };
        rows.iter().map(package_row).collect::<Step<Vec<_>>>()
    })
}

pub(super) async fn origin_count(store: &PostgresStore) -> StoreResult<u64> {
    read!(async {
        let client = store.client().await?;
        let count: i64 = query_one(&client, "SELECT count(*) FROM origins", &[])
            .await?
            .get(0);
        Ok(count as u64)
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
    origin: Option<&OriginName>,
    private_origins: &[OriginName],
) -> StoreResult<Vec<(OriginName, String)>> {
    let sql = FilterSql::from(PackageWhere::names(
        Placeholders::Dollar,
        origin,
        private_origins,
    ));
    read!(async {
        let client = store.client().await?;
        query(&client, &sql.clause, &sql.params())
            .await?
            .iter()
            .map(|row| {
                Ok((
                    parse_col(column::<&str>(row, 0)?)?,
                    column::<String>(row, 1)?,
                ))
            })
            .collect::<Step<Vec<_>>>()
    })
}

pub(super) async fn newest_releases(
    store: &PostgresStore,
    names: &[(OriginName, String)],
    private_origins: &[OriginName],
) -> StoreResult<Vec<Package>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let sql = FilterSql::from(PackageWhere::newest_of(
        Placeholders::Dollar,
        LIST_COLS,
        names,
        private_origins,
    ));
    read!(async {
        let client = store.client().await?;
        let mut found = query(&client, &sql.clause, &sql.params())
            .await?
            .iter()
            .map(package_row)
            .collect::<Step<Vec<_>>>()?;
        found.sort_by_key(|p| {
            names
                .iter()
                .position(|(o, n)| p.ident.origin() == o && p.ident.name().as_str() == n)
        });
        Ok(found)
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
