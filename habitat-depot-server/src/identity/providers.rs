//! The identity providers of the settings (`[[auth.providers]]`), checked and made ready at
//! start: each with its client secret read, its own HTTP client (its `ca_file` trusted, short
//! timeouts), and its kind's state (an OIDC provider's discovery and keys, cached).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::fetch::ProviderFailure;
use super::github::{GitHub, TokenUser};
use super::oidc::Oidc;
use crate::settings::{SettingsError, read_secret_file};

/// How long a provider may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request to a provider may take in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest provider id.
const MAX_ID_LEN: usize = 64;

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

impl ProviderSettings {
    /// The name on the sign-in button: `name`, else "GitHub" or the id.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| match self.kind {
            ProviderKind::Github => "GitHub".to_owned(),
            ProviderKind::Oidc => self.id.clone(),
        })
    }

    /// The environment variable that holds the client secret when no file is named:
    /// `HAB_DEPOT_AUTH_<ID>_CLIENT_SECRET`, the id upper-cased with `-` as `_`.
    pub fn secret_variable(&self) -> String {
        format!(
            "HAB_DEPOT_AUTH_{}_CLIENT_SECRET",
            self.id.to_ascii_uppercase().replace('-', "_")
        )
    }
}

/// Why the providers of the settings cannot be used; each message names the provider.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// An id is empty, too long or has characters a URL path segment cannot hold as is.
    #[error("provider id `{id}` is not usable: use 1 to {MAX_ID_LEN} letters, digits, `_` or `-`")]
    BadId {
        /// The id.
        id: String,
    },
    /// Two providers have one id.
    #[error("two providers have the id `{id}`")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A setting is missing or not for this kind of provider.
    #[error("provider `{id}`: {problem}")]
    Setting {
        /// The provider.
        id: String,
        /// What is wrong.
        problem: String,
    },
    /// A URL setting is not an http(s) URL.
    #[error("provider `{id}`: `{url}` is not an http or https URL")]
    BadUrl {
        /// The provider.
        id: String,
        /// The URL.
        url: String,
    },
    /// No client secret: neither a file nor the variable.
    #[error("provider `{id}` has no client secret: set `client_secret_file` or `{variable}`")]
    NoSecret {
        /// The provider.
        id: String,
        /// The variable that was looked at.
        variable: String,
    },
    /// The secret file cannot be read or is empty.
    #[error("provider `{id}`: client secret: {source}")]
    Secret {
        /// The provider.
        id: String,
        /// What failed.
        source: SettingsError,
    },
    /// The CA file cannot be read or holds no certificate.
    #[error("provider `{id}`: cannot use the CA file `{}`: {detail}", path.display())]
    CaFile {
        /// The provider.
        id: String,
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// The HTTP client cannot be built.
    #[error("provider `{id}`: cannot build its HTTP client: {detail}")]
    Client {
        /// The provider.
        id: String,
        /// What failed.
        detail: String,
    },
}

/// The providers, ready, in the settings' order.
#[derive(Default)]
pub struct Providers {
    list: Vec<Arc<Provider>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|p| &p.settings.id))
            .finish()
    }
}

impl Providers {
    /// Checks the settings' providers and makes them ready. Nothing is fetched here: an OIDC
    /// provider's discovery happens at its first sign-in.
    pub fn from_settings(settings: &[ProviderSettings]) -> Result<Self, ProviderError> {
        let mut list: Vec<Arc<Provider>> = Vec::with_capacity(settings.len());
        for s in settings {
            if list.iter().any(|p| p.settings.id == s.id) {
                return Err(ProviderError::DuplicateId { id: s.id.clone() });
            }
            list.push(Arc::new(Provider::new(s.clone())?));
        }
        Ok(Self { list })
    }

    /// The provider `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<Provider>> {
        self.list.iter().find(|p| p.settings.id == id)
    }

    /// All of them, in the settings' order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.list.iter()
    }
}

/// One provider, ready to sign in with.
pub struct Provider {
    /// Its settings.
    pub settings: ProviderSettings,
    /// The client secret.
    pub(crate) secret: String,
    /// Its HTTP client.
    pub(crate) http: reqwest::Client,
    /// What its kind needs.
    pub(crate) backend: Backend,
}

