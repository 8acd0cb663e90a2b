//! The origins pages: the signed-in account's origins (and a form to create one), and one
//! origin with its packages, channels, members, invitations, keys and settings. Every control
//! is shown only where the policy permits it ([`authz::permits`]); every form's handler still
//! authorizes, with the same functions as the API.

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use habitat_core::{ChannelName, OriginName};
use serde::Deserialize;
use std::sync::Arc;

use super::PageCache;
use super::view::{Done, PageNumber, Pager, PkgRow};
use super::{Chrome, WebError, WebResult, render, sign_in_first, signed_in};
use crate::AppState;
use crate::authz::{self, Action, Permit, authorize};
use crate::identity::see_other;
use crate::identity::session::{MultipartForm, NoFields, Posted, PostedMultipart, Viewer};
use crate::routes::{keys, origins as api};
use crate::store::{AuditRecord, Role, Visibility};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/origins", get(list).post(create))
        .route("/origins/{origin}", get(show))
        .route("/origins/{origin}/channels", post(create_channel))
        .route(
            "/origins/{origin}/channels/{channel}/delete",
            post(delete_channel),
        )
        .route("/origins/{origin}/members/{account}/role", post(set_role))
        .route(
            "/origins/{origin}/members/{account}/remove",
            post(remove_member),
        )
        .route("/origins/{origin}/invitations", post(invite))
        .route("/origins/{origin}/invitations/{id}/rescind", post(rescind))
        .route("/origins/{origin}/keys", post(upload_key))
        .route("/origins/{origin}/settings", post(settings))
}

/// An origin from a path segment: 404 when it is not a valid name (no such origin).
fn origin_name(text: &str) -> WebResult<OriginName> {
    text.parse()
        .map_err(|_| WebError::not_found(format!("Origin `{text}` not found.")))
}

/// After a form: back to the origin's page with a message, at the section it changed.
fn back(origin: &OriginName, done: &str, section: &str) -> Response {
    see_other(&format!("/origins/{origin}?done={done}#{section}"), &[])
}

/// One of the account's origins.
struct MyOrigin {
    name: String,
    role: Role,
}

#[derive(Template)]
#[template(path = "origins.html")]
struct OriginsPage {
    chrome: Chrome,
    origins: Vec<MyOrigin>,
    done: Option<&'static str>,
}

async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(done): Query<Done>,
) -> WebResult<Response> {
    let Some(account) = viewer.account() else {
        return Ok(sign_in_first("/origins"));
    };
    let origins = state.metadata.account_origins(account.id).await?;
    render(&OriginsPage {
        chrome: Chrome::of(&viewer),
        origins: origins
            .into_iter()
            .map(|(name, role)| MyOrigin {
                name: name.to_string(),
                role,
            })
            .collect(),
        done: done.message(),
    })
}

#[derive(Deserialize)]
struct NewOrigin {
    name: String,
    visibility: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Posted(viewer, form): Posted<NewOrigin>,
) -> WebResult<Response> {
    let account = signed_in(&viewer)?;
    let origin = api::new_origin(
        &state,
        account,
        form.name.trim(),
        form.visibility.as_deref(),
    )
    .await?;
    Ok(see_other(
        &format!("/origins/{}?done=origin-created", origin.name),
        &[],
    ))
}

/// A member as the origin page lists them, with the controls the viewer may use on them.
struct MemberRow {
    name: String,
    role: Role,
    can_change: bool,
    can_remove: bool,
}

struct InvitationRow {
    id: i64,
    account: String,
    invited_by: String,
    created: String,
}

struct KeyRow {
    revision: String,
    created: String,
}

struct ChannelRow {
    name: String,
    deletable: bool,
}

#[derive(Template)]
#[template(path = "origin.html")]
struct OriginPage {
    chrome: Chrome,
    origin: String,
    owner: String,
    role: Option<Role>,
    default_visibility: &'static str,
    done: Option<&'static str>,
    packages: Vec<PkgRow>,
    total: u64,
    pager: Pager,
    channels: Vec<ChannelRow>,
    members: Option<Vec<MemberRow>>,
    invitations: Option<Vec<InvitationRow>>,
    keys: Vec<KeyRow>,
    roles: Vec<&'static str>,
    can_manage_channels: bool,
    can_invite: bool,
    can_manage_keys: bool,
    can_manage_settings: bool,
}

