//! Every form the pages accept is refused without its token, with a wrong one, or from another
//! site, before its handler runs. The table below lists every POST route of the pages; a unit
//! test of the server (`web::tests`) fails when a route is registered that is missing here.

use habitat_depot_server::store::{Role, Visibility};
use habitat_test_support::TestDepot;
use habitat_test_support::web::{Page, WebClient};
use reqwest::StatusCode;

/// Every POST route of the pages, with the fields its form posts besides the token.
const POST_ROUTES: &[(&str, &[(&str, &str)])] = &[
    ("/login/token", &[("token", "hab_not-a-token")]),
    ("/auth/logout", &[]),
    ("/origins", &[("name", "made"), ("visibility", "public")]),
    ("/origins/{origin}/channels", &[("name", "made")]),
    ("/origins/{origin}/channels/{channel}/delete", &[]),
    (
        "/origins/{origin}/members/{account}/role",
        &[("role", "maintainer")],
    ),
    ("/origins/{origin}/members/{account}/remove", &[]),
    ("/origins/{origin}/invitations", &[("account", "bob")]),
    ("/origins/{origin}/invitations/{id}/rescind", &[]),
    (
        "/origins/{origin}/keys",
        &[("kind", "public"), ("text", "")],
    ),
    ("/origins/{origin}/settings", &[("visibility", "private")]),
    ("/profile/tokens", &[("name", "made")]),
    ("/profile/tokens/{id}/revoke", &[]),
    ("/profile/invitations/{id}/accept", &[]),
    ("/profile/invitations/{id}/ignore", &[]),
    (
        "/pkgs/{origin}/{name}/{version}/{release}/promote",
        &[("channel", "made")],
    ),
    (
        "/pkgs/{origin}/{name}/{version}/{release}/demote",
        &[("channel", "made")],
    ),
];

/// The routes whose form is `multipart/form-data` (the token is one of its parts).
const MULTIPART: &[&str] = &["/origins/{origin}/keys"];

/// A route of the table with its path parameters filled in.
fn concrete(route: &str) -> String {
    route
        .replace("{origin}", "acme")
        .replace("{channel}", "beta")
        .replace("{account}", "mel")
        .replace("{id}", "1")
        .replace("{name}", "zlib")
        .replace("{version}", "1.2.11")
        .replace("{release}", "20200101000000")
}

/// Posts `fields` to `route` as given (no token added), urlencoded or multipart as its form is.
async fn post(web: &WebClient, route: &str, fields: &[(&str, &str)], origin: Option<&str>) -> Page {
    let path = concrete(route);
    if MULTIPART.contains(&route) {
        web.post_multipart_raw(&path, fields, &[], origin).await
    } else {
        web.post_raw(&path, fields, origin).await
    }
}

#[track_caller]
fn refused(route: &str, why: &str, page: &Page, says: &str) {
    assert_eq!(
        page.status,
        StatusCode::FORBIDDEN,
        "{route} {why}: {}",
        page.body
    );
    assert!(
        page.body.contains("Form refused") && page.body.contains(says),
        "{route} {why}: {}",
        page.body
    );
}

#[tokio::test]
async fn every_page_form_is_refused_without_its_token_with_a_wrong_one_or_from_elsewhere() {
    let depot = TestDepot::start().await;
    let alice = depot.user("alice").await;
    depot
        .create_origin("alice", "acme", Visibility::Public)
        .await;
    depot.member("acme", "mel", Role::Member, "alice").await;
    let web = WebClient::new(&depot);
    web.sign_in_with_token(&alice).await;
    let csrf = web.get("/origins/acme").await.csrf().unwrap();
    let own = web.base.clone();
    for (route, fields) in POST_ROUTES {
        let page = post(&web, route, fields, Some(&own)).await;
        refused(route, "without a token", &page, "expired");
        let mut forged = fields.to_vec();
        forged.push(("csrf", "forged"));
        let page = post(&web, route, &forged, Some(&own)).await;
        refused(route, "with a wrong token", &page, "expired");
        let mut genuine = fields.to_vec();
        genuine.push(("csrf", &csrf));
        let page = post(&web, route, &genuine, Some("http://evil.example")).await;
        refused(route, "from another site", &page, "another site");
    }
    let acme = "acme".parse().unwrap();
    let store = &depot.state.metadata;
    assert_eq!(
        store.channels(&acme).await.unwrap().len(),
        2,
        "no channel made"
    );
    assert_eq!(
        store.members(&acme).await.unwrap().len(),
        2,
        "nobody removed"
    );
    assert!(store.origin_invitations(&acme).await.unwrap().is_empty());
    assert!(
        web.get("/").await.body.contains("href=\"/profile\""),
        "still signed in"
    );
}
