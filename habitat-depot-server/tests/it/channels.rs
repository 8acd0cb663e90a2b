//! Channels and the seed-era views. Packages are seeded straight into the stores.

use habitat_depot_server::store::DumpValue;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::packages::{World, assert_download_headers, ident_of, idents_of, window};
use super::support::*;

const OK: StatusCode = StatusCode::OK;
const PARTIAL: StatusCode = StatusCode::PARTIAL_CONTENT;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
const AARCH64: habitat_core::PackageTarget = habitat_core::PackageTarget::Aarch64Linux;

/// `acme/web/1.0.0/20240101000000` in channel `stable`.
const PKG: &str = "/depot/channels/acme/stable/pkgs/web/1.0.0/20240101000000";
const IDENT: &str = "acme/web/1.0.0/20240101000000";

fn names(list: &Value) -> Vec<String> {
    let list = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    list.iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Channels of `acme`, as anyone sees them.
async fn channel_names(w: &World) -> Vec<String> {
    names(&w.get("/depot/channels/acme", OK).await)
}

/// Channels `ident` is in.
async fn memberships(w: &World, ident: &str) -> Vec<String> {
    let path = format!("/depot/pkgs/{ident}/channels");
    names(&w.call(Method::GET, &path, Some(&w.owner), OK).await)
}

/// `(account, action, channel, ident)` rows of the audit log, in order, read through the
/// store's dump (so on either store); a row without a channel (a delete) shows it empty.
async fn audit(w: &World) -> Vec<(String, String, String, String)> {
    let dump = w.depot.state.metadata.dump().await.unwrap();
    let table = dump.tables.iter().find(|t| t.name == "audit").unwrap();
    let column = |name: &str| table.columns.iter().position(|c| c == name).unwrap();
    let text = |row: &[DumpValue], name: &str| match &row[column(name)] {
        DumpValue::Text(text) => text.clone(),
        DumpValue::Null if name == "channel" => String::new(),
        other => panic!("audit.{name} is {other:?}"),
    };
    table
        .rows
        .iter()
        .map(|row| {
            (
                text(row, "account"),
                text(row, "action"),
                text(row, "channel"),
                text(row, "ident"),
            )
        })
        .collect()
}

fn audit_row(account: &str, action: &str, channel: &str) -> (String, String, String, String) {
    (account.into(), action.into(), channel.into(), IDENT.into())
}

#[tokio::test]
async fn channels_are_listed_created_and_deleted() {
    let w = World::new().await;
    assert_eq!(channel_names(&w).await, ["stable", "unstable"]);

    let created = StatusCode::CREATED;
    let body = w
        .maintain(Method::POST, "/depot/channels/acme/zeta", created)
        .await;
    assert_eq!(body["name"], "zeta");
    w.call(
        Method::POST,
        "/depot/channels/acme/beta-1.x",
        Some(&w.owner),
        created,
    )
    .await;
    assert_eq!(
        channel_names(&w).await,
        ["beta-1.x", "stable", "unstable", "zeta"]
    );

    let channel = |name: &str| format!("/depot/channels/acme/{name}");
    let maintain = |method, path| Call::new(method, path).as_(&w.maintainer);
    let mut calls = Vec::new();
    // Exists already (the defaults too): 409.
    for name in ["zeta", "stable", "unstable"] {
        calls.push(maintain(Method::POST, channel(name)).fails(CONFLICT, "conflict"));
    }
    // Invalid names: 422.
    for name in ["-bad", "a%20b", "na%2Fme", ".hidden", "caf%C3%A9"] {
        calls.push(maintain(Method::POST, channel(name)).fails(UNPROCESSABLE, "invalid_value"));
    }
    // Unknown origin: 404, for reading and for creating.
    calls.push(Call::get("/depot/channels/nobody").fails(NOT_FOUND, "not_found"));
    calls.push(maintain(Method::POST, "/depot/channels/nobody/zeta".into()).answers(NOT_FOUND));
    // Delete: 200 (what the stock `hab bldr channel destroy` takes), then 404; `stable` and
    // `unstable` never (403).
    calls.push(maintain(Method::DELETE, channel("zeta")).answers(OK));
    calls.push(maintain(Method::DELETE, channel("zeta")).answers(NOT_FOUND));
    for name in ["stable", "unstable"] {
        calls.push(
            Call::delete(channel(name))
                .as_(&w.owner)
                .fails(FORBIDDEN, "forbidden"),
        );
    }
    w.depot.check(&calls).await;
    assert_eq!(channel_names(&w).await, ["beta-1.x", "stable", "unstable"]);
}

#[tokio::test]
async fn channel_changes_need_maintainer_and_a_refusal_changes_nothing() {
    let w = World::new().await;
    let zeta = "/depot/channels/acme/zeta";
    w.assert_denied_below_maintainer(Method::POST, zeta).await;
    assert_eq!(channel_names(&w).await, ["stable", "unstable"]);
    w.maintain(Method::POST, zeta, StatusCode::CREATED).await;

    w.assert_denied_below_maintainer(Method::DELETE, zeta).await;
    assert_eq!(channel_names(&w).await, ["stable", "unstable", "zeta"]);
    w.maintain(Method::DELETE, zeta, OK).await;
    assert_eq!(channel_names(&w).await, ["stable", "unstable"]);
}

#[tokio::test]
async fn promote_and_demote_move_packages_and_are_audited() {
    let w = World::new().await;
    w.seed(IDENT).await;
    assert_eq!(memberships(&w, IDENT).await, ["unstable"]);
    w.get(PKG, NOT_FOUND).await;

    let (promote, demote) = (format!("{PKG}/promote"), format!("{PKG}/demote"));
    assert_eq!(w.maintain(Method::PUT, &promote, OK).await, Value::Null);
    assert_eq!(memberships(&w, IDENT).await, ["stable", "unstable"]);
    // Already there: still 200 (the owner is above maintainer), and not audited twice.
    w.call(Method::PUT, &promote, Some(&w.owner), OK).await;
    assert_eq!(
        w.get(PKG, OK).await["channels"],
        json!(["stable", "unstable"])
    );

    // Unknown channel, package, target or origin: 404. Invalid channel: 422.
    for path in [
        "/depot/channels/acme/nope/pkgs/web/1.0.0/20240101000000/promote",
        "/depot/channels/acme/stable/pkgs/web/1.0.0/20990101000000/promote",
        "/depot/channels/acme/stable/pkgs/web/1.0.0/20240101000000/promote?target=aarch64-linux",
        "/depot/channels/nobody/stable/pkgs/web/1.0.0/20240101000000/promote",
    ] {
        assert_error(&w.maintain(Method::PUT, path, NOT_FOUND).await, "not_found");
    }
    let invalid = "/depot/channels/acme/-x/pkgs/web/1.0.0/20240101000000/promote";
    w.maintain(Method::PUT, invalid, StatusCode::UNPROCESSABLE_ENTITY)
        .await;

    // Demote: 200, then 404 (not in the channel); never from unstable (403).
    w.maintain(Method::PUT, &demote, OK).await;
    assert_eq!(memberships(&w, IDENT).await, ["unstable"]);
    assert_error(
        &w.maintain(Method::PUT, &demote, NOT_FOUND).await,
        "not_found",
    );
    let unstable = "/depot/channels/acme/unstable/pkgs/web/1.0.0/20240101000000/demote";
    let body = w
        .call(Method::PUT, unstable, Some(&w.owner), StatusCode::FORBIDDEN)
        .await;
    assert_error(&body, "forbidden");
    assert_eq!(memberships(&w, IDENT).await, ["unstable"]);
    let nope = "/depot/channels/acme/nope/pkgs/web/1.0.0/20240101000000/demote";
    w.maintain(Method::PUT, nope, NOT_FOUND).await;

    // Who did what, where, to which package.
    let expected = [
        audit_row("mia", "promote", "stable"),
        audit_row("mia", "demote", "stable"),
    ];
    assert_eq!(audit(&w).await, expected);
}

#[tokio::test]
async fn promote_and_demote_need_maintainer_and_a_refusal_changes_nothing() {
    let w = World::new().await;
    w.seed(IDENT).await;
    let (promote, demote) = (format!("{PKG}/promote"), format!("{PKG}/demote"));
    w.assert_denied_below_maintainer(Method::PUT, &promote)
        .await;
    let view = "/depot/views/stable/pkgs/acme/web/1.0.0/20240101000000/promote";
    w.assert_denied_below_maintainer(Method::POST, view).await;
    assert_eq!(memberships(&w, IDENT).await, ["unstable"]);
    assert_eq!(audit(&w).await, []);

    w.maintain(Method::PUT, &promote, OK).await;
    w.assert_denied_below_maintainer(Method::PUT, &demote).await;
    assert_eq!(memberships(&w, IDENT).await, ["stable", "unstable"]);
    assert_eq!(audit(&w).await, [audit_row("mia", "promote", "stable")]);
    w.maintain(Method::PUT, &demote, OK).await;
    assert_eq!(memberships(&w, IDENT).await, ["unstable"]);
}

#[tokio::test]
async fn channel_latest_is_the_latest_in_that_channel() {
    let w = World::new().await;
    w.seed_all(&[
        "acme/app/1.2.3-rc1/20240101000000",
        "acme/app/1.2.3/20240101000000",
        "acme/app/1.9/20240101000000",
        "acme/app/1.10/20240101000000",
        "acme/app/1.9/20240201000000",
    ])
    .await;
    w.seed_with("acme/app/0.5/20240101000000", AARCH64, &[])
        .await;
    let world = &w;
    let promote = move |rest: &str, query: &str| {
        let path = format!("/depot/channels/acme/stable/pkgs/app/{rest}/promote{query}");
        async move { world.maintain(Method::PUT, &path, OK).await }
    };
    let stable = "/depot/channels/acme/stable/pkgs/app/latest";
    // Nothing in stable yet; unstable has everything.
    assert_error(&w.get(stable, NOT_FOUND).await, "not_found");
    let unstable = "/depot/channels/acme/unstable/pkgs/app/latest";
    assert_eq!(w.ident_at(unstable).await, "acme/app/1.10/20240101000000");

    promote("1.2.3/20240101000000", "").await;
    assert_eq!(w.ident_at(stable).await, "acme/app/1.2.3/20240101000000");
    promote("1.2.3-rc1/20240101000000", "").await;
    assert_eq!(w.ident_at(stable).await, "acme/app/1.2.3/20240101000000");
    promote("1.9/20240101000000", "").await;
    assert_eq!(w.ident_at(stable).await, "acme/app/1.9/20240101000000");
    // Across all channels it is 1.10 (and the newer 1.9 release is only in unstable).
    assert_eq!(
        w.ident_at("/depot/pkgs/acme/app/latest").await,
        "acme/app/1.10/20240101000000"
    );
    let at = w
        .ident_at("/depot/channels/acme/stable/pkgs/app/1.2.3/latest")
        .await;
    assert_eq!(at, "acme/app/1.2.3/20240101000000");
    w.get(
        "/depot/channels/acme/stable/pkgs/app/1.10/latest",
        NOT_FOUND,
    )
    .await;
    // Per target.
    let aarch64 = format!("{stable}?target=aarch64-linux");
    w.get(&aarch64, NOT_FOUND).await;
    promote("0.5/20240101000000", "?target=aarch64-linux").await;
    assert_eq!(w.ident_at(&aarch64).await, "acme/app/0.5/20240101000000");
    assert_eq!(w.ident_at(stable).await, "acme/app/1.9/20240101000000");
    // The body is the full package JSON, which is what install reads.
    let body = w.get(stable, OK).await;
    for field in [
        "ident", "target", "checksum", "manifest", "config", "deps", "tdeps", "exposes",
    ] {
        assert!(body.get(field).is_some(), "{field} missing: {body}");
    }
    assert_eq!(body["channels"], json!(["stable", "unstable"]));
    // Unknown channel or origin: 404; bad target: 422.
    w.get("/depot/channels/acme/nope/pkgs/app/latest", NOT_FOUND)
        .await;
    w.get("/depot/channels/nobody/stable/pkgs/app/latest", NOT_FOUND)
        .await;
    w.get(
        &format!("{stable}?target=zx81"),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn channel_listings_are_paginated() {
    let w = World::new().await;
    w.seed_all(&[
        "acme/web/1.0.0/20240101000000",
        "acme/web/2.0.0/20240101000000",
        "acme/web/2.0.0/20240201000000",
        "acme/db/1.0.0/20240101000000",
    ])
    .await;
    for rest in [
        "web/2.0.0/20240101000000",
        "web/2.0.0/20240201000000",
        "db/1.0.0/20240101000000",
    ] {
        let path = format!("/depot/channels/acme/stable/pkgs/{rest}/promote");
        w.maintain(Method::PUT, &path, OK).await;
    }
    let page = w.get("/depot/channels/acme/stable/pkgs", OK).await;
    let stable = [
        "acme/db/1.0.0/20240101000000",
        "acme/web/2.0.0/20240201000000",
        "acme/web/2.0.0/20240101000000",
    ];
    assert_eq!(idents_of(&page), stable);
    assert_eq!(window(&page), (0, 2, 3));
    let page = w
        .get("/depot/channels/acme/stable/pkgs/web?limit=1", PARTIAL)
        .await;
    assert_eq!(idents_of(&page), [stable[1]]);
    assert_eq!(window(&page), (0, 0, 2));
    let page = w
        .get("/depot/channels/acme/stable/pkgs/web?range=1&limit=1", OK)
        .await;
    assert_eq!(idents_of(&page), [stable[2]]);
    assert_eq!(window(&page), (1, 1, 2));
    let page = w
        .get("/depot/channels/acme/stable/pkgs/web/2.0.0", OK)
        .await;
    assert_eq!(page["total_count"], 2);
    let page = w
        .get("/depot/channels/acme/stable/pkgs/web/1.0.0", OK)
        .await;
    assert_eq!(page["total_count"], 0);
    assert_eq!(
        w.get("/depot/channels/acme/unstable/pkgs/web", OK).await["total_count"],
        3
    );
    let page = w
        .get("/depot/channels/acme/stable/pkgs?target=aarch64-linux", OK)
        .await;
    assert_eq!(page["total_count"], 0);
    w.get("/depot/channels/acme/nope/pkgs", NOT_FOUND).await;
    w.get("/depot/channels/nobody/stable/pkgs", NOT_FOUND).await;
    w.get(
        "/depot/channels/acme/stable/pkgs?range=x",
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn channel_package_and_download_only_within_the_channel() {
    let w = World::new().await;
    let package = w.seed(IDENT).await;
    let unstable = "/depot/channels/acme/unstable/pkgs/web/1.0.0/20240101000000";
    let body = w.get(unstable, OK).await;
    assert_eq!(ident_of(&body["ident"]), IDENT);
    assert_eq!(body["checksum"], package.checksum.to_string());
    // Not in stable: 404 for the package and its download.
    let download = format!("{PKG}/download");
    for path in [PKG, &download] {
        assert_error(&w.get(path, NOT_FOUND).await, "not_found");
    }
    w.maintain(Method::PUT, &format!("{PKG}/promote"), OK).await;
    let response = w.depot.get(&download, None).await;
    assert_eq!(response.status(), OK);
    let filename = "acme-web-1.0.0-20240101000000-x86_64-linux.hart";
    assert_download_headers(&response, filename, &package);
    let bytes = w.hart_bytes(&package);
    assert_eq!(
        response.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let response = w.get_range(&download, "bytes=5-9").await;
    assert_eq!(response.status(), PARTIAL);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[5..10]);
    w.depot
        .check(&[
            Call::get(format!("{PKG}?target=aarch64-linux")).answers(NOT_FOUND),
            Call::get("/depot/channels/acme/nope/pkgs/web/1.0.0/20240101000000").answers(NOT_FOUND),
        ])
        .await;
}

#[tokio::test]
async fn views_answer_like_their_channel_twins() {
    let w = World::new().await;
    let package = w.seed(IDENT).await;
    w.seed("acme/web/1.1.0/20240101000000").await;
    w.maintain(
        Method::POST,
        "/depot/channels/acme/myview",
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        names(&w.get("/depot/views", OK).await),
        ["myview", "stable", "unstable"]
    );

    // Promote through the seed-era route (POST); the channel sees it.
    let view_pkg = "/depot/views/myview/pkgs/acme/web/1.0.0/20240101000000";
    let channel_pkg = "/depot/channels/acme/myview/pkgs/web/1.0.0/20240101000000";
    w.get(view_pkg, NOT_FOUND).await;
    w.maintain(Method::POST, &format!("{view_pkg}/promote"), OK)
        .await;
    w.maintain(Method::POST, &format!("{view_pkg}/promote"), OK)
        .await;
    assert_eq!(audit(&w).await, [audit_row("mia", "promote", "myview")]);
    assert_eq!(
        w.ident_at("/depot/views/myview/pkgs/acme/web/latest").await,
        IDENT
    );

    // Same status and body, view and channel, for hits and misses alike.
    let pairs = [
        ("myview/pkgs/acme/web/latest", "acme/myview/pkgs/web/latest"),
        (
            "myview/pkgs/acme/web/1.0.0/latest",
            "acme/myview/pkgs/web/1.0.0/latest",
        ),
        (
            "myview/pkgs/acme/web/1.1.0/latest",
            "acme/myview/pkgs/web/1.1.0/latest",
        ),
        (
            "unstable/pkgs/acme/web/latest",
            "acme/unstable/pkgs/web/latest",
        ),
        (
            "myview/pkgs/acme/web/latest?target=aarch64-linux",
            "acme/myview/pkgs/web/latest?target=aarch64-linux",
        ),
        (
            "myview/pkgs/acme/web/latest?target=bad",
            "acme/myview/pkgs/web/latest?target=bad",
        ),
        ("nope/pkgs/acme/web/latest", "acme/nope/pkgs/web/latest"),
        (
            "myview/pkgs/nobody/web/latest",
            "nobody/myview/pkgs/web/latest",
        ),
        (
            "myview/pkgs/acme/web/1.0.0/20240101000000",
            "acme/myview/pkgs/web/1.0.0/20240101000000",
        ),
        (
            "myview/pkgs/acme/web/1.1.0/20240101000000",
            "acme/myview/pkgs/web/1.1.0/20240101000000",
        ),
        (
            "myview/pkgs/acme/web/1.1.0/20240101000000/download",
            "acme/myview/pkgs/web/1.1.0/20240101000000/download",
        ),
    ];
    for (view, channel) in pairs {
        let (view, channel) = (
            format!("/depot/views/{view}"),
            format!("/depot/channels/{channel}"),
        );
        let a = w.depot.get(&view, None).await;
        let b = w.depot.get(&channel, None).await;
        assert_eq!(a.status(), b.status(), "{view} vs {channel}");
        let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
        assert_eq!(a, b, "{view} vs {channel}");
    }

    // Downloads: same bytes and headers.
    let a = w.depot.get(&format!("{view_pkg}/download"), None).await;
    let b = w.depot.get(&format!("{channel_pkg}/download"), None).await;
    assert_eq!((a.status(), b.status()), (OK, OK));
    assert_download_headers(
        &a,
        "acme-web-1.0.0-20240101000000-x86_64-linux.hart",
        &package,
    );
    for header in [
        "content-type",
        "content-length",
        "x-filename",
        "content-disposition",
        "etag",
    ] {
        assert_eq!(a.headers()[header], b.headers()[header], "{header}");
    }
    let bytes = w.hart_bytes(&package);
    assert_eq!(a.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(b.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // The view promote answers like the channel promote for misses too.
    for (view, channel) in [
        (
            "nope/pkgs/acme/web/1.0.0/20240101000000",
            "acme/nope/pkgs/web/1.0.0/20240101000000",
        ),
        (
            "myview/pkgs/acme/web/9.0.0/20240101000000",
            "acme/myview/pkgs/web/9.0.0/20240101000000",
        ),
    ] {
        let view = format!("/depot/views/{view}/promote");
        let channel = format!("/depot/channels/{channel}/promote");
        let a = w.maintain(Method::POST, &view, NOT_FOUND).await;
        let b = w.maintain(Method::PUT, &channel, NOT_FOUND).await;
        assert_eq!(a, b, "{view} vs {channel}");
    }
    // A view with a private package: 404 for outsiders, visible to members.
    let private = "/depot/pkgs/acme/web/1.0.0/20240101000000/private";
    w.maintain(Method::PATCH, private, OK).await;
    w.call(Method::GET, view_pkg, Some(&w.outsider), NOT_FOUND)
        .await;
    w.get("/depot/views/myview/pkgs/acme/web/latest", NOT_FOUND)
        .await;
    w.call(Method::GET, view_pkg, Some(&w.readonly), OK).await;
}

/// `(account, action, channel, ident)` for `ident`.
fn audit_of(
    account: &str,
    action: &str,
    channel: &str,
    ident: &str,
) -> (String, String, String, String) {
    (account.into(), action.into(), channel.into(), ident.into())
}

#[tokio::test]
async fn a_whole_channel_is_promoted_and_demoted_at_once_and_audited() {
    let w = World::new().await;
    let (web, db, private) = (
        IDENT,
        "acme/db/2.0.0/20240101000000",
        "acme/secret/1.0.0/20240101000000",
    );
    w.seed_all(&[web, db, private]).await;
    w.seed_with("acme/web/1.0.0/20240101000000", AARCH64, &[])
        .await;
    let stored = w
        .depot
        .state
        .metadata
        .package(&private.parse().unwrap(), Default::default())
        .await
        .unwrap()
        .unwrap();
    w.depot
        .state
        .metadata
        .set_visibility(stored.id, habitat_depot_server::store::Visibility::Private)
        .await
        .unwrap();
    w.maintain(
        Method::POST,
        "/depot/channels/acme/beta",
        StatusCode::CREATED,
    )
    .await;
    w.maintain(Method::PUT, &format!("{PKG}/promote"), OK).await;

    // Every package of `unstable`, of every target and private ones too, goes to `beta`; the
    // answer counts those that were not there.
    let promote = "/depot/channels/acme/unstable/pkgs/promote?channel=beta";
    w.assert_denied_below_maintainer(Method::PUT, promote).await;
    let body = w.maintain(Method::PUT, promote, OK).await;
    assert_eq!(
        body,
        json!({"origin": "acme", "source": "unstable", "target": "beta", "changed": 4})
    );
    let listed = w
        .call(
            Method::GET,
            "/depot/channels/acme/beta/pkgs",
            Some(&w.owner),
            OK,
        )
        .await;
    assert_eq!(listed["total_count"], 4);
    assert_eq!(w.maintain(Method::PUT, promote, OK).await["changed"], 0);

    // Demote: every package of `stable` leaves `beta`; the others stay.
    let demote = "/depot/channels/acme/stable/pkgs/demote?channel=beta";
    w.assert_denied_below_maintainer(Method::PUT, demote).await;
    assert_eq!(w.maintain(Method::PUT, demote, OK).await["changed"], 1);
    let listed = w
        .call(
            Method::GET,
            "/depot/channels/acme/beta/pkgs",
            Some(&w.owner),
            OK,
        )
        .await;
    assert_eq!(listed["total_count"], 3);
    assert_eq!(memberships(&w, IDENT).await, ["stable", "unstable"]);

    // Refusals, which change nothing: no or an invalid `?channel=`, the same channel twice
    // (422); an unknown channel or origin (404); a demotion from `unstable` (403).
    for path in [
        "/depot/channels/acme/unstable/pkgs/promote",
        "/depot/channels/acme/unstable/pkgs/promote?channel=",
        "/depot/channels/acme/unstable/pkgs/promote?channel=-x",
        "/depot/channels/acme/beta/pkgs/promote?channel=beta",
    ] {
        assert_error(
            &w.maintain(Method::PUT, path, StatusCode::UNPROCESSABLE_ENTITY)
                .await,
            "invalid_value",
        );
    }
    for path in [
        "/depot/channels/acme/nope/pkgs/promote?channel=beta",
        "/depot/channels/acme/beta/pkgs/promote?channel=nope",
        "/depot/channels/acme/beta/pkgs/demote?channel=nope",
        "/depot/channels/nobody/beta/pkgs/promote?channel=stable",
    ] {
        assert_error(&w.maintain(Method::PUT, path, NOT_FOUND).await, "not_found");
    }
    let from_unstable = "/depot/channels/acme/beta/pkgs/demote?channel=unstable";
    assert_error(
        &w.maintain(Method::PUT, from_unstable, StatusCode::FORBIDDEN)
            .await,
        "forbidden",
    );
    assert_eq!(memberships(&w, db).await, ["beta", "unstable"]);

    // One audit row per package that changed, after the single promotion.
    let rows = audit(&w).await;
    assert_eq!(rows.len(), 1 + 4 + 1, "{rows:?}");
    assert_eq!(rows[0], audit_row("mia", "promote", "stable"));
    assert!(
        rows[1..5]
            .iter()
            .all(|(a, action, c, _)| a == "mia" && action == "promote" && c == "beta"),
        "{rows:?}"
    );
    assert_eq!(rows[5], audit_of("mia", "demote", "beta", IDENT));
}

#[tokio::test]
async fn packages_named_like_the_bulk_routes_are_still_listed() {
    let w = World::new().await;
    w.seed_all(&[
        "acme/promote/1.0.0/20240101000000",
        "acme/demote/1.0.0/20240101000000",
    ])
    .await;
    for name in ["promote", "demote"] {
        let page = w
            .get(&format!("/depot/channels/acme/unstable/pkgs/{name}"), OK)
            .await;
        assert_eq!(
            idents_of(&page),
            [format!("acme/{name}/1.0.0/20240101000000")]
        );
    }
    // The bulk routes take PUT only besides.
    let status = w
        .status(
            Method::POST,
            "/depot/channels/acme/unstable/pkgs/promote?channel=stable",
            Some(&w.maintainer),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_package_delete_follows_builders_rule_and_is_audited() {
    let w = World::new().await;
    w.seed(IDENT).await;
    w.maintain(
        Method::POST,
        "/depot/channels/acme/beta",
        StatusCode::CREATED,
    )
    .await;
    let beta = "/depot/channels/acme/beta/pkgs/web/1.0.0/20240101000000";
    w.maintain(Method::PUT, &format!("{beta}/promote"), OK)
        .await;
    // In a channel other than `unstable`, even a custom one: 422, naming it.
    let pkg = format!("/depot/pkgs/{IDENT}");
    let body = w
        .maintain(Method::DELETE, &pkg, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert_error(&body, "not_deletable");
    assert_message_contains(&body, "`beta`");
    w.maintain(Method::PUT, &format!("{beta}/demote"), OK).await;
    w.maintain(Method::DELETE, &pkg, StatusCode::NO_CONTENT)
        .await;
    let rows = audit(&w).await;
    assert_eq!(rows.last().unwrap(), &audit_of("mia", "delete", "", IDENT));
    assert_eq!(rows.len(), 3);
}
