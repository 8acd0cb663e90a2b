//! The depot's metrics in the Prometheus text format (docs/operations.md, "Metrics"):
//! requests by route template, method and status, their durations, the bytes of request and
//! response bodies, refused uploads by reason, the time of store calls, the metadata store's
//! connection pool, the packages and bytes stored, and the build.
//!
//! [`Metrics`] lives in the [`crate::AppState`]; [`track`] (outermost on the router) counts
//! every request once it is answered, [`remember_route`] (a route layer) tells it the route
//! template that matched, and [`routes`] answers `GET /metrics`, on the main port or, with
//! `metrics_listen` set, on a port of its own ([`router`]).

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;
use crate::store::{ArtifactReader, ArtifactStore, MetadataStore, StoreResult};
use habitat_core::Blake2bHash;

mod timed;

pub use timed::TimedMetadata;

/// The route template of the upload route, whose refusals are counted by reason.
pub const UPLOAD_ROUTE: &str = "/v1/depot/pkgs/{origin}/{name}/{version}/{release}";

/// The `route` label of a request no route matched (404 of the fallback).
pub const UNMATCHED: &str = "unmatched";

/// The labels of a request count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: Cow<'static, str>,
    status: u16,
}

/// The labels of a duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteMethodLabels {
    route: String,
    method: Cow<'static, str>,
}

/// The labels of a byte count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// The labels of a refused upload.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: Cow<'static, str>,
}

/// The labels of a store call's duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreCallLabels {
    store: &'static str,
    call: &'static str,
}

/// The labels of the build info.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// The (empty) labels of a gauge that is present only when it means something: its one
/// series is made by the first value set.
type Unlabelled = [(&'static str, &'static str); 0];

/// How long the stored packages and bytes, counted by a query at a scrape, are kept before a
/// scrape counts them again.
pub const STORED_TOTALS_EVERY: Duration = Duration::from_secs(15);

/// How long a scrape waits for the packages and bytes to be counted: a store that does not
/// answer must not keep every other metric from the scraper.
pub const STORED_TOTALS_WAIT: Duration = Duration::from_secs(2);

