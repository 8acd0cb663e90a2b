//! The one boundary where errors become HTTP responses: a status, a stable snake_case code and a
//! message naming the offending value. Never a stack trace or an internal path.

use std::fmt;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What was wrong, naming the value.
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 401: no token where one is needed, or a bad token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 422 with a specific code.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 400: a request the server cannot read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 500: something broke on our side; the details go to the log, not the client.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(Body {
            code: self.code,
            message: &self.message,
        });
        let mut response = (self.status, body).into_response();
        // For the metrics (refused uploads by reason), read without parsing the body.
        response
            .extensions_mut()
            .insert(crate::metrics::ErrorCode(self.code));
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(what) => Self::conflict(format!("{what} already exists")),
            StoreError::NotFound(what) => Self::not_found(format!("{what} not found")),
            StoreError::Refused(why) => Self::conflict(why),
            other => Self::internal(Chain(&other)),
        }
    }
}

impl From<habitat_core::Error> for ApiError {
    /// A core error on request input (a value that did not parse, a key or an artifact that
    /// does not verify) is 422 `invalid_value`; one of the server's own files or keys failing
    /// is not bad input, and is 500.
    fn from(err: habitat_core::Error) -> Self {
        use habitat_core::Error as E;
        match err.innermost() {
            E::Io { .. }
            | E::KeyNotFound { .. }
            | E::NoKeyForOrigin { .. }
            | E::KeyConflict(_)
            | E::PackSource { .. }
            | E::MissingDependencies { .. } => Self::internal(Chain(&err)),
            _ => Self::unprocessable("invalid_value", err.to_string()),
        }
    }
}

/// Handler results.
pub type ApiResult<T> = Result<T, ApiError>;

/// An error and its causes on one line, joined with `: `, for the log.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_parse_error_is_bad_input_and_a_core_io_error_is_ours() {
        let parse = "no slash".parse::<habitat_core::OriginName>().unwrap_err();
        let message = parse.to_string();
        let answer = ApiError::from(parse);
        assert_eq!(
            (answer.status, answer.code, answer.message),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", message)
        );

        let io = habitat_core::Error::Io {
            action: "read",
            path: "/hab/cache/keys/core-1.pub".into(),
            error: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        let answer = ApiError::from(io);
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.message, "internal error; see the server log");
    }

    #[test]
    fn a_backend_failure_tells_the_client_nothing_but_logs_its_chain() {
        let source = std::io::Error::other("disk on fire");
        let error = StoreError::backend("cannot read `/data/artifacts/ab`", source);
        let logged = Chain(&error).to_string();
        assert_eq!(
            logged,
            "storage backend: cannot read `/data/artifacts/ab`: disk on fire"
        );
        let answer = ApiError::from(error);
        assert_eq!(
            (answer.status, answer.code, answer.message.as_str()),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log"
            )
        );
    }
}
