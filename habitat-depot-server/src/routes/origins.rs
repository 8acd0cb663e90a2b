//! Origins, their members and invitations (docs/api.md, "Origins, members and invitations").
//!
//! Rules about *who* may be changed (the owner, oneself) are answered 403, like any other
//! permission; 422 is kept for values that do not parse.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use habitat_core::OriginName;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::common;
use crate::AppState;
use crate::auth::Caller;
use crate::authz::{self, Action, Permit, authorize};
use crate::error::{ApiError, ApiResult};
use crate::json::{invitation_json, timestamp};
use crate::store::{Account, AuditRecord, Invitation, Origin, OriginContents, Role, Visibility};

/// The router's `DefaultBodyLimit` for these JSON bodies, named in 413 messages.
const JSON_BODY_LIMIT: usize = 1 << 20;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/depot/origins", post(create_origin))
        .route(
            "/depot/origins/{origin}",
            get(show_origin).delete(delete_origin),
        )
        .route("/depot/origins/{origin}/users", get(members))
        .route(
            "/depot/origins/{origin}/users/{account}",
            delete(remove_member),
        )
        .route(
            "/depot/origins/{origin}/users/{account}/role",
            get(member_role).put(set_role),
        )
        .route(
            "/depot/origins/{origin}/users/{account}/invitations",
            post(invite),
        )
        .route("/depot/origins/{origin}/invitations", get(invitations))
        .route(
            "/depot/origins/{origin}/invitations/{id}",
            put(accept_invitation).delete(rescind_invitation),
        )
        .route(
            "/depot/origins/{origin}/invitations/{id}/ignore",
            put(ignore_invitation),
        )
        .route(
            "/depot/origins/{origin}/transfer/{account}",
            post(transfer_origin),
        )
        .route("/depot/origins/{origin}/depart", post(depart_origin))
}

/// The store id of account `name`; 0 when there is none (an id the stock client still reads).
async fn account_id(state: &AppState, name: &str) -> ApiResult<i64> {
    Ok(state
        .metadata
        .account_by_name(name)
        .await?
        .map_or(0, |account| account.id))
}

/// The origin JSON: ours (`owner`, `created_at`) and what Builder's `hab origin info` reads
/// (`owner_id` as a string, `owner_account`, `private_key_name`: the newest secret key's
/// `{o}-{rev}`, or `null` when the depot keeps none).
async fn origin_json(state: &AppState, origin: &Origin) -> ApiResult<Value> {
    let owner_id = account_id(state, &origin.owner).await?;
    let secret = state.metadata.latest_secret_key(&origin.name).await?;
    let private_key_name = secret.map(|key| format!("{}-{}", origin.name, key.revision));
    Ok(json!({
        "name": origin.name,
        "owner": origin.owner,
        "owner_id": owner_id.to_string(),
        "owner_account": origin.owner,
        "private_key_name": private_key_name,
        "default_package_visibility": origin.default_package_visibility.as_str(),
        "created_at": timestamp(origin.created_at),
    }))
}

/// Invitations as the API shows them ([`invitation_json`]), with the accounts' ids looked up
/// once per name.
pub(crate) async fn invitations_json(
    state: &AppState,
    invitations: &[Invitation],
) -> ApiResult<Vec<Value>> {
    let mut ids = std::collections::HashMap::new();
    let mut list = Vec::with_capacity(invitations.len());
    for invitation in invitations {
        for name in [&invitation.account, &invitation.invited_by] {
            if !ids.contains_key(name.as_str()) {
                ids.insert(name.as_str(), account_id(state, name).await?);
            }
        }
        let id = |name: &String| ids.get(name.as_str()).copied().unwrap_or_default();
        list.push(invitation_json(
            invitation,
            id(&invitation.account),
            id(&invitation.invited_by),
        ));
    }
    Ok(list)
}

/// A JSON body whatever its `Content-Type`: 400 when it is not JSON, 422 when its fields are
/// wrong; `None` when the body is empty.
fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> ApiResult<Option<T>> {
    let bytes = super::keys::read_body(body, JSON_BODY_LIMIT)?;
    if bytes.trim_ascii().is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        if e.is_data() {
            ApiError::unprocessable("invalid_value", format!("invalid request body: {e}"))
        } else {
            ApiError::bad_request(format!("the request body is not JSON: {e}"))
        }
    })
}

#[derive(Deserialize)]
struct NewOrigin {
    name: String,
    default_package_visibility: Option<String>,
}

