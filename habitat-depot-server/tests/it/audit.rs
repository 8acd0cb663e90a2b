//! The audit log: each kind of action is recorded with its account, time and client address;
//! the route filters and pages it for maintainers; a deleted package's rows stay.

use habitat_depot_server::store::{DumpValue, Role};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::support::*;

const IDENT: &str = "acme/web/1.0.0/20240101000000";
const PKG: &str = "/depot/pkgs/acme/web/1.0.0/20240101000000";
const CHANNEL: &str = "/depot/channels/acme/stable/pkgs/web/1.0.0/20240101000000";

/// `(action, account, ident, detail)` of each entry, as listed.
fn rows(list: &Value) -> Vec<(String, String, String, String)> {
    let text = |e: &Value, key: &str| e[key].as_str().unwrap_or_default().to_owned();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                text(e, "action"),
                text(e, "account"),
                text(e, "ident"),
                text(e, "detail"),
            )
        })
        .collect()
}

fn row(action: &str, account: &str, ident: &str, detail: &str) -> (String, String, String, String) {
    (action.into(), account.into(), ident.into(), detail.into())
}

#[tokio::test]
async fn every_action_is_recorded_filtered_paged_and_kept() {
    let depot = TestDepot::start().await;
    let work = tempfile::tempdir().unwrap();
    let keys = origin_keys(work.path(), "acme");
    let revision = keys.secret.name().revision().to_owned();
    let owner = depot.user("olga").await;
    depot.origin(&owner, "acme").await;
    let bob = depot.user("bob").await;
    let member = depot.member("acme", "mo", Role::Member, "olga").await;

    // Keys, an upload, a promotion and a demotion, a visibility change, a delete.
    depot
        .check(&[
            Call::post(format!("/depot/origins/acme/keys/{revision}"))
                .as_(&owner)
                .body(keys.public_text.clone())
                .answers(StatusCode::CREATED),
            Call::post(format!("/depot/origins/acme/secret_keys/{revision}"))
                .as_(&owner)
                .body(keys.secret.to_file_string())
                .answers(StatusCode::OK),
        ])
        .await;
    let hart = artifact(work.path(), IDENT, &[], &keys.secret);
    let uploaded = upload(&depot, Some(&owner), IDENT, &hart).await;
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    depot
        .check(&[
            Call::put(format!("{CHANNEL}/promote"))
                .as_(&owner)
                .answers(StatusCode::OK),
            Call::put(format!("{CHANNEL}/demote"))
                .as_(&owner)
                .answers(StatusCode::OK),
            Call::new(Method::PATCH, format!("{PKG}/private"))
                .as_(&owner)
                .answers(StatusCode::OK),
            Call::delete(PKG).as_(&owner).answers(NO_CONTENT),
        ])
        .await;

    // Members and invitations: bob is invited, accepts, becomes maintainer; an invitation to
    // carl is rescinded; one to dan is ignored; mo departs.
    depot.user("carl").await;
    let dan = depot.user("dan").await;
    let invite = |name: &str| {
        Call::post(format!("/depot/origins/acme/users/{name}/invitations"))
            .as_(&owner)
            .answers(StatusCode::CREATED)
    };
    let bodies = depot
        .check(&[invite("bob"), invite("carl"), invite("dan")])
        .await;
    let id = |i: usize| bodies[i]["id"].as_str().unwrap().to_owned();
    depot
        .check(&[
            Call::put(format!("/depot/origins/acme/invitations/{}", id(0)))
                .as_(&bob)
                .answers(NO_CONTENT),
            Call::delete(format!("/depot/origins/acme/invitations/{}", id(1)))
                .as_(&owner)
                .answers(NO_CONTENT),
            Call::put(format!("/depot/origins/acme/invitations/{}/ignore", id(2)))
                .as_(&dan)
                .answers(NO_CONTENT),
            Call::put("/depot/origins/acme/users/bob/role?role=maintainer")
                .as_(&owner)
                .answers(NO_CONTENT),
            Call::post("/depot/origins/acme/depart")
                .as_(&member)
                .answers(NO_CONTENT),
        ])
        .await;
    // Tokens belong to an account: recorded without an origin.
    let token = depot
        .check(&[Call::post("/profile/access-tokens")
            .as_(&bob)
            .answers(StatusCode::CREATED)])
        .await;
    let token_id = token[0]["id"].as_str().unwrap().to_owned();
    depot
        .check(&[Call::delete(format!("/profile/access-tokens/{token_id}"))
            .as_(&bob)
            .answers(NO_CONTENT)])
        .await;

    let key = format!("acme-{revision}");
    let expected = [
        row("origin_depart", "mo", "", ""),
        row("role_change", "olga", "", "bob maintainer"),
        row("invitation_ignore", "dan", "", "dan"),
        row("invitation_rescind", "olga", "", "carl"),
        row("invitation_accept", "bob", "", "bob"),
        row("invitation_send", "olga", "", "dan"),
        row("invitation_send", "olga", "", "carl"),
        row("invitation_send", "olga", "", "bob"),
        row("delete", "olga", IDENT, ""),
        row("visibility", "olga", IDENT, "private"),
        row("demote", "olga", IDENT, ""),
        row("promote", "olga", IDENT, ""),
        row("upload", "olga", IDENT, ""),
        row("secret_key_upload", "olga", &key, ""),
        row("public_key_upload", "olga", &key, ""),
    ];
    let all = depot
        .check(&[Call::get("/depot/origins/acme/audit")
            .as_(&owner)
            .answers(StatusCode::OK)])
        .await
        .remove(0);
    assert_eq!(rows(&all), expected);
    assert_eq!(all["total_count"], expected.len());
    // Each with its time and the client's address; the package's rows name its target and,
    // for channel changes, the channel.
    for entry in all["data"].as_array().unwrap() {
        assert_eq!(entry["address"], "127.0.0.1", "{entry}");
        assert!(entry["at"].as_str().unwrap().ends_with('Z'), "{entry}");
        assert!(entry["id"].as_i64().unwrap() > 0, "{entry}");
    }
    let data = all["data"].as_array().unwrap();
    assert_eq!(data[8]["target"], "x86_64-linux");
    assert_eq!(data[8]["channel"], Value::Null);
    assert_eq!(data[10]["channel"], "stable");

    // Filters, each exact.
    let list = |query: &str| {
        Call::get(format!("/depot/origins/acme/audit?{query}"))
            .as_(&owner)
            .answers(StatusCode::OK)
    };
    let bodies = depot
        .check(&[
            list("action=invitation_send"),
            list(&format!("ident={IDENT}")),
            list("account=bob"),
            list("action=upload&account=bob"),
        ])
        .await;
    assert_eq!(rows(&bodies[0]), expected[5..8]);
    assert_eq!(rows(&bodies[1]), expected[8..13]);
    assert_eq!(rows(&bodies[2]), expected[4..5]);
    assert_eq!(rows(&bodies[3]), []);

    // Pages: 206 while more remain.
    let pages = depot
        .check(&[
            Call::get("/depot/origins/acme/audit?limit=4")
                .as_(&owner)
                .answers(StatusCode::PARTIAL_CONTENT),
            Call::get("/depot/origins/acme/audit?range=12&limit=4")
                .as_(&owner)
                .answers(StatusCode::OK),
        ])
        .await;
    assert_eq!(rows(&pages[0]), expected[..4]);
    assert_eq!(pages[0]["range_start"], 0);
    assert_eq!(pages[0]["range_end"], 3);
    assert_eq!(pages[0]["total_count"], expected.len());
    assert_eq!(rows(&pages[1]), expected[12..]);
    assert_eq!(pages[1]["range_start"], 12);

    // Maintainers and the owner only: bob (now maintainer) reads it; below that, 403; anonymous, 401.
    let reader = depot.member("acme", "rita", Role::Member, "olga").await;
    depot
        .check(&[
            Call::get("/depot/origins/acme/audit")
                .as_(&bob)
                .answers(StatusCode::OK),
            Call::get("/depot/origins/acme/audit")
                .as_(&reader)
                .fails(FORBIDDEN, "forbidden"),
            Call::get("/depot/origins/acme/audit")
                .as_(&dan)
                .fails(FORBIDDEN, "forbidden"),
            Call::get("/depot/origins/acme/audit").fails(UNAUTHORIZED, "unauthorized"),
        ])
        .await;

    // The token rows, read from the store: no origin, bob's, with the address.
    let dump = depot.state.metadata.dump().await.unwrap();
    let table = dump.tables.iter().find(|t| t.name == "audit").unwrap();
    let column = |name: &str| table.columns.iter().position(|c| c == name).unwrap();
    let tokens: Vec<_> = table
        .rows
        .iter()
        .filter(|r| matches!(&r[column("action")], DumpValue::Text(a) if a.starts_with("token_")))
        .collect();
    assert_eq!(tokens.len(), 2);
    for token in tokens {
        assert_eq!(token[column("origin")], DumpValue::Null);
        assert_eq!(token[column("account")], DumpValue::Text("bob".into()));
        assert_eq!(
            token[column("address")],
            DumpValue::Text("127.0.0.1".into())
        );
    }
}
