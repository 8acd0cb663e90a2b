//! Signing in with a provider: `GET /auth/{id}/login` keeps the sign-in in flight (state,
//! nonce, PKCE verifier, bound to the browser) and sends the browser to the provider;
//! `GET /auth/{id}/callback` takes it back (once), finishes with the provider, then signs the
//! identity in or up and starts a session. Every refusal is a page that names the step that
//! failed and the provider's own error, logged the same way, and starts no session.

use std::fmt;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::fetch::ProviderFailure;
use super::providers::{Backend, Provider};
use super::routes::{safe_return_to, see_other};
use super::session::{self, Viewer, own_origin, random_secret, secret_hash};
use super::signup::{self, Outcome};
use crate::AppState;
use crate::store::{LoginFlow, NewIdentity};
use crate::web::{Chrome, WebError, WebResult, render};

/// How long a sign-in may stay at the provider.
const FLOW_LIFETIME: Duration = Duration::minutes(10);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/{id}/login", get(login))
        .route("/auth/{id}/callback", get(callback))
        .route("/welcome", get(welcome))
}

/// The steps of a sign-in, as pages and the log name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Sending the browser to the provider.
    Start,
    /// Reading the provider's discovery document.
    Discovery,
    /// Matching the callback to a sign-in in flight.
    State,
    /// The provider's answer to the authorization request.
    Authorization,
    /// Exchanging the code for tokens.
    Token,
    /// Checking the ID token.
    IdToken,
    /// Reading the user-info endpoint.
    UserInfo,
    /// Reading the user's profile.
    User,
    /// Reading the user's e-mail addresses.
    Emails,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Start => "sending you to the provider",
            Self::Discovery => "reading the provider's OpenID configuration",
            Self::State => "matching the provider's answer to this sign-in",
            Self::Authorization => "authorization at the provider",
            Self::Token => "exchanging the authorization code for a token",
            Self::IdToken => "checking the ID token",
            Self::UserInfo => "reading the user info",
            Self::User => "reading the user profile",
            Self::Emails => "reading the e-mail addresses",
        })
    }
}

impl Step {
    /// Wraps a failure of this step.
    pub(crate) fn failed(self) -> impl Fn(ProviderFailure) -> Failed {
        move |failure| Failed {
            step: self,
            failure,
        }
    }
}

/// A sign-in that failed: the step and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {failure}")]
pub(crate) struct Failed {
    /// The step.
    pub step: Step,
    /// What went wrong.
    pub failure: ProviderFailure,
}