/// A provider's kind, with its state.
pub(crate) enum Backend {
    /// GitHub.
    Github(GitHub),
    /// OpenID Connect.
    Oidc(Oidc),
}

impl Provider {
    fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        let id = settings.id.clone();
        let id_ok = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            return Err(ProviderError::BadId { id });
        }
        let setting = |problem: &str| ProviderError::Setting {
            id: id.clone(),
            problem: problem.to_owned(),
        };
        if settings.client_id.trim().is_empty() {
            return Err(setting("`client_id` is empty"));
        }
        let url = |value: &str| -> Result<String, ProviderError> {
            let parsed = reqwest::Url::parse(value).ok();
            if parsed.is_none_or(|u| !matches!(u.scheme(), "http" | "https")) {
                return Err(ProviderError::BadUrl {
                    id: id.clone(),
                    url: value.to_owned(),
                });
            }
            Ok(value.trim_end_matches('/').to_owned())
        };
        let backend = match settings.kind {
            ProviderKind::Oidc => {
                if settings.web_url.is_some() || settings.api_url.is_some() {
                    return Err(setting(
                        "`web_url` and `api_url` are GitHub settings; an OIDC provider has \
                         an `issuer`",
                    ));
                }
                if settings.accept_provider_tokens {
                    return Err(setting(
                        "`accept_provider_tokens` is only for GitHub providers",
                    ));
                }
                let issuer = settings
                    .issuer
                    .as_deref()
                    .ok_or_else(|| setting("an OIDC provider needs an `issuer`"))?;
                url(issuer)?;
                Backend::Oidc(Oidc::new(issuer))
            }
            ProviderKind::Github => {
                if settings.issuer.is_some() {
                    return Err(setting(
                        "`issuer` is an OIDC setting; a GitHub provider has `web_url` and \
                         `api_url`",
                    ));
                }
                let web = url(settings.web_url.as_deref().unwrap_or("https://github.com"))?;
                let api = url(settings
                    .api_url
                    .as_deref()
                    .unwrap_or("https://api.github.com"))?;
                Backend::Github(GitHub::new(web, api))
            }
        };
        let secret = match &settings.client_secret_file {
            Some(path) => read_secret_file(path).map_err(|source| ProviderError::Secret {
                id: id.clone(),
                source,
            })?,
            None => {
                let variable = settings.secret_variable();
                std::env::var(&variable)
                    .ok()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .ok_or(ProviderError::NoSecret {
                        id: id.clone(),
                        variable,
                    })?
            }
        };
        let http = http_client(&id, settings.ca_file.as_deref())?;
        Ok(Self {
            settings,
            secret,
            http,
            backend,
        })
    }

    /// The provider's id.
    pub fn id(&self) -> &str {
        &self.settings.id
    }

    /// Whose a bearer token is, when this provider accepts its own tokens
    /// (`accept_provider_tokens`): `None` when it does not; `Some(Ok(None))` when the provider
    /// does not know the token.
    pub(crate) async fn token_user(
        &self,
        token: &str,
    ) -> Option<Result<Option<TokenUser>, ProviderFailure>> {
        match &self.backend {
            Backend::Github(github) if self.settings.accept_provider_tokens => {
                Some(github.token_user(&self.http, token).await)
            }
            _ => None,
        }
    }
}

/// A provider's HTTP client: no redirects followed, short timeouts, the `ca_file`'s
/// certificates trusted besides the system's.
fn http_client(
    id: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<reqwest::Client, ProviderError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("hab-depot/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT);
    if let Some(path) = ca_file {
        let fail = |detail: String| ProviderError::CaFile {
            id: id.to_owned(),
            path: path.to_owned(),
            detail,
        };
        let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(e.to_string()))?;
        if certs.is_empty() {
            return Err(fail("it holds no PEM certificate".to_owned()));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| ProviderError::Client {
        id: id.to_owned(),
        detail: crate::error::Chain(&e).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_is_added_to_the_roots() {
        // Any PEM bundle will do: the system's, where the machine has one.
        let bundle = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
        if !bundle.is_file() {
            return;
        }
        assert!(http_client("corp", Some(bundle)).is_ok());
        let empty = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
        let err = http_client("corp", Some(empty.path())).err();
        assert!(
            err.is_some_and(|e| e.to_string().contains("holds no PEM certificate")),
            "an empty file is refused"
        );
    }
}
