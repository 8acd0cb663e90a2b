//! The identity providers of the settings (`[[auth.providers]]`).

use std::path::PathBuf;

use serde::Deserialize;

/// What kind of provider an `[[auth.providers]]` entry is.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// A GitHub (or GitHub Enterprise) OAuth app: authorize, code exchange, then the user API.
    Github,
    /// Any OpenID Connect provider, found by discovery from its issuer.
    Oidc,
}

/// One `[[auth.providers]]` entry.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Appears in the provider's URLs (`/auth/{id}/login`) and keys its identities: never
    /// change it once accounts have signed in with it.
    pub id: String,
    /// GitHub or OpenID Connect.
    pub kind: ProviderKind,
    /// The name on the sign-in button (default: "GitHub", or the id).
    pub name: Option<String>,
    /// The OAuth client id.
    pub client_id: String,
    /// A file holding the client secret. Else `HAB_DEPOT_AUTH_<ID>_CLIENT_SECRET`.
    pub client_secret_file: Option<PathBuf>,
    /// OIDC: the issuer, whose `/.well-known/openid-configuration` is read.
    pub issuer: Option<String>,
    /// OIDC: the scopes asked for (default `openid profile email`).
    pub scopes: Option<Vec<String>>,
    /// GitHub: where browsers authorize (default `https://github.com`).
    pub web_url: Option<String>,
    /// GitHub: the REST API (default `https://api.github.com`).
    pub api_url: Option<String>,
    /// A PEM file of extra CA certificates trusted for this provider (a private CA).
    pub ca_file: Option<PathBuf>,
    /// GitHub: whether the API accepts this provider's personal access tokens as bearer tokens
    /// (the depot asks the user API whose they are). Off by default.
    #[serde(default)]
    pub accept_provider_tokens: bool,
}
