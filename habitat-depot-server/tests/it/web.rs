//! The web pages at the HTTP level: the frame, sessions, forms.

use habitat_depot_server::store::{Role, Visibility};
use habitat_test_support::web::WebClient;
use habitat_test_support::{TestDepot, artifact, origin_keys};
use reqwest::StatusCode;

#[tokio::test]
async fn pages_carry_the_security_headers_and_set_a_browser_cookie() {
    let depot = TestDepot::start().await;
    let web = WebClient::new(&depot);
    let page = web.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(page.headers.contains_key("referrer-policy"));
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("hab_browser=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(
        page.body.contains("href=\"/login\""),
        "signed out: a sign-in link"
    );
}

#[tokio::test]
async fn a_local_account_signs_in_with_a_token_and_out_again() {
    let depot = TestDepot::start().await;
    let token = depot.user("local").await;
    let web = WebClient::new(&depot);
    web.sign_in_with_token(&token).await;
    let page = web.get("/").await;
    assert!(
        page.body.contains("href=\"/profile\">local<"),
        "{}",
        page.body
    );
    let out = web.post("/auth/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let cleared = out.headers["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("hab_session=;"), "{cleared}");
    let page = web.get("/").await;
    assert!(page.body.contains("href=\"/login\""), "signed out again");
}

#[tokio::test]
async fn a_wrong_token_gets_no_session() {
    let depot = TestDepot::start().await;
    depot.user("local").await;
    let web = WebClient::new(&depot);
    web.get("/login").await;
    let page = web
        .post("/login/token", &[("token", "hab_not-a-token")])
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(
        page.body.contains("unknown, revoked or expired"),
        "{}",
        page.body
    );
    assert!(
        !page.headers.contains_key("set-cookie")
            || !page.headers["set-cookie"]
                .to_str()
                .unwrap()
                .contains("hab_session")
    );
}

#[tokio::test]
async fn a_form_posted_from_another_site_is_refused() {
    let depot = TestDepot::start().await;
    let token = depot.user("local").await;
    let web = WebClient::new(&depot);
    web.sign_in_with_token(&token).await;
    let csrf = web.get("/").await.csrf().unwrap();
    let page = web
        .post_raw(
            "/auth/logout",
            &[("csrf", &csrf)],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("another site"), "{}", page.body);
    let page = web
        .post_raw("/auth/logout", &[("csrf", "forged")], None)
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        web.get("/").await.body.contains("href=\"/profile\""),
        "still signed in"
    );
}

#[tokio::test]
async fn the_api_ignores_the_session_cookie_and_keeps_json_errors() {
    let depot = TestDepot::start().await;
    let token = depot.user("local").await;
    let web = WebClient::new(&depot);
    web.sign_in_with_token(&token).await;
    let api = web.get("/v1/profile").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED, "{}", api.body);
    assert!(api.body.starts_with('{'), "{}", api.body);
    let missing = web.get("/v1/nothing-here").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("no such route"));
    let page = web.get("/nothing-here").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.starts_with("<!doctype html>"), "{}", page.body);
}

#[tokio::test]
async fn members_download_private_packages_from_the_page_and_outsiders_do_not() {
    let depot = TestDepot::start().await;
    let owner = depot.user("olga").await;
    depot
        .create_origin("olga", "vault", Visibility::Private)
        .await;
    let member = depot.member("vault", "mo", Role::Member, "olga").await;
    let outsider = depot.user("otto").await;
    let keys = origin_keys(depot.dir.path(), "vault");
    depot.publish_key("vault", &keys).await;
    let ident = "vault/box/1.0.0/20240101000000";
    let hart = artifact(&depot.scratch("work"), ident, &[], &keys.secret);
    let uploaded = super::support::upload(&depot, Some(&owner), ident, &hart).await;
    assert_eq!(uploaded.status(), StatusCode::CREATED);

    let link = format!("/pkgs/{ident}/download?target=x86_64-linux");
    let web = WebClient::new(&depot);
    web.sign_in_with_token(&member).await;
    let page = web.get(&format!("/pkgs/{ident}")).await;
    assert!(page.body.contains(&link), "the page links its own download");
    let download = web.get(&link).await;
    assert_eq!(download.status, StatusCode::OK);
    // The page client reads text; the length and the checksum's ETag say the bytes are the
    // artifact's.
    let bytes = std::fs::read(&hart).unwrap();
    assert_eq!(
        download.headers["content-length"],
        bytes.len().to_string().as_str()
    );
    let checksum = habitat_core::Blake2bHash::digest(&bytes);
    assert_eq!(download.headers["etag"], format!("\"{checksum}\"").as_str());
    assert!(
        download.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".hart")
    );

    let stranger = WebClient::new(&depot);
    stranger.sign_in_with_token(&outsider).await;
    assert_eq!(stranger.get(&link).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        WebClient::new(&depot).get(&link).await.status,
        StatusCode::NOT_FOUND
    );
}
