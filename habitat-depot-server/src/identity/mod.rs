//! Who a browser is: sign-in with identity providers (GitHub, any OpenID Connect provider),
//! sign-up on the first sign-in, browser sessions and the forms' protection against cross-site
//! requests. What a signed-in account may do is still the policy's question ([`crate::authz`]).

mod fetch;
mod github;
mod oidc;
mod pkce;
mod providers;
mod routes;
pub mod session;
mod signin;
mod signup;

pub use fetch::ProviderFailure;
pub use providers::{Provider, ProviderError, ProviderKind, ProviderSettings, Providers};
pub(crate) use routes::{ProviderButton, provider_buttons, see_other};

/// The sign-in routes: the sign-in page, token sign-in, sign-out, and each provider's sign-in
/// and callback.
pub(crate) fn routes() -> axum::Router<crate::AppState> {
    routes::routes().merge(signin::routes())
}
