//! Packages (docs/api.md, "Packages"): show, download, channels, delete, visibility, listings,
//! latest, versions, search and reverse dependencies. The upload itself lives in `upload.rs`;
//! this module only registers it on the package path.
//!
//! The extractors and helpers marked `pub(super)` are shared with `channels.rs`, whose routes
//! answer the same questions restricted to one channel.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, patch};
use axum::{Json, Router};
use habitat_core::{
    ChannelName, FullyQualifiedIdent, OriginName, PackageIdent, PackageName, PackageTarget,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::common::{self, find_package, package_body};
use crate::AppState;
use crate::auth::Caller;
use crate::authz::{self, Action, Permit, authorize};
use crate::error::{ApiError, ApiResult};
use crate::json::{MAX_LIMIT, PageQuery, TargetQuery, paged, timestamp};
use crate::store::{AuditRecord, Package, PackageFilter, Page, StoreError, Visibility};
use crate::sync::pull;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        // Static segments win over parameters at the same position (matchit), so `search`,
        // `latest` and `versions` are never taken for an origin, a version or a release.
        // A catch-all: a query for `origin/name` may arrive with its `/` unescaped.
        .route("/depot/pkgs/search/{*query}", get(search))
        .route("/depot/pkgs/{origin}", get(list))
        .route("/depot/pkgs/{origin}/{name}", get(list))
        .route("/depot/pkgs/{origin}/{name}/latest", get(latest))
        .route("/depot/pkgs/{origin}/{name}/versions", get(versions))
        .route("/depot/pkgs/{origin}/{name}/{version}", get(list))
        .route("/depot/pkgs/{origin}/{name}/{version}/latest", get(latest))
        .route(
            "/depot/pkgs/{origin}/{name}/{version}/{release}",
            get(show).post(super::upload::upload).delete(delete_package),
        )
        .route(
            "/depot/pkgs/{origin}/{name}/{version}/{release}/download",
            get(download),
        )
        .route(
            "/depot/pkgs/{origin}/{name}/{version}/{release}/channels",
            get(channels),
        )
        .route(
            "/depot/pkgs/{origin}/{name}/{version}/{release}/public",
            patch(make_public),
        )
        .route(
            "/depot/pkgs/{origin}/{name}/{version}/{release}/private",
            patch(make_private),
        )
        .route("/rdeps/{origin}/{name}", get(rdeps))
}

/// Path parameters, with a JSON error instead of axum's plain-text rejection.
pub(super) struct Segments<T>(pub T);

impl<T, S> FromRequestParts<S> for Segments<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            // A route whose parameters do not fit its handler is our bug, not the client's.
            Err(e) if e.status().is_server_error() => Err(ApiError::internal(e.body_text())),
            Err(e) => Err(ApiError::unprocessable("invalid_value", e.body_text())),
        }
    }
}

/// Query parameters, with a JSON 422 instead of axum's plain-text 400 (`?range=abc`).
pub(super) struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|e| ApiError::unprocessable("invalid_value", e.body_text()))
    }
}

/// The segments of every package and channel route; which ones are present depends on the
/// route. Named, so that the seed-era views (`/views/{channel}/pkgs/{origin}/…`) and the
/// channel routes (`/channels/{origin}/{channel}/pkgs/…`) share their handlers.
#[derive(Debug, Deserialize)]
pub(super) struct PkgPath {
    origin: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    release: Option<String>,
}

impl PkgPath {
    /// The same path with `name` as the package name: for a name that is also a static
    /// segment of another route (`…/pkgs/promote`).
    pub(super) fn named(self, name: &str) -> Self {
        Self {
            name: Some(name.to_owned()),
            ..self
        }
    }

    fn missing(what: &str) -> ApiError {
        ApiError::internal(format!("route without a `{what}` segment"))
    }

    /// The origin (422 when invalid).
    pub(super) fn origin(&self) -> ApiResult<OriginName> {
        common::origin(&self.origin)
    }

    /// The channel (422 when invalid).
    pub(super) fn channel(&self) -> ApiResult<ChannelName> {
        common::channel(
            self.channel
                .as_deref()
                .ok_or_else(|| Self::missing("channel"))?,
        )
    }

