//! The routes of docs/api.md, one module per area, merged under `/v1`. The operations the web
//! pages share with the API are `pub(crate)` functions of these modules, so both answer alike.

use std::time::Instant;

use axum::Router;
use axum::body::HttpBody;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::timeout::TimeoutLayer;

use crate::AppState;

mod audit;
pub(crate) mod channels;
pub(crate) mod common;
pub(crate) mod keys;
pub(crate) mod origins;
pub(crate) mod packages;
pub(crate) mod profile;
mod status;
mod tuf;
mod upload;

/// The whole API, ready to serve.
pub fn router(state: AppState) -> Router {
    let timeout = state.settings.request_timeout();
    let pages = std::sync::Arc::new(crate::web::PageCache::default());
    let api = Router::new()
        .merge(status::routes())
        .merge(profile::routes())
        .merge(origins::routes())
        .merge(audit::routes())
        .merge(keys::routes())
        .merge(packages::routes())
        .merge(channels::routes())
        .merge(upload::routes())
        .merge(tuf::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ));
    let mut app = Router::new()
        .nest("/v1", api)
        .merge(crate::web::routes(state.clone(), pages.clone()));
    // On the main port unless `metrics_listen` gives it a port of its own.
    if state.settings.metrics_listen.is_none() {
        app = app.merge(crate::metrics::routes());
    }
    app.route_layer(middleware::from_fn_with_state(
        state.limits.clone(),
        crate::rate_limit::limit,
    ))
    .route_layer(middleware::from_fn_with_state(
        state.metrics.clone(),
        crate::metrics::remember_route,
    ))
    .fallback(not_found)
    .layer(DefaultBodyLimit::max(1 << 20))
    .layer(TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        timeout,
    ))
    .layer(middleware::from_fn(json_errors))
    .layer(middleware::from_fn_with_state(
        state.clone(),
        crate::tuf::publish::after_writes,
    ))
    .layer(middleware::from_fn(log_request))
    // Outermost: a write that timed out still counts.
    .layer(middleware::from_fn_with_state(
        pages,
        crate::web::count_changes,
    ))
    .layer(middleware::from_fn_with_state(
        state.metrics.clone(),
        crate::metrics::track,
    ))
    .layer(middleware::from_fn_with_state(
        state.limits.clone(),
        crate::audit::remember_address,
    ))
    .with_state(state)
}

/// Whether a path is the API's (JSON answers) rather than a page's (HTML answers).
fn is_api(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// 404 for a path no route has: JSON under `/v1`, a page elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    if is_api(uri.path()) {
        crate::error::ApiError::not_found("no such route").into_response()
    } else {
        crate::web::WebError::not_found(format!("There is no page at `{}`.", uri.path()))
            .into_response()
    }
}

/// One structured line per request: method, path, status, response bytes, duration.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let bytes = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| response.body().size_hint().exact())
        .unwrap_or(0);
    tracing::info!(
        target: "hab_depot::request",
        %method,
        path,
        status = response.status().as_u16(),
        bytes,
        duration_ms = started.elapsed().as_millis() as u64,
    );
    response
}

/// Every error answer is `{code, message}` JSON, including those made outside the handlers
/// (a body the extractors refuse, 405, the request timeout's 408); other headers are kept.
async fn json_errors(request: Request, next: Next) -> Response {
    if !is_api(request.uri().path()) {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let code = match status.as_u16() {
        400 => "bad_request",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_value",
        _ => "error",
    };
    let mut answer = crate::error::ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}
