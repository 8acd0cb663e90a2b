//! Who a browser is: sign-in with identity providers (GitHub, any OpenID Connect provider),
//! sign-up on the first sign-in, browser sessions and the forms' protection against cross-site
//! requests. What a signed-in account may do is still the policy's question ([`crate::authz`]).

mod providers;
mod routes;
pub mod session;

pub use providers::{ProviderKind, ProviderSettings};
pub(crate) use routes::{ProviderButton, provider_buttons, see_other};

/// The sign-in routes: the sign-in page, token sign-in, sign-out.
pub(crate) fn routes() -> axum::Router<crate::AppState> {
    routes::routes()
}
