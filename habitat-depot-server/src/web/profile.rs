//! The profile page: the signed-in account, its identities at sign-in providers, its access
//! tokens (created here with the secret shown exactly once, and revoked), and the invitations
//! addressed to it (accepted or ignored).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::view::{Done, time};
use super::{Chrome, WebError, WebResult, render, sign_in_first, signed_in};
use crate::AppState;
use crate::identity::see_other;
use crate::identity::session::{NoFields, Posted, Viewer};
use crate::routes::{origins as api_origins, profile as api};
use crate::store::Account;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/profile", get(profile))
        .route("/profile/tokens", post(create_token))
        .route("/profile/tokens/{id}/revoke", post(revoke_token))
        .route("/profile/invitations/{id}/accept", post(accept))
        .route("/profile/invitations/{id}/ignore", post(ignore))
}

struct IdentityRow {
    provider: String,
    username: String,
    email: String,
    last_sign_in: String,
}

struct TokenRow {
    id: i64,
    name: String,
    created: String,
    last_used: String,
    expires: String,
}

struct InvitationRow {
    id: i64,
    origin: String,
    invited_by: String,
    created: String,
}

/// A token just made: its name and the secret, shown on this answer only.
struct NewSecret {
    name: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    chrome: Chrome,
    done: Option<&'static str>,
    name: String,
    email: String,
    created: String,
    identities: Vec<IdentityRow>,
    tokens: Vec<TokenRow>,
    invitations: Vec<InvitationRow>,
    new_token: Option<NewSecret>,
}

/// The profile page of `account`, with a new token's secret if one was just made.
async fn page(
    state: &AppState,
    viewer: &Viewer,
    account: &Account,
    done: Option<&'static str>,
    new_token: Option<NewSecret>,
) -> WebResult<Response> {
    let store = &state.metadata;
    let (identities, tokens, invitations) = tokio::try_join!(
        store.identities(account.id),
        store.tokens(account.id),
        store.account_invitations(account.id),
    )?;
    let never = || "never".to_owned();
    render(&ProfilePage {
        chrome: Chrome::of(viewer),
        done,
        name: account.name.clone(),
        email: account.email.clone().unwrap_or_default(),
        created: time(account.created_at),
        identities: identities
            .into_iter()
            .map(|i| IdentityRow {
                provider: i.provider,
                username: i.username,
                email: i.email.unwrap_or_default(),
                last_sign_in: i.last_sign_in_at.map(time).unwrap_or_else(never),
            })
            .collect(),
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                name: t.name,
                created: time(t.created_at),
                last_used: t.last_used_at.map(time).unwrap_or_else(never),
                expires: t.expires_at.map(time).unwrap_or_else(never),
            })
            .collect(),
        invitations: invitations
            .into_iter()
            .map(|i| InvitationRow {
                id: i.id,
                origin: i.origin.to_string(),
                invited_by: i.invited_by,
                created: time(i.created_at),
            })
            .collect(),
        new_token,
    })
}

async fn profile(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(done): Query<Done>,
) -> WebResult<Response> {
    let Some(account) = viewer.account() else {
        return Ok(sign_in_first("/profile"));
    };
    page(&state, &viewer, account, done.message(), None).await
}

#[derive(Deserialize)]
struct NewToken {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

async fn create_token(
    State(state): State<AppState>,
    Posted(viewer, form): Posted<NewToken>,
) -> WebResult<Response> {
    let account = signed_in(&viewer)?;
    let days = match form.expires_in_days.trim() {
        "" | "never" => None,
        text => Some(text.parse::<u32>().map_err(|_| {
            WebError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Cannot do that",
                format!("`{text}` is not a number of days"),
            )
        })?),
    };
    let (token, secret) = api::issue_token(&state, account, Some(form.name), days).await?;
    // The secret is in this answer and nowhere else: no redirect, no cache.
    page(
        &state,
        &viewer,
        account,
        None,
        Some(NewSecret {
            name: token.name,
            secret,
        }),
    )
    .await
}

async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted(viewer, _): Posted<NoFields>,
) -> WebResult<Response> {
    let account = signed_in(&viewer)?;
    let not_found = || WebError::not_found(format!("Token `{id}` not found."));
    let id: i64 = id.parse().map_err(|_| not_found())?;
    if !state.metadata.delete_token(account.id, id).await? {
        return Err(not_found());
    }
    api::record_token(&state, "token_revoke", account, id).await?;
    Ok(see_other("/profile?done=token-revoked#tokens", &[]))
}

/// The viewer's own invitation `id` (404 when there is none; 403 when it is someone else's).
async fn own_invitation(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    verb: &str,
) -> WebResult<crate::store::Invitation> {
    signed_in(viewer)?;
    let not_found = || WebError::not_found(format!("Invitation `{id}` not found."));
    let number: i64 = id.parse().map_err(|_| not_found())?;
    let invitation = state
        .metadata
        .invitation(number)
        .await?
        .ok_or_else(not_found)?;
    // The API's rules: an account, the invitation of that origin, its invitee only.
    Ok(api_origins::own_invitation(
        state,
        &viewer.caller(),
        invitation.origin.as_str(),
        id,
        verb,
    )
    .await?)
}

async fn accept(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted(viewer, _): Posted<NoFields>,
) -> WebResult<Response> {
    let invitation = own_invitation(&state, &viewer, &id, "accept").await?;
    state.metadata.accept_invitation(invitation.id).await?;
    api_origins::record_invitation(
        &state,
        "invitation_accept",
        signed_in(&viewer)?,
        &invitation,
    )
    .await?;
    Ok(see_other(
        &format!("/origins/{}?done=accepted", invitation.origin),
        &[],
    ))
}

async fn ignore(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted(viewer, _): Posted<NoFields>,
) -> WebResult<Response> {
    let invitation = own_invitation(&state, &viewer, &id, "ignore").await?;
    state.metadata.delete_invitation(invitation.id).await?;
    api_origins::record_invitation(
        &state,
        "invitation_ignore",
        signed_in(&viewer)?,
        &invitation,
    )
    .await?;
    Ok(see_other("/profile?done=ignored#invitations", &[]))
}