/// A histogram of seconds from 1 ms to about 33 s.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The depot's metrics: one registry per depot (so several depots in one process, as in the
/// tests, count apart).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteMethodLabels, Histogram, fn() -> Histogram>,
    received: Family<RouteLabels, Counter>,
    sent: Family<RouteLabels, Counter>,
    refused: Family<ReasonLabels, Counter>,
    limited: Family<ReasonLabels, Counter>,
    store_calls: Family<StoreCallLabels, Histogram, fn() -> Histogram>,
    packages_stored: Gauge,
    artifact_bytes_stored: Gauge,
    /// When the two gauges above were last counted (held while they are counted, so that
    /// scrapes at once count once).
    stored_at: tokio::sync::Mutex<Option<Instant>>,
    pool_max: Family<Unlabelled, Gauge>,
    pool_size: Family<Unlabelled, Gauge>,
    pool_available: Family<Unlabelled, Gauge>,
    pool_waiting: Family<Unlabelled, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered, all at zero, and the build info set.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hab_depot");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let durations =
            Family::<RouteMethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                seconds_histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer's head, by route template and method",
            durations.clone(),
        );
        let received = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_request_body_bytes",
            "Bytes of request bodies read (uploads), by route template",
            received.clone(),
        );
        let sent = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_response_body_bytes",
            "Bytes of response bodies as announced by their length (downloads), by route template",
            sent.clone(),
        );
        let refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "uploads_refused",
            "Package uploads refused, by the code of the error answered",
            refused.clone(),
        );
        let limited = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "requests_limited",
            "Requests refused with 429 by the rate limits or the upload cap, by the limit hit",
            limited.clone(),
        );
        let store_calls =
            Family::<StoreCallLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                seconds_histogram,
            );
        registry.register(
            "store_call_duration_seconds",
            "Time of calls to a store, by store and call",
            store_calls.clone(),
        );
        let packages_stored = Gauge::default();
        registry.register(
            "packages_stored",
            "Packages stored in the metadata store (counted at most every 15 s, at a scrape)",
            packages_stored.clone(),
        );
        let artifact_bytes_stored = Gauge::default();
        registry.register(
            "artifact_bytes_stored",
            "Bytes of the artifacts of the packages stored (counted with packages_stored)",
            artifact_bytes_stored.clone(),
        );
        let pool_gauge = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<Unlabelled, Gauge>::default();
            registry.register(name, help, family.clone());
            family
        };
        let pool_max = pool_gauge(
            &mut registry,
            "metadata_pool_max_size",
            "The most connections the PostgreSQL pool opens",
        );
        let pool_size = pool_gauge(
            &mut registry,
            "metadata_pool_size",
            "Connections the PostgreSQL pool holds open now",
        );
        let pool_available = pool_gauge(
            &mut registry,
            "metadata_pool_available",
            "Idle connections in the PostgreSQL pool now",
        );
        let pool_waiting = pool_gauge(
            &mut registry,
            "metadata_pool_waiting",
            "Store calls waiting for a PostgreSQL connection now",
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The depot's version (always 1)", build);
        Self {
            registry,
            requests,
            durations,
            received,
            sent,
            refused,
            limited,
            store_calls,
            packages_stored,
            artifact_bytes_stored,
            stored_at: tokio::sync::Mutex::new(None),
            pool_max,
            pool_size,
            pool_available,
            pool_waiting,
        }
    }

    /// Reads the gauges taken at scrape time from `metadata`: its pool's use every time, the
    /// packages and bytes stored when [`STORED_TOTALS_EVERY`] has passed since they were last
    /// counted (a count that fails or takes over [`STORED_TOTALS_WAIT`] is logged and keeps
    /// the last values).
    pub async fn refresh(&self, metadata: &dyn MetadataStore) {
        if let Some(pool) = metadata.pool_use() {
            let set = |family: &Family<Unlabelled, Gauge>, value: u64| {
                family
                    .get_or_create(&[])
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            };
            set(&self.pool_max, pool.max_size);
            set(&self.pool_size, pool.size);
            set(&self.pool_available, pool.available);
            set(&self.pool_waiting, pool.waiting);
        }
        let mut stored_at = self.stored_at.lock().await;
        if stored_at.is_some_and(|at| at.elapsed() < STORED_TOTALS_EVERY) {
            return;
        }
        match tokio::time::timeout(STORED_TOTALS_WAIT, metadata.stored_totals()).await {
            Err(_) => tracing::warn!(
                seconds = STORED_TOTALS_WAIT.as_secs(),
                "counting the packages stored took too long"
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot count the packages stored"),
            Ok(Ok(totals)) => {
                self.packages_stored
                    .set(i64::try_from(totals.packages).unwrap_or(i64::MAX));
                self.artifact_bytes_stored
                    .set(i64::try_from(totals.artifact_bytes).unwrap_or(i64::MAX));
                *stored_at = Some(Instant::now());
            }
        }
    }

    /// The counter of requests refused by the limit `reason` (`requests`, `downloads`,
    /// `writes`, `uploads`), made at once so that a refusal does not look it up.
    pub fn limited(&self, reason: &'static str) -> Counter {
        self.limited
            .get_or_create(&ReasonLabels {
                reason: Cow::Borrowed(reason),
            })
            .clone()
    }

    /// The histogram of `store`'s `call`.
    fn store_call(&self, store: &'static str, call: &'static str) -> Histogram {
        self.store_calls
            .get_or_create(&StoreCallLabels { store, call })
            .clone()
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// Counts one answered request.
    fn observe(&self, answered: Answered) {
        let Answered {
            route,
            method,
            status,
            seconds,
            sent,
            error,
        } = answered;
        if method == "POST" && route == UPLOAD_ROUTE && (status >= 400) {
            let reason = error.map_or(Cow::Borrowed("error"), Cow::Borrowed);
            self.refused.get_or_create(&ReasonLabels { reason }).inc();
        }
        if let Some(sent) = sent.filter(|&n| n > 0) {
            self.sent
                .get_or_create(&RouteLabels {
                    route: route.clone(),
                })
                .inc_by(sent);
        }
        self.durations
            .get_or_create(&RouteMethodLabels {
                route: route.clone(),
                method: method.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
    }
}

/// One answered request, as [`Metrics::observe`] counts it.
struct Answered {
    route: String,
    method: Cow<'static, str>,
    status: u16,
    seconds: f64,
    sent: Option<u64>,
    error: Option<&'static str>,
}

/// The `code` of an error answer, put in the response's extensions by
/// [`crate::error::ApiError`] so that refusals can be counted without reading the body.
#[derive(Clone, Copy, Debug)]
pub struct ErrorCode(pub &'static str);

/// The route template that matched, put in the response's extensions by [`remember_route`].
#[derive(Clone, Debug)]
struct MatchedRoute(MatchedPath);

/// The `method` label: the standard methods by name, any other as `other` (a label's values
/// stay few).
fn method_label(method: &Method) -> Cow<'static, str> {
    Cow::Borrowed(match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    })
}

/// Middleware, outermost: counts each request when its answer is ready. The route is the
/// template [`remember_route`] saw match, never the raw path.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<MatchedRoute>()
        .map_or_else(|| UNMATCHED.to_owned(), |r| r.0.as_str().to_owned());
    let sent = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| response.body().size_hint().exact());
    metrics.observe(Answered {
        route,
        method,
        status: response.status().as_u16(),
        seconds: started.elapsed().as_secs_f64(),
        sent,
        error: response.extensions().get::<ErrorCode>().map(|c| c.0),
    });
    response
}

