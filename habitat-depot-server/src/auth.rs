//! Tokens and the caller: who is asking. What they may do is the policy's question
//! ([`crate::authz`]).
//!
//! Tokens are 32 random bytes, shown once as `hab_<base64url>`, stored only as their BLAKE2b-256
//! hash. A GitHub provider with `accept_provider_tokens` also vouches for its own personal
//! access tokens (see [`crate::identity`]). A request without `Authorization` is anonymous; a
//! malformed header or an unknown, expired token is 401 on every route, so a typo never
//! silently downgrades to anonymous.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use habitat_core::Blake2bHash;
use time::OffsetDateTime;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::store::Account;

/// Prefix of every token, so that a leaked token is recognisable.
pub const TOKEN_PREFIX: &str = "hab_";

/// A new token: the secret (to show once) and the hash (to store). Fails only when the
/// operating system's random source does.
pub fn new_token() -> Result<(String, Blake2bHash), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let secret = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&secret);
    Ok((secret, hash))
}

/// The stored form of a token.
pub fn token_hash(secret: &str) -> Blake2bHash {
    Blake2bHash::digest(secret.as_bytes())
}

/// The caller of a request: anonymous, or an account authenticated by a token.
#[derive(Clone, Debug)]
pub struct Caller(pub Option<Account>);

impl Caller {
    /// The account, or 401 for anonymous callers.
    pub fn account(&self) -> ApiResult<&Account> {
        self.0.as_ref().ok_or_else(needs_token)
    }
}

/// The 401 of a request that needs a token and has none.
pub(crate) fn needs_token() -> ApiError {
    ApiError::unauthorized("this request needs a token: Authorization: Bearer <token>")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal("the authentication layer did not run"))
    }
}

/// Middleware on every route: resolves the `Authorization` header into a [`Caller`] stored in
/// the request, or answers 401.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match caller_of(&state, request.headers().get(AUTHORIZATION)).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(err) => err.into_response(),
    }
}

async fn caller_of(state: &AppState, header: Option<&HeaderValue>) -> ApiResult<Caller> {
    let Some(header) = header else {
        return Ok(Caller(None));
    };
    let secret = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("malformed Authorization header: expected `Bearer <token>`")
        })?;
    if !secret.starts_with(TOKEN_PREFIX)
        && let Some(caller) = provider_token_caller(state, secret).await?
    {
        return Ok(caller);
    }
    let hash = token_hash(secret);
    let found = state.metadata.authenticate(&hash).await?;
    let Some((token, account)) = found.filter(|(token, _)| token.hash.ct_eq(&hash)) else {
        return Err(ApiError::unauthorized("unknown or revoked token"));
    };
    if token
        .expires_at
        .is_some_and(|at| at <= OffsetDateTime::now_utc())
    {
        return Err(ApiError::unauthorized(format!(
            "token `{}` has expired",
            token.name
        )));
    }
    Ok(Caller(Some(account)))
}

/// The caller of a token that is not one of ours, asked of the providers that accept their own
/// tokens (`accept_provider_tokens`), in the settings' order: the account of the identity the
/// first one that knows the token names. `None` when no provider knows it (then it is an
/// unknown token like any other); 401 when the identity has no account yet.
async fn provider_token_caller(state: &AppState, secret: &str) -> ApiResult<Option<Caller>> {
    for provider in state.providers.iter() {
        let Some(answer) = provider.token_user(secret).await else {
            continue;
        };
        let user = match answer {
            Ok(Some(user)) => user,
            Ok(None) => continue,
            Err(failure) => {
                tracing::warn!(
                    provider = provider.id(),
                    error = %failure,
                    "cannot ask a provider whose a bearer token is"
                );
                return Err(ApiError::new(
                    axum::http::StatusCode::BAD_GATEWAY,
                    "provider_unavailable",
                    format!(
                        "cannot check this token with the sign-in provider `{}`: {failure}",
                        provider.id()
                    ),
                ));
            }
        };
        return match state
            .metadata
            .identity(provider.id(), &user.subject)
            .await?
        {
            Some((_, account)) => Ok(Some(Caller(Some(account)))),
            None => Err(ApiError::unauthorized(format!(
                "the {} user `{}` has no account on this depot yet: sign in on the depot's web \
                 interface with {} once, then use this token again",
                provider.settings.display_name(),
                user.login,
                provider.settings.display_name(),
            ))),
        };
    }
    Ok(None)
}

/// Creates a token for an account and returns its secret (shown once).
pub async fn issue_token(state: &AppState, account: &Account, name: &str) -> ApiResult<String> {
    let (secret, hash) = new_token().map_err(ApiError::internal)?;
    state
        .metadata
        .create_token(account.id, name, &hash, None)
        .await?;
    Ok(secret)
}
