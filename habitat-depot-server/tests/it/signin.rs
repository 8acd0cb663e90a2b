//! Sign-in with identity providers, against real parts on 127.0.0.1: a real OpenID Connect
//! provider (node's `oidc-provider`, skipped with a note when node or the package is missing),
//! a stand-in for GitHub's endpoints, and a misbehaving issuer for the ID tokens a real
//! provider never makes. Every refusal is a page that says why, and no session.

use habitat_depot_server::identity::{ProviderKind, ProviderSettings};
use habitat_depot_server::settings::Settings;
use habitat_depot_server::{AppState, OpenFailure};
use habitat_test_support::TestDepot;
use habitat_test_support::github::{GitHubStandIn, GitHubUser};
use habitat_test_support::oidc::{Browser, Hop, NodeOidc, Rogue, RogueIssuer};
use reqwest::StatusCode;

const CLIENT_ID: &str = "hab-depot";
const SECRET: &str = "s3cret-of-the-client";

/// A provider's settings with its secret in a file under `dir`.
fn provider(dir: &std::path::Path, id: &str, kind: ProviderKind) -> ProviderSettings {
    let secret = dir.join(format!("{id}.secret"));
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    ProviderSettings {
        id: id.to_owned(),
        kind,
        name: None,
        client_id: CLIENT_ID.to_owned(),
        client_secret_file: Some(secret),
        issuer: None,
        scopes: None,
        web_url: None,
        api_url: None,
        ca_file: None,
        accept_provider_tokens: false,
    }
}

/// `http://127.0.0.1:PORT` of a test depot.
fn base(depot: &TestDepot) -> String {
    depot.url.trim_end_matches("/v1").to_owned()
}

/// A depot with one OIDC provider `corp` at `issuer`.
async fn oidc_depot(issuer: &str) -> TestDepot {
    let secrets = tempfile::tempdir().unwrap();
    let mut corp = provider(secrets.path(), "corp", ProviderKind::Oidc);
    corp.issuer = Some(issuer.to_owned());
    corp.name = Some("Corp SSO".to_owned());
    TestDepot::start_with(|s| s.auth.providers = vec![corp]).await
}

/// The node provider with a depot registered as its client (ID tokens signed with `alg`).
async fn node_and_depot(alg: &str) -> Option<(NodeOidc, TestDepot)> {
    let mut node = NodeOidc::start().await?;
    let depot = oidc_depot(&node.issuer).await;
    let callback = format!("{}/auth/corp/callback", base(&depot));
    node.register(CLIENT_ID, SECRET, &callback, alg).await;
    Some((node, depot))
}

/// Asserts that `page` refuses the sign-in at `step`, saying `why`, with no session.
fn assert_refused(page: &Hop, browser: &Browser, depot: &TestDepot, step: &str, why: &str) {
    assert!(
        page.status.is_client_error() || page.status.is_server_error(),
        "{}: {}",
        page.status,
        page.body
    );
    assert!(
        page.body.contains("Sign-in with") && page.body.contains(step),
        "the page names the step `{step}`: {}",
        page.body
    );
    assert!(
        page.body.contains(why),
        "the page says `{why}`: {}",
        page.body
    );
    assert!(
        !page.sets_session(),
        "no session cookie: {:?}",
        page.headers
    );
    assert!(
        !browser.has_session(&base(depot)),
        "no session in the browser"
    );
}

/// The account name an identity signs in as, from the store.
async fn account_of(depot: &TestDepot, provider: &str, subject: &str) -> Option<(String, String)> {
    depot
        .state
        .metadata
        .identity(provider, subject)
        .await
        .unwrap()
        .map(|(identity, account)| (account.name, identity.username))
}

