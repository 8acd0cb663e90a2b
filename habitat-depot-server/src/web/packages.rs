//! The package pages: a package's releases, one version's releases, and one release with
//! everything known about it (and the promote and demote buttons for maintainers).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName, PackageName, PackageTarget};
use serde::Deserialize;

use super::view::{Done, PageNumber, Pager, PkgRow, encode, release_href, size, time};
use super::{Chrome, WebError, WebResult, render};
use crate::AppState;
use crate::authz::{Action, authorize};
use crate::identity::see_other;
use crate::identity::session::{Posted, Viewer};
use crate::routes::{channels, common, packages as api};
use crate::store::{ChannelAction, Package, PackageFilter, Page};

/// Targets a release may have at most (every known target).
const TARGETS: u64 = 16;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/pkgs/{origin}/{name}", get(package))
        .route("/pkgs/{origin}/{name}/{version}", get(version))
        .route("/pkgs/{origin}/{name}/{version}/{release}", get(release))
        .route(
            "/pkgs/{origin}/{name}/{version}/{release}/promote",
            post(promote),
        )
        .route(
            "/pkgs/{origin}/{name}/{version}/{release}/demote",
            post(demote),
        )
        .route(
            "/pkgs/{origin}/{name}/{version}/{release}/download",
            get(download),
        )
}

/// The `.hart` of a release, for a browser: the API's download (same checks, `Range` and
/// `ETag`), with the viewer's session instead of a bearer token, so that members can download
/// their origin's private packages from the page.
async fn download(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(path): Path<(String, String, String, String)>,
    Query(choice): Query<TargetChoice>,
    headers: HeaderMap,
) -> WebResult<Response> {
    let ident = ident_of(&path)?;
    let target = match choice.target.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => t.parse().map_err(|_| no_package(&ident.to_string()))?,
        None => PackageTarget::default(),
    };
    let package = common::find_package(&state, &viewer.caller(), &ident, target).await?;
    Ok(common::download(&state, &package, &headers).await?)
}

fn no_package(what: &str) -> WebError {
    WebError::not_found(format!("Package `{what}` not found."))
}

/// Origin and name from the path: 404 when either is not a valid name.
fn origin_and_name(origin: &str, name: &str) -> WebResult<(OriginName, PackageName)> {
    let what = || no_package(&format!("{origin}/{name}"));
    Ok((
        origin.parse().map_err(|_| what())?,
        name.parse().map_err(|_| what())?,
    ))
}

#[derive(Template)]
#[template(path = "releases.html")]
struct ReleasesPage {
    chrome: Chrome,
    origin: String,
    name: String,
    version: Option<String>,
    rows: Vec<PkgRow>,
    total: u64,
    pager: Pager,
}

/// The releases of `origin/name` (of one `version` if given) the viewer may see, newest
/// first; 404 when there is none.
async fn releases(
    state: &AppState,
    viewer: &Viewer,
    (origin, name): (String, String),
    version: Option<String>,
    page: PageNumber,
) -> WebResult<Response> {
    let (origin, name) = origin_and_name(&origin, &name)?;
    let permit = authorize(state, &viewer.caller(), &origin, Action::Read).await?;
    let filter = PackageFilter {
        origin: Some(origin.clone()),
        name: Some(name.to_string()),
        version: version.clone(),
        private_origins: permit.private_scope(),
        ..PackageFilter::default()
    };
    let found = state.metadata.package_list(&filter, page.window()).await?;
    if found.total == 0 {
        let mut what = format!("{origin}/{name}");
        if let Some(v) = &version {
            what = format!("{what}/{v}");
        }
        return Err(no_package(&what));
    }
    let base = match &version {
        Some(v) => format!("/pkgs/{origin}/{name}/{}?", encode(v)),
        None => format!("/pkgs/{origin}/{name}?"),
    };
    render(&ReleasesPage {
        chrome: Chrome::of(viewer),
        origin: origin.to_string(),
        name: name.to_string(),
        version,
        rows: found.items.iter().map(PkgRow::of).collect(),
        total: found.total,
        pager: Pager::new(&base, page.number(), found.total),
    })
}