async fn create_origin(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let account = caller.account()?;
    let request: NewOrigin = json_body(body)?.ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_value",
            "expected a JSON body `{\"name\": \"<origin>\"}`",
        )
    })?;
    let origin = new_origin(
        &state,
        account,
        &request.name,
        request.default_package_visibility.as_deref(),
    )
    .await?;
    let name = &origin.name;
    let location = format!("/v1/depot/origins/{name}");
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(origin_json(&state, &origin).await?),
    )
        .into_response())
}

async fn show_origin(
    State(state): State<AppState>,
    caller: Caller,
    Path(origin): Path<String>,
) -> ApiResult<Json<Value>> {
    let origin = common::origin(&origin)?;
    let permit = authorize(&state, &caller, &origin, Action::Read).await?;
    Ok(Json(origin_json(&state, &permit.origin).await?))
}

/// Creates origin `name` owned by `account`, its new packages `visibility` (`public` when
/// absent): 422 for an invalid name or visibility, 409 when it exists. The API and the origins
/// page both create origins here.
pub(crate) async fn new_origin(
    state: &AppState,
    account: &Account,
    name: &str,
    visibility: Option<&str>,
) -> ApiResult<Origin> {
    let name: OriginName = name.parse()?;
    let visibility = parse_visibility(visibility)?;
    // One transaction makes the origin, its `unstable` and `stable` channels and the owner.
    Ok(state
        .metadata
        .create_origin(&name, account.id, visibility)
        .await?)
}

/// A package visibility from a request (`public` when absent); 422 otherwise.
pub(crate) fn parse_visibility(text: Option<&str>) -> ApiResult<Visibility> {
    match text {
        None => Ok(Visibility::default()),
        Some(text) => Visibility::parse(text).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_value",
                format!("`{text}` is not a package visibility: expected `public` or `private`"),
            )
        }),
    }
}

/// "2 packages, 1 member besides the owner": what keeps an origin from being deleted.
fn contents_text(contents: &OriginContents) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = Vec::new();
    if contents.packages > 0 {
        parts.push(plural(contents.packages, "package", "packages"));
    }
    if contents.members > 0 {
        parts.push(plural(contents.members, "member", "members") + " besides the owner");
    }
    if contents.extra_channels > 0 {
        parts.push(
            plural(contents.extra_channels, "channel", "channels")
                + " besides `unstable` and `stable`",
        );
    }
    parts.join(", ")
}

async fn delete_origin(
    State(state): State<AppState>,
    caller: Caller,
    Path(origin): Path<String>,
) -> ApiResult<StatusCode> {
    let origin = common::origin(&origin)?;
    authorize(&state, &caller, &origin, Action::DeleteOrigin).await?;
    match state.metadata.delete_origin(&origin).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(contents) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "origin_not_empty",
            format!("origin `{origin}` still has {}", contents_text(&contents)),
        )),
    }
}

async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(origin): Path<String>,
) -> ApiResult<Json<Value>> {
    let origin = common::origin(&origin)?;
    authorize(&state, &caller, &origin, Action::ListMembers).await?;
    let members = state.metadata.members(&origin).await?;
    let members: Vec<Value> = members
        .iter()
        .map(|m| json!({ "name": m.name, "role": m.role.as_str() }))
        .collect();
    Ok(Json(json!({ "origin": origin, "members": members })))
}

