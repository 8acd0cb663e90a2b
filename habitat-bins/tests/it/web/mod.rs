//! The web interface in a real browser: headless Chromium (through `chromedriver`) against a
//! real `hab-depot` process, walking what a person does there. Skipped without Chromium
//! unless `HAB_TEST_BROWSER_REQUIRED=1`; `HAB_WRITE_SCREENSHOTS=1` writes the screenshots the
//! docs show into `docs/screenshots/`.

mod looks;
mod story;

use std::ffi::OsStr;

use habitat_test_support::browser::{Browser, OtherSite};
use habitat_test_support::oidc::NodeOidc;

use crate::support::{DepotProcess, Sandbox, start_depot, start_depot_with, user_create};

/// The depot's client id and secret at the OpenID Connect provider.
const CLIENT_ID: &str = "hab-depot";
const CLIENT_SECRET: &str = "secret-of-the-depot-at-corp";

/// A depot whose settings name the node OpenID Connect provider as `corp` ("Corp SSO"), with
/// the provider's users `(subject, user name, e-mail)` and the local accounts `names` made on
/// the depot's shell (their tokens in order); `None` when node or the provider package is
/// missing (the test skips; see `habitat_test_support::oidc`).
pub async fn depot_with_provider(
    sandbox: &Sandbox,
    users: &[(&str, &str, &str)],
    names: &[&str],
) -> Option<(NodeOidc, DepotProcess, Vec<String>)> {
    let mut node = NodeOidc::start().await?;
    node.set_accounts(users);
    let secret = sandbox.path().join("corp.secret");
    std::fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
    let config = sandbox.path().join("depot.toml");
    std::fs::write(
        &config,
        format!(
            "[[auth.providers]]\nid = \"corp\"\nkind = \"oidc\"\nname = \"Corp SSO\"\n\
             issuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\n",
            node.issuer,
            secret.display()
        ),
    )
    .unwrap();
    let data = sandbox.path().join("depot-data");
    let tokens = names.iter().map(|n| user_create(&data, n)).collect();
    let depot = start_depot_with(&[
        OsStr::new("--config"),
        config.as_os_str(),
        OsStr::new("--data-dir"),
        data.as_os_str(),
    ]);
    let callback = format!("{}/auth/corp/callback", site(&depot));
    node.register(CLIENT_ID, CLIENT_SECRET, &callback, "RS256")
        .await;
    Some((node, depot, tokens))
}

/// Signs in with the provider `corp` from the sign-in page, as the provider's user `subject`
/// (its development login form takes any password, then asks for consent when it has to);
/// ends back on the depot signed in as `name`.
pub async fn sign_in_with_provider(browser: &Browser, site: &str, subject: &str, name: &str) {
    browser.goto(&format!("{site}/login")).await;
    browser.click("a[href^='/auth/corp/login']").await;
    for _ in 0..4 {
        let url = browser.url().await;
        if url.starts_with(site) {
            break;
        }
        if !browser.find_all("input[name=login]").await.is_empty() {
            browser.fill("input[name=login]", subject).await;
            browser.fill("input[name=password]", "any password").await;
        }
        browser.click("button[type=submit]").await;
        wait_to_leave(browser, &url).await;
    }
    browser.find("header nav a[href='/profile']").await;
    assert_eq!(
        browser
            .find("header nav a[href='/profile']")
            .await
            .text()
            .await
            .unwrap(),
        name
    );
}

