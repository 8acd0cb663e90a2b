//! The client address the audit log records (docs/operations.md, "The audit log").
//!
//! [`remember_address`] wraps every request: it works out the client's address (the peer's, or
//! the one a trusted proxy forwarded, as [`crate::rate_limit`] believes it) and keeps it for the
//! request's task, so that the routes and the store functions that write audit rows read it
//! with [`client_address`] instead of passing it through every call. Outside a request (commands
//! run on the depot's host) there is none, and audit rows record NULL.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use habitat_core::OriginName;

use crate::AppState;
use crate::rate_limit::Limits;
use crate::store::{AuditRecord, StoreResult};

tokio::task_local! {
    static ADDRESS: Option<String>;
}

/// The address of the client of the request this task serves, if any.
pub fn client_address() -> Option<String> {
    ADDRESS.try_with(Clone::clone).ok().flatten()
}

/// Middleware: keeps the request's client address for [`client_address`].
pub async fn remember_address(
    State(limits): State<Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| {
            limits
                .client_address(request.headers(), c.0.ip())
                .to_string()
        });
    ADDRESS.scope(address, next.run(request)).await
}

impl AuditRecord {
    /// A row saying that `account` did `action` (the other fields empty).
    pub fn new(action: &str, account: &str) -> Self {
        Self {
            action: action.to_owned(),
            account: account.to_owned(),
            ..Self::default()
        }
    }

    /// The row with the origin acted on.
    pub fn origin(self, origin: &OriginName) -> Self {
        Self {
            origin: Some(origin.to_string()),
            ..self
        }
    }

    /// The row with the package (or key) acted on.
    pub fn ident(self, ident: impl ToString) -> Self {
        Self {
            ident: Some(ident.to_string()),
            ..self
        }
    }

    /// The row with the package's target.
    pub fn target(self, target: impl ToString) -> Self {
        Self {
            target: Some(target.to_string()),
            ..self
        }
    }

    /// The row with a short detail.
    pub fn detail(self, detail: impl ToString) -> Self {
        Self {
            detail: Some(detail.to_string()),
            ..self
        }
    }
}

/// Adds `record` to the audit log with the address of the request this task serves.
///
/// # Errors
/// The store's, when the row cannot be written.
pub async fn record(state: &AppState, record: AuditRecord) -> StoreResult<()> {
    let record = AuditRecord {
        address: client_address(),
        ..record
    };
    state.metadata.record_audit(&record).await
}