    /// The fully qualified ident (422 when invalid).
    pub(super) fn ident(&self) -> ApiResult<FullyQualifiedIdent> {
        fn part<'a>(segment: &'a Option<String>, what: &str) -> ApiResult<&'a str> {
            segment.as_deref().ok_or_else(|| PkgPath::missing(what))
        }
        common::ident(
            &self.origin,
            part(&self.name, "name")?,
            part(&self.version, "version")?,
            part(&self.release, "release")?,
        )
    }

    /// A filter on origin and, where present, name and version (422 when one is invalid).
    pub(super) fn filter(&self) -> ApiResult<PackageFilter> {
        let origin = self.origin()?;
        let mut filter = PackageFilter {
            origin: Some(origin.clone()),
            ..PackageFilter::default()
        };
        if let Some(name) = &self.name {
            let name: PackageName = name.parse()?;
            if let Some(version) = &self.version {
                // Parsing the partial ident checks the version as a path segment.
                let ident: PackageIdent = format!("{origin}/{name}/{version}").parse()?;
                filter.version = ident.version().map(str::to_owned);
            }
            filter.name = Some(name.to_string());
        }
        Ok(filter)
    }
}

/// `?target=` where absent means "every target" (listings), not the default target.
pub(super) fn optional_target(query: &TargetQuery) -> ApiResult<Option<PackageTarget>> {
    match query.target.as_deref() {
        None | Some("") => Ok(None),
        Some(_) => query.target().map(Some),
    }
}

/// A listed package: its ident object, plus its target so that releases of several targets
/// can be told apart.
pub(super) fn ident_item(package: Package) -> Value {
    let mut item = json!(package.ident);
    item["target"] = json!(package.target);
    item
}

/// Lets the filter see the private packages the policy lets the caller see.
pub(super) async fn with_visibility(
    state: &AppState,
    caller: &Caller,
    mut filter: PackageFilter,
) -> ApiResult<PackageFilter> {
    filter.private_origins = authz::private_scope(state, caller, filter.origin.as_ref()).await?;
    Ok(filter)
}

/// One page of the packages of the permit's origin matching `filter`, newest first; private
/// ones if the permit's role may see them.
pub(super) async fn list_packages(
    state: &AppState,
    permit: &Permit,
    filter: PackageFilter,
    page: Page,
) -> ApiResult<Response> {
    let filter = PackageFilter {
        private_origins: permit.private_scope(),
        ..filter
    };
    let found = state.metadata.packages(&filter, page).await?;
    Ok(paged(page, found, ident_item))
}

/// The newest package matching `filter` for `target`; 404 when none is visible to the caller.
pub(super) async fn latest_visible(
    state: &AppState,
    caller: &Caller,
    mut filter: PackageFilter,
    target: PackageTarget,
) -> ApiResult<Package> {
    filter.target = Some(target);
    let filter = with_visibility(state, caller, filter).await?;
    match state.metadata.latest(&filter).await? {
        Some(package) => Ok(package),
        None => Err(no_latest(&filter, target)),
    }
}

/// The package JSON of the newest package matching `filter` that the caller may see, with its
/// channels, in one store call (install asks this on every resolution).
pub(super) async fn latest_package(
    state: &AppState,
    caller: &Caller,
    mut filter: PackageFilter,
    target: PackageTarget,
) -> ApiResult<Json<Value>> {
    filter.target = Some(target);
    let filter = with_visibility(state, caller, filter).await?;
    match state.metadata.latest_with_channels(&filter).await? {
        Some((package, channels)) => {
            let names: Vec<_> = channels.into_iter().map(|c| c.name).collect();
            Ok(Json(crate::json::package_json(&package, &names)))
        }
        None => Err(no_latest(&filter, target)),
    }
}

