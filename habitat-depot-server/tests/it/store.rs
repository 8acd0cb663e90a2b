//! The metadata store directly: what the routes do not show.

use habitat_depot_server::store::{Package, PackageFilter, Page};

use super::support::*;

#[tokio::test]
async fn import_is_all_or_nothing_and_latest_uses_the_version_order() {
    let depot = TestDepot::start().await;
    let token = depot.user("alice").await;
    depot.origin(&token, "bulk").await;
    let store = &depot.state.metadata;
    let batch: Vec<Package> = ["1.9", "1.10", "1.2.3-rc1", "1.2.3"]
        .iter()
        .map(|v| package_row(&format!("bulk/app/{v}/20200101000000")))
        .collect();
    // A duplicate inside the batch: nothing at all is stored.
    let mut bad = batch.clone();
    bad.push(batch[0].clone());
    assert!(store.import_packages(&bad).await.is_err());
    let filter = PackageFilter {
        origin: Some("bulk".parse().unwrap()),
        ..Default::default()
    };
    assert_eq!(
        store
            .packages(
                &filter,
                Page {
                    offset: 0,
                    limit: 10
                }
            )
            .await
            .unwrap()
            .total,
        0
    );
    store.import_packages(&batch).await.unwrap();
    assert_eq!(
        store
            .packages(
                &filter,
                Page {
                    offset: 0,
                    limit: 10
                }
            )
            .await
            .unwrap()
            .total,
        4
    );
    let latest = store
        .latest(&PackageFilter {
            name: Some("app".into()),
            ..filter
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.ident.version(), "1.10");
}

#[tokio::test]
async fn a_dump_restores_into_an_empty_store_identically_and_twice_is_harmless() {
    let source = TestDepot::start().await;
    let token = source.user("alice").await;
    source.origin(&token, "moved").await;
    let mut with_deps = package_row("moved/app/1.0.0/20200101000000");
    with_deps.tdeps = vec!["moved/lib/1.0.0/20200101000000".parse().unwrap()];
    source
        .state
        .metadata
        .import_packages(&[package_row("moved/lib/1.0.0/20200101000000"), with_deps])
        .await
        .unwrap();
    let dump = source.state.metadata.dump().await.unwrap();
    let names: Vec<&str> = dump.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, habitat_depot_server::store::DUMP_TABLES);
    let rows = |table: &str| {
        dump.tables
            .iter()
            .find(|t| t.name == table)
            .map(|t| t.rows.len())
            .unwrap()
    };
    assert_eq!(
        (rows("accounts"), rows("packages"), rows("package_tdeps")),
        (1, 2, 1)
    );

    let target = TestDepot::start().await;
    target.state.metadata.restore(&dump).await.unwrap();
    assert_eq!(target.state.metadata.dump().await.unwrap(), dump);
    target.state.metadata.restore(&dump).await.unwrap();
    assert_eq!(target.state.metadata.dump().await.unwrap(), dump);

    // The moved token still signs its owner in.
    let body = send(
        target.request(reqwest::Method::GET, "/profile", Some(&token)),
        reqwest::StatusCode::OK,
    )
    .await;
    assert_eq!(body["name"], "alice");
}
