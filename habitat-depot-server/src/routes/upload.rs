//! `POST /v1/depot/pkgs/{o}/{n}/{v}/{r}`: package upload (being built).

use axum::Router;
use axum::http::StatusCode;

use crate::AppState;
use crate::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
}

/// The upload handler; `packages.rs` registers it on the package path.
pub(super) async fn upload() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", "upload is not built yet")
}