/// 404 for a `latest` that found nothing.
fn no_latest(filter: &PackageFilter, target: PackageTarget) -> ApiError {
    let mut what = filter
        .origin
        .as_ref()
        .map(|o| o.to_string())
        .unwrap_or_default();
    for part in [&filter.name, &filter.version].into_iter().flatten() {
        what = format!("{what}/{part}");
    }
    let place = match &filter.channel {
        Some(channel) => format!(" in channel `{channel}`"),
        None => String::new(),
    };
    ApiError::not_found(format!("no package {what} for {target}{place}"))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(page): Params<PageQuery>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<Response> {
    let mut filter = path.filter()?;
    filter.target = optional_target(&target)?;
    let permit = authorize(&state, &caller, &path.origin()?, Action::Read).await?;
    list_packages(&state, &permit, filter, page.page()).await
}

async fn latest(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<Json<Value>> {
    let filter = path.filter()?;
    let target = target.target()?;
    let origin = path.origin()?;
    let here = latest_package(&state, &caller, filter.clone(), target);
    let found = pull::latest(&state, &filter, target, here).await;
    explain_miss(found, authorize(&state, &caller, &origin, Action::Read)).await
}

/// A `latest` answer; on a miss, the 404 of `exists` if what the route names does not exist
/// (an unknown origin or channel), else the miss. Only a miss pays for that check.
pub(super) async fn explain_miss<T>(
    found: ApiResult<Json<Value>>,
    exists: impl Future<Output = ApiResult<T>>,
) -> ApiResult<Json<Value>> {
    match found {
        Err(miss) if miss.status == StatusCode::NOT_FOUND => {
            exists.await?;
            Err(miss)
        }
        answer => answer,
    }
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<Json<Value>> {
    pull::release(&state, &path.ident()?, target.target()?, None).await?;
    let package = find_package(&state, &caller, &path.ident()?, target.target()?).await?;
    package_body(&state, &package).await
}

async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    pull::release(&state, &path.ident()?, target.target()?, None).await?;
    let package = find_package(&state, &caller, &path.ident()?, target.target()?).await?;
    common::download(&state, &package, &headers).await
}

async fn channels(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    pull::release(&state, &path.ident()?, target.target()?, None).await?;
    let package = find_package(&state, &caller, &path.ident()?, target.target()?).await?;
    let memberships = state.metadata.package_channels(package.id).await?;
    Ok(Json(
        memberships
            .into_iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "created_at": timestamp(m.created_at),
                    "promoted_at": timestamp(m.promoted_at),
                })
            })
            .collect(),
    ))
}

/// The package a maintainer acts on: 422 invalid ident or target, 401 no token, 404 unknown
/// origin, 403 below maintainer, 404 unknown package. Authorization comes before the lookup,
/// so that nobody learns whether a private package exists from a refusal.
pub(super) async fn maintained_package(
    state: &AppState,
    caller: &Caller,
    path: &PkgPath,
    target: &TargetQuery,
) -> ApiResult<(String, Package)> {
    maintained(state, caller, &path.ident()?, target.target()?).await
}

/// [`maintained_package`] for an ident and target already parsed: 401 no account, 404 unknown
/// origin, 403 below maintainer, 404 unknown package; the maintainer's name and the package.
pub(crate) async fn maintained(
    state: &AppState,
    caller: &Caller,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
) -> ApiResult<(String, Package)> {
    let permit = authorize(state, caller, ident.origin(), Action::ManagePackages).await?;
    let account = permit.account()?.name.clone();
    let package = state
        .metadata
        .package(ident, target)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("package {ident} for {target} not found")))?;
    Ok((account, package))
}

