//! The home page.

use askama::Template;
use axum::Router;
use axum::response::Response;
use axum::routing::get;

use super::{Chrome, WebResult, render};
use crate::AppState;
use crate::identity::session::Viewer;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/", get(home))
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    chrome: Chrome,
}

async fn home(viewer: Viewer) -> WebResult<Response> {
    render(&Home {
        chrome: Chrome::of(&viewer),
    })
}
