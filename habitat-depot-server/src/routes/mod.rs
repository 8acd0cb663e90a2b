//! The routes of API.md, one module per area, merged under `/v1`.

use std::time::Instant;

use axum::Router;
use axum::body::HttpBody;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::timeout::TimeoutLayer;

use crate::AppState;

mod channels;
mod common;
mod keys;
mod origins;
mod packages;
mod profile;
mod status;
mod upload;

/// The whole API, ready to serve.
pub fn router(state: AppState) -> Router {
    let timeout = state.settings.request_timeout();
    let api = Router::new()
        .merge(status::routes())
        .merge(profile::routes())
        .merge(origins::routes())
        .merge(keys::routes())
        .merge(packages::routes())
        .merge(channels::routes())
        .merge(upload::routes());
    Router::new()
        .nest("/v1", api)
        .fallback(|| async { crate::error::ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(1 << 20))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
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
