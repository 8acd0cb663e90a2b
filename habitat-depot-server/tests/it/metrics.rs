//! `GET /metrics` and the liveness route: a real depot answers requests, then its metrics are
//! read in the Prometheus text format and parsed (docs/operations.md, "Metrics").

use std::collections::BTreeMap;

use habitat_depot_server::store::Visibility;
use reqwest::{Method, StatusCode};

use super::support::*;

const HELLO: &str = "acme/hello/1.0.0/20240101000000";

/// One sample of the text format: its name, its labels, its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text format (version 0.0.4): `# HELP`/`# TYPE` lines and samples
/// `name{label="value",...} number`; anything else fails the test.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').unwrap();
                let mut labels = BTreeMap::new();
                let mut rest = rest;
                while !rest.is_empty() {
                    let (key, after) = rest.split_once("=\"").unwrap();
                    // Label values here hold no escaped quotes (route templates, codes).
                    let (value, after) = after.split_once('"').unwrap();
                    labels.insert(key.to_owned(), value.to_owned());
                    rest = after.strip_prefix(',').unwrap_or(after);
                }
                (name, labels)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

/// The value of the sample `name` whose labels include `labels` (0 when there is none).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// `GET url`, 200 in the text format, parsed.
async fn scrape(client: &reqwest::Client, url: &str) -> (String, Vec<Sample>) {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

/// The depot's root (`http://127.0.0.1:PORT`).
fn root(depot: &TestDepot) -> String {
    depot.url.strip_suffix("/v1").unwrap().to_owned()
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_refused_uploads_by_reason() {
    let depot = TestDepot::start().await;
    let token = depot.user("alice").await;
    depot
        .create_origin("alice", "acme", Visibility::Public)
        .await;
    let metrics_url = format!("{}/metrics", root(&depot));
    let (_, before) = scrape(&depot.client, &metrics_url).await;
    let build = before
        .iter()
        .find(|s| s.name == "hab_depot_build_info")
        .unwrap();
    assert_eq!(build.labels["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(build.value, 1.0);

    // Two reads of one route with different idents, and an unknown path.
    for name in ["hello", "world"] {
        let response = depot
            .get(&format!("/depot/pkgs/acme/{name}/latest"), None)
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(depot.get("/status", None).await.status(), StatusCode::OK);
    assert_eq!(
        depot.get("/no/such/route", None).await.status(),
        StatusCode::NOT_FOUND
    );
    // Refused uploads: no token (401), then a body that is no artifact (422).
    let upload = format!("/depot/pkgs/{HELLO}");
    let body = b"not an artifact".to_vec();
    let response = depot
        .request(Method::POST, &upload, None)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = depot
        .request(Method::POST, &upload, Some(&token))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let code = response.json::<serde_json::Value>().await.unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();

    let (text, after) = scrape(&depot.client, &metrics_url).await;
    let latest = "/v1/depot/pkgs/{origin}/{name}/latest";
    let requests = "hab_depot_http_requests_total";
    assert_eq!(
        value(
            &after,
            requests,
            &[("route", latest), ("method", "GET"), ("status", "404")]
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        value(
            &after,
            requests,
            &[
                ("route", "/v1/status"),
                ("method", "GET"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            requests,
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    // One duration per request of the route, in the histogram's count and its last bucket.
    let route = [("route", latest), ("method", "GET")];
    assert_eq!(
        value(
            &after,
            "hab_depot_http_request_duration_seconds_count",
            &route
        ),
        2.0
    );
    let mut inf = route.to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(
        value(
            &after,
            "hab_depot_http_request_duration_seconds_bucket",
            &inf
        ),
        2.0
    );
    // Refusals by the code answered.
    let refused = "hab_depot_uploads_refused_total";
    assert_eq!(value(&after, refused, &[("reason", "unauthorized")]), 1.0);
    assert_eq!(value(&after, refused, &[("reason", &code)]), 1.0, "{text}");
    // The body bytes of the upload that was read, and the bytes answered.
    let upload_route = "/v1/depot/pkgs/{origin}/{name}/{version}/{release}";
    assert!(
        value(
            &after,
            "hab_depot_http_request_body_bytes_total",
            &[("route", upload_route)]
        ) >= body.len() as f64,
        "{text}"
    );
    assert!(
        value(
            &after,
            "hab_depot_http_response_body_bytes_total",
            &[("route", latest)]
        ) > 0.0
    );
    // `/v1/status` pinged the artifact store, through the timed wrapper.
    assert_eq!(
        value(
            &after,
            "hab_depot_store_call_duration_seconds_count",
            &[("store", "artifact"), ("call", "ping")]
        ),
        1.0,
        "{text}"
    );
    // Never a raw path: no label names an ident or the unknown path.
    for raw in ["hello", "world", "acme", "20240101000000", "/no/such"] {
        assert!(
            after
                .iter()
                .all(|s| s.labels.values().all(|v| !v.contains(raw))),
            "`{raw}` in a label:\n{text}"
        );
    }
}

#[tokio::test]
async fn metrics_listen_moves_metrics_to_a_port_of_their_own() {
    let depot = TestDepot::start_with(|settings| {
        settings.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    // The main port no longer has it.
    let response = depot
        .client
        .get(format!("{}/metrics", root(&depot)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // The metrics port (as `hab-depot start` serves it) counts the main port's requests.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(habitat_depot_server::serve::serve(
        listener,
        habitat_depot_server::metrics::router(depot.state.clone()),
        depot.state.settings.idle_timeout(),
        std::future::pending(),
    ));
    assert_eq!(depot.get("/status", None).await.status(), StatusCode::OK);
    let (text, samples) = scrape(&depot.client, &format!("http://{addr}/metrics")).await;
    assert_eq!(
        value(
            &samples,
            "hab_depot_http_requests_total",
            &[("route", "/v1/status"), ("status", "200")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "hab_depot_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0,
        "{text}"
    );
    // Only /metrics there.
    let response = depot
        .client
        .get(format!("http://{addr}/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_liveness_route_answers_without_the_stores() {
    let depot = TestDepot::start().await;
    assert_eq!(
        depot.get("/status/live", None).await.status(),
        StatusCode::OK
    );
    let response = depot
        .request(Method::HEAD, "/status/live", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // With the artifact store broken, /status fails and the liveness route still answers.
    depot.break_artifact_store().await;
    assert_eq!(
        depot.get("/status", None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        depot.get("/status/live", None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn metadata_calls_are_timed_and_stored_packages_and_bytes_counted() {
    let depot = TestDepot::start().await;
    depot.user("alice").await;
    depot
        .create_origin("alice", "acme", Visibility::Public)
        .await;
    for (ident, size) in [(HELLO, 10), ("acme/world/1.0.0/20240101000000", 32)] {
        let package = habitat_depot_server::store::Package {
            size,
            ..package_row(ident)
        };
        depot.state.metadata.insert_package(&package).await.unwrap();
    }
    assert_eq!(depot.get("/status", None).await.status(), StatusCode::OK);
    let (text, samples) = scrape(&depot.client, &format!("{}/metrics", root(&depot))).await;
    // Every metadata call through the store the depot uses, by method.
    let calls = "hab_depot_store_call_duration_seconds_count";
    for (call, count) in [("insert_package", 2.0), ("ping", 1.0)] {
        assert_eq!(
            value(&samples, calls, &[("store", "metadata"), ("call", call)]),
            count,
            "{call}:\n{text}"
        );
    }
    // The scrape counted the rows and their sizes.
    assert_eq!(
        value(&samples, "hab_depot_packages_stored", &[]),
        2.0,
        "{text}"
    );
    assert_eq!(
        value(&samples, "hab_depot_artifact_bytes_stored", &[]),
        42.0,
        "{text}"
    );
    // The pool gauges exist only on PostgreSQL.
    let pool = "hab_depot_metadata_pool_size";
    match depot.state.metadata.pool_use() {
        None => assert!(
            samples
                .iter()
                .all(|s| !s.name.starts_with("hab_depot_metadata_pool"))
        ),
        Some(_) => {
            assert!(value(&samples, pool, &[]) >= 1.0, "{text}");
            assert!(value(&samples, "hab_depot_metadata_pool_max_size", &[]) >= 1.0);
        }
    }
}

#[tokio::test]
async fn the_postgresql_pool_is_reported_at_each_scrape() {
    let Some(url) = habitat_test_support::postgres::migrated_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let metadata = habitat_depot_server::store::postgres::PostgresStore::connect(&url, 3)
        .await
        .unwrap();
    let artifacts =
        habitat_depot_server::store::files::FileArtifacts::open(dir.path().join("artifacts"))
            .unwrap();
    let settings = habitat_depot_server::settings::Settings {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    let state = habitat_depot_server::AppState::with_stores(
        settings,
        std::sync::Arc::new(metadata),
        std::sync::Arc::new(artifacts),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(habitat_depot_server::serve::serve(
        listener,
        habitat_depot_server::router(state.clone()),
        state.settings.idle_timeout(),
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let status = client
        .get(format!("http://{addr}/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    let (text, samples) = scrape(&client, &format!("http://{addr}/metrics")).await;
    let gauge = |name: &str| value(&samples, name, &[]);
    assert_eq!(gauge("hab_depot_metadata_pool_max_size"), 3.0, "{text}");
    let size = gauge("hab_depot_metadata_pool_size");
    assert!((1.0..=3.0).contains(&size), "{text}");
    // Nothing runs between the requests: every open connection is idle, nobody waits.
    assert_eq!(gauge("hab_depot_metadata_pool_available"), size, "{text}");
    assert_eq!(gauge("hab_depot_metadata_pool_waiting"), 0.0, "{text}");
    assert_eq!(gauge("hab_depot_packages_stored"), 0.0, "{text}");
    assert_eq!(
        value(
            &samples,
            "hab_depot_store_call_duration_seconds_count",
            &[("store", "metadata"), ("call", "stored_totals")]
        ),
        1.0,
        "{text}"
    );
}
