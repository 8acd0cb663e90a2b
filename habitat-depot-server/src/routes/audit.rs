//! An origin's audit log (docs/api.md, "The audit log"): for its maintainers and owner, newest
//! first, paginated like the other lists.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::common;
use super::packages::Params;
use crate::AppState;
use crate::auth::Caller;
use crate::authz::{Action, authorize};
use crate::error::ApiResult;
use crate::json::{PageQuery, paged, timestamp};
use crate::store::{AuditEntry, AuditFilter};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/depot/origins/{origin}/audit", get(audit_log))
}

/// `?action=&ident=&account=`: each one given must match exactly.
#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    action: Option<String>,
    ident: Option<String>,
    account: Option<String>,
}

async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Path(origin): Path<String>,
    Params(page): Params<PageQuery>,
    Params(query): Params<AuditQuery>,
) -> ApiResult<Response> {
    let origin = common::origin(&origin)?;
    authorize(&state, &caller, &origin, Action::ReadAudit).await?;
    let filter = AuditFilter {
        action: query.action,
        ident: query.ident,
        account: query.account,
    };
    let page = page.page();
    let entries = state.metadata.audit_log(&origin, &filter, page).await?;
    Ok(paged(page, entries, entry_json))
}

/// One row as the route answers it.
fn entry_json(entry: AuditEntry) -> Value {
    let record = entry.record;
    json!({
        "id": entry.id,
        "at": timestamp(entry.at),
        "account": record.account,
        "action": record.action,
        "address": record.address,
        "channel": record.channel,
        "ident": record.ident,
        "target": record.target,
        "detail": record.detail,
    })
}
