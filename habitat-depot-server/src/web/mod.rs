//! The depot's web pages: server-rendered HTML from templates compiled into the binary, on the
//! same port as the API, behind the same policy ([`crate::authz`]). They work without
//! JavaScript. One module per page family; templates and static files live beside them.

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::identity::session::{self, Viewer};

mod cache;
mod channels;
mod error;
mod home;
mod origins;
mod packages;
mod profile;
mod view;

pub(crate) use cache::{PageCache, count_changes};
pub use error::{WebError, WebResult};

/// The pages, the sign-in routes and the static files, with the session layer, the security
/// headers and the pages' `cache` (whose generation the whole router moves on: see
/// [`count_changes`]). The API (`/v1`) is not here: it never reads the session cookie.
pub(crate) fn routes(state: AppState, cache: std::sync::Arc<PageCache>) -> Router<AppState> {
    Router::new()
        .merge(home::routes())
        .merge(origins::routes())
        .merge(packages::routes())
        .merge(channels::routes())
        .merge(profile::routes())
        .merge(crate::identity::routes())
        .route("/static/site.css", get(stylesheet))
        .route("/static/site.js", get(script))
        .layer(axum::Extension(cache.clone()))
        .layer(middleware::from_fn_with_state(cache, cache::pages))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(state, session::layer))
}

/// What every page's frame shows: who is signed in, and the form token of its sign-out form.
#[derive(Clone, Debug)]
pub struct Chrome {
    /// The signed-in account's name.
    pub account: Option<String>,
    /// The form token (every form posts it as `csrf`).
    pub csrf: String,
}

impl Chrome {
    /// The frame for `viewer`.
    pub fn of(viewer: &Viewer) -> Self {
        Self {
            account: viewer.account().map(|a| a.name.clone()),
            csrf: viewer.csrf_token().to_owned(),
        }
    }
}

/// The account signed in, or the 401 page of the API's refusal for a caller without a token.
pub fn signed_in(viewer: &Viewer) -> WebResult<&crate::store::Account> {
    Ok(viewer.account().ok_or_else(crate::auth::needs_token)?)
}

/// A 303 to the sign-in page, coming back to `path` afterwards.
pub fn sign_in_first(path: &str) -> Response {
    let location = format!("/login?return_to={}", view::encode(path));
    crate::identity::see_other(&location, &[])
}

/// A rendered page, or a 500 that says the template failed.
pub fn render(page: &impl Template) -> WebResult<Response> {
    page.render()
        .map(|html| Html(html).into_response())
        .map_err(WebError::internal)
}

/// The stylesheet, compiled in.
async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/site.css"),
    )
}

/// The copy buttons' script, compiled in: the pages work without it.
async fn script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/site.js"),
    )
}

/// The headers every page gets: no inline script, no framing, no referrer to other sites.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The code (before any test module) of the `.rs` files under `dir`, recursively.
    fn sources(dir: &Path, into: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                sources(&path, into);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                // The code only: tests may mention routes in passing.
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                into.push(code.to_owned());
            }
        }
    }

    /// The path of every route registered with a POST handler in `source`: each `.route(`
    /// call whose arguments (up to its closing parenthesis) name `post(`.
    fn post_routes(source: &str, into: &mut Vec<String>) {
        let call = [".route", "("].concat();
        let mut rest = source;
        while let Some(at) = rest.find(&call) {
            rest = &rest[at + call.len()..];
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            let args = &rest[..end];
            if !args.contains("post(") {
                continue;
            }
            if let Some(path) = args.split('"').nth(1) {
                into.push(path.to_owned());
            }
        }
    }

    /// Every POST route of the pages and the sign-in must be in the table of the test that
    /// posts each one without its token (tests/it/web_forms.rs), so that a new route whose
    /// handler forgot the form check is caught there.
    #[test]
    fn every_post_page_route_is_in_the_form_refusal_test() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        sources(&root.join("src/web"), &mut files);
        sources(&root.join("src/identity"), &mut files);
        let mut routes = Vec::new();
        for file in &files {
            post_routes(file, &mut routes);
        }
        assert!(
            routes.iter().any(|r| r == "/origins/{origin}/keys"),
            "the scan finds the routes: {routes:?}"
        );
        let table: String = std::fs::read_to_string(root.join("tests/it/web_forms.rs"))
            .unwrap_or_else(|e| panic!("cannot read the form refusal test: {e}"))
            .split_whitespace()
            .collect();
        let missing: Vec<_> = routes
            .iter()
            .filter(|r| !table.contains(&format!("(\"{r}\"")))
            .collect();
        assert!(
            missing.is_empty(),
            "POST routes missing from tests/it/web_forms.rs: {missing:?}"
        );
    }
}
