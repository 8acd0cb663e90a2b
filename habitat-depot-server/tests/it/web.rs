//! The web pages at the HTTP level: the frame, sessions, forms.

use habitat_test_support::TestDepot;
use habitat_test_support::web::WebClient;
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
