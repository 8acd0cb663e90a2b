//! Channels (docs/api.md, "Channels") and the seed-era views ("Seed-era views"): a view is a
//! channel, and every view route shares its handler with its channel twin, so they cannot
//! drift apart. The `/depot/views/{c}/origins/{o}/keys…` aliases live with the keys.

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use habitat_core::{Blake2bHash, ChannelName, OriginName};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{self, find_package, package_body};
use super::packages::{
    Params, PkgPath, Segments, explain_miss, latest_package, list_packages, maintained_package,
    optional_target,
};
use crate::AppState;
use crate::auth::Caller;
use crate::authz::{self, Action, Permit, authorize};
use crate::error::{ApiError, ApiResult};
use crate::json::{MAX_LIMIT, PageQuery, TargetQuery};
use crate::store::{ChannelAction, Package, PackageFilter, Page};
use crate::sync::pull;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/depot/channels/{origin}", get(list_channels))
        .route(
            "/depot/channels/{origin}/{channel}",
            post(create_channel).delete(delete_channel),
        )
        .route("/depot/channels/{origin}/{channel}/manifest", get(manifest))
        .route("/depot/channels/{origin}/{channel}/pkgs", get(list))
        // Bulk promote and demote (Builder's `hab bldr channel promote|demote`). A package
        // named `promote` or `demote` is still listed: the static segment takes the GET too.
        .route(
            "/depot/channels/{origin}/{channel}/pkgs/promote",
            put(promote_all).get(list_promote),
        )
        .route(
            "/depot/channels/{origin}/{channel}/pkgs/demote",
            put(demote_all).get(list_demote),
        )
        .route("/depot/channels/{origin}/{channel}/pkgs/{name}", get(list))
        .route(
            "/depot/channels/{origin}/{channel}/pkgs/{name}/latest",
            get(latest),
        )
        .route(
            "/depot/channels/{origin}/{channel}/pkgs/{name}/{version}",
            get(list),
        )
        .route(
            "/depot/channels/{origin}/{channel}/pkgs/{name}/{version}/latest",
            get(latest),
        )
        .route(
            "/depot/channels/{origin}/{channel}/pkgs/{name}/{version}/{release}",
            get(show),
        )
        .route(
            "/depot/channels/{origin}/{channel}/pkgs/{name}/{version}/{release}/download",
            get(download),
        )
        .route(
            "/depot/channels/{origin}/{channel}/pkgs/{name}/{version}/{release}/promote",
            put(promote),
        )
        .route(
            "/depot/channels/{origin}/{channel}/pkgs/{name}/{version}/{release}/demote",
            put(demote),
        )
        // Seed-era views: the same handlers, the channel first in the path.
        .route("/depot/views", get(views))
        .route(
            "/depot/views/{channel}/pkgs/{origin}/{name}/latest",
            get(latest),
        )
        .route(
            "/depot/views/{channel}/pkgs/{origin}/{name}/{version}/latest",
            get(latest),
        )
        .route(
            "/depot/views/{channel}/pkgs/{origin}/{name}/{version}/{release}",
            get(show),
        )
        .route(
            "/depot/views/{channel}/pkgs/{origin}/{name}/{version}/{release}/download",
            get(download),
        )
        .route(
            "/depot/views/{channel}/pkgs/{origin}/{name}/{version}/{release}/promote",
            post(promote),
        )
}

/// The policy's permit to read the origin, if it exists and has this channel; 404 otherwise.
async fn require_channel(
    state: &AppState,
    caller: &Caller,
    origin: &OriginName,
    channel: &ChannelName,
) -> ApiResult<Permit> {
    let permit = authorize(state, caller, origin, Action::Read).await?;
    if state.metadata.channels(origin).await?.contains(channel) {
        Ok(permit)
    } else {
        Err(ApiError::not_found(format!(
            "channel `{channel}` of origin `{origin}` not found"
        )))
    }
}

async fn list_channels(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
) -> ApiResult<Json<Vec<Value>>> {
    let origin = path.origin()?;
    authorize(&state, &caller, &origin, Action::Read).await?;
    let channels = state.metadata.channels(&origin).await?;
    Ok(Json(
        channels
            .into_iter()
            .map(|name| json!({ "name": name }))
            .collect(),
    ))
}