async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((origin, account)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let origin = common::origin(&origin)?;
    let permit = authorize(&state, &caller, &origin, Action::RemoveMembers).await?;
    remove(&state, &permit, &account).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes `account` from the permit's origin (the permit is for [`Action::RemoveMembers`]):
/// never the owner (403); 404 for a non-member.
pub(crate) async fn remove(state: &AppState, permit: &Permit, account: &str) -> ApiResult<()> {
    authz::check_removal(&permit.origin, account)?;
    // The store refuses to remove the owner too, and answers 404 for non-members.
    state
        .metadata
        .remove_member(&permit.origin.name, account)
        .await?;
    crate::audit::record(
        state,
        AuditRecord::new("member_remove", &permit.account()?.name)
            .origin(&permit.origin.name)
            .detail(account),
    )
    .await?;
    Ok(())
}

/// Records that `by` accepted, ignored or rescinded (`action`) `invitation`.
pub(crate) async fn record_invitation(
    state: &AppState,
    action: &str,
    by: &Account,
    invitation: &Invitation,
) -> ApiResult<()> {
    crate::audit::record(
        state,
        AuditRecord::new(action, &by.name)
            .origin(&invitation.origin)
            .detail(&invitation.account),
    )
    .await?;
    Ok(())
}

/// The role of `account` in `origin`: 404 for unknown accounts and non-members.
async fn role_of(state: &AppState, origin: &OriginName, account: &str) -> ApiResult<Role> {
    let not_member =
        || ApiError::not_found(format!("`{account}` is not a member of origin `{origin}`"));
    let found = state
        .metadata
        .account_by_name(account)
        .await?
        .ok_or_else(not_member)?;
    state
        .metadata
        .role(origin, found.id)
        .await?
        .ok_or_else(not_member)
}

async fn member_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((origin, account)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let origin = common::origin(&origin)?;
    authorize(&state, &caller, &origin, Action::ReadMemberRole).await?;
    let role = role_of(&state, &origin, &account).await?;
    Ok(Json(json!({ "role": role.as_str() })))
}

/// `{"role": ...}` in the body (docs/api.md) or `?role=` (what the stock `hab` client sends).
#[derive(Deserialize, Default)]
struct RoleRequest {
    role: Option<String>,
}

async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((origin, account)): Path<(String, String)>,
    query: Result<Query<RoleRequest>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let origin = common::origin(&origin)?;
    let permit = authorize(&state, &caller, &origin, Action::SetRoles).await?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let body: RoleRequest = json_body(body)?.unwrap_or_default();
    let text = match (body.role, query.role) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::unprocessable(
                "invalid_value",
                format!("the body asks for role `{a}` but `?role=` for `{b}`"),
            ));
        }
        (Some(role), _) | (None, Some(role)) => role,
        (None, None) => {
            return Err(ApiError::unprocessable(
                "invalid_value",
                "expected a role: `{\"role\": \"<role>\"}` or `?role=<role>`",
            ));
        }
    };
    change_role(&state, &permit, &account, &text).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives `account` the role named `text` in the permit's origin (the permit is for
/// [`Action::SetRoles`]): 422 for an unknown role, 403 for a change the policy forbids (to or
/// from owner, one's own), 404 for a non-member.
pub(crate) async fn change_role(
    state: &AppState,
    permit: &Permit,
    account: &str,
    text: &str,
) -> ApiResult<()> {
    let role = Role::parse(text).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_value",
            format!(
                "`{text}` is not a role: expected `readonly_member`, `member`, `maintainer` or \
                 `administrator`"
            ),
        )
    })?;
    let origin = &permit.origin.name;
    // Who may be changed is a permission rule, so 403 (see the module docs), not 422.
    authz::check_role_change(&permit.origin, permit.account()?, account, role)?;
    // 404 for an account that is not a member.
    role_of(state, origin, account).await?;
    state.metadata.set_role(origin, account, role).await?;
    crate::audit::record(
        state,
        AuditRecord::new("role_change", &permit.account()?.name)
            .origin(origin)
            .detail(format!("{account} {}", role.as_str())),
    )
    .await?;
    Ok(())
}

async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Path((origin, account)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let origin = common::origin(&origin)?;
    let permit = authorize(&state, &caller, &origin, Action::Invite).await?;
    let invitation = send_invitation(&state, &permit, &account).await?;
    let mut body = invitations_json(&state, std::slice::from_ref(&invitation)).await?;
    Ok((StatusCode::CREATED, Json(body.pop().unwrap_or_default())))
}

/// Invites `account` to the permit's origin (the permit is for [`Action::Invite`]): 404 for an
/// unknown account, 409 for a member or a second invitation.
pub(crate) async fn send_invitation(
    state: &AppState,
    permit: &Permit,
    account: &str,
) -> ApiResult<Invitation> {
    let me = permit.account()?;
    // The store answers 404 for an unknown account and 409 for a member or a second invitation.
    let invitation = state
        .metadata
        .create_invitation(&permit.origin.name, account, &me.name)
        .await?;
    record_invitation(state, "invitation_send", me, &invitation).await?;
    Ok(invitation)
}

async fn invitations(
    State(state): State<AppState>,
    caller: Caller,
    Path(origin): Path<String>,
) -> ApiResult<Json<Value>> {
    let origin = common::origin(&origin)?;
    authorize(&state, &caller, &origin, Action::ListMembers).await?;
    let pending = state.metadata.origin_invitations(&origin).await?;
    let pending = invitations_json(&state, &pending).await?;
    Ok(Json(json!({ "origin": origin, "invitations": pending })))
}

