//! The web pages at the HTTP level: each page renders, signed in and out; private packages stay
//! invisible to outsiders everywhere; each form works for a role the policy permits and is
//! refused with a 403 page below it; a new token's secret is shown once; keys upload from
//! pasted text and from a file; forms without their token are refused.

use habitat_core::PackageTarget;
use habitat_depot_server::store::{Role, Visibility};
use habitat_test_support::web::{Page, WebClient};
use habitat_test_support::{TestDepot, origin_keys};
use reqwest::StatusCode;

use crate::support::package_row;

const ZLIB: &str = "acme/zlib/1.2.11/20200101000000";
const ZLIB_NEW: &str = "acme/zlib/1.3.0/20210101000000";
const APP: &str = "acme/app/2.0.0/20210202000000";
const PRIVY: &str = "acme/privy/1.0.0/20210303000000";
const HIDDEN: &str = "secret/hidden/1.0.0/20210404000000";

/// A depot with `alice` owning the public origin `acme` (with a maintainer `mia`, a member
/// `mel`, an administrator `ada`) and the origin `secret` whose packages are private; `bob` is
/// an outsider. `acme/privy` is private, everything else in `acme` public; `acme/app` depends
/// on zlib. Returns the depot and the tokens of alice, mia, mel, ada and bob.
async fn depot() -> (TestDepot, [String; 5]) {
    let depot = TestDepot::start().await;
    let alice = depot.user("alice").await;
    depot
        .create_origin("alice", "acme", Visibility::Public)
        .await;
    depot
        .create_origin("alice", "secret", Visibility::Private)
        .await;
    let mia = depot.member("acme", "mia", Role::Maintainer, "alice").await;
    let mel = depot.member("acme", "mel", Role::Member, "alice").await;
    let ada = depot
        .member("acme", "ada", Role::Administrator, "alice")
        .await;
    let bob = depot.user("bob").await;
    let store = &depot.state.metadata;
    for ident in [ZLIB, ZLIB_NEW] {
        let mut row = package_row(ident);
        row.manifest = format!("# {ident}\nthe manifest");
        row.exposes = vec![8080];
        row.binds = vec!["database=port host".parse().unwrap()];
        row.binds_optional = vec!["cache=port".parse().unwrap()];
        store.insert_package(&row).await.unwrap();
    }
    let mut app = package_row(APP);
    app.deps = vec![ZLIB_NEW.parse().unwrap()];
    app.tdeps = app.deps.clone();
    store.insert_package(&app).await.unwrap();
    for ident in [PRIVY, HIDDEN] {
        let mut row = package_row(ident);
        row.visibility = Visibility::Private;
        store.insert_package(&row).await.unwrap();
    }
    (depot, [alice, mia, mel, ada, bob])
}

/// A browser signed in with `token`.
async fn browser(depot: &TestDepot, token: &str) -> WebClient {
    let web = WebClient::new(depot);
    web.sign_in_with_token(token).await;
    web
}

#[track_caller]
fn ok(page: &Page) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.starts_with("<!doctype html>"));
}

#[track_caller]
fn see_other(page: &Page, to: &str) {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.as_deref().unwrap_or_default();
    assert!(location.starts_with(to), "{location}");
}

#[track_caller]
fn refused(page: &Page, status: StatusCode, says: &str) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(page.body.contains(says), "{}", page.body);
}

fn path(ident: &str) -> String {
    format!("/pkgs/{ident}")
}

