//! What only a real browser shows: the pages on a phone's width, in the dark theme, and by
//! keyboard, with every control labelled and the copy buttons' script allowed to run.

use habitat_test_support::browser::{Browser, DESKTOP, Key, PHONE};

use super::{depot_with_accounts, sign_in_with_token, site};
use crate::support::Sandbox;

/// A depot with the origin `demo` (alice's), its key and the package `demo/hello`, all made
/// with `hab` and the token; the package's identifier.
fn seeded(sandbox: &Sandbox, url: &str, token: &str) -> String {
    let hab = |args: &[&str]| {
        let out = sandbox
            .hab()
            .env("HAB_BLDR_URL", url)
            .env("HAB_AUTH_TOKEN", token)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hab {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    hab(&["origin", "create", "demo"]);
    hab(&["origin", "key", "generate", "demo"]);
    hab(&["origin", "key", "upload", "demo"]);
    let hart = sandbox.pack("demo/hello/1.0.0", &[]);
    hab(&["pkg", "upload", hart.to_str().unwrap()]);
    let name = hart.file_name().unwrap().to_str().unwrap().to_owned();
    name.splitn(5, '-').take(4).collect::<Vec<_>>().join("/")
}

/// Each page: labelled controls, nothing wider than a phone, the skip link first under the
/// keyboard, and a dark theme that is really dark.
async fn check_page(browser: &Browser, url: &str) {
    browser.resize(DESKTOP).await;
    browser.prefer_color_scheme("light").await;
    browser.goto(url).await;
    let unlabelled = browser.unlabelled_controls().await;
    assert!(
        unlabelled.is_empty(),
        "{url}: controls without a label: {unlabelled:?}"
    );

    // The keyboard: the first Tab reaches the skip link, Enter takes it to the content.
    browser.press(Key::Tab).await;
    let focused = browser.focused().await;
    assert!(
        focused.contains("Skip to content"),
        "{url}: first Tab on {focused}"
    );
    browser.press(Key::Enter).await;
    assert!(
        browser.url().await.ends_with("#main"),
        "{url}: the skip link leads to #main"
    );

    // Light and dark.
    let (light_background, light_text) = browser.colors("body").await;
    browser.prefer_color_scheme("dark").await;
    let (dark_background, dark_text) = browser.colors("body").await;
    assert_ne!(
        light_background, dark_background,
        "{url}: a dark background"
    );
    assert_ne!(light_text, dark_text, "{url}: light text on it");
    assert!(
        brightness(&dark_background) < brightness(&light_background),
        "{url}: dark {dark_background} is not darker than light {light_background}"
    );
    browser.prefer_color_scheme("light").await;

    // A phone: nothing to scroll sideways.
    browser.resize(PHONE).await;
    browser.goto(url).await;
    let overflow = browser.overflow_width().await;
    assert!(overflow <= 0, "{url}: {overflow} px wider than a phone");
    browser.resize(DESKTOP).await;
}

/// The sum of the channels of a CSS `rgb(...)`/`rgba(...)` colour.
fn brightness(color: &str) -> u32 {
    color
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .filter_map(|c| c.trim().parse::<u32>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_on_a_phone_in_the_dark_and_by_keyboard() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sandbox = Sandbox::new();
    let (depot, tokens) = depot_with_accounts(&sandbox, &["alice"]);
    let site = site(&depot);
    let ident = seeded(&sandbox, &depot.url, &tokens[0]);

    let public = [
        "/".to_owned(),
        "/search?q=demo".to_owned(),
        "/login".to_owned(),
        "/origins/demo".to_owned(),
        "/pkgs/demo/hello".to_owned(),
        format!("/pkgs/{ident}"),
        "/channels/demo/unstable".to_owned(),
    ];
    for path in &public {
        check_page(&browser, &format!("{site}{path}")).await;
    }
    // The copy buttons' script runs under the Content-Security-Policy and shows them.
    browser.goto(&format!("{site}/pkgs/{ident}")).await;
    assert!(
        browser
            .find("button.copy[data-copy='cmd-install']")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "the copy button is shown"
    );

    sign_in_with_token(&browser, &site, &tokens[0], "alice").await;
    for path in ["/origins", "/origins/demo", "/profile"] {
        check_page(&browser, &format!("{site}{path}")).await;
    }
    browser.assert_no_page_errors().await;
    browser.close().await;
}
