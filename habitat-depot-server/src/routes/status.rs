//! `GET/HEAD /v1/status`: 200 when both stores answer, else 503 naming the one that failed. The
//! 200's body says so, and names the TUF role that expires first (docs/api.md).
//! `GET/HEAD /v1/status/live`: 200 as long as the process answers (the stores are not asked).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use axum::Json;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/status", get(status))
        .route("/status/live", get(live))
}

async fn status(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let unavailable = |which: &str, e: crate::store::StoreError| {
        tracing::warn!(store = which, error = %crate::error::Chain(&e), "status check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("the {which} store does not answer"),
        )
    };
    state
        .metadata
        .ping()
        .await
        .map_err(|e| unavailable("metadata", e))?;
    state
        .artifacts
        .ping()
        .await
        .map_err(|e| unavailable("artifact", e))?;
    let versions = state
        .metadata
        .tuf_latest_versions()
        .await
        .map_err(|e| unavailable("metadata", e))?;
    let tuf = versions
        .into_iter()
        .min_by_key(|row| row.expires_at)
        .map(|row| {
            let expires_at = crate::json::timestamp(row.expires_at);
            json!({"nearest_expiry": {"role": row.role, "version": row.version, "expires_at": expires_at}})
        });
    Ok(Json(
        json!({"metadata": "ok", "artifacts": "ok", "tuf": tuf}),
    ))
}

/// Liveness: answers without touching the stores, so a store outage does not make a
/// supervisor restart a depot that would come back the same.
async fn live() -> StatusCode {
    StatusCode::OK
}