#[tokio::test]
async fn oidc_first_sign_in_creates_the_account_and_the_second_finds_it_after_a_rename() {
    let Some((node, depot)) = node_and_depot("RS256").await else {
        return;
    };
    node.set_accounts(&[("u-1001", "alice", "alice@example.com")]);
    let base = base(&depot);
    let callback = format!("{base}/auth/corp/callback");
    let login = format!("{base}/auth/corp/login?return_to=/pkgs/core");

    let browser = Browser::new();
    let back = browser
        .sign_in_at_provider(&login, "u-1001", &callback)
        .await;
    let done = browser.get(&back).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(&*format!("{base}/pkgs/core"))
    );
    assert!(done.sets_session() && browser.has_session(&base));
    assert_eq!(
        account_of(&depot, "corp", "u-1001").await,
        Some(("alice".into(), "alice".into()))
    );
    let home = browser.get(&format!("{base}/")).await;
    assert!(home.body.contains(">alice<"), "signed in: {}", home.body);

    // Renamed at the provider: the same account, its identity's user name updated.
    node.set_accounts(&[("u-1001", "alice.smith", "alice@example.com")]);
    let again = Browser::new();
    let back = again.sign_in_at_provider(&login, "u-1001", &callback).await;
    let done = again.get(&back).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(again.has_session(&base));
    assert_eq!(
        account_of(&depot, "corp", "u-1001").await,
        Some(("alice".into(), "alice.smith".into()))
    );
    assert_eq!(depot.state.metadata.accounts().await.unwrap().len(), 1);
}

#[tokio::test]
async fn oidc_ec_and_edwards_signatures_are_checked_too() {
    for alg in ["ES256", "EdDSA"] {
        let Some((node, depot)) = node_and_depot(alg).await else {
            return;
        };
        node.set_accounts(&[("u-7", "carol", "carol@example.com")]);
        let base = base(&depot);
        let browser = Browser::new();
        let back = browser
            .sign_in_at_provider(
                &format!("{base}/auth/corp/login"),
                "u-7",
                &format!("{base}/auth/corp/callback"),
            )
            .await;
        let done = browser.get(&back).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{alg}: {}", done.body);
        assert!(browser.has_session(&base), "{alg}");
    }
}

#[tokio::test]
async fn oidc_a_taken_name_gets_a_free_variant_and_a_welcome_page_saying_so() {
    let Some((node, depot)) = node_and_depot("RS256").await else {
        return;
    };
    depot.user("bob").await;
    node.set_accounts(&[("u-2002", "bob", "bob@example.com")]);
    let base = base(&depot);
    let browser = Browser::new();
    let back = browser
        .sign_in_at_provider(
            &format!("{base}/auth/corp/login?return_to=/origins"),
            "u-2002",
            &format!("{base}/auth/corp/callback"),
        )
        .await;
    let done = browser.get(&back).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(done.sets_session() && browser.has_session(&base));
    let welcome = done.location.unwrap();
    assert!(
        welcome.starts_with(&format!("{base}/welcome?")),
        "{welcome}"
    );
    let page = browser.get(&welcome).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Welcome, bob-2"), "{}", page.body);
    assert!(
        page.body.contains("Sign out"),
        "the frame shows the signed-in account"
    );
    assert!(
        page.body
            .contains("Another account already has the name `bob`"),
        "{}",
        page.body
    );
    assert!(page.body.contains("href=\"/origins\""), "{}", page.body);
    assert_eq!(
        account_of(&depot, "corp", "u-2002").await,
        Some(("bob-2".into(), "bob".into()))
    );
}

