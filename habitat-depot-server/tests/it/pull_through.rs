//! The pull-through cache: two real depots on 127.0.0.1, an upstream and a cache whose
//! `[[upstream]]` points at it through a proxy that counts the requests (and alters answers
//! on demand). What the cache answers comes from its own stores, after the checks of an upload.

use std::time::Duration;

use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use habitat_depot_client::{Client, Token};
use habitat_depot_server::settings::UpstreamSettings;
use habitat_depot_server::sync::pull::CACHE_ACCOUNT;
use habitat_test_support::proxy::Proxy;
use habitat_test_support::{OriginKeys, TestDepot, artifact, assert_error, origin_keys};
use reqwest::StatusCode;
use serde_json::Value;

const X86_64: PackageTarget = PackageTarget::X86_64Linux;
const LIBA: &str = "core/liba/1.0.0/20240101000000";
const APP: &str = "acme/app/1.0.0/20240101000000";

/// An upstream holding `core/liba` and `acme/app` (which needs it), both in `stable`; a proxy
/// in front of it; and a cache of `core` and `acme` through the proxy.
struct Setup {
    upstream: TestDepot,
    proxy: Proxy,
    cache: TestDepot,
    keys: Vec<OriginKeys>,
}

impl Setup {
    async fn start(configure: impl FnOnce(&mut UpstreamSettings)) -> Self {
        let upstream = TestDepot::start().await;
        let alice = upstream.user("alice").await;
        let client = Client::builder(upstream.url.parse().unwrap())
            .token(Some(Token::new(alice.clone()).unwrap()))
            .no_proxy()
            .build()
            .unwrap();
        let work = upstream.scratch("work");
        let mut keys = Vec::new();
        for origin in ["core", "acme"] {
            upstream.origin(&alice, origin).await;
            let made = origin_keys(&work, origin);
            upstream.publish_key(origin, &made).await;
            keys.push(made);
        }
        let stable: ChannelName = "stable".parse().unwrap();
        for (ident, tdeps, key) in [(LIBA, vec![], &keys[0]), (APP, vec![LIBA], &keys[1])] {
            let hart = artifact(&work, ident, &tdeps, &key.secret);
            let ident: FullyQualifiedIdent = ident.parse().unwrap();
            client
                .upload(&hart, &ident, X86_64, None, false, |_| {})
                .await
                .unwrap();
            client.promote(&ident, X86_64, &stable).await.unwrap();
        }
        let proxy = Proxy::start(&upstream.url).await;
        let mut settings = UpstreamSettings {
            url: proxy.url.clone(),
            origins: vec!["core".parse().unwrap(), "acme".parse().unwrap()],
            channels: Vec::new(),
            metadata_max_age: 300,
            negative_ttl: 60,
            token_file: None,
        };
        configure(&mut settings);
        let cache = TestDepot::start_with(|s| s.upstreams = vec![settings]).await;
        Self {
            upstream,
            proxy,
            cache,
            keys,
        }
    }

    /// `GET path` at the cache: its status and body.
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self.cache.get(path, None).await;
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// `GET path` at the cache, which must answer 200 with JSON.
    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Whether the cache stores `ident`.
    async fn has(&self, ident: &str) -> bool {
        let ident: FullyQualifiedIdent = ident.parse().unwrap();
        let store = &self.cache.state.metadata;
        store.package(&ident, X86_64).await.unwrap().is_some()
    }
}

/// An error answer: `status`, with `code` and a message.
#[track_caller]
fn answers(status: StatusCode, body: &str, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_error(&serde_json::from_str(body).unwrap(), code);
}

