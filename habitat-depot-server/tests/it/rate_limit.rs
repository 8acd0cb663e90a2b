//! Rate limits and the upload cap (docs/operations.md, "Rate limits"): a real depot with
//! `[rate_limit]` set, driven over HTTP and by the depot client, whose retries honour the
//! `Retry-After` of a 429.

use std::time::{Duration, Instant};

use habitat_depot_client::{Client, DepotUrl, RetryPolicy, Token};
use habitat_depot_server::settings::{RateLimitSettings, Settings};
use habitat_depot_server::store::Visibility;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::support::*;

const HELLO: &str = "acme/hello/1.0.0/20240101000000";

/// `[rate_limit]` from its TOML.
fn limits(text: &str) -> impl FnOnce(&mut Settings) {
    let limits: RateLimitSettings = toml::from_str(text).unwrap();
    move |settings: &mut Settings| settings.rate_limit = Some(limits)
}

/// The answer's status, `Retry-After` and JSON `code`.
async fn answer(response: reqwest::Response) -> (StatusCode, Option<u64>, String) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let text = response.text().await.unwrap();
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or(text);
    (status, retry_after, code)
}

/// The value of the sample of `hab_depot_requests_limited_total` with `reason`, 0 when absent.
fn limited(depot: &TestDepot, reason: &str) -> u64 {
    let text = depot.state.metrics.encode().unwrap();
    let series = format!("hab_depot_requests_limited_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn anonymous_clients_over_the_limit_get_429_with_retry_after() {
    let depot = TestDepot::start_with(limits("requests_per_second = 0.1\nburst = 2")).await;
    for _ in 0..2 {
        assert_eq!(depot.get("/status", None).await.status(), StatusCode::OK);
    }
    let response = depot.get("/status", None).await;
    let message_head = response.headers().clone();
    let (status, retry_after, code) = answer(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code, "rate_limited");
    // One request every 10 s: the next is possible in at most 10 whole seconds.
    assert!(matches!(retry_after, Some(1..=10)), "{retry_after:?}");
    assert!(
        message_head["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    // The pages share the budget and answer a page of their own.
    let page = depot
        .client
        .get(depot.url.replace("/v1", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(page.headers().contains_key("retry-after"));
    assert!(page.text().await.unwrap().contains("Too many requests"));
    // The liveness check and the metrics are never limited.
    for _ in 0..5 {
        assert_eq!(
            depot.get("/status/live", None).await.status(),
            StatusCode::OK
        );
    }
    let metrics = depot
        .client
        .get(depot.url.replace("/v1", "/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("hab_depot_requests_limited_total{reason=\"requests\"} 2"),
        "{text}"
    );
    assert!(text.contains(
        "hab_depot_http_requests_total{route=\"/v1/status\",method=\"GET\",status=\"429\"} 1"
    ));
}

#[tokio::test]
async fn each_token_has_a_budget_of_its_own() {
    let depot = TestDepot::start_with(limits("requests_per_second = 0.05\nburst = 2")).await;
    let alice = depot.user("alice").await;
    let bob = depot.user("bob").await;
    let profile = |token| depot.get("/profile", Some(token));
    for _ in 0..2 {
        assert_eq!(profile(&alice).await.status(), StatusCode::OK);
    }
    let (status, retry_after, code) = answer(profile(&alice).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(matches!(retry_after, Some(1..=20)), "{retry_after:?}");
    // Bob, and anonymous clients of the same address, are not charged for Alice's requests.
    for _ in 0..2 {
        assert_eq!(profile(&bob).await.status(), StatusCode::OK);
        assert_eq!(depot.get("/status", None).await.status(), StatusCode::OK);
    }
    assert_eq!(profile(&bob).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited(&depot, "requests"), 2);
    // A token is counted before it is checked: an unknown one has a budget of its own too,
    // and over it the 429 comes before the 401.
    for _ in 0..2 {
        assert_eq!(profile(BAD_TOKEN).await.status(), StatusCode::UNAUTHORIZED);
    }
    let (status, _, code) = answer(profile(BAD_TOKEN).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let status_from = |depot: &TestDepot, client: &'static str| {
        depot
            .request(Method::GET, "/status", None)
            .header("x-forwarded-for", client)
            .send()
    };
    // The tests' requests come from 127.0.0.1: here that is a trusted proxy.
    let behind_proxy = TestDepot::start_with(limits(
        "requests_per_second = 0.05\nburst = 1\ntrusted_proxies = [\"127.0.0.0/8\"]",
    ))
    .await;
    let first = "198.51.100.1";
    let second = "203.0.113.7, 198.51.100.2";
    assert_eq!(
        status_from(&behind_proxy, first).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        status_from(&behind_proxy, first).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy (the entry the proxy appended is the rightmost).
    assert_eq!(
        status_from(&behind_proxy, second).await.unwrap().status(),
        StatusCode::OK
    );
    // Without the header: the proxy's own address, a client of its own.
    assert_eq!(
        behind_proxy.get("/status", None).await.status(),
        StatusCode::OK
    );

    // Not trusted: the header is the client's say-so, and every request is 127.0.0.1's.
    let direct = TestDepot::start_with(limits("requests_per_second = 0.05\nburst = 1")).await;
    assert_eq!(
        status_from(&direct, first).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        status_from(&direct, second).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn downloads_and_writes_have_tighter_limits() {
    let depot = TestDepot::start_with(limits(
        "requests_per_second = 100\nburst = 100\ndownloads_per_second = 0.05\n\
         writes_per_second = 0.05",
    ))
    .await;
    let token = depot.user("alice").await;
    depot
        .create_origin("alice", "acme", Visibility::Public)
        .await;
    let work = tempfile::tempdir().unwrap();
    let keys = origin_keys(work.path(), "acme");
    depot.publish_key("acme", &keys).await;
    let hart = artifact(work.path(), HELLO, &[], &keys.secret);
    // The one write of its budget.
    assert_eq!(
        upload(&depot, Some(&token), HELLO, &hart).await.status(),
        StatusCode::CREATED
    );
    let path = format!("/depot/pkgs/{HELLO}/download");
    let download = || depot.get(&path, None);
    assert_eq!(download().await.status(), StatusCode::OK);
    let (status, retry_after, code) = answer(download().await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(matches!(retry_after, Some(1..=20)), "{retry_after:?}");
    // Reads other than downloads stay within the general budget.
    for _ in 0..10 {
        assert_eq!(
            depot
                .get(&format!("/depot/pkgs/{HELLO}"), None)
                .await
                .status(),
            StatusCode::OK
        );
    }
    // A second write by the same token is over its budget: refused before it is looked at.
    let response = depot
        .request(Method::POST, "/depot/origins", Some(&token))
        .json(&serde_json::json!({"name": "second"}))
        .send()
        .await
        .unwrap();
    let (status, _, code) = answer(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert_eq!(
        (limited(&depot, "downloads"), limited(&depot, "writes")),
        (1, 1)
    );
    assert_eq!(limited(&depot, "requests"), 0);
}

#[tokio::test]
async fn an_account_over_its_upload_cap_gets_429_too_many_uploads() {
    let depot = TestDepot::start_with(limits(
        "requests_per_second = 1000\nburst = 1000\nmax_concurrent_uploads = 1",
    ))
    .await;
    let token = depot.user("alice").await;
    depot
        .create_origin("alice", "acme", Visibility::Public)
        .await;
    let work = tempfile::tempdir().unwrap();
    let keys = origin_keys(work.path(), "acme");
    depot.publish_key("acme", &keys).await;
    let first = artifact(work.path(), HELLO, &[], &keys.secret);
    let bytes = std::fs::read(&first).unwrap();

    // An upload in progress: its body arrives in two parts, the second when the test says.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let in_progress = tokio::spawn(
        depot
            .request(Method::POST, &format!("/depot/pkgs/{HELLO}"), Some(&token))
            .body(reqwest::Body::wrap_stream(body))
            .send(),
    );
    let half = bytes.len() / 2;
    tx.send(Ok(bytes[..half].to_vec())).await.unwrap();
    // The handler holds its slot once it reads the body.
    let reading = Instant::now();
    while !depot
        .state
        .metrics
        .encode()
        .unwrap()
        .lines()
        .any(|l| l.starts_with("hab_depot_http_request_body_bytes_total{") && !l.ends_with(" 0"))
    {
        assert!(
            reading.elapsed() < Duration::from_secs(10),
            "the upload never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The same account, even with another token, may not start a second one.
    let other_token = depot
        .request(Method::POST, "/profile/access-tokens", Some(&token))
        .json(&serde_json::json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other_token.status(), StatusCode::CREATED);
    let other_token = other_token.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    const OTHER: &str = "acme/hello/1.0.0/20240101000001";
    let second = artifact(work.path(), OTHER, &[], &keys.secret);
    let (status, retry_after, code) =
        answer(upload(&depot, Some(&other_token), OTHER, &second).await).await;
    assert_eq!(
        (status, retry_after, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some(1), "too_many_uploads")
    );
    // Another account is not held back.
    let bob = depot
        .member(
            "acme",
            "bob",
            habitat_depot_server::store::Role::Member,
            "alice",
        )
        .await;
    const BOBS: &str = "acme/hello/1.0.0/20240101000002";
    let bobs = artifact(work.path(), BOBS, &[], &keys.secret);
    assert_eq!(
        upload(&depot, Some(&bob), BOBS, &bobs).await.status(),
        StatusCode::CREATED
    );

    // The first one ends; the slot is free again.
    tx.send(Ok(bytes[half..].to_vec())).await.unwrap();
    drop(tx);
    let finished = in_progress.await.unwrap().unwrap();
    assert_eq!(finished.status(), StatusCode::CREATED);
    assert_eq!(
        upload(&depot, Some(&other_token), OTHER, &second)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(limited(&depot, "uploads"), 1);
    let text = depot.state.metrics.encode().unwrap();
    assert!(
        text.contains("hab_depot_uploads_refused_total{reason=\"too_many_uploads\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn the_client_waits_as_retry_after_asks_and_then_succeeds() {
    let depot = TestDepot::start_with(limits("requests_per_second = 0.5\nburst = 1")).await;
    let token = depot.user("alice").await;
    let url: DepotUrl = depot.url.parse().unwrap();
    let client = Client::new(url, Some(Token::new(token).unwrap()))
        .unwrap()
        .with_retry(RetryPolicy::new(3, Duration::from_millis(10)));
    client.profile().await.unwrap();
    let started = Instant::now();
    // Over the budget: 429 with `Retry-After: 1` or `2`, waited, then answered.
    let profile = client.profile().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(profile.name, "alice");
    assert_eq!(limited(&depot, "requests"), 1);
    // It waited the seconds asked for, not its own 10 ms back-off.
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    // A client that may not retry gets the 429 itself, with the depot's code.
    let once = Client::new(depot.url.parse().unwrap(), None)
        .unwrap()
        .with_retry(RetryPolicy::none());
    once.status().await.unwrap();
    let err = once.status().await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(429), Some("rate_limited")),
        "{err}"
    );
}