async fn show(
    State(state): State<AppState>,
    Extension(cache): Extension<Arc<PageCache>>,
    viewer: Viewer,
    Path(origin): Path<String>,
    Query(done): Query<Done>,
    Query(page): Query<PageNumber>,
) -> WebResult<Response> {
    let origin = origin_name(&origin)?;
    let permit = authorize(&state, &viewer.caller(), &origin, Action::Read).await?;
    let store = &state.metadata;
    let private = permit.private_scope();
    // The origin's names are those of every visible name (by origin, then name) that the
    // pages' cache keeps; the viewer's wider scope changes nothing within this origin.
    let scope = authz::private_scope(&state, &viewer.caller(), None).await?;
    let (all_names, channels, keys) = tokio::try_join!(
        cache.names(&state, &scope),
        store.channels(&origin),
        store.public_keys(&origin),
    )?;
    let names: Vec<&(OriginName, String)> =
        all_names.iter().filter(|(o, _)| *o == origin).collect();
    let window = page.window();
    let shown: Vec<_> = names
        .iter()
        .copied()
        .skip(usize::try_from(window.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(window.limit).unwrap_or(usize::MAX))
        .cloned()
        .collect();
    let packages = store.newest_releases(&shown, &private).await?;
    let total = names.len() as u64;
    let (members, invitations) = if permit.permits(Action::ListMembers) {
        let (members, invitations) =
            tokio::try_join!(store.members(&origin), store.origin_invitations(&origin))?;
        (Some(members), Some(invitations))
    } else {
        (None, None)
    };
    let me = viewer.account().map(|a| a.name.as_str());
    let owner = permit.origin.owner.as_str();
    let members = members.map(|members| {
        members
            .into_iter()
            .map(|m| MemberRow {
                can_change: permit.permits(Action::SetRoles)
                    && m.name != owner
                    && Some(m.name.as_str()) != me,
                can_remove: permit.permits(Action::RemoveMembers) && m.name != owner,
                name: m.name,
                role: m.role,
            })
            .collect()
    });
    let invitations = invitations.map(|list| {
        list.into_iter()
            .map(|i| InvitationRow {
                id: i.id,
                account: i.account,
                invited_by: i.invited_by,
                created: super::view::time(i.created_at),
            })
            .collect()
    });
    let can_manage_channels = permit.permits(Action::ManageChannels);
    render(&OriginPage {
        chrome: Chrome::of(&viewer),
        origin: origin.to_string(),
        owner: owner.to_owned(),
        role: permit.role,
        default_visibility: permit.origin.default_package_visibility.as_str(),
        done: done.message(),
        packages: packages.iter().map(PkgRow::of).collect(),
        total,
        pager: Pager::new(&format!("/origins/{origin}?"), page.number(), total),
        channels: channels
            .into_iter()
            .map(|c| ChannelRow {
                deletable: can_manage_channels && authz::check_channel_deletion(&c).is_ok(),
                name: c.to_string(),
            })
            .collect(),
        members,
        invitations,
        keys: keys
            .into_iter()
            .map(|k| KeyRow {
                revision: k.revision,
                created: super::view::time(k.created_at),
            })
            .collect(),
        roles: Role::ALL
            .into_iter()
            .filter(|r| *r != Role::Owner)
            .map(Role::as_str)
            .collect(),
        can_manage_channels,
        can_invite: permit.permits(Action::Invite),
        can_manage_keys: permit.permits(Action::ManageKeys),
        can_manage_settings: permit.permits(Action::ManageSettings),
    })
}

/// Asks the policy for `action` in `origin` (the form was checked by [`Posted`]).
async fn permit_for(
    state: &AppState,
    viewer: &Viewer,
    origin: &str,
    action: Action,
) -> WebResult<Permit> {
    let origin = origin_name(origin)?;
    Ok(authorize(state, &viewer.caller(), &origin, action).await?)
}

#[derive(Deserialize)]
struct NewChannel {
    name: String,
}

async fn create_channel(
    State(state): State<AppState>,
    Path(origin): Path<String>,
    Posted(viewer, form): Posted<NewChannel>,
) -> WebResult<Response> {
    let permit = permit_for(&state, &viewer, &origin, Action::ManageChannels).await?;
    let channel: ChannelName = form
        .name
        .trim()
        .parse()
        .map_err(crate::error::ApiError::from)?;
    let origin = &permit.origin.name;
    state.metadata.create_channel(origin, &channel).await?;
    Ok(back(origin, "channel-created", "channels"))
}

async fn delete_channel(
    State(state): State<AppState>,
    Path((origin, channel)): Path<(String, String)>,
    Posted(viewer, _): Posted<NoFields>,
) -> WebResult<Response> {
    let permit = permit_for(&state, &viewer, &origin, Action::ManageChannels).await?;
    let channel: ChannelName = channel.parse().map_err(crate::error::ApiError::from)?;
    authz::check_channel_deletion(&channel)?;
    let origin = &permit.origin.name;
    state.metadata.delete_channel(origin, &channel).await?;
    Ok(back(origin, "channel-deleted", "channels"))
}

#[derive(Deserialize)]
struct RoleForm {
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    Path((origin, account)): Path<(String, String)>,
    Posted(viewer, form): Posted<RoleForm>,
) -> WebResult<Response> {
    let permit = permit_for(&state, &viewer, &origin, Action::SetRoles).await?;
    api::change_role(&state, &permit, &account, &form.role).await?;
    Ok(back(&permit.origin.name, "role-changed", "members"))
}

async fn remove_member(
    State(state): State<AppState>,
    Path((origin, account)): Path<(String, String)>,
    Posted(viewer, _): Posted<NoFields>,
) -> WebResult<Response> {
    let permit = permit_for(&state, &viewer, &origin, Action::RemoveMembers).await?;
    api::remove(&state, &permit, &account).await?;
    Ok(back(&permit.origin.name, "member-removed", "members"))
}

#[derive(Deserialize)]
struct InviteForm {
    account: String,
}

async fn invite(
    State(state): State<AppState>,
    Path(origin): Path<String>,
    Posted(viewer, form): Posted<InviteForm>,
) -> WebResult<Response> {
    let permit = permit_for(&state, &viewer, &origin, Action::Invite).await?;
    api::send_invitation(&state, &permit, form.account.trim()).await?;
    Ok(back(&permit.origin.name, "invited", "invitations"))
}

async fn rescind(
    State(state): State<AppState>,
    Path((origin, id)): Path<(String, String)>,
    Posted(viewer, _): Posted<NoFields>,
) -> WebResult<Response> {
    let permit = permit_for(&state, &viewer, &origin, Action::Invite).await?;
    let origin = &permit.origin.name;
    let invitation = api::find_invitation(&state, origin, &id).await?;
    state.metadata.delete_invitation(invitation.id).await?;
    api::record_invitation(&state, "invitation_rescind", permit.account()?, &invitation).await?;
    Ok(back(origin, "rescinded", "invitations"))
}

#[derive(Deserialize)]
struct SettingsForm {
    visibility: String,
}

async fn settings(
    State(state): State<AppState>,
    Path(origin): Path<String>,
    Posted(viewer, form): Posted<SettingsForm>,
) -> WebResult<Response> {
    let permit = permit_for(&state, &viewer, &origin, Action::ManageSettings).await?;
    let visibility: Visibility = api::parse_visibility(Some(&form.visibility))?;
    let origin = &permit.origin.name;
    state
        .metadata
        .set_default_visibility(origin, visibility)
        .await?;
    crate::audit::record(
        &state,
        AuditRecord::new("default_visibility", &permit.account()?.name)
            .origin(origin)
            .detail(visibility.as_str()),
    )
    .await?;
    Ok(back(origin, "settings", "settings"))
}

/// The key upload form's fields: which kind of key, and its text from a file or pasted.
#[derive(Default)]
struct KeyForm {
    kind: String,
    file: String,
    text: String,
}

impl MultipartForm for KeyForm {
    /// A field past the key size limit is refused.
    fn admit(_name: &str, bytes: &[u8]) -> WebResult<()> {
        if bytes.len() > keys::KEY_BODY_LIMIT {
            return Err(WebError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Cannot do that",
                format!(
                    "the key is larger than {} KiB: it is not a key file",
                    keys::KEY_BODY_LIMIT / 1024
                ),
            ));
        }
        Ok(())
    }

    fn set(&mut self, name: &str, text: String) {
        match name {
            "kind" => self.kind = text,
            "file" => self.file = text,
            "text" => self.text = text,
            _ => {}
        }
    }
}

async fn upload_key(
    State(state): State<AppState>,
    Path(origin): Path<String>,
    PostedMultipart(viewer, form): PostedMultipart<KeyForm>,
) -> WebResult<Response> {
    let permit = permit_for(&state, &viewer, &origin, Action::ManageKeys).await?;
    let origin = &permit.origin.name;
    let text = if form.file.trim().is_empty() {
        form.text.trim()
    } else {
        form.file.trim()
    };
    if text.is_empty() {
        return Err(WebError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Cannot do that",
            "choose a key file or paste the key's text",
        ));
    }
    let text = format!("{text}\n");
    let account = &permit.account()?.name;
    let done = match form.kind.as_str() {
        "secret" => {
            keys::store_secret_key(&state, origin, None, &text, account).await?;
            "secret-key"
        }
        _ => {
            keys::store_public_key(&state, origin, None, &text, account).await?;
            "public-key"
        }
    };
    Ok(back(origin, done, "keys"))
}
