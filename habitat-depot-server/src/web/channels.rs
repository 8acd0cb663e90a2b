//! A channel's page: the packages in it that the viewer may see.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use habitat_core::{ChannelName, OriginName};

use super::view::{PageNumber, Pager, PkgRow};
use super::{Chrome, WebError, WebResult, render};
use crate::AppState;
use crate::authz::{Action, authorize};
use crate::identity::session::Viewer;
use crate::store::PackageFilter;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/channels/{origin}/{channel}", get(channel))
}

#[derive(Template)]
#[template(path = "channel.html")]
struct ChannelPage {
    chrome: Chrome,
    origin: String,
    channel: String,
    rows: Vec<PkgRow>,
    total: u64,
    pager: Pager,
}

async fn channel(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((origin, channel)): Path<(String, String)>,
    Query(page): Query<PageNumber>,
) -> WebResult<Response> {
    let missing = || WebError::not_found(format!("Channel `{channel}` of `{origin}` not found."));
    let origin_name: OriginName = origin.parse().map_err(|_| missing())?;
    let channel_name: ChannelName = channel.parse().map_err(|_| missing())?;
    let permit = authorize(&state, &viewer.caller(), &origin_name, Action::Read).await?;
    if !state
        .metadata
        .channels(&origin_name)
        .await?
        .contains(&channel_name)
    {
        return Err(missing());
    }
    let filter = PackageFilter {
        origin: Some(origin_name.clone()),
        channel: Some(channel_name.clone()),
        private_origins: permit.private_scope(),
        ..PackageFilter::default()
    };
    let found = state.metadata.package_list(&filter, page.window()).await?;
    render(&ChannelPage {
        chrome: Chrome::of(&viewer),
        pager: Pager::new(
            &format!("/channels/{origin_name}/{channel_name}?"),
            page.number(),
            found.total,
        ),
        origin: origin_name.to_string(),
        channel: channel_name.to_string(),
        rows: found.items.iter().map(PkgRow::of).collect(),
        total: found.total,
    })
}