#[tokio::test]
async fn oidc_a_changed_state_a_replayed_answer_and_another_browser_are_refused() {
    let Some((node, depot)) = node_and_depot("RS256").await else {
        return;
    };
    node.set_accounts(&[("u-3003", "dave", "dave@example.com")]);
    let base = base(&depot);
    let callback = format!("{base}/auth/corp/callback");
    let browser = Browser::new();
    let back = browser
        .sign_in_at_provider(&format!("{base}/auth/corp/login"), "u-3003", &callback)
        .await;

    let changed = back.replace("state=", "state=x");
    let page = browser.get(&changed).await;
    assert_refused(
        &page,
        &browser,
        &depot,
        "matching the provider",
        "no sign-in in progress",
    );

    let elsewhere = Browser::new();
    let page = elsewhere.get(&back).await;
    assert_refused(
        &page,
        &elsewhere,
        &depot,
        "matching the provider",
        "another browser",
    );

    // That attempt used the sign-in up: even its own browser cannot finish it now.
    let page = browser.get(&back).await;
    assert_refused(
        &page,
        &browser,
        &depot,
        "matching the provider",
        "already used",
    );
    assert_eq!(account_of(&depot, "corp", "u-3003").await, None);

    // A finished sign-in's answer, replayed (code and state), is refused.
    let back = browser
        .sign_in_at_provider(&format!("{base}/auth/corp/login"), "u-3003", &callback)
        .await;
    let done = browser.get(&back).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let replayer = Browser::new();
    let page = replayer.get(&back).await;
    assert_refused(
        &page,
        &replayer,
        &depot,
        "matching the provider",
        "already used",
    );
}

#[tokio::test]
async fn oidc_an_error_from_the_provider_is_shown_with_its_own_words() {
    let Some((_node, depot)) = node_and_depot("RS256").await else {
        return;
    };
    let base = base(&depot);
    let browser = Browser::new();
    let back = browser
        .cancel_at_provider(
            &format!("{base}/auth/corp/login"),
            &format!("{base}/auth/corp/callback"),
        )
        .await;
    assert!(back.contains("error=access_denied"), "{back}");
    let page = browser.get(&back).await;
    assert_refused(
        &page,
        &browser,
        &depot,
        "authorization at the provider",
        "access_denied",
    );
    assert!(
        page.body.contains("End-User aborted interaction"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Corp SSO"),
        "the provider's name: {}",
        page.body
    );
}

#[tokio::test]
async fn id_tokens_signed_by_another_key_for_another_audience_expired_or_with_another_nonce_are_refused()
 {
    let rogue = RogueIssuer::start("u-9", "mallory").await;
    let depot = oidc_depot(&rogue.issuer).await;
    let base = base(&depot);
    let callback = format!("{base}/auth/corp/callback");
    for (mode, why) in [
        (Rogue::OtherKey, "its signature does not match"),
        (Rogue::OtherAudience, "another audience"),
        (Rogue::Expired, "it has expired"),
        (Rogue::WrongNonce, "its nonce is not the one"),
    ] {
        rogue.set(mode);
        let browser = Browser::new();
        let hop = browser.get(&format!("{base}/auth/corp/login")).await;
        let back = browser.follow(hop, &callback).await.expect_err("back");
        let page = browser.get(&back).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{mode:?}");
        assert_refused(&page, &browser, &depot, "checking the ID token", why);
    }
    assert_eq!(account_of(&depot, "corp", "u-9").await, None);
    // The same issuer, honest: an EdDSA token, the secret sent in the form.
    rogue.set(Rogue::Honest);
    let browser = Browser::new();
    let hop = browser.get(&format!("{base}/auth/corp/login")).await;
    let back = browser.follow(hop, &callback).await.expect_err("back");
    let done = browser.get(&back).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(browser.has_session(&base));
    assert_eq!(
        account_of(&depot, "corp", "u-9").await,
        Some(("mallory".into(), "mallory".into()))
    );

    // A key rotation: the token names a key the depot has not seen; it fetches the keys once
    // more and accepts it.
    let fetches = rogue.jwks_fetches();
    rogue.rotate_keys();
    let browser = Browser::new();
    let hop = browser.get(&format!("{base}/auth/corp/login")).await;
    let back = browser.follow(hop, &callback).await.expect_err("back");
    let done = browser.get(&back).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(rogue.jwks_fetches(), fetches + 1);
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_page_naming_discovery() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let depot = oidc_depot(&issuer).await;
    let browser = Browser::new();
    let page = browser
        .get(&format!("{}/auth/corp/login", base(&depot)))
        .await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
    assert_refused(
        &page,
        &browser,
        &depot,
        "OpenID configuration",
        "cannot reach",
    );
    let missing = browser
        .get(&format!("{}/auth/nobody/login", base(&depot)))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// A depot with the GitHub stand-in as provider `github`.
async fn github_depot(accept_tokens: bool) -> (GitHubStandIn, TestDepot) {
    let gh = GitHubStandIn::start(CLIENT_ID, SECRET).await;
    let secrets = tempfile::tempdir().unwrap();
    let mut github = provider(secrets.path(), "github", ProviderKind::Github);
    github.web_url = Some(gh.web_url.clone());
    github.api_url = Some(gh.api_url.clone());
    github.accept_provider_tokens = accept_tokens;
    let depot = TestDepot::start_with(|s| s.auth.providers = vec![github]).await;
    (gh, depot)
}

fn octocat(login: &str) -> GitHubUser {
    GitHubUser {
        id: 583231,
        login: login.to_owned(),
        email: "octocat@example.com".to_owned(),
        hide_email: true,
    }
}

/// Signs in at the stand-in: the callback URL it sends the browser to.
async fn github_callback(browser: &Browser, depot: &TestDepot, return_to: &str) -> String {
    let base = base(depot);
    let hop = browser
        .get(&format!("{base}/auth/github/login?return_to={return_to}"))
        .await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let to = hop.location.clone().unwrap();
    assert!(to.contains("code_challenge_method=S256"), "{to}");
    browser
        .follow(hop, &format!("{base}/auth/github/callback"))
        .await
        .expect_err("the stand-in sends the browser back")
}

#[tokio::test]
async fn github_sign_up_then_sign_in_after_a_rename_by_the_numeric_id() {
    let (gh, depot) = github_depot(false).await;
    let base = base(&depot);
    gh.sign_in_as(&octocat("octocat"));
    let browser = Browser::new();
    let back = github_callback(&browser, &depot, "/profile").await;
    let done = browser.get(&back).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some(&*format!("{base}/profile")));
    assert!(browser.has_session(&base));
    let account = depot
        .state
        .metadata
        .account_by_name("octocat")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        account.email.as_deref(),
        Some("octocat@example.com"),
        "the primary e-mail from /user/emails when the profile hides it"
    );

    gh.sign_in_as(&octocat("the-octocat"));
    let again = Browser::new();
    let back = github_callback(&again, &depot, "/").await;
    let done = again.get(&back).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        account_of(&depot, "github", "583231").await,
        Some(("octocat".into(), "the-octocat".into()))
    );
    assert_eq!(depot.state.metadata.accounts().await.unwrap().len(), 1);
}