async fn package(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(path): Path<(String, String)>,
    Query(page): Query<PageNumber>,
) -> WebResult<Response> {
    releases(&state, &viewer, path, None, page).await
}

async fn version(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((origin, name, version)): Path<(String, String, String)>,
    Query(page): Query<PageNumber>,
) -> WebResult<Response> {
    releases(&state, &viewer, (origin, name), Some(version), page).await
}

#[derive(Deserialize, Default)]
struct TargetChoice {
    target: Option<String>,
}

/// Reverse dependencies shown on one release page at most; the rest are a link away, so the
/// page of a package everything depends on stays light.
const RDEPS_PAGE: usize = 100;

/// Which page of the reverse dependencies the release page shows (`?rdeps_page=`, from 1).
#[derive(Deserialize)]
struct RdepsPage {
    rdeps_page: Option<usize>,
}

/// One page of a release's reverse dependencies.
struct RdepsShown {
    /// The names on this page.
    names: Vec<String>,
    /// How many there are in all.
    total: usize,
    /// The link to the previous page, if any.
    prev: Option<String>,
    /// The link to the next page, if any.
    next: Option<String>,
}

impl RdepsShown {
    /// Page `number` (from 1) of `all`, its links under `base` (a URL ending in `?` or `&`).
    fn of(all: Vec<String>, number: Option<usize>, base: &str) -> Self {
        let total = all.len();
        let pages = total.div_ceil(RDEPS_PAGE).max(1);
        let number = number.unwrap_or(1).clamp(1, pages);
        let link = |n: usize| format!("{base}rdeps_page={n}");
        Self {
            names: all
                .into_iter()
                .skip((number - 1) * RDEPS_PAGE)
                .take(RDEPS_PAGE)
                .collect(),
            total,
            prev: (number > 1).then(|| link(number - 1)),
            next: (number < pages).then(|| link(number + 1)),
        }
    }
}

/// A dependency, linked to its page.
struct DepRow {
    ident: String,
    href: String,
}

impl DepRow {
    fn of(ident: &FullyQualifiedIdent, target: PackageTarget) -> Self {
        let mut href = format!(
            "/pkgs/{}/{}/{}/{}",
            ident.origin(),
            ident.name(),
            encode(ident.version()),
            ident.release()
        );
        if target != PackageTarget::default() {
            href = format!("{href}?target={target}");
        }
        Self {
            ident: ident.to_string(),
            href,
        }
    }
}

#[derive(Template)]
#[template(path = "release.html")]
struct ReleasePage {
    chrome: Chrome,
    done: Option<&'static str>,
    ident: String,
    origin: String,
    name: String,
    version: String,
    release: String,
    target: String,
    targets: Vec<String>,
    checksum: String,
    size: String,
    uploader: String,
    uploaded: String,
    private: bool,
    channels: Vec<String>,
    promote_to: Vec<String>,
    can_manage: bool,
    deps: Vec<DepRow>,
    tdeps: Vec<DepRow>,
    build_deps: Vec<DepRow>,
    rdeps: Vec<String>,
    rdeps_total: usize,
    rdeps_prev: Option<String>,
    rdeps_next: Option<String>,
    manifest: String,
    config: String,
    exposes: String,
    binds: Vec<BindRow>,
    is_a_service: bool,
    download: String,
    install: String,
    start: String,
}

/// A bind of the release (BINDS or BINDS_OPTIONAL), as the page lists it.
struct BindRow {
    name: String,
    exports: String,
    optional: bool,
}

impl BindRow {
    fn of(bind: &habitat_core::Bind, optional: bool) -> Self {
        Self {
            name: bind.name.clone(),
            exports: bind.exports.join(", "),
            optional,
        }
    }
}