async fn delete_package(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<StatusCode> {
    let (account, package) = maintained_package(&state, &caller, &path, &target).await?;
    // Builder's rule, kept by the store in the delete's transaction: only a package in no
    // channel but `unstable`, on which no other package depends. Its refusal is 422, which
    // the stock `hab pkg delete` explains (demote it, look for reverse dependencies).
    match state.metadata.delete_package(package.id, &account).await {
        Ok(()) => {}
        Err(StoreError::Refused(why)) => {
            return Err(ApiError::unprocessable(
                "not_deletable",
                format!(
                    "{why}: only a package in no channel but `unstable`, on which no other \
                     package depends, can be deleted"
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    // The row goes first, so a row never points at a missing file; a file left behind by a
    // failure here is an orphan that `hab-depot fsck --repair` removes.
    if let Err(e) = state.artifacts.delete(&package.checksum).await {
        tracing::warn!(ident = %package.ident, checksum = %package.checksum, error = %crate::error::Chain(&e),
            "package deleted but its artifact was not");
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn set_visibility(
    state: AppState,
    caller: Caller,
    path: PkgPath,
    target: TargetQuery,
    visibility: Visibility,
) -> ApiResult<Json<Value>> {
    let (_, package) = maintained_package(&state, &caller, &path, &target).await?;
    state
        .metadata
        .set_visibility(package.id, visibility)
        .await?;
    crate::audit::record(
        &state,
        AuditRecord::new("visibility", &caller.account()?.name)
            .origin(package.ident.origin())
            .ident(&package.ident)
            .target(package.target)
            .detail(visibility.as_str()),
    )
    .await?;
    package_body(
        &state,
        &Package {
            visibility,
            ..package
        },
    )
    .await
}

async fn make_public(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<Json<Value>> {
    set_visibility(state, caller, path, target, Visibility::Public).await
}

async fn make_private(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<Json<Value>> {
    set_visibility(state, caller, path, target, Visibility::Private).await
}

/// One version of a package in `GET …/versions`.
struct VersionSummary {
    version: String,
    releases: Vec<String>,
    platforms: Vec<PackageTarget>,
}

async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
) -> ApiResult<Json<Vec<Value>>> {
    let filter = path.filter()?;
    let origin = path.origin()?;
    let permit = authorize(&state, &caller, &origin, Action::Read).await?;
    let filter = PackageFilter {
        private_origins: permit.private_scope(),
        ..filter
    };
    // The store lists newest version first, so the summaries come out in that order.
    let mut summaries: Vec<VersionSummary> = Vec::new();
    let mut offset = 0;
    loop {
        let page = Page {
            offset,
            limit: MAX_LIMIT,
        };
        let found = state.metadata.packages(&filter, page).await?;
        let count = found.items.len() as u64;
        for package in found.items {
            let version = package.ident.version();
            let index = match summaries.iter().position(|s| s.version == version) {
                Some(index) => index,
                None => {
                    summaries.push(VersionSummary {
                        version: version.to_owned(),
                        releases: Vec::new(),
                        platforms: Vec::new(),
                    });
                    summaries.len() - 1
                }
            };
            let summary = &mut summaries[index];
            let release = package.ident.release().to_owned();
            if !summary.releases.contains(&release) {
                summary.releases.push(release);
            }
            if !summary.platforms.contains(&package.target) {
                summary.platforms.push(package.target);
            }
        }
        offset += count;
        if count == 0 || offset >= found.total {
            break;
        }
    }
    Ok(Json(
        summaries
            .into_iter()
            .map(|mut s| {
                s.platforms.sort();
                json!({
                    "origin": origin,
                    "name": filter.name,
                    "version": s.version,
                    "release_count": s.releases.len(),
                    "latest": s.releases.iter().max(),
                    "platforms": s.platforms,
                })
            })
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    distinct: Option<bool>,
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Segments(query): Segments<String>,
    Params(page): Params<PageQuery>,
    Params(search): Params<SearchQuery>,
) -> ApiResult<Response> {
    let query = query.trim();
    if query.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_value",
            "the search query is empty",
        ));
    }
    let distinct = search.distinct.unwrap_or(false);
    let private = authz::private_scope(&state, &caller, None).await?;
    let page = page.page();
    let found = state
        .metadata
        .search(query, distinct, &private, page)
        .await?;
    Ok(paged(page, found, |package| {
        if distinct {
            // One row per origin/name, as Builder answers: a partial ident.
            json!({"origin": package.ident.origin(), "name": package.ident.name()})
        } else {
            ident_item(package)
        }
    }))
}

async fn rdeps(
    State(state): State<AppState>,
    caller: Caller,
    Segments(path): Segments<PkgPath>,
    Params(target): Params<TargetQuery>,
) -> ApiResult<Json<Value>> {
    let filter = path.filter()?;
    let target = target.target()?;
    let origin = path.origin()?;
    authorize(&state, &caller, &origin, Action::Read).await?;
    let name = filter.name.clone().unwrap_or_default();
    // A package the caller may not see does not exist for them (404), as everywhere.
    latest_visible(&state, &caller, filter, target).await?;
    let rdeps = state.metadata.rdeps(&origin, &name, target).await?;
    Ok(Json(
        json!({"origin": origin, "name": name, "rdeps": rdeps}),
    ))
}