/// Waits until the browser shows another address than `url`.
async fn wait_to_leave(browser: &Browser, url: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while browser.url().await == url {
        assert!(
            std::time::Instant::now() < deadline,
            "still on {url}:\n{}",
            browser.text().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A depot with its data in the sandbox and the accounts `names` made on its shell; their
/// tokens in order.
pub fn depot_with_accounts(sandbox: &Sandbox, names: &[&str]) -> (DepotProcess, Vec<String>) {
    let data = sandbox.path().join("depot-data");
    let tokens = names.iter().map(|n| user_create(&data, n)).collect();
    (start_depot(&data), tokens)
}

/// `http://127.0.0.1:PORT`, where the pages are.
pub fn site(depot: &DepotProcess) -> String {
    depot.url.trim_end_matches("/v1").to_owned()
}

/// Signs in on the sign-in page with an access token; lands on the home page, signed in as
/// `name`.
pub async fn sign_in_with_token(browser: &Browser, site: &str, token: &str, name: &str) {
    browser.goto(&format!("{site}/login")).await;
    browser.fill("#token", token).await;
    browser
        .click("form[action='/login/token'] button[type=submit]")
        .await;
    browser.wait_for_path("/").await;
    browser.wait_for_text(name).await;
    assert_eq!(
        browser
            .find("header nav a[href='/profile']")
            .await
            .text()
            .await
            .unwrap(),
        name
    );
}

/// Signs out with the header's button; lands on the home page, signed out.
pub async fn sign_out(browser: &Browser) {
    browser
        .click("header form[action='/auth/logout'] button[type=submit]")
        .await;
    browser.wait_for_path("/").await;
    browser.find("header nav a[href='/login']").await;
    assert!(
        browser
            .find_all("header nav a[href='/profile']")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_with_an_access_token_and_out() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sandbox = Sandbox::new();
    let (depot, tokens) = depot_with_accounts(&sandbox, &["alice"]);
    let site = site(&depot);

    // Signed out: the home page offers to sign in.
    browser.goto(&format!("{site}/")).await;
    browser.find("header nav a[href='/login']").await;
    browser.click("header nav a[href='/login']").await;
    browser.wait_for_path("/login").await;
    browser.find("label[for='token']").await;

    // A wrong token: refused, still signed out.
    browser.fill("#token", "not-a-token").await;
    browser
        .click("form[action='/login/token'] button[type=submit]")
        .await;
    browser.wait_for_text("Sign-in refused").await;
    browser.wait_for_text("unknown, revoked or expired").await;
    browser.goto(&format!("{site}/")).await;
    browser.find("header nav a[href='/login']").await;
    assert!(
        browser
            .find_all("header nav a[href='/profile']")
            .await
            .is_empty()
    );

    sign_in_with_token(&browser, &site, &tokens[0], "alice").await;
    // The session survives a new page.
    browser.goto(&format!("{site}/")).await;
    browser.find("header nav a[href='/profile']").await;
    sign_out(&browser).await;
    // Gone for good: the next page is signed out too.
    browser.goto(&format!("{site}/")).await;
    browser.find("header nav a[href='/login']").await;
    browser.assert_no_page_errors().await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_up_through_the_openid_connect_provider_and_in_again() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sandbox = Sandbox::new();
    let users = [("sub-alice-1", "alice", "alice@example.com")];
    let Some((_node, depot, _)) = depot_with_provider(&sandbox, &users, &[]).await else {
        return;
    };
    let site = site(&depot);

    browser.goto(&format!("{site}/login")).await;
    browser.wait_for_text("Sign in with Corp SSO").await;
    browser.screenshot("sign-in").await;
    // The first sign-in makes the account; the profile shows the identity.
    sign_in_with_provider(&browser, &site, "sub-alice-1", "alice").await;
    browser.click("header nav a[href='/profile']").await;
    browser.wait_for_path("/profile").await;
    browser.wait_for_text("alice@example.com").await;
    sign_out(&browser).await;

    // The next finds it again, and the profile says when.
    sign_in_with_provider(&browser, &site, "sub-alice-1", "alice").await;
    browser.goto(&format!("{site}/profile")).await;
    browser.wait_for_text("alice@example.com").await;
    browser.wait_for_text("corp: alice").await;
    assert!(!browser.text().await.contains("last sign-in never"));
    sign_out(&browser).await;
    // Only the depot's pages count here: the provider's own are not the depot's concern.
    let errors = browser.page_errors().await;
    assert!(
        errors.iter().all(|e| !e.starts_with(&site)),
        "the depot's pages logged errors: {errors:?}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_posted_from_another_site_is_refused() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sandbox = Sandbox::new();
    let (depot, tokens) = depot_with_accounts(&sandbox, &["alice"]);
    let site = site(&depot);
    sign_in_with_token(&browser, &site, &tokens[0], "alice").await;
    // The worst case: the other site even knows this session's form token.
    let csrf = browser
        .find("header form[action='/auth/logout'] input[name=csrf]")
        .await
        .attr("value")
        .await
        .unwrap()
        .unwrap();

    // Another origin (another port of 127.0.0.1) posts the sign-out form as the page loads.
    let other = OtherSite::auto_post(&format!("{site}/auth/logout"), &[("csrf", &csrf)]).await;
    assert_ne!(other.url, format!("{site}/"));
    browser.goto(&other.url).await;
    browser.wait_for_path("/auth/logout").await;
    browser.wait_for_text("Form refused").await;
    browser.wait_for_text("posted from another site").await;

    // Still signed in.
    browser.goto(&format!("{site}/")).await;
    browser.find("header nav a[href='/profile']").await;

    // Nor does it create an origin in the account's name.
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "evil"),
        ("visibility", "public"),
    ];
    let other = OtherSite::auto_post(&format!("{site}/origins"), &fields).await;
    browser.goto(&other.url).await;
    browser.wait_for_path("/origins").await;
    browser.wait_for_text("posted from another site").await;
    browser.goto(&format!("{site}/origins")).await;
    browser.wait_for_text("My origins").await;
    assert!(browser.find_all("a[href='/origins/evil']").await.is_empty());
    browser.goto(&format!("{site}/origins/evil")).await;
    browser.wait_for_text("Not found").await;
    browser.assert_no_page_errors().await;
    browser.close().await;
}

/// The console check of the story is real: it sees a script error on a page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_check_sees_a_script_error() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let page = "<!doctype html><title>t</title><p>x</p><script>throw new Error('boom')</script>";
    let other = OtherSite::serve(page.to_owned()).await;
    browser.goto(&other.url).await;
    let errors = browser.page_errors().await;
    assert!(
        errors.iter().any(|e| e.contains("Uncaught Error: boom")),
        "{errors:?}"
    );
    assert!(browser.page_errors().await.is_empty(), "read once");
    browser.close().await;
}