async fn create_channel(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (origin, channel) = (path.origin()?, path.channel()?);
    authorize(&state, &caller, &origin, Action::ManageChannels).await?;
    state.metadata.create_channel(&origin, &channel).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": channel, "origin": origin })),
    ))
}

async fn delete_channel(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
) -> ApiResult<StatusCode> {
    let (origin, channel) = (path.origin()?, path.channel()?);
    authorize(&state, &caller, &origin, Action::ManageChannels).await?;
    authz::check_channel_deletion(&channel)?;
    state.metadata.delete_channel(&origin, &channel).await?;
    // 200, not 204: the stock `hab bldr channel destroy` takes nothing else for success.
    Ok(StatusCode::OK)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(page): Params<PageQuery>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<Response> {
    let mut filter = path.filter()?;
    let channel = path.channel()?;
    filter.target = optional_target(&target)?;
    let permit = require_channel(&state, &caller, &path.origin()?, &channel).await?;
    filter.channel = Some(channel);
    list_packages(&state, &permit, filter, page.page()).await
}

/// The whole membership of a channel for one target (`?target=`, absent: the default target),
/// in one answer: each member's ident, target, checksum, size, TDEPS and owner, by ident, and
/// only the private ones the caller may see. What a mirror reads (docs/mirroring.md). The
/// answer carries a strong `ETag` (the BLAKE2b-256 of its body); `If-None-Match` with it is a
/// 304 without a body, so an unchanged channel costs one small request.
async fn manifest(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (origin, channel, target) = (path.origin()?, path.channel()?, target.target()?);
    let permit = require_channel(&state, &caller, &origin, &channel).await?;
    let filter = PackageFilter {
        origin: Some(origin.clone()),
        target: Some(target),
        channel: Some(channel.clone()),
        private_origins: permit.private_scope(),
        ..PackageFilter::default()
    };
    let mut members = Vec::new();
    loop {
        let page = Page {
            offset: members.len() as u64,
            limit: MAX_LIMIT,
        };
        let found = state.metadata.packages(&filter, page).await?;
        let done = found.items.is_empty() || page.offset + found.items.len() as u64 >= found.total;
        members.extend(found.items);
        if done {
            break;
        }
    }
    members.sort_by_cached_key(|p| p.ident.to_string());
    let packages: Vec<Value> = members
        .iter()
        .map(|p| {
            json!({
                "ident": p.ident,
                "target": p.target,
                "checksum": p.checksum.to_string(),
                "size": p.size,
                "tdeps": p.tdeps,
                "owner": p.owner,
            })
        })
        .collect();
    let body = json!({
        "origin": origin,
        "channel": channel,
        "target": target,
        "packages": packages,
    });
    let body = serde_json::to_vec(&body)
        .map_err(|e| ApiError::internal(format!("cannot write the manifest: {e}")))?;
    let etag = format!("\"{}\"", Blake2bHash::digest(&body));
    if headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response());
    }
    Ok((
        [(CONTENT_TYPE, "application/json".to_owned()), (ETAG, etag)],
        body,
    )
        .into_response())
}

async fn list_promote(
    state: State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    page: Params<PageQuery>,
    target: Params<TargetQuery>,
) -> ApiResult<Response> {
    list(state, caller, Segments(path.named("promote")), page, target).await
}

async fn list_demote(
    state: State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    page: Params<PageQuery>,
    target: Params<TargetQuery>,
) -> ApiResult<Response> {
    list(state, caller, Segments(path.named("demote")), page, target).await
}

/// `?channel=` of the bulk routes: the channel packages go to (promote) or leave (demote).
#[derive(Debug, Deserialize)]
struct BulkQuery {
    channel: Option<String>,
}

/// Promotes every package of channel `{channel}` into `?channel=`, in one transaction.
async fn promote_all(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(query): Params<BulkQuery>,
) -> ApiResult<Json<Value>> {
    move_all(&state, &caller, &path, query, ChannelAction::Promote).await
}

/// Removes every package of channel `{channel}` from `?channel=`, in one transaction.
async fn demote_all(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(query): Params<BulkQuery>,
) -> ApiResult<Json<Value>> {
    move_all(&state, &caller, &path, query, ChannelAction::Demote).await
}