/// The release's ident from the path: 404 when it is not a valid ident.
fn ident_of(path: &(String, String, String, String)) -> WebResult<FullyQualifiedIdent> {
    let (origin, name, version, release) = path;
    common::ident(origin, name, version, release)
        .map_err(|_| no_package(&format!("{origin}/{name}/{version}/{release}")))
}

async fn release(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(path): Path<(String, String, String, String)>,
    Query(choice): Query<TargetChoice>,
    Query(done): Query<Done>,
    Query(rdeps_page): Query<RdepsPage>,
) -> WebResult<Response> {
    let ident = ident_of(&path)?;
    let caller = viewer.caller();
    let permit = authorize(&state, &caller, ident.origin(), Action::Read).await?;
    // Every target this release was built for that the viewer may see.
    let filter = PackageFilter {
        origin: Some(ident.origin().clone()),
        name: Some(ident.name().to_string()),
        version: Some(ident.version().to_owned()),
        private_origins: permit.private_scope(),
        ..PackageFilter::default()
    };
    let all = Page {
        offset: 0,
        limit: TARGETS * 64,
    };
    let mut targets: Vec<PackageTarget> = state
        .metadata
        .package_list(&filter, all)
        .await?
        .items
        .into_iter()
        .filter(|p| p.ident.release() == ident.release())
        .map(|p| p.target)
        .collect();
    targets.sort();
    targets.dedup();
    let asked = choice
        .target
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<PackageTarget>());
    let target = match asked {
        Some(Ok(target)) => target,
        Some(Err(_)) => return Err(no_package(&ident.to_string())),
        None if targets.contains(&PackageTarget::default()) => PackageTarget::default(),
        None => *targets
            .first()
            .ok_or_else(|| no_package(&ident.to_string()))?,
    };
    // The API's lookup: 404 unless the viewer may see it.
    let package = common::find_package(&state, &caller, &ident, target).await?;
    let can_manage = permit.permits(Action::ManagePackages);
    let (memberships, origin_channels, rdeps) = tokio::try_join!(
        state.metadata.package_channels(package.id),
        async {
            if can_manage {
                state.metadata.channels(ident.origin()).await
            } else {
                Ok(Vec::new())
            }
        },
        state
            .metadata
            .rdeps(ident.origin(), ident.name().as_str(), target),
    )?;
    let channels: Vec<ChannelName> = memberships.into_iter().map(|m| m.name).collect();
    let promote_to = origin_channels
        .into_iter()
        .filter(|c| !channels.contains(c))
        .map(|c| c.to_string())
        .collect();
    let rdeps = RdepsShown::of(
        rdeps,
        rdeps_page.rdeps_page,
        &format!(
            "/pkgs/{}/{}/{}/{}?target={target}&",
            ident.origin(),
            ident.name(),
            encode(ident.version()),
            ident.release()
        ),
    );
    render(&page_of(
        &viewer,
        &package,
        targets,
        channels,
        promote_to,
        can_manage,
        rdeps,
        done.message(),
    ))
}

