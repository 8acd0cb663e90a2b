//! Shapes shared by the routes: pagination, package JSON, query parameters.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use habitat_core::{ChannelName, PackageTarget};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::store::{Package, Page, Paged};

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u64 = 50;
/// The largest `?limit=`.
pub const MAX_LIMIT: u64 = 500;

/// RFC 3339 in whole seconds, the form of every time in the API (and in the stores).
pub use habitat_core::timestamp::format_rfc3339 as timestamp;

/// `?range=N&limit=N`.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// 0-based offset.
    pub range: Option<u64>,
    /// Page size (default 50, at most 500).
    pub limit: Option<u64>,
}

impl PageQuery {
    /// The window asked for.
    pub fn page(&self) -> Page {
        Page {
            offset: self.range.unwrap_or(0),
            limit: self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        }
    }
}

#[derive(Serialize)]
struct PagedBody<T> {
    range_start: u64,
    range_end: u64,
    total_count: u64,
    data: Vec<T>,
}

/// A page as `{range_start, range_end, total_count, data}`: 206 while more remain, else 200.
pub fn paged<T: Serialize, U>(page: Page, paged: Paged<U>, map: impl Fn(U) -> T) -> Response {
    let count = paged.items.len() as u64;
    let range_end = (page.offset + count).saturating_sub(1);
    let more = page.offset + count < paged.total;
    let body = PagedBody {
        range_start: page.offset,
        range_end,
        total_count: paged.total,
        data: paged.items.into_iter().map(map).collect(),
    };
    let status = if more {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

/// `?target=`: absent means `x86_64-linux`; an unknown target is 422.
#[derive(Debug, Default, Deserialize)]
pub struct TargetQuery {
    /// The target string.
    pub target: Option<String>,
}

impl TargetQuery {
    /// The target asked for.
    pub fn target(&self) -> ApiResult<PackageTarget> {
        match self.target.as_deref().filter(|t| !t.is_empty()) {
            None => Ok(PackageTarget::default()),
            Some(t) => t.parse().map_err(|e: habitat_core::Error| {
                ApiError::unprocessable("invalid_target", e.to_string())
            }),
        }
    }
}

/// The package JSON of the API: what the stock client needs and more.
pub fn package_json(package: &Package, channels: &[ChannelName]) -> Value {
    json!({
        "ident": package.ident,
        "target": package.target,
        "checksum": package.checksum.to_string(),
        "manifest": package.manifest,
        "config": package.config,
        "deps": package.deps,
        "tdeps": package.tdeps,
        "build_deps": package.build_deps,
        "build_tdeps": package.build_tdeps,
        "exposes": package.exposes,
        "visibility": package.visibility.as_str(),
        "channels": channels,
        "size": package.size,
        "is_a_service": package.is_a_service,
        "owner": package.owner,
        "created_at": timestamp(package.created_at),
    })
}

/// `t` in UTC as `YYYY-MM-DDThh:mm:ss`, without an offset: the form Builder gives the times of
/// invitations, and the only one the stock `hab` client reads there.
pub fn naive_utc(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An invitation as the API shows it: ours (`account`, `invited_by`) and Builder's fields
/// (`account_id` and `account_name` of the invitee, `owner_id` of the one who invited,
/// `ignored`, `updated_at`). Ids are strings; the times have no offset (see [`naive_utc`]).
/// `invitee_id` and `inviter_id` are the accounts' store ids (0 when one is gone).
pub fn invitation_json(
    invitation: &crate::store::Invitation,
    invitee_id: i64,
    inviter_id: i64,
) -> Value {
    let at = naive_utc(invitation.created_at);
    json!({
        "id": invitation.id.to_string(),
        "origin": invitation.origin,
        "account": invitation.account,
        "account_id": invitee_id.to_string(),
        "account_name": invitation.account,
        "invited_by": invitation.invited_by,
        "owner_id": inviter_id.to_string(),
        // An ignored invitation is deleted, so every one listed is pending.
        "ignored": false,
        "created_at": at,
        "updated_at": at,
    })
}