/// The bulk routes: `maintainer`; 422 without a valid `?channel=` or when it names the source
/// channel itself; 403 demoting from `unstable`; 404 for an unknown channel. Every change is
/// written to the audit log; the answer says how many packages changed.
async fn move_all(
    state: &AppState,
    caller: &Caller,
    path: &PkgPath,
    query: BulkQuery,
    action: ChannelAction,
) -> ApiResult<Json<Value>> {
    let (origin, source) = (path.origin()?, path.channel()?);
    let target: ChannelName = query
        .channel
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_value",
                "expected the target channel as `?channel=<channel>`",
            )
        })?
        .parse()?;
    let permit = authorize(state, caller, &origin, Action::ManagePackages).await?;
    let account = permit.account()?.name.clone();
    if target == source {
        return Err(ApiError::unprocessable(
            "invalid_value",
            format!("the source and target channels are both `{source}`"),
        ));
    }
    if action == ChannelAction::Demote {
        authz::check_demotion(&target)?;
    }
    authz::check_not_mirrored(state, &origin, &target)?;
    let changed = state
        .metadata
        .change_channel_all(&origin, &source, &target, action, &account)
        .await?;
    Ok(Json(json!({
        "origin": origin,
        "source": source,
        "target": target,
        "changed": changed,
    })))
}

/// The latest in the channel: what `hab pkg install` resolves.
async fn latest(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<Json<Value>> {
    let mut filter = path.filter()?;
    let channel = path.channel()?;
    let target = target.target()?;
    let origin = path.origin()?;
    filter.channel = Some(channel.clone());
    let here = latest_package(&state, &caller, filter.clone(), target);
    let found = pull::latest(&state, &filter, target, here).await;
    explain_miss(found, require_channel(&state, &caller, &origin, &channel)).await
}

/// The package if the caller may see it and it is in the channel; 404 otherwise.
async fn in_channel(
    state: &AppState,
    caller: &Caller,
    path: &PkgPath,
    target: &TargetQuery,
) -> ApiResult<Package> {
    let (ident, channel, target) = (path.ident()?, path.channel()?, target.target()?);
    pull::release(state, &ident, target, Some(&channel)).await?;
    let package = find_package(state, caller, &ident, target).await?;
    let memberships = state.metadata.package_channels(package.id).await?;
    if memberships.iter().any(|m| m.name == channel) {
        Ok(package)
    } else {
        Err(ApiError::not_found(format!(
            "package {ident} for {target} is not in channel `{channel}`"
        )))
    }
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<Json<Value>> {
    let package = in_channel(&state, &caller, &path, &target).await?;
    package_body(&state, &package).await
}

async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let package = in_channel(&state, &caller, &path, &target).await?;
    common::download(&state, &package, &headers).await
}

/// Adds the package to the channel (200 also when it is there already); recorded in the
/// audit log by the store.
async fn promote(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<StatusCode> {
    let channel = path.channel()?;
    let (account, package) = maintained_package(&state, &caller, &path, &target).await?;
    move_package(&state, &account, &package, &channel, ChannelAction::Promote).await?;
    Ok(StatusCode::OK)
}

/// Promotes or demotes `package` in `channel` on behalf of `account` (a maintainer of its
/// origin, already authorized); recorded in the audit log by the store. Never demoted from
/// `unstable` (403); an unknown channel, or a demotion from a channel it is not in, is 404.
pub(crate) async fn move_package(
    state: &AppState,
    account: &str,
    package: &Package,
    channel: &ChannelName,
    action: ChannelAction,
) -> ApiResult<()> {
    if action == ChannelAction::Demote {
        authz::check_demotion(channel)?;
    }
    authz::check_not_mirrored(state, package.ident.origin(), channel)?;
    // An unknown channel (or, demoting, a channel without the package) is the store's
    // NotFound: 404.
    Ok(state
        .metadata
        .change_channel(package.id, package.ident.origin(), channel, action, account)
        .await?)
}

/// Removes the package from the channel (never from `unstable`, where every upload lives);
/// recorded in the audit log by the store.
async fn demote(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<StatusCode> {
    let channel = path.channel()?;
    let (account, package) = maintained_package(&state, &caller, &path, &target).await?;
    move_package(&state, &account, &package, &channel, ChannelAction::Demote).await?;
    Ok(StatusCode::OK)
}

/// Seed-era `GET /views`: the names of every channel of every origin.
async fn views(State(state): State<AppState>) -> ApiResult<Json<Vec<Value>>> {
    let names = state.metadata.all_channel_names().await?;
    Ok(Json(
        names
            .into_iter()
            .map(|name| json!({ "name": name }))
            .collect(),
    ))
}