/// Route layer: runs once a route matched, so the template is known. It counts the request
/// body's bytes as they are read and tells [`track`] the template.
pub async fn remember_route(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(matched) = request.extensions().get::<MatchedPath>().cloned() else {
        return next.run(request).await;
    };
    let request = if request.body().is_end_stream() {
        request
    } else {
        let counter = metrics
            .received
            .get_or_create(&RouteLabels {
                route: matched.as_str().to_owned(),
            })
            .clone();
        request.map(|body| Body::new(Counted { body, counter }))
    };
    let mut response = next.run(request).await;
    response.extensions_mut().insert(MatchedRoute(matched));
    response
}

/// A request body that counts its bytes as they are read (size hints kept).
struct Counted {
    body: Body,
    counter: Counter,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.counter.inc_by(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// `GET /metrics` over the state's metrics (merged into the main router unless
/// `metrics_listen` is set).
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/metrics",
        get(|State(state): State<AppState>| async move { answer(&state).await }),
    )
}

/// The router of the metrics port (`metrics_listen`): `GET /metrics` and nothing else.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { answer(&state).await }),
        )
        .with_state(state)
}

/// The text, the scrape-time gauges read first, or 500 when it cannot be encoded.
async fn answer(state: &AppState) -> Response {
    state.metrics.refresh(state.metadata.as_ref()).await;
    match state.metrics.encode() {
        Ok(text) => (
            [(
                CONTENT_TYPE,
                HeaderValue::from_static(
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                ),
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// An artifact store whose calls are timed into `hab_depot_store_call_duration_seconds`
/// (`store="artifact"`); [`crate::AppState`] wraps every artifact store in one. `open` and
/// `open_range` are timed until the artifact is open, not while it is read.
pub struct TimedArtifacts {
    inner: Arc<dyn ArtifactStore>,
    ping: Histogram,
    put: Histogram,
    open: Histogram,
    open_range: Histogram,
    delete: Histogram,
    list: Histogram,
}

impl TimedArtifacts {
    /// Wraps `inner`, its histograms made at once (a call does not look them up).
    pub fn new(inner: Arc<dyn ArtifactStore>, metrics: &Metrics) -> Self {
        let histogram = |call| metrics.store_call("artifact", call);
        Self {
            inner,
            ping: histogram("ping"),
            put: histogram("put"),
            open: histogram("open"),
            open_range: histogram("open_range"),
            delete: histogram("delete"),
            list: histogram("list"),
        }
    }
}

/// Runs `call`, then records its time in `histogram`, whatever its outcome.
async fn timed<T>(histogram: &Histogram, call: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let result = call.await;
    histogram.observe(started.elapsed().as_secs_f64());
    result
}

#[async_trait::async_trait]
impl ArtifactStore for TimedArtifacts {
    async fn ping(&self) -> StoreResult<()> {
        timed(&self.ping, self.inner.ping()).await
    }

    async fn put(&self, checksum: &Blake2bHash, local: &std::path::Path) -> StoreResult<()> {
        timed(&self.put, self.inner.put(checksum, local)).await
    }

    async fn open(
        &self,
        checksum: &Blake2bHash,
        offset: u64,
    ) -> StoreResult<Option<ArtifactReader>> {
        timed(&self.open, self.inner.open(checksum, offset)).await
    }

    async fn open_range(
        &self,
        checksum: &Blake2bHash,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<ArtifactReader>> {
        timed(
            &self.open_range,
            self.inner.open_range(checksum, offset, length),
        )
        .await
    }

    async fn delete(&self, checksum: &Blake2bHash) -> StoreResult<()> {
        timed(&self.delete, self.inner.delete(checksum)).await
    }

    async fn list(&self) -> StoreResult<Vec<(Blake2bHash, u64)>> {
        timed(&self.list, self.inner.list()).await
    }
}
