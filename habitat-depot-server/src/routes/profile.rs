//! The caller's own account: profile, access tokens, origins, invitations.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Caller, new_token};
use crate::error::{ApiError, ApiResult};
use crate::json::timestamp;
use crate::store::{Account, AuditRecord, TokenRecord};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/profile", get(profile))
        .route(
            "/profile/access-tokens",
            get(list_tokens).post(create_token),
        )
        .route("/profile/access-tokens/{id}", delete(delete_token))
        .route("/user/origins", get(user_origins))
        .route("/user/invitations", get(user_invitations))
}

async fn profile(caller: Caller) -> ApiResult<Json<Value>> {
    let account = caller.account()?;
    Ok(Json(json!({
        "id": account.id.to_string(),
        "name": account.name,
        "email": account.email,
        "created_at": timestamp(account.created_at),
    })))
}

fn token_json(token: &TokenRecord) -> Value {
    json!({
        "id": token.id.to_string(),
        "name": token.name,
        "created_at": timestamp(token.created_at),
        "last_used_at": token.last_used_at.map(timestamp),
        "expires_at": token.expires_at.map(timestamp),
    })
}

async fn list_tokens(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Value>>> {
    let account = caller.account()?;
    let tokens = state.metadata.tokens(account.id).await?;
    Ok(Json(tokens.iter().map(token_json).collect()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: Option<String>,
    expires_in_days: Option<u32>,
}

async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Option<Json<NewToken>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let account = caller.account()?;
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let (token, secret) =
        issue_token(&state, account, request.name, request.expires_in_days).await?;
    let mut body = token_json(&token);
    body["token"] = Value::String(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

/// A new access token of `account`, named `name` (`default` when absent or blank), expiring in
/// `expires_in_days` (never when absent): its record and its secret, which is shown once and
/// never stored. 422 for a name past 255 characters or 0 days.
pub(crate) async fn issue_token(
    state: &AppState,
    account: &Account,
    name: Option<String>,
    expires_in_days: Option<u32>,
) -> ApiResult<(TokenRecord, String)> {
    let name = name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "default".into());
    if name.len() > 255 {
        return Err(ApiError::unprocessable(
            "invalid_value",
            "a token name has at most 255 characters",
        ));
    }
    let expires_at = match expires_in_days {
        Some(0) => {
            return Err(ApiError::unprocessable(
                "invalid_value",
                "expires_in_days must be at least 1",
            ));
        }
        Some(days) => Some(time::OffsetDateTime::now_utc() + time::Duration::days(days.into())),
        None => None,
    };
    let (secret, hash) = new_token().map_err(ApiError::internal)?;
    let token = state
        .metadata
        .create_token(account.id, &name, &hash, expires_at)
        .await?;
    record_token(state, "token_create", account, token.id).await?;
    Ok((token, secret))
}

/// Records that `account` created or revoked (`action`) its token `id`: a row of no origin
/// (docs/operations.md, "The audit log").
pub(crate) async fn record_token(
    state: &AppState,
    action: &str,
    account: &Account,
    id: i64,
) -> ApiResult<()> {
    crate::audit::record(
        state,
        AuditRecord::new(action, &account.name).detail(format!("token {id}")),
    )
    .await?;
    Ok(())
}

async fn delete_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let account = caller.account()?;
    let not_found = || ApiError::not_found(format!("token `{id}` not found"));
    let id: i64 = id.parse().map_err(|_| not_found())?;
    if state.metadata.delete_token(account.id, id).await? {
        record_token(&state, "token_revoke", account, id).await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

async fn user_origins(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Value>>> {
    let account = caller.account()?;
    let origins = state.metadata.account_origins(account.id).await?;
    Ok(Json(
        origins
            .into_iter()
            .map(|(name, role)| json!({"name": name, "role": role.as_str()}))
            .collect(),
    ))
}

async fn user_invitations(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Value>>> {
    let account = caller.account()?;
    let invitations = state.metadata.account_invitations(account.id).await?;
    Ok(Json(
        super::origins::invitations_json(&state, &invitations).await?,
    ))
}