impl Failed {
    fn status(&self) -> StatusCode {
        match (&self.step, &self.failure) {
            (Step::State, _) => StatusCode::BAD_REQUEST,
            (_, ProviderFailure::Refused { .. } | ProviderFailure::IdToken(_)) => {
                StatusCode::UNAUTHORIZED
            }
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

impl Provider {
    /// The URL to send the browser to.
    async fn authorize_url(
        &self,
        redirect_uri: &str,
        flow: &LoginFlow,
        state: &str,
    ) -> Result<String, Failed> {
        match &self.backend {
            Backend::Github(github) => github.authorize_url(self, redirect_uri, flow, state),
            Backend::Oidc(oidc) => oidc.authorize_url(self, redirect_uri, flow, state).await,
        }
    }

    /// Finishes a sign-in with the code the provider sent back.
    async fn finish(
        &self,
        code: &str,
        iss: Option<&str>,
        flow: &LoginFlow,
        redirect_uri: &str,
    ) -> Result<NewIdentity, Failed> {
        match &self.backend {
            Backend::Github(github) => github.finish(self, code, flow, redirect_uri).await,
            Backend::Oidc(oidc) => oidc.finish(self, code, iss, flow, redirect_uri).await,
        }
    }
}

/// The page of a failed sign-in.
#[derive(Template)]
#[template(path = "signin_failed.html")]
struct FailedPage {
    chrome: Chrome,
    provider: String,
    step: String,
    detail: String,
    return_to: String,
}

/// The page after a sign-up whose account name is not the provider's user name.
#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomePage {
    chrome: Chrome,
    name: String,
    provider: String,
    username: String,
    why: String,
    return_to: String,
}

/// Logs a failed sign-in and shows it.
fn refuse(viewer: &Viewer, provider: &Provider, failed: Failed, return_to: &str) -> Response {
    tracing::warn!(
        provider = provider.id(),
        step = %failed.step,
        error = %failed.failure,
        "sign-in failed"
    );
    let page = FailedPage {
        chrome: Chrome::of(viewer),
        provider: provider.settings.display_name(),
        step: failed.step.to_string(),
        detail: failed.failure.to_string(),
        return_to: return_to.to_owned(),
    };
    match render(&page) {
        Ok(mut response) => {
            *response.status_mut() = failed.status();
            response
        }
        Err(e) => e.into_response(),
    }
}

/// The redirect URI of provider `id`: `{public_url}/auth/{id}/callback`, or without a public
/// URL, the request's own origin.
fn redirect_uri(state: &AppState, headers: &HeaderMap, id: &str) -> WebResult<String> {
    let base = match &state.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => own_origin(&state.settings, headers).ok_or_else(|| {
            WebError::new(
                StatusCode::BAD_REQUEST,
                "Cannot sign in",
                "The request has no `Host` and the depot has no `public_url`.",
            )
        })?,
    };
    Ok(format!("{base}/auth/{id}/callback"))
}

fn provider<'a>(state: &'a AppState, id: &str) -> WebResult<&'a std::sync::Arc<Provider>> {
    state
        .providers
        .get(id)
        .ok_or_else(|| WebError::not_found(format!("This depot has no sign-in provider `{id}`.")))
}

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    Path(id): Path<String>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> WebResult<Response> {
    let provider = provider(&state, &id)?;
    let return_to = safe_return_to(query.return_to.as_deref()).to_owned();
    if viewer.browser_id().is_empty() {
        return Err(WebError::internal("the session layer did not run"));
    }
    let redirect_uri = redirect_uri(&state, &headers, &id)?;
    let secret = || random_secret().map_err(WebError::internal);
    let state_value = secret()?;
    let flow = LoginFlow {
        state_hash: secret_hash(&state_value),
        provider: id.clone(),
        browser_hash: secret_hash(viewer.browser_id()),
        nonce: secret()?,
        verifier: secret()?,
        return_to: return_to.clone(),
        created_at: OffsetDateTime::now_utc(),
    };
    let url = match provider
        .authorize_url(&redirect_uri, &flow, &state_value)
        .await
    {
        Ok(url) => url,
        Err(failed) => return Ok(refuse(&viewer, provider, failed, &return_to)),
    };
    state
        .metadata
        .put_login_flow(&flow, flow.created_at - FLOW_LIFETIME)
        .await?;
    Ok(see_other(&url, &[]))
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// The issuer of the answer (RFC 9207), when the provider names it.
    iss: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> WebResult<Response> {
    let provider = provider(&state, &id)?;
    let mismatch = |why: &str| Failed {
        step: Step::State,
        failure: ProviderFailure::Inconsistent(why.to_owned()),
    };
    let flow = match &query.state {
        Some(s) if !s.is_empty() => state.metadata.take_login_flow(&secret_hash(s)).await?,
        _ => None,
    };
    let Some(flow) = flow else {
        let failed = mismatch(
            "this answer belongs to no sign-in in progress: it was already used, it expired, \
             or its `state` was changed. Start the sign-in again.",
        );
        return Ok(refuse(&viewer, provider, failed, "/"));
    };
    let return_to = flow.return_to.clone();
    if flow.provider != id {
        let failed = mismatch("this sign-in was started with another provider");
        return Ok(refuse(&viewer, provider, failed, &return_to));
    }
    if !flow.browser_hash.ct_eq(&secret_hash(viewer.browser_id())) {
        let failed = mismatch("this sign-in was started in another browser");
        return Ok(refuse(&viewer, provider, failed, &return_to));
    }
    if flow.created_at + FLOW_LIFETIME < OffsetDateTime::now_utc() {
        let failed = mismatch("this sign-in took too long at the provider; start it again");
        return Ok(refuse(&viewer, provider, failed, &return_to));
    }
    if let Some(error) = query.error {
        let failed = Failed {
            step: Step::Authorization,
            failure: ProviderFailure::Refused {
                error,
                description: query.error_description,
            },
        };
        return Ok(refuse(&viewer, provider, failed, &return_to));
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        let failed = Failed {
            step: Step::Authorization,
            failure: ProviderFailure::Inconsistent(
                "the provider sent the browser back without a code".to_owned(),
            ),
        };
        return Ok(refuse(&viewer, provider, failed, &return_to));
    };
    let redirect_uri = redirect_uri(&state, &headers, &id)?;
    let identity = match provider
        .finish(&code, query.iss.as_deref(), &flow, &redirect_uri)
        .await
    {
        Ok(identity) => identity,
        Err(failed) => return Ok(refuse(&viewer, provider, failed, &return_to)),
    };
    let outcome = signup::sign_in_or_up(&state, &identity).await?;
    // A browser signed in already (as anyone) leaves that session behind.
    if let Some(old) = viewer.session_hash() {
        state.metadata.delete_session(old).await?;
    }
    let account = outcome.account();
    let cookie = session::start(&state, account)
        .await
        .map_err(WebError::internal)?;
    tracing::info!(
        provider = provider.id(),
        subject = %identity.subject,
        account = %account.name,
        new = matches!(outcome, Outcome::SignedUp { .. }),
        "signed in with a provider"
    );
    match outcome {
        Outcome::SignedUp {
            changed: Some(_), ..
        } => {
            // The welcome page says which name the account got, and why.
            let to = reqwest::Url::parse_with_params(
                "http://depot/welcome",
                [("provider", id.as_str()), ("return_to", return_to.as_str())],
            )
            .map_err(WebError::internal)?;
            let path = format!("{}?{}", to.path(), to.query().unwrap_or_default());
            Ok(see_other(&path, &[cookie]))
        }
        _ => Ok(see_other(&return_to, &[cookie])),
    }
}

#[derive(Deserialize)]
struct WelcomeQuery {
    provider: String,
    return_to: Option<String>,
}

/// After a sign-up whose account name is not the provider's user name: the name, and why.
async fn welcome(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<WelcomeQuery>,
) -> WebResult<Response> {
    let return_to = safe_return_to(query.return_to.as_deref()).to_owned();
    let Some(account) = viewer.account() else {
        return Ok(see_other("/login", &[]));
    };
    let identities = state.metadata.identities(account.id).await?;
    let identity = identities.iter().find(|i| i.provider == query.provider);
    let (Some(identity), Some(provider)) = (identity, state.providers.get(&query.provider)) else {
        return Ok(see_other(&return_to, &[]));
    };
    let Some(change) = signup::name_change(&account.name, &identity.username) else {
        return Ok(see_other(&return_to, &[]));
    };
    render(&WelcomePage {
        chrome: Chrome::of(&viewer),
        name: account.name.clone(),
        provider: provider.settings.display_name(),
        username: identity.username.clone(),
        why: change.explain(&identity.username),
        return_to,
    })
}