/// The latest of `acme/app` in `stable`, as `hab pkg install` asks it.
const APP_LATEST: &str = "/depot/channels/acme/stable/pkgs/app/latest?target=x86_64-linux";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_is_fetched_with_its_dependencies_and_then_served_from_here() {
    let setup = Setup::start(|_| {}).await;
    let latest = setup.json(APP_LATEST).await;
    assert_eq!(latest["ident"]["release"], "20240101000000");
    assert!(setup.has(LIBA).await && setup.has(APP).await);
    assert_eq!(setup.proxy.count("/download"), 2);
    // The membership the upstream has; the dependency is only in `unstable`, as upstream it
    // is in `stable` but was not asked for in a channel.
    let channels = setup
        .json(&format!("/depot/pkgs/{APP}/channels?target=x86_64-linux"))
        .await;
    let names: Vec<&str> = channels
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["stable", "unstable"]);
    // The origins the cache made are cached ones, owned by its reserved account.
    let origin = setup.json("/depot/origins/acme").await;
    assert_eq!(origin["owner"], CACHE_ACCOUNT);

    // Everything `hab pkg install` asks next is here: no upstream request.
    let before = setup.proxy.requests().len();
    setup.json(APP_LATEST).await;
    setup
        .json(&format!("/depot/pkgs/{LIBA}?target=x86_64-linux"))
        .await;
    for path in [
        format!("/depot/channels/acme/stable/pkgs/{}/download", &APP[5..]),
        format!("/depot/pkgs/{LIBA}/download"),
    ] {
        let (status, _) = setup.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let revision = setup.keys[1].secret.name().revision().to_owned();
    let (status, key) = setup
        .get(&format!("/depot/origins/acme/keys/{revision}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(key.trim(), setup.keys[1].public_text.trim());
    assert_eq!(
        setup.proxy.requests()[before..],
        [] as [String; 0],
        "no upstream request"
    );
    // The upstream itself saw every artifact downloaded once.
    drop(setup.upstream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_at_once_cause_one_upstream_fetch() {
    let setup = Setup::start(|_| {}).await;
    let url = format!("{}{APP_LATEST}", setup.cache.url);
    let download = format!(
        "{}/depot/pkgs/{APP}/download?target=x86_64-linux",
        setup.cache.url
    );
    let asks = (0..16).map(|i| {
        let client = setup.cache.client.clone();
        // Half ask the latest, half download the release directly.
        let url = if i % 2 == 0 {
            url.clone()
        } else {
            download.clone()
        };
        tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
    });
    for ask in asks {
        assert_eq!(ask.await.unwrap(), StatusCode::OK);
    }
    let downloads: Vec<String> = setup
        .proxy
        .requests()
        .into_iter()
        .filter(|p| p.contains("/download"))
        .collect();
    assert_eq!(
        downloads.len(),
        2,
        "one download per package: {downloads:?}"
    );
    assert_eq!(
        setup.proxy.count("/channels/acme/stable/pkgs/app/latest"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_or_another_key_is_refused_and_nothing_is_stored() {
    let setup = Setup::start(|_| {}).await;
    setup.proxy.flip_downloads(true);
    let (status, body) = setup
        .get(&format!("/depot/pkgs/{LIBA}/download?target=x86_64-linux"))
        .await;
    answers(status, &body, StatusCode::BAD_GATEWAY, "upstream_refused");
    assert!(body.contains("core/liba"), "{body}");
    assert!(!setup.has(LIBA).await);
    let core: OriginName = "core".parse().unwrap();
    let store = &setup.cache.state.metadata;
    assert!(store.public_keys(&core).await.unwrap().is_empty());

    // Another key under the same name: the artifact does not verify with it.
    setup.proxy.flip_downloads(false);
    let other = habitat_test_support::signing_key("core");
    let text = other.public_key().to_file_string().replacen(
        &other.name().to_string(),
        &setup.keys[0].secret.name().to_string(),
        1,
    );
    setup.proxy.serve_key(Some(text));
    let (status, body) = setup.get(APP_LATEST).await;
    answers(status, &body, StatusCode::BAD_GATEWAY, "upstream_refused");
    assert!(!setup.has(LIBA).await && !setup.has(APP).await);
    assert!(store.public_keys(&core).await.unwrap().is_empty());

    // The upstream's own answers are taken.
    setup.proxy.serve_key(None);
    setup.json(APP_LATEST).await;
    assert!(setup.has(LIBA).await && setup.has(APP).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_made_here_is_never_fetched() {
    let setup = Setup::start(|_| {}).await;
    let bob = setup.cache.user("bob").await;
    setup.cache.origin(&bob, "acme").await;
    let (status, _) = setup.get(APP_LATEST).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = setup
        .get(&format!("/depot/pkgs/{APP}/download?target=x86_64-linux"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = setup.get("/depot/origins/acme/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(setup.proxy.requests(), [] as [String; 0]);
    // An origin not listed is not fetched either.
    let (status, _) = setup
        .get("/depot/channels/other/stable/pkgs/x/latest?target=x86_64-linux")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(setup.proxy.requests(), [] as [String; 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_404_is_remembered_for_negative_ttl() {
    let setup = Setup::start(|s| s.negative_ttl = 2).await;
    let missing = "/depot/channels/acme/stable/pkgs/nope/latest?target=x86_64-linux";
    for _ in 0..3 {
        let (status, _) = setup.get(missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(setup.proxy.count("/pkgs/nope/latest"), 1);
    let release = "/depot/pkgs/acme/nope/1.0.0/20240101000000?target=x86_64-linux";
    for _ in 0..2 {
        let (status, _) = setup.get(release).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(setup.proxy.count("/pkgs/acme/nope/1.0.0"), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _) = setup.get(missing).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(setup.proxy.count("/pkgs/nope/latest"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_upstream_is_down_the_cached_latest_is_served() {
    // Every `latest` is asked upstream again.
    let setup = Setup::start(|s| s.metadata_max_age = 0).await;
    setup.json(APP_LATEST).await;
    let asked = setup.proxy.count("/pkgs/app/latest");
    setup.proxy.set_down(true);
    let latest = setup.json(APP_LATEST).await;
    assert_eq!(latest["ident"]["name"], "app");
    assert!(setup.proxy.count("/pkgs/app/latest") > asked, "asked again");
    let (status, _) = setup
        .get(&format!("/depot/pkgs/{APP}/download?target=x86_64-linux"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // What was never cached cannot be served: 502, saying why.
    let (status, body) = setup
        .get("/depot/channels/acme/stable/pkgs/other/latest?target=x86_64-linux")
        .await;
    answers(
        status,
        &body,
        StatusCode::BAD_GATEWAY,
        "upstream_unavailable",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_a_release_in_a_channel_are_fetched_too() {
    let setup = Setup::start(|_| {}).await;
    let revision = setup.keys[0].secret.name().revision().to_owned();
    let listed = setup.json("/depot/origins/core/keys").await;
    assert_eq!(listed[0]["revision"], revision.as_str());
    let (status, key) = setup.get("/depot/origins/core/keys/latest").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(key.trim(), setup.keys[0].public_text.trim());
    // The list is fresh for `metadata_max_age`: asked upstream once, then its one key file.
    assert_eq!(setup.proxy.count("/origins/core/keys"), 2);
    assert_eq!(
        setup.proxy.count(&format!("/origins/core/keys/{revision}")),
        1
    );

    // A release asked in a channel lands in it, as upstream.
    let in_stable = format!(
        "/depot/channels/core/stable/pkgs/{}?target=x86_64-linux",
        &LIBA[5..]
    );
    let package = setup.json(&in_stable).await;
    assert_eq!(
        package["channels"],
        serde_json::json!(["stable", "unstable"])
    );
    // Not in `beta` upstream: stored, but not in that channel here either.
    let in_beta = format!(
        "/depot/channels/acme/beta/pkgs/{}?target=x86_64-linux",
        &APP[5..]
    );
    let (status, _) = setup.get(&in_beta).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(setup.has(APP).await);
}