#[tokio::test]
async fn every_page_renders_signed_out() {
    let (depot, _) = depot().await;
    let web = WebClient::new(&depot);
    let home = web.get("/").await;
    ok(&home);
    assert!(home.body.contains(&path(APP)), "newest uploads listed");
    assert!(
        home.body.contains("<strong>2</strong> origins"),
        "{}",
        home.body
    );
    assert!(
        home.body.contains("<strong>2</strong> packages"),
        "zlib and app"
    );

    let search = web.get("/search?q=zli").await;
    ok(&search);
    assert!(search.body.contains(&path(ZLIB_NEW)), "{}", search.body);
    let origins = web.get("/search?q=acm").await;
    assert!(origins.body.contains("href=\"/origins/acme\""));

    let origin = web.get("/origins/acme").await;
    ok(&origin);
    assert!(origin.body.contains("href=\"/pkgs/acme/zlib\""));
    assert!(origin.body.contains("href=\"/channels/acme/stable\""));
    assert!(
        !origin.body.contains("Create channel"),
        "no controls signed out"
    );
    assert!(
        !origin.body.contains("id=\"members\""),
        "members only to members"
    );

    let package = web.get("/pkgs/acme/zlib").await;
    ok(&package);
    let newest = package.body.find("1.3.0").unwrap();
    let older = package.body.find("1.2.11").unwrap();
    assert!(newest < older, "newest version first");
    ok(&web.get("/pkgs/acme/zlib/1.2.11").await);

    let release = web.get(&path(ZLIB_NEW)).await;
    ok(&release);
    for expected in [
        "hab pkg install acme/zlib/1.3.0/20210101000000",
        "hab start acme/zlib",
        "/pkgs/acme/zlib/1.3.0/20210101000000/download?target=x86_64-linux",
        "the manifest",
        "8080",
        "<code>database</code>: port, host</li>",
        "<code>cache</code>: port (optional)</li>",
        "href=\"/pkgs/acme/app\"",
        "href=\"/channels/acme/unstable\"",
    ] {
        assert!(
            release.body.contains(expected),
            "{expected}: {}",
            release.body
        );
    }
    assert!(!release.body.contains("Promote"), "no buttons signed out");
    let app = web.get(&path(APP)).await;
    assert!(
        app.body.contains(&format!("href=\"{}\"", path(ZLIB_NEW))),
        "deps linked"
    );

    let css = web.get("/static/site.css").await;
    assert_eq!(css.status, StatusCode::OK);
    for page in [&home, &origin, &release] {
        let weight = page.body.len() + css.body.len();
        assert!(weight < 100 * 1024, "{weight} bytes with the stylesheet");
    }
    let channel = web.get("/channels/acme/unstable").await;
    ok(&channel);
    assert!(channel.body.contains(&path(ZLIB)));
    ok(&web.get("/static/site.js").await.into_ok_text());

    see_other(&web.get("/origins").await, "/login?return_to=/origins");
    see_other(&web.get("/profile").await, "/login?return_to=/profile");
    assert_eq!(web.get("/origins/nope").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        web.get("/pkgs/acme/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        web.get("/channels/acme/nope").await.status,
        StatusCode::NOT_FOUND
    );
}

/// A static file's answer as a page, for [`ok`]'s status check.
trait IntoOkText {
    fn into_ok_text(self) -> Page;
}

impl IntoOkText for Page {
    fn into_ok_text(self) -> Page {
        Page {
            body: format!("<!doctype html>{}", self.body),
            ..self
        }
    }
}

#[tokio::test]
async fn private_packages_are_invisible_to_outsiders_on_every_page_and_in_search() {
    let (depot, [alice, _, mel, _, bob]) = depot().await;
    let anonymous = WebClient::new(&depot);
    let outsider = browser(&depot, &bob).await;
    for web in [&anonymous, &outsider] {
        let home = web.get("/").await;
        assert!(!home.body.contains("acme/privy") && !home.body.contains("secret/hidden"));
        let search = web.get("/search?q=i").await;
        ok(&search);
        assert!(!search.body.contains("acme/privy") && !search.body.contains("secret/hidden"));
        assert!(!web.get("/origins/acme").await.body.contains("privy"));
        assert!(
            !web.get("/origins/secret")
                .await
                .body
                .contains("secret/hidden")
        );
        assert!(
            !web.get("/channels/acme/unstable")
                .await
                .body
                .contains("privy")
        );
        for hidden in [
            "/pkgs/acme/privy".to_owned(),
            "/pkgs/acme/privy/1.0.0".to_owned(),
            path(PRIVY),
            path(HIDDEN),
            "/pkgs/secret/hidden".to_owned(),
        ] {
            let page = web.get(&hidden).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{hidden}");
        }
    }
    // Members see them: a member of acme its private package, the owner both.
    let member = browser(&depot, &mel).await;
    assert!(member.get("/origins/acme").await.body.contains("privy"));
    ok(&member.get(&path(PRIVY)).await);
    assert_eq!(
        member.get(&path(HIDDEN)).await.status,
        StatusCode::NOT_FOUND
    );
    let owner = browser(&depot, &alice).await;
    let search = owner.get("/search?q=i").await;
    assert!(search.body.contains("acme/privy") && search.body.contains("secret/hidden"));
    let home = owner.get("/").await;
    assert!(home.body.contains(&path(HIDDEN)), "{}", home.body);
    ok(&owner.get(&path(HIDDEN)).await);
}

#[tokio::test]
async fn an_account_creates_an_origin_like_the_api_does() {
    let (depot, [_, _, _, _, bob]) = depot().await;
    let web = browser(&depot, &bob).await;
    let list = web.get("/origins").await;
    ok(&list);
    assert!(list.body.contains("not a member of any origin"));
    let created = web
        .post("/origins", &[("name", "bobs"), ("visibility", "private")])
        .await;
    see_other(&created, "/origins/bobs?done=origin-created");
    let page = web.get("/origins/bobs?done=origin-created").await;
    assert!(page.body.contains("The origin was created."));
    assert!(
        page.body.contains("New packages are"),
        "settings for the owner"
    );
    let origin = depot
        .state
        .metadata
        .origin(&"bobs".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(origin.default_package_visibility, Visibility::Private);
    assert!(
        web.get("/origins")
            .await
            .body
            .contains("href=\"/origins/bobs\"")
    );
    let again = web.post("/origins", &[("name", "bobs")]).await;
    refused(&again, StatusCode::CONFLICT, "already exists");
    let bad = web.post("/origins", &[("name", "Bad Name")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let anonymous = WebClient::new(&depot);
    anonymous.get("/login").await;
    let page = anonymous.post("/origins", &[("name", "anon")]).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
}

#[tokio::test]
async fn controls_show_by_role_and_forms_are_refused_below_it() {
    let (depot, [alice, mia, mel, ada, _]) = depot().await;
    let (owner, maintainer, member, admin) = (
        browser(&depot, &alice).await,
        browser(&depot, &mia).await,
        browser(&depot, &mel).await,
        browser(&depot, &ada).await,
    );
    let seen = member.get("/origins/acme").await;
    assert!(
        seen.body.contains("id=\"members\""),
        "members listed to members"
    );
    assert!(!seen.body.contains("Create channel") && !seen.body.contains("Invite"));
    let seen = maintainer.get("/origins/acme").await;
    assert!(seen.body.contains("Create channel") && seen.body.contains(">Invite<"));
    assert!(!seen.body.contains("Upload key") && !seen.body.contains("/role\""));

    // Channels: maintainers.
    member.get("/origins/acme").await;
    let page = member
        .post("/origins/acme/channels", &[("name", "beta")])
        .await;
    refused(&page, StatusCode::FORBIDDEN, "needs role `maintainer`");
    maintainer.get("/origins/acme").await;
    let page = maintainer
        .post("/origins/acme/channels", &[("name", "beta")])
        .await;
    see_other(&page, "/origins/acme?done=channel-created");
    assert!(
        maintainer
            .get("/origins/acme")
            .await
            .body
            .contains("/origins/acme/channels/beta/delete")
    );

    // Promote and demote: maintainers.
    let release = path(ZLIB_NEW);
    let form = [("channel", "beta"), ("target", "x86_64-linux")];
    member.get(&release).await;
    let page = member.post(&format!("{release}/promote"), &form).await;
    refused(&page, StatusCode::FORBIDDEN, "needs role `maintainer`");
    let shown = maintainer.get(&release).await;
    assert!(shown.body.contains("Promote"));
    let page = maintainer.post(&format!("{release}/promote"), &form).await;
    see_other(&page, &format!("{release}?done=promoted"));
    let channel = maintainer.get("/channels/acme/beta").await;
    assert!(channel.body.contains(&release));
    maintainer.get(&release).await;
    let page = maintainer.post(&format!("{release}/demote"), &form).await;
    see_other(&page, &format!("{release}?done=demoted"));
    let page = maintainer
        .post(
            &format!("{release}/demote"),
            &[("channel", "unstable"), ("target", "x86_64-linux")],
        )
        .await;
    refused(&page, StatusCode::FORBIDDEN, "cannot be demoted");
    let page = maintainer
        .post("/origins/acme/channels/beta/delete", &[])
        .await;
    see_other(&page, "/origins/acme?done=channel-deleted");
    let page = maintainer
        .post("/origins/acme/channels/stable/delete", &[])
        .await;
    refused(&page, StatusCode::FORBIDDEN, "cannot be deleted");

    // Invitations: maintainers send and rescind.
    depot.user("ivy").await;
    member.get("/origins/acme").await;
    let page = member
        .post("/origins/acme/invitations", &[("account", "ivy")])
        .await;
    refused(&page, StatusCode::FORBIDDEN, "needs role `maintainer`");
    maintainer.get("/origins/acme").await;
    let page = maintainer
        .post("/origins/acme/invitations", &[("account", "ivy")])
        .await;
    see_other(&page, "/origins/acme?done=invited");
    let shown = maintainer.get("/origins/acme").await;
    assert!(shown.body.contains("ivy, invited by mia"));
    let at = shown.body.find("/rescind").unwrap();
    let start = shown.body[..at]
        .rfind("/origins/acme/invitations/")
        .unwrap();
    let rescind = shown.body[start..at + "/rescind".len()].to_owned();
    let page = maintainer.post(&rescind, &[]).await;
    see_other(&page, "/origins/acme?done=rescinded");

    // Roles: administrators; never one's own or the owner's.
    maintainer.get("/origins/acme").await;
    let page = maintainer
        .post("/origins/acme/members/mel/role", &[("role", "maintainer")])
        .await;
    refused(&page, StatusCode::FORBIDDEN, "needs role `administrator`");
    let shown = admin.get("/origins/acme").await;
    assert!(shown.body.contains("/origins/acme/members/mel/role"));
    assert!(!shown.body.contains("/origins/acme/members/alice/role"));
    assert!(
        !shown.body.contains("/members/mel/remove"),
        "removal is the owner's"
    );
    let page = admin
        .post("/origins/acme/members/mel/role", &[("role", "maintainer")])
        .await;
    see_other(&page, "/origins/acme?done=role-changed");
    let role = depot
        .state
        .metadata
        .role(
            &"acme".parse().unwrap(),
            depot
                .state
                .metadata
                .account_by_name("mel")
                .await
                .unwrap()
                .unwrap()
                .id,
        )
        .await
        .unwrap();
    assert_eq!(role, Some(Role::Maintainer));
    let page = admin
        .post("/origins/acme/members/alice/role", &[("role", "member")])
        .await;
    refused(&page, StatusCode::FORBIDDEN, "owner");

    // Settings: administrators.
    maintainer.get("/origins/acme").await;
    let page = maintainer
        .post("/origins/acme/settings", &[("visibility", "private")])
        .await;
    refused(&page, StatusCode::FORBIDDEN, "needs role `administrator`");
    admin.get("/origins/acme").await;
    let page = admin
        .post("/origins/acme/settings", &[("visibility", "private")])
        .await;
    see_other(&page, "/origins/acme?done=settings");

    // Removing members: the owner only, never the owner.
    admin.get("/origins/acme").await;
    let page = admin.post("/origins/acme/members/mel/remove", &[]).await;
    refused(&page, StatusCode::FORBIDDEN, "needs role `owner`");
    let shown = owner.get("/origins/acme").await;
    assert!(!shown.body.contains("/members/alice/remove"));
    let page = owner.post("/origins/acme/members/mel/remove", &[]).await;
    see_other(&page, "/origins/acme?done=member-removed");
    let page = owner.post("/origins/acme/members/alice/remove", &[]).await;
    refused(&page, StatusCode::FORBIDDEN, "cannot be removed");
}

#[tokio::test]
async fn keys_upload_from_pasted_text_and_from_a_file() {
    let (depot, [_, mia, _, ada, _]) = depot().await;
    let keys = origin_keys(depot.dir.path(), "acme");
    let revision = keys.secret.name().revision().to_owned();
    let maintainer = browser(&depot, &mia).await;
    maintainer.get("/origins/acme").await;
    let page = maintainer
        .post_multipart(
            "/origins/acme/keys",
            &[("kind", "public"), ("text", &keys.public_text)],
            &[],
        )
        .await;
    refused(&page, StatusCode::FORBIDDEN, "needs role `administrator`");

    let admin = browser(&depot, &ada).await;
    assert!(admin.get("/origins/acme").await.body.contains("Upload key"));
    let page = admin
        .post_multipart(
            "/origins/acme/keys",
            &[("kind", "public"), ("text", &keys.public_text)],
            &[("file", "", b"")],
        )
        .await;
    see_other(&page, "/origins/acme?done=public-key");
    let shown = admin.get("/origins/acme").await;
    let link = format!("/v1/depot/origins/acme/keys/{revision}");
    assert!(shown.body.contains(&link), "{}", shown.body);
    let download = depot
        .get(&format!("/depot/origins/acme/keys/{revision}"), None)
        .await;
    assert_eq!(download.status(), StatusCode::OK);

    let secret_text = keys.secret.to_file_string();
    let page = admin
        .post_multipart(
            "/origins/acme/keys",
            &[("kind", "secret"), ("text", "")],
            &[("file", "acme.sig.key", secret_text.as_bytes())],
        )
        .await;
    see_other(&page, "/origins/acme?done=secret-key");
    let stored = depot
        .state
        .metadata
        .latest_secret_key(&"acme".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revision, revision);

    admin.get("/origins/acme").await;
    let other = origin_keys(depot.dir.path(), "other");
    let page = admin
        .post_multipart(
            "/origins/acme/keys",
            &[("kind", "public"), ("text", &other.public_text)],
            &[],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    let page = admin
        .post_multipart("/origins/acme/keys", &[("kind", "public")], &[])
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_new_tokens_secret_is_shown_once_and_works() {
    let (depot, [_, _, _, _, bob]) = depot().await;
    let bob_id = depot
        .state
        .metadata
        .account_by_name("bob")
        .await
        .unwrap()
        .unwrap()
        .id;
    let identity = habitat_depot_server::store::NewIdentity {
        provider: "corp".into(),
        subject: "s-42".into(),
        username: "bob.b".into(),
        email: Some("bob@example.com".into()),
    };
    depot
        .state
        .metadata
        .link_identity(bob_id, &identity)
        .await
        .unwrap();
    let web = browser(&depot, &bob).await;
    let profile = web.get("/profile").await;
    ok(&profile);
    assert!(
        profile.body.contains("corp: bob.b (bob@example.com)"),
        "{}",
        profile.body
    );
    let page = web
        .post(
            "/profile/tokens",
            &[("name", "laptop"), ("expires_in_days", "30")],
        )
        .await;
    ok(&page);
    let at = page.body.find("id=\"new-secret\" class=\"wrap\">").unwrap();
    let rest = &page.body[at + "id=\"new-secret\" class=\"wrap\">".len()..];
    let secret = rest[..rest.find('<').unwrap()].to_owned();
    assert!(secret.starts_with("hab_"), "{secret}");
    assert_eq!(page.headers["cache-control"], "no-store");
    let api = depot.get("/profile", Some(&secret)).await;
    assert_eq!(api.status(), StatusCode::OK);
    let again = web.get("/profile").await;
    assert!(!again.body.contains(&secret), "shown once only");
    assert!(again.body.contains("laptop"));
    let laptop = again.body.find("laptop").unwrap();
    let at = laptop + again.body[laptop..].find("/revoke\"").unwrap();
    let start = again.body[..at].rfind("/profile/tokens/").unwrap();
    let revoke = again.body[start..at + "/revoke".len()].to_owned();
    let page = web.post(&revoke, &[]).await;
    see_other(&page, "/profile?done=token-revoked");
    let api = depot.get("/profile", Some(&secret)).await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let page = web.post("/profile/tokens/999999/revoke", &[]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invitations_are_accepted_or_ignored_from_the_profile() {
    let (depot, [_, _, _, _, bob]) = depot().await;
    let store = &depot.state.metadata;
    let acme = store
        .create_invitation(&"acme".parse().unwrap(), "bob", "alice")
        .await
        .unwrap();
    let secret = store
        .create_invitation(&"secret".parse().unwrap(), "bob", "alice")
        .await
        .unwrap();
    let mia = depot.user("nosy").await;
    let nosy = browser(&depot, &mia).await;
    nosy.get("/profile").await;
    let page = nosy
        .post(&format!("/profile/invitations/{}/accept", acme.id), &[])
        .await;
    refused(&page, StatusCode::FORBIDDEN, "only its invitee");

    let web = browser(&depot, &bob).await;
    let profile = web.get("/profile").await;
    assert!(profile.body.contains("Origin <strong>acme</strong>"));
    let page = web
        .post(&format!("/profile/invitations/{}/accept", acme.id), &[])
        .await;
    see_other(&page, "/origins/acme?done=accepted");
    assert!(
        web.get("/origins")
            .await
            .body
            .contains("href=\"/origins/acme\"")
    );
    let page = web
        .post(&format!("/profile/invitations/{}/ignore", secret.id), &[])
        .await;
    see_other(&page, "/profile?done=ignored");
    assert!(!web.get("/profile").await.body.contains("Origin <strong>"));
}

#[tokio::test]
async fn page_forms_without_their_token_or_from_elsewhere_are_refused() {
    let (depot, [alice, ..]) = depot().await;
    let web = browser(&depot, &alice).await;
    let csrf = web.get("/origins/acme").await.csrf().unwrap();
    let page = web
        .post_raw("/origins/acme/channels", &[("name", "x1")], None)
        .await;
    refused(&page, StatusCode::FORBIDDEN, "expired");
    let page = web
        .post_raw(
            "/origins/acme/channels",
            &[("name", "x2"), ("csrf", &csrf)],
            Some("http://evil.example"),
        )
        .await;
    refused(&page, StatusCode::FORBIDDEN, "another site");
    let page = web
        .post_raw(
            "/profile/tokens",
            &[("name", "x"), ("csrf", "forged")],
            None,
        )
        .await;
    refused(&page, StatusCode::FORBIDDEN, "expired");
    let channels = depot
        .state
        .metadata
        .channels(&"acme".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(channels.len(), 2, "nothing was created");
}

#[tokio::test]
async fn a_release_of_several_targets_offers_the_choice() {
    let (depot, _) = depot().await;
    let mut row = package_row(ZLIB);
    row.target = PackageTarget::Aarch64Linux;
    row.checksum = habitat_core::Blake2bHash::digest(b"arm");
    depot.state.metadata.insert_package(&row).await.unwrap();
    let web = WebClient::new(&depot);
    let page = web.get(&path(ZLIB)).await;
    ok(&page);
    assert!(
        page.body.contains("<option value=\"aarch64-linux\""),
        "{}",
        page.body
    );
    let arm = web
        .get(&format!("{}?target=aarch64-linux", path(ZLIB)))
        .await;
    ok(&arm);
    assert!(arm.body.contains("download?target=aarch64-linux"));
    let none = web
        .get(&format!("{}?target=x86_64-windows", path(ZLIB)))
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_name_walk_crosses_origins_skips_what_is_hidden_and_finds_the_newest() {
    let (depot, _) = depot().await;
    let store = &depot.state.metadata;
    for ident in [
        "acme/zlib/1.9.0/20220101000000",
        "acme/zlib/1.10.0/20200101000000",
    ] {
        store.insert_package(&package_row(ident)).await.unwrap();
    }
    let mut newest_private = package_row("acme/zlib/1.11.0/20230101000000");
    newest_private.visibility = Visibility::Private;
    store.insert_package(&newest_private).await.unwrap();
    let pairs = |names: &[(habitat_core::OriginName, String)]| -> Vec<String> {
        names.iter().map(|(o, n)| format!("{o}/{n}")).collect()
    };
    let public = store.package_names(None, &[]).await.unwrap();
    assert_eq!(pairs(&public), ["acme/app", "acme/zlib"]);
    let acme: habitat_core::OriginName = "acme".parse().unwrap();
    let secret: habitat_core::OriginName = "secret".parse().unwrap();
    let scope = [acme.clone(), secret.clone()];
    let all = store.package_names(None, &scope).await.unwrap();
    assert_eq!(
        pairs(&all),
        ["acme/app", "acme/privy", "acme/zlib", "secret/hidden"]
    );
    let one = store.package_names(Some(&secret), &[]).await.unwrap();
    assert!(
        one.is_empty(),
        "a private-only origin shows nothing to outsiders"
    );
    let newest = store.newest_releases(&public, &[]).await.unwrap();
    let idents: Vec<String> = newest.iter().map(|p| p.ident.to_string()).collect();
    assert_eq!(
        idents,
        [APP, "acme/zlib/1.10.0/20200101000000"],
        "Habitat's version order, private releases left out"
    );
    let newest = store.newest_releases(&all, &scope).await.unwrap();
    assert_eq!(
        newest[2].ident.to_string(),
        "acme/zlib/1.11.0/20230101000000"
    );
    assert_eq!(newest.len(), 4);
}

#[tokio::test]
async fn a_change_through_the_depot_shows_on_the_next_anonymous_view_of_a_kept_page() {
    let (depot, [alice, ..]) = depot().await;
    let web = WebClient::new(&depot);
    let release = |ident: &str| format!("href=\"{}\"", path(ident));
    // Seen once, so each page is kept for anonymous viewers.
    let package = web.get("/pkgs/acme/zlib").await;
    assert!(
        package.body.contains(&release(ZLIB_NEW)),
        "{}",
        package.body
    );
    let search = web.get("/search?q=zli").await;
    assert!(search.body.contains(&release(ZLIB_NEW)), "{}", search.body);
    let origin = web.get("/origins/acme").await;
    assert!(origin.body.contains(&release(ZLIB_NEW)), "{}", origin.body);
    let home = web.get("/").await;
    assert!(home.body.contains("<strong>2</strong> packages"));
    assert_eq!(web.get("/pkgs/acme/zlib").await.body, package.body, "kept");

    let made_private = depot
        .request(
            reqwest::Method::PATCH,
            &format!("/depot/pkgs/{ZLIB_NEW}/private"),
            Some(&alice),
        )
        .send()
        .await
        .unwrap();
    assert!(made_private.status().is_success(), "{made_private:?}");

    let package = web.get("/pkgs/acme/zlib").await;
    ok(&package);
    assert!(
        !package.body.contains(&release(ZLIB_NEW)),
        "{}",
        package.body
    );
    assert!(package.body.contains(&release(ZLIB)), "{}", package.body);
    for page in ["/search?q=zli", "/origins/acme"] {
        let page = web.get(page).await;
        assert!(!page.body.contains(&release(ZLIB_NEW)), "{}", page.body);
        assert!(page.body.contains(&release(ZLIB)), "{}", page.body);
    }

    // A forced reload (`Cache-Control: no-cache`) renders the page anew, here unchanged.
    let reloaded = reqwest::Client::new()
        .get(format!("{}/pkgs/acme/zlib", web.base))
        .header("cache-control", "no-cache")
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status(), StatusCode::OK);
    assert_eq!(reloaded.text().await.unwrap(), package.body);
}
