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

#[tokio::test]
async fn a_dump_whose_dependency_rows_do_not_name_their_dependent_restores_its_reverse_dependencies()
 {
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
    let lib: habitat_core::OriginName = "moved".parse().unwrap();
    let target_of = habitat_core::PackageTarget::default();
    let expected = source
        .state
        .metadata
        .rdeps(&lib, "lib", target_of)
        .await
        .unwrap();
    assert_eq!(expected, ["moved/app"]);
    // A dump made before the dependency rows named their dependent (origin, name, target).
    let mut dump = source.state.metadata.dump().await.unwrap();
    let tdeps = dump
        .tables
        .iter_mut()
        .find(|t| t.name == "package_tdeps")
        .unwrap();
    let kept: Vec<usize> = (0..tdeps.columns.len())
        .filter(|&i| !tdeps.columns[i].starts_with("pkg_"))
        .collect();
    assert!(kept.len() < tdeps.columns.len(), "{:?}", tdeps.columns);
    tdeps.columns = kept.iter().map(|&i| tdeps.columns[i].clone()).collect();
    for row in &mut tdeps.rows {
        *row = kept.iter().map(|&i| row[i].clone()).collect();
    }

    let target = TestDepot::start().await;
    target.state.metadata.restore(&dump).await.unwrap();
    assert_eq!(
        target
            .state
            .metadata
            .rdeps(&lib, "lib", target_of)
            .await
            .unwrap(),
        expected
    );
}

fn github(subject: &str, username: &str) -> habitat_depot_server::store::NewIdentity {
    habitat_depot_server::store::NewIdentity {
        provider: "github".into(),
        subject: subject.into(),
        username: username.into(),
        email: Some(format!("{username}@example.com")),
    }
}

#[tokio::test]
async fn sign_up_links_one_identity_to_one_account_and_a_clash_changes_nothing() {
    let depot = TestDepot::start().await;
    let store = &depot.state.metadata;
    let alice = store.sign_up("alice", &github("1", "alice")).await.unwrap();
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    let (identity, account) = store.identity("github", "1").await.unwrap().unwrap();
    assert_eq!(
        (identity.username.as_str(), account.id),
        ("alice", alice.id)
    );

    // The name is taken: nothing of the second sign-up is stored.
    let clash = store
        .sign_up("alice", &github("2", "alice"))
        .await
        .unwrap_err();
    assert!(clash.to_string().contains("account `alice`"), "{clash}");
    assert!(store.identity("github", "2").await.unwrap().is_none());
    // The identity is taken: not even the new account is stored.
    let again = store
        .sign_up("alice2", &github("1", "alice"))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("identity"), "{again}");
    assert!(store.account_by_name("alice2").await.unwrap().is_none());

    // A rename at the provider is recorded; the identity still finds the same account.
    store
        .record_sign_in(&github("1", "alice-renamed"))
        .await
        .unwrap();
    let (identity, account) = store.identity("github", "1").await.unwrap().unwrap();
    assert_eq!(identity.username, "alice-renamed");
    assert!(identity.last_sign_in_at.is_some());
    assert_eq!(account.name, "alice");

    // An administrator links a local account to an identity, once.
    let bob = store.create_account("bob", None).await.unwrap();
    store
        .link_identity(bob.id, &github("3", "bobby"))
        .await
        .unwrap();
    assert!(
        store
            .link_identity(alice.id, &github("3", "bobby"))
            .await
            .is_err()
    );
    let linked = store.identities(bob.id).await.unwrap();
    assert_eq!(linked.len(), 1);
    assert!(
        linked[0].last_sign_in_at.is_none(),
        "linked, never signed in"
    );
    assert_eq!(linked[0].subject, "3");
}

#[tokio::test]
async fn sessions_are_found_by_hash_touched_and_deleted() {
    let depot = TestDepot::start().await;
    let store = &depot.state.metadata;
    let account = store.create_account("carol", None).await.unwrap();
    let hash = habitat_core::Blake2bHash::digest(b"session secret");
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let session = store
        .create_session(account.id, &hash, expires)
        .await
        .unwrap();
    let (found, who) = store.session(&hash).await.unwrap().unwrap();
    assert_eq!((found.id, who.id), (session.id, account.id));
    assert_eq!(found.expires_at.unix_timestamp(), expires.unix_timestamp());
    store.touch_session(session.id).await.unwrap();
    let other = habitat_core::Blake2bHash::digest(b"another secret");
    assert!(store.session(&other).await.unwrap().is_none());
    store.delete_session(&hash).await.unwrap();
    assert!(store.session(&hash).await.unwrap().is_none());
    store.delete_session(&hash).await.unwrap();
}

#[tokio::test]
async fn a_sign_in_in_flight_is_taken_once_and_stale_ones_are_forgotten() {
    use habitat_depot_server::store::LoginFlow;
    let depot = TestDepot::start().await;
    let store = &depot.state.metadata;
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let flow = |state: &[u8], created_at| LoginFlow {
        state_hash: habitat_core::Blake2bHash::digest(state),
        provider: "corp".into(),
        browser_hash: habitat_core::Blake2bHash::digest(b"browser"),
        nonce: "n0nce".into(),
        verifier: "v3rifier".into(),
        return_to: "/origins".into(),
        created_at,
    };
    let old = flow(b"old", now - time::Duration::minutes(30));
    store
        .put_login_flow(&old, now - time::Duration::hours(1))
        .await
        .unwrap();
    let fresh = flow(b"fresh", now);
    store
        .put_login_flow(&fresh, now - time::Duration::minutes(10))
        .await
        .unwrap();
    assert!(
        store
            .take_login_flow(&old.state_hash)
            .await
            .unwrap()
            .is_none(),
        "stale"
    );
    assert_eq!(
        store.take_login_flow(&fresh.state_hash).await.unwrap(),
        Some(fresh.clone())
    );
    assert!(
        store
            .take_login_flow(&fresh.state_hash)
            .await
            .unwrap()
            .is_none(),
        "once"
    );
}