/// The release page's data.
#[allow(clippy::too_many_arguments)]
fn page_of(
    viewer: &Viewer,
    package: &Package,
    targets: Vec<PackageTarget>,
    channels: Vec<ChannelName>,
    promote_to: Vec<String>,
    can_manage: bool,
    rdeps: RdepsShown,
    done: Option<&'static str>,
) -> ReleasePage {
    let ident = &package.ident;
    let target = package.target;
    let deps = |list: &[FullyQualifiedIdent]| list.iter().map(|d| DepRow::of(d, target)).collect();
    let download = format!(
        "/pkgs/{}/{}/{}/{}/download?target={target}",
        ident.origin(),
        ident.name(),
        encode(ident.version()),
        ident.release()
    );
    ReleasePage {
        chrome: Chrome::of(viewer),
        done,
        ident: ident.to_string(),
        origin: ident.origin().to_string(),
        name: ident.name().to_string(),
        version: ident.version().to_owned(),
        release: ident.release().to_owned(),
        target: target.to_string(),
        targets: targets.iter().map(ToString::to_string).collect(),
        checksum: package.checksum.to_string(),
        size: size(package.size),
        uploader: package.owner.clone(),
        uploaded: time(package.created_at),
        private: package.visibility == crate::store::Visibility::Private,
        channels: channels.iter().map(ToString::to_string).collect(),
        promote_to,
        can_manage,
        deps: deps(&package.deps),
        tdeps: deps(&package.tdeps),
        build_deps: deps(&package.build_deps),
        rdeps: rdeps.names,
        rdeps_total: rdeps.total,
        rdeps_prev: rdeps.prev,
        rdeps_next: rdeps.next,
        manifest: package.manifest.clone(),
        config: package.config.clone(),
        exposes: package
            .exposes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        binds: package
            .binds
            .iter()
            .map(|b| BindRow::of(b, false))
            .chain(package.binds_optional.iter().map(|b| BindRow::of(b, true)))
            .collect(),
        is_a_service: package.is_a_service,
        download,
        install: format!("hab pkg install {ident}"),
        start: format!("hab start {}/{}", ident.origin(), ident.name()),
    }
}

#[derive(Deserialize)]
struct ChannelForm {
    channel: String,
    #[serde(default)]
    target: String,
}

/// Promotes or demotes the release in the form's channel, as the API does.
async fn move_to(
    state: &AppState,
    viewer: &Viewer,
    path: (String, String, String, String),
    form: ChannelForm,
    action: ChannelAction,
) -> WebResult<Response> {
    let ident = ident_of(&path)?;
    let target: PackageTarget = if form.target.is_empty() {
        PackageTarget::default()
    } else {
        form.target
            .parse()
            .map_err(|_| no_package(&ident.to_string()))?
    };
    let channel: ChannelName = form.channel.parse().map_err(crate::error::ApiError::from)?;
    let (account, package) = api::maintained(state, &viewer.caller(), &ident, target).await?;
    channels::move_package(state, &account, &package, &channel, action).await?;
    let done = match action {
        ChannelAction::Promote => "promoted",
        ChannelAction::Demote => "demoted",
    };
    let href = release_href(&package);
    let sep = if href.contains('?') { '&' } else { '?' };
    Ok(see_other(&format!("{href}{sep}done={done}"), &[]))
}

async fn promote(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String, String)>,
    Posted(viewer, form): Posted<ChannelForm>,
) -> WebResult<Response> {
    move_to(&state, &viewer, path, form, ChannelAction::Promote).await
}

async fn demote(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String, String)>,
    Posted(viewer, form): Posted<ChannelForm>,
) -> WebResult<Response> {
    move_to(&state, &viewer, path, form, ChannelAction::Demote).await
}

#[cfg(test)]
mod rdeps_tests {
    use super::*;

    #[test]
    fn reverse_dependencies_come_a_hundred_a_page_with_links_between() {
        let all: Vec<String> = (0..250).map(|i| format!("core/dep-{i:03}")).collect();
        let first = RdepsShown::of(all.clone(), None, "/pkgs/core/a/1/2?target=x&");
        assert_eq!(first.total, 250);
        assert_eq!(first.names.len(), 100);
        assert_eq!(first.names[0], "core/dep-000");
        assert_eq!(first.prev, None);
        assert_eq!(
            first.next.as_deref(),
            Some("/pkgs/core/a/1/2?target=x&rdeps_page=2")
        );
        let last = RdepsShown::of(all.clone(), Some(3), "?");
        assert_eq!(last.names.len(), 50);
        assert_eq!(last.names[0], "core/dep-200");
        assert_eq!(last.prev.as_deref(), Some("?rdeps_page=2"));
        assert_eq!(last.next, None);
        // Past the end shows the last page; none is one empty page.
        assert_eq!(RdepsShown::of(all, Some(9), "?").names.len(), 50);
        let none = RdepsShown::of(Vec::new(), Some(2), "?");
        assert!(none.names.is_empty() && none.prev.is_none() && none.next.is_none());
    }
}
