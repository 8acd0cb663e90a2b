//! The home page (search box, newest uploads, counts, sign-in buttons) and the search page.

use askama::Template;
use axum::Router;
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
use crate::store::{DepotCounts, Page};

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
    counts: DepotCounts,
    recent: Vec<PkgRow>,
}

async fn home(State(state): State<AppState>, viewer: Viewer) -> WebResult<Response> {
    let private = authz::private_scope(&state, &viewer.caller(), None).await?;
    let (counts, recent) = tokio::try_join!(
        state.metadata.depot_counts(&private),
        state.metadata.recent_packages(&private, RECENT),
    )?;
    render(&Home {
        chrome: Chrome::of(&viewer),
        providers: provider_buttons(&state),
        counts,
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
    // The same visibility as the API's search: public packages, and the private ones of the
    // origins the viewer is a member of.
    let private = authz::private_scope(&state, &viewer.caller(), None).await?;
    let first = Page {
        offset: 0,
        limit: PAGE_SIZE,
    };
    let (origins, found) = tokio::try_join!(
        state.metadata.origins_matching(&q, first),
        state.metadata.search(&q, true, &private, page.window()),
    )?;
    let more_origins = origins.total.saturating_sub(origins.items.len() as u64);
    render(&SearchPage {
        chrome: Chrome::of(&viewer),
        origins: if number == 1 {
            origins.items.iter().map(ToString::to_string).collect()
        } else {
            Vec::new()
        },
        more_origins: if number == 1 { more_origins } else { 0 },
        packages: found.items.iter().map(PkgRow::of).collect(),
        total: found.total,
        pager: Pager::new(&base, number, found.total),
        q,
    })
}