#[tokio::test]
async fn github_token_errors_answered_with_200_are_refused_with_their_words() {
    let (gh, depot) = github_depot(false).await;
    gh.sign_in_as(&octocat("octocat"));
    gh.token_error(Some((
        "bad_verification_code",
        "The code passed is incorrect or expired.",
    )));
    let browser = Browser::new();
    let back = github_callback(&browser, &depot, "/").await;
    let page = browser.get(&back).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_refused(
        &page,
        &browser,
        &depot,
        "exchanging the authorization code",
        "bad_verification_code",
    );
    assert!(
        page.body
            .contains("The code passed is incorrect or expired.")
    );
    assert_eq!(account_of(&depot, "github", "583231").await, None);
}

#[tokio::test]
async fn github_a_taken_name_gets_a_variant() {
    let (gh, depot) = github_depot(false).await;
    depot.user("octocat").await;
    depot.user("octocat-2").await;
    gh.sign_in_as(&octocat("octocat"));
    let browser = Browser::new();
    let back = github_callback(&browser, &depot, "/").await;
    let hop = browser.get(&back).await;
    let page = browser.follow(hop, "nowhere").await.unwrap();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Welcome, octocat-3"), "{}", page.body);
    assert!(
        page.body
            .contains("Another account already has the name `octocat`")
    );
    assert!(browser.has_session(&base(&depot)));
}

