//! Errors of the pages: an HTML page with the status, a title and what went wrong.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::error::ApiError;
use crate::identity::session::FormRefused;
use crate::store::StoreError;

/// An error shown to a browser as a page.
#[derive(Debug)]
pub struct WebError {
    /// HTTP status.
    pub status: StatusCode,
    /// The page's heading.
    pub title: String,
    /// What went wrong, and what to do about it.
    pub message: String,
}

/// Results of page handlers.
pub type WebResult<T> = Result<T, WebError>;

impl WebError {
    /// Any status, heading and message.
    pub fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            message: message.into(),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", message)
    }

    /// 500: the details go to the log, not the page.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error on a page");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The depot could not show this page; the server log says why.",
        )
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        let title = match e.status {
            StatusCode::UNAUTHORIZED => "Sign in needed",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::CONFLICT => "Conflict",
            s if s.is_server_error() => "Something went wrong",
            _ => "Cannot do that",
        };
        Self::new(e.status, title, e.message)
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<FormRefused> for WebError {
    fn from(e: FormRefused) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Form refused", e.to_string())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            status: self.status.as_u16(),
            title: &self.title,
            message: &self.message,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {}", self.status, self.message));
        (self.status, Html(body)).into_response()
    }
}
