//! The sign-in pages and routes that are not a provider's: the sign-in page, signing in with an
//! access token (accounts without a provider), and signing out.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::session::{self, NoFields, Posted, Viewer};
use crate::AppState;
use crate::auth::token_hash;
use crate::web::{Chrome, WebError, WebResult, render};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page))
        .route("/login/token", post(token_sign_in))
        .route("/auth/logout", post(logout))
}

/// A sign-in button.
pub(crate) struct ProviderButton {
    /// The provider's id (in its URLs).
    pub id: String,
    /// Its name on the button.
    pub name: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    providers: Vec<ProviderButton>,
    return_to: String,
}

#[derive(Deserialize)]
struct ReturnTo {
    return_to: Option<String>,
}

/// The sign-in buttons of the configured providers, in the settings' order.
pub(crate) fn provider_buttons(state: &AppState) -> Vec<ProviderButton> {
    state
        .settings
        .auth
        .providers
        .iter()
        .map(|p| ProviderButton {
            id: p.id.clone(),
            name: p.name.clone().unwrap_or_else(|| match p.kind {
                super::ProviderKind::Github => "GitHub".to_owned(),
                super::ProviderKind::Oidc => p.id.clone(),
            }),
        })
        .collect()
}

async fn login_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ReturnTo>,
) -> WebResult<Response> {
    render(&LoginPage {
        chrome: Chrome::of(&viewer),
        providers: provider_buttons(&state),
        return_to: safe_return_to(query.return_to.as_deref()).to_owned(),
    })
}

/// Where to go after sign-in: a path of this depot, never another site (`//host` or a URL).
pub(crate) fn safe_return_to(path: Option<&str>) -> &str {
    match path {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/",
    }
}

/// A 303 to `location`, with extra `Set-Cookie` values.
pub(crate) fn see_other(location: &str, cookies: &[HeaderValue]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    for c in cookies {
        response.headers_mut().append(SET_COOKIE, c.clone());
    }
    response
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
    return_to: Option<String>,
}

async fn token_sign_in(
    State(state): State<AppState>,
    Posted(_, form): Posted<TokenForm>,
) -> WebResult<Response> {
    let refused = || {
        WebError::new(
            StatusCode::UNAUTHORIZED,
            "Sign-in refused",
            "That token is unknown, revoked or expired.",
        )
    };
    let hash = token_hash(form.token.trim());
    let (token, account) = state
        .metadata
        .authenticate(&hash)
        .await?
        .filter(|(token, _)| token.hash.ct_eq(&hash))
        .ok_or_else(refused)?;
    if token
        .expires_at
        .is_some_and(|at| at <= time::OffsetDateTime::now_utc())
    {
        return Err(refused());
    }
    let cookie = session::start(&state, &account)
        .await
        .map_err(WebError::internal)?;
    tracing::info!(account = %account.name, token = %token.name, "signed in with a token");
    Ok(see_other(
        safe_return_to(form.return_to.as_deref()),
        &[cookie],
    ))
}

async fn logout(
    State(state): State<AppState>,
    Posted(viewer, _): Posted<NoFields>,
) -> WebResult<Response> {
    if let Some(hash) = viewer.session_hash() {
        state.metadata.delete_session(hash).await?;
    }
    Ok(see_other(
        "/",
        &[session::clear_session_cookie(&state.settings)],
    ))
}