/// Invitation `id` of `origin`; 404 when there is none, including one of another origin.
pub(crate) async fn find_invitation(
    state: &AppState,
    origin: &OriginName,
    id: &str,
) -> ApiResult<Invitation> {
    let not_found =
        || ApiError::not_found(format!("invitation `{id}` of origin `{origin}` not found"));
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let found = state.metadata.invitation(id).await?;
    found.filter(|i| &i.origin == origin).ok_or_else(not_found)
}

/// The invitation, if the caller is its invitee: only they may accept or ignore it.
pub(crate) async fn own_invitation(
    state: &AppState,
    caller: &Caller,
    origin: &str,
    id: &str,
    verb: &str,
) -> ApiResult<Invitation> {
    let origin = common::origin(origin)?;
    let permit = authorize(state, caller, &origin, Action::AnswerInvitation).await?;
    let invitation = find_invitation(state, &origin, id).await?;
    authz::check_invitee(&invitation, permit.account()?, verb)?;
    Ok(invitation)
}

async fn accept_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path((origin, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let invitation = own_invitation(&state, &caller, &origin, &id, "accept").await?;
    // One transaction: the invitee becomes `member` and the invitation is gone.
    state.metadata.accept_invitation(invitation.id).await?;
    record_invitation(&state, "invitation_accept", caller.account()?, &invitation).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn ignore_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path((origin, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let invitation = own_invitation(&state, &caller, &origin, &id, "ignore").await?;
    state.metadata.delete_invitation(invitation.id).await?;
    record_invitation(&state, "invitation_ignore", caller.account()?, &invitation).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rescind_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path((origin, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let origin = common::origin(&origin)?;
    let permit = authorize(&state, &caller, &origin, Action::Invite).await?;
    let invitation = find_invitation(&state, &origin, &id).await?;
    state.metadata.delete_invitation(invitation.id).await?;
    record_invitation(&state, "invitation_rescind", permit.account()?, &invitation).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /depot/origins/{o}/transfer/{account}`: only the owner may hand the origin to another
/// member, who becomes its owner; the previous owner stays a `maintainer` (as on Builder).
/// 403 for anyone but the owner and for an account that is not a member yet, 422 for the owner
/// themself, 404 for an unknown origin or account.
async fn transfer_origin(
    State(state): State<AppState>,
    caller: Caller,
    Path((origin, account)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let origin = common::origin(&origin)?;
    let permit = authorize(&state, &caller, &origin, Action::TransferOrigin).await?;
    if permit.account()?.name == account {
        return Err(ApiError::unprocessable(
            "invalid_value",
            format!("`{account}` already owns origin `{origin}`"),
        ));
    }
    let found = state
        .metadata
        .account_by_name(&account)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account `{account}` not found")))?;
    if state.metadata.role(&origin, found.id).await?.is_none() {
        return Err(ApiError::forbidden(format!(
            "`{account}` is not a member of origin `{origin}`: invite them first, then transfer \
             the origin once they have accepted"
        )));
    }
    state.metadata.transfer_origin(&origin, &account).await?;
    crate::audit::record(
        &state,
        AuditRecord::new("origin_transfer", &permit.account()?.name)
            .origin(&origin)
            .detail(&account),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /depot/origins/{o}/depart`: the caller leaves the origin. The owner cannot (403: transfer
/// the origin first, or delete it); someone who is not a member gets 422, as on Builder.
async fn depart_origin(
    State(state): State<AppState>,
    caller: Caller,
    Path(origin): Path<String>,
) -> ApiResult<StatusCode> {
    let origin = common::origin(&origin)?;
    let permit = authorize(&state, &caller, &origin, Action::Depart).await?;
    let me = permit.account()?;
    if permit.role.is_none() {
        return Err(ApiError::unprocessable(
            "invalid_value",
            format!("`{}` is not a member of origin `{origin}`", me.name),
        ));
    }
    authz::check_departure(&permit.origin, &me.name)?;
    state.metadata.remove_member(&origin, &me.name).await?;
    crate::audit::record(
        &state,
        AuditRecord::new("origin_depart", &me.name).origin(&origin),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_name_what_is_left() {
        let text = |packages, members, extra_channels| {
            contents_text(&OriginContents {
                packages,
                members,
                extra_channels,
            })
        };
        assert_eq!(text(1, 0, 0), "1 package");
        assert_eq!(
            text(2, 1, 3),
            "2 packages, 1 member besides the owner, 3 channels besides `unstable` and `stable`"
        );
        assert_eq!(
            text(0, 2, 1),
            "2 members besides the owner, 1 channel besides `unstable` and `stable`"
        );
    }
}