#[tokio::test]
async fn github_personal_access_tokens_act_as_the_identity_when_allowed() {
    let (gh, depot) = github_depot(true).await;
    let user = octocat("octocat");
    let pat = gh.personal_token(&user);
    let before = gh.user_calls();

    // Not signed up yet: 401 saying to sign in on the web once.
    let response = depot.get("/profile", Some(&pat)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = response.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("sign in on the depot's web interface"),
        "{message}"
    );

    gh.sign_in_as(&user);
    let browser = Browser::new();
    let back = github_callback(&browser, &depot, "/").await;
    assert_eq!(browser.get(&back).await.status, StatusCode::SEE_OTHER);

    // GitHub's answer is cached for a minute (the account is looked up each time): the user API
    // was asked once for the token, and once by the sign-in.
    for _ in 0..2 {
        let response = depot.get("/profile", Some(&pat)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["name"], "octocat");
    }
    assert_eq!(gh.user_calls(), before + 2);

    // A token GitHub does not know is an unknown token; ours still work.
    let response = depot.get("/profile", Some("ghp_unknown")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let ours = depot.user("local").await;
    let response = depot.get("/profile", Some(&ours)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn provider_tokens_are_refused_unless_the_provider_allows_them() {
    let (gh, depot) = github_depot(false).await;
    let user = octocat("octocat");
    gh.sign_in_as(&user);
    let browser = Browser::new();
    let back = github_callback(&browser, &depot, "/").await;
    assert_eq!(browser.get(&back).await.status, StatusCode::SEE_OTHER);
    let pat = gh.personal_token(&user);
    let response = depot.get("/profile", Some(&pat)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(gh.user_calls(), 1, "only the sign-in asked the user API");
}

/// The message of the error opening a depot with `providers`.
fn open_error(providers: Vec<ProviderSettings>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: dir.path().join("data"),
        auth: habitat_depot_server::settings::AuthSettings {
            providers,
            ..Default::default()
        },
        ..Settings::default()
    };
    let message = match AppState::open_embedded(settings) {
        Ok(_) => panic!("the settings were accepted"),
        Err(e) => {
            assert!(matches!(e.reason, OpenFailure::Provider(_)), "{e}");
            e.to_string()
        }
    };
    assert!(
        !dir.path().join("data").exists(),
        "a refused start leaves no data directory (a database without its key): {message}"
    );
    message
}

#[test]
fn bad_provider_settings_are_refused_at_start_naming_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let oidc = |id: &str| {
        let mut p = provider(d, id, ProviderKind::Oidc);
        p.issuer = Some("https://login.example.com/realms/eng".into());
        p
    };

    let message = open_error(vec![oidc("corp"), oidc("corp")]);
    assert!(
        message.contains("two providers have the id `corp`"),
        "{message}"
    );

    let message = open_error(vec![oidc("my corp")]);
    assert!(
        message.contains("provider id `my corp` is not usable"),
        "{message}"
    );

    let mut no_issuer = oidc("corp");
    no_issuer.issuer = None;
    let message = open_error(vec![no_issuer]);
    assert!(
        message.contains("`corp`: an OIDC provider needs an `issuer`"),
        "{message}"
    );

    let mut bad_issuer = oidc("corp");
    bad_issuer.issuer = Some("login.example.com".into());
    let message = open_error(vec![bad_issuer]);
    assert!(
        message.contains("`login.example.com` is not an http or https URL"),
        "{message}"
    );

    let mut no_secret = oidc("corp-sso");
    no_secret.client_secret_file = None;
    let message = open_error(vec![no_secret]);
    assert!(
        message.contains("`corp-sso` has no client secret")
            && message.contains("HAB_DEPOT_AUTH_CORP_SSO_CLIENT_SECRET"),
        "{message}"
    );

    let mut missing_file = oidc("corp");
    missing_file.client_secret_file = Some(d.join("nowhere"));
    let message = open_error(vec![missing_file]);
    assert!(
        message.contains("`corp`: client secret: cannot read"),
        "{message}"
    );

    let mut bad_ca = oidc("corp");
    let ca = d.join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    bad_ca.ca_file = Some(ca);
    let message = open_error(vec![bad_ca]);
    assert!(message.contains("cannot use the CA file"), "{message}");

    let mut tokens_on_oidc = oidc("corp");
    tokens_on_oidc.accept_provider_tokens = true;
    let message = open_error(vec![tokens_on_oidc]);
    assert!(message.contains("only for GitHub providers"), "{message}");
}

#[tokio::test]
async fn oidc_an_answer_naming_another_issuer_is_refused() {
    let Some((node, depot)) = node_and_depot("RS256").await else {
        return;
    };
    node.set_accounts(&[("u-4004", "erin", "erin@example.com")]);
    let base = base(&depot);
    let browser = Browser::new();
    let back = browser
        .sign_in_at_provider(
            &format!("{base}/auth/corp/login"),
            "u-4004",
            &format!("{base}/auth/corp/callback"),
        )
        .await;
    assert!(back.contains("iss="), "the provider names itself: {back}");
    let mut url = reqwest::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                "https://elsewhere.example".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let page = browser.get(url.as_str()).await;
    assert_refused(
        &page,
        &browser,
        &depot,
        "authorization at the provider",
        "comes from the issuer `https://elsewhere.example`",
    );
}

#[tokio::test]
async fn an_answer_brought_to_another_providers_callback_is_refused() {
    let gh = GitHubStandIn::start(CLIENT_ID, SECRET).await;
    let rogue = RogueIssuer::start("u-5", "frank").await;
    let secrets = tempfile::tempdir().unwrap();
    let mut github = provider(secrets.path(), "github", ProviderKind::Github);
    github.web_url = Some(gh.web_url.clone());
    github.api_url = Some(gh.api_url.clone());
    let mut corp = provider(secrets.path(), "corp", ProviderKind::Oidc);
    corp.issuer = Some(rogue.issuer.clone());
    corp.name = Some("Corp SSO".into());
    let depot = TestDepot::start_with(|s| s.auth.providers = vec![github, corp]).await;
    let base = base(&depot);

    let browser = Browser::new();
    let login = browser
        .get(&format!("{base}/login?return_to=/origins"))
        .await;
    assert!(
        login
            .body
            .contains("href=\"/auth/corp/login?return_to=/origins\">Sign in with Corp SSO<"),
        "{}",
        login.body
    );
    assert!(login.body.contains("Sign in with GitHub"), "{}", login.body);

    let hop = browser.get(&format!("{base}/auth/corp/login")).await;
    let back = browser
        .follow(hop, &format!("{base}/auth/corp/callback"))
        .await
        .expect_err("back");
    let elsewhere = back.replace("/auth/corp/callback", "/auth/github/callback");
    let page = browser.get(&elsewhere).await;
    assert_refused(
        &page,
        &browser,
        &depot,
        "matching the provider",
        "another provider",
    );
    assert_eq!(gh.user_calls(), 0);
}

#[tokio::test]
async fn signing_in_again_in_a_browser_ends_its_previous_session() {
    let (gh, depot) = github_depot(false).await;
    let base = base(&depot);
    gh.sign_in_as(&octocat("octocat"));
    let browser = Browser::new();
    let back = github_callback(&browser, &depot, "/").await;
    assert_eq!(browser.get(&back).await.status, StatusCode::SEE_OTHER);
    let first = browser.cookies(&base);
    assert!(first.contains("hab_session="), "{first}");

    let back = github_callback(&browser, &depot, "/").await;
    assert_eq!(browser.get(&back).await.status, StatusCode::SEE_OTHER);
    assert_ne!(browser.cookies(&base), first, "a new session");

    let home = |cookies: String| {
        let url = format!("{base}/");
        async move {
            reqwest::Client::new()
                .get(url)
                .header("cookie", cookies)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(home(browser.cookies(&base)).await.contains(">octocat<"));
    let old = home(first).await;
    assert!(
        old.contains("href=\"/login\""),
        "the old session is over: {old}"
    );
}
