//! The home page (search box, newest uploads, counts, sign-in buttons) and the search page.

use askama::Template;
use axum::Router;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::view::{PAGE_SIZE, PageNumber, Pager, PkgRow, encode};
use super::{Chrome, WebResult, render};
use crate::AppState;
use crate::authz;
use crate::identity::session::Viewer;
use crate::identity::{ProviderButton, provider_buttons};
use crate::store::Page;
use habitat_core::OriginName;

use super::cache::PageCache;

/// Uploads the home page lists.
const RECENT: u64 = 15;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/search", get(search))
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    chrome: Chrome,
    providers: Vec<ProviderButton>,
    origins: u64,
    packages: usize,
    recent: Vec<PkgRow>,
}

async fn home(
    State(state): State<AppState>,
    Extension(cache): Extension<Arc<PageCache>>,
    viewer: Viewer,
) -> WebResult<Response> {
    let private = authz::private_scope(&state, &viewer.caller(), None).await?;
    let (origins, names, recent) = tokio::try_join!(
        state.metadata.origin_count(),
        cache.names(&state, &private),
        state.metadata.recent_packages(&private, RECENT),
    )?;
    render(&Home {
        chrome: Chrome::of(&viewer),
        providers: provider_buttons(&state),
        origins,
        packages: names.len(),
        recent: recent.iter().map(PkgRow::of).collect(),
    })
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    chrome: Chrome,
    q: String,
    origins: Vec<String>,
    more_origins: u64,
    packages: Vec<PkgRow>,
    total: u64,
    pager: Pager,
}

async fn search(
    State(state): State<AppState>,
    Extension(cache): Extension<Arc<PageCache>>,
    viewer: Viewer,
    Query(query): Query<SearchQuery>,
    Query(page): Query<PageNumber>,
) -> WebResult<Response> {
    let q = query.q.trim().to_owned();
    let number = page.number();
    let base = format!("/search?q={}&", encode(&q));
    if q.is_empty() {
        return render(&SearchPage {
            chrome: Chrome::of(&viewer),
            q,
            origins: Vec::new(),
            more_origins: 0,
            packages: Vec::new(),
            total: 0,
            pager: Pager::new(&base, 1, 0),
        });
    }
    // The names the viewer may see (public packages, and the private ones of the origins the
    // viewer is a member of: the API's visibility), those whose `origin/name` contains the
    // query, a page of them with their newest visible release.
    let private = authz::private_scope(&state, &viewer.caller(), None).await?;
    let first = Page {
        offset: 0,
        limit: PAGE_SIZE,
    };
    let (origins, names) = tokio::try_join!(
        state.metadata.origins_matching(&q, first),
        cache.names(&state, &private),
    )?;
    let matching: Vec<&(OriginName, String)> = names
        .iter()
        .filter(|(origin, name)| {
            origin.as_str().contains(q.as_str())
                || name.contains(q.as_str())
                || (q.contains('/') && format!("{origin}/{name}").contains(q.as_str()))
        })
        .collect();
    let window = page.window();
    let shown: Vec<(OriginName, String)> = matching
        .iter()
        .skip(usize::try_from(window.offset).unwrap_or(usize::MAX))
        .take(PAGE_SIZE as usize)
        .map(|pair| (*pair).clone())
        .collect();
    let packages = state.metadata.newest_releases(&shown, &private).await?;
    let total = matching.len() as u64;
    let more_origins = origins.total.saturating_sub(origins.items.len() as u64);
    render(&SearchPage {
        chrome: Chrome::of(&viewer),
        origins: if number == 1 {
            origins.items.iter().map(ToString::to_string).collect()
        } else {
            Vec::new()
        },
        more_origins: if number == 1 { more_origins } else { 0 },
        packages: packages.iter().map(PkgRow::of).collect(),
        total,
        pager: Pager::new(&base, number, total),
        q,
    })
}
