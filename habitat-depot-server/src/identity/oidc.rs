//! OpenID Connect: discovery from the issuer (cached), the provider's keys (cached, fetched
//! again once when an ID token names a key the cache does not have), the authorization code
//! flow, and the ID token's checks: signature against those keys, issuer, audience, expiry and
//! nonce. The user's claims come from the ID token, or from the user-info endpoint when the
//! provider keeps them there.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::fetch::{self, ProviderFailure};
use super::signin::{Failed, Step};
use super::{Provider, pkce};
use crate::store::{LoginFlow, NewIdentity};

/// How long discovery and keys are trusted before they are fetched again.
const CACHE_FOR: Duration = Duration::from_secs(3600);
/// Clock skew allowed on `exp`, in seconds.
const LEEWAY_SECS: u64 = 60;
/// The signature algorithms accepted on ID tokens (never `none` nor a shared secret).
const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// An OpenID Connect provider's state.
pub(crate) struct Oidc {
    /// The issuer of the settings.
    issuer: String,
    discovery: Mutex<Option<(Instant, Arc<Discovery>)>>,
    keys: Mutex<Option<(Instant, Arc<JwkSet>)>>,
}

/// What discovery tells.
#[derive(Debug, Deserialize)]
pub(crate) struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    userinfo_endpoint: Option<String>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct Tokens {
    access_token: Option<String>,
    id_token: Option<String>,
}

/// The claims read from an ID token or the user-info endpoint.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    nonce: Option<String>,
    azp: Option<String>,
    preferred_username: Option<String>,
    email: Option<String>,
}

impl Oidc {
    pub(crate) fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            discovery: Mutex::new(None),
            keys: Mutex::new(None),
        }
    }

    /// The discovery document, from the cache or the issuer; its `issuer` must be ours.
    async fn discovery(&self, http: &reqwest::Client) -> Result<Arc<Discovery>, ProviderFailure> {
        if let Some(cached) = fresh(&self.discovery) {
            return Ok(cached);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let found: Discovery = fetch::get_json(http, &url, None).await?;
        if found.issuer.trim_end_matches('/') != self.issuer.trim_end_matches('/') {
            return Err(ProviderFailure::Inconsistent(format!(
                "discovery at `{url}` names the issuer `{}`, not `{}` as the settings do",
                found.issuer, self.issuer
            )));
        }
        let found = Arc::new(found);
        store(&self.discovery, found.clone());
        Ok(found)
    }

    /// The provider's keys, from the cache unless `refetch`.
    async fn keys(
        &self,
        http: &reqwest::Client,
        discovery: &Discovery,
        refetch: bool,
    ) -> Result<Arc<JwkSet>, ProviderFailure> {
        if !refetch && let Some(cached) = fresh(&self.keys) {
            return Ok(cached);
        }
        let keys: JwkSet = fetch::get_json(http, &discovery.jwks_uri, None).await?;
        let keys = Arc::new(keys);
        store(&self.keys, keys.clone());
        Ok(keys)
    }

    /// Where to send the browser: the authorization endpoint with the code flow's parameters.
    pub(crate) async fn authorize_url(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        flow: &LoginFlow,
        state: &str,
    ) -> Result<String, Failed> {
        let discovery = self
            .discovery(&provider.http)
            .await
            .map_err(Step::Discovery.failed())?;
        let scopes = provider
            .settings
            .scopes
            .as_ref()
            .map(|s| s.join(" "))
            .unwrap_or_else(|| "openid profile email".to_owned());
        let challenge = pkce::challenge(&flow.verifier);
        let url = reqwest::Url::parse_with_params(
            &discovery.authorization_endpoint,
            [
                ("response_type", "code"),
                ("client_id", provider.settings.client_id.as_str()),
                ("redirect_uri", redirect_uri),
                ("scope", scopes.as_str()),
                ("state", state),
                ("nonce", flow.nonce.as_str()),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .map_err(|e| {
            Step::Discovery.failed()(ProviderFailure::Inconsistent(format!(
                "the authorization endpoint `{}` is not a URL: {e}",
                discovery.authorization_endpoint
            )))
        })?;
        Ok(url.into())
    }

    /// Finishes a sign-in: checks the answer's issuer when it names one (RFC 9207, so an
    /// answer from another provider is not taken for this one's), exchanges the code, checks
    /// the ID token, and reads the user.
    pub(crate) async fn finish(
        &self,
        provider: &Provider,
        code: &str,
        iss: Option<&str>,
        flow: &LoginFlow,
        redirect_uri: &str,
    ) -> Result<NewIdentity, Failed> {
        let http = &provider.http;
        let discovery = self
            .discovery(http)
            .await
            .map_err(Step::Discovery.failed())?;
        if let Some(iss) = iss
            && iss != discovery.issuer
        {
            return Err(Step::Authorization.failed()(ProviderFailure::Inconsistent(
                format!(
                    "the answer comes from the issuer `{iss}`, not `{}`",
                    discovery.issuer
                ),
            )));
        }
        let tokens = self
            .exchange(provider, &discovery, code, flow, redirect_uri)
            .await
            .map_err(Step::Token.failed())?;
        let id_token = tokens.id_token.as_deref().ok_or_else(|| {
            Step::Token.failed()(ProviderFailure::Inconsistent(
                "the token endpoint's answer has no `id_token` (is `openid` among the scopes?)"
                    .to_owned(),
            ))
        })?;
        let mut claims = self
            .check_id_token(provider, &discovery, id_token, &flow.nonce)
            .await
            .map_err(Step::IdToken.failed())?;
        if claims.preferred_username.is_none()
            && claims.email.is_none()
            && let (Some(endpoint), Some(access)) =
                (&discovery.userinfo_endpoint, &tokens.access_token)
        {
            let info: Claims = fetch::get_json(http, endpoint, Some(access))
                .await
                .map_err(Step::UserInfo.failed())?;
            if info.sub != claims.sub {
                return Err(Step::UserInfo.failed()(ProviderFailure::Inconsistent(
                    format!(
                        "the user info is of `{}`, the ID token of `{}`",
                        info.sub, claims.sub
                    ),
                )));
            }
            claims.preferred_username = info.preferred_username;
            claims.email = info.email;
        }
        let username = user_name(&claims);
        Ok(NewIdentity {
            provider: provider.id().to_owned(),
            subject: claims.sub,
            username,
            email: claims.email,
        })
    }

    /// The code exchange at the token endpoint, with the PKCE verifier; the client
    /// authenticates with HTTP Basic unless the provider only takes the secret in the form.
    async fn exchange(
        &self,
        provider: &Provider,
        discovery: &Discovery,
        code: &str,
        flow: &LoginFlow,
        redirect_uri: &str,
    ) -> Result<Tokens, ProviderFailure> {
        let settings = &provider.settings;
        let post_only = discovery
            .token_endpoint_auth_methods_supported
            .as_ref()
            .is_some_and(|m| {
                !m.iter().any(|m| m == "client_secret_basic")
                    && m.iter().any(|m| m == "client_secret_post")
            });
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", flow.verifier.as_str()),
        ];
        let mut request = provider.http.post(&discovery.token_endpoint);
        if post_only {
            form.push(("client_id", settings.client_id.as_str()));
            form.push(("client_secret", provider.secret.as_str()));
        } else {
            // RFC 6749 2.3.1: both are form-encoded before they are joined.
            request = request.basic_auth(
                form_encode(&settings.client_id),
                Some(form_encode(&provider.secret)),
            );
        }
        let tokens: Tokens = fetch::json(request.form(&form), &discovery.token_endpoint).await?;
        Ok(tokens)
    }

    /// Checks an ID token and returns its claims.
    async fn check_id_token(
        &self,
        provider: &Provider,
        discovery: &Discovery,
        token: &str,
        nonce: &str,
    ) -> Result<Claims, ProviderFailure> {
        let refused = |why: String| ProviderFailure::IdToken(why);
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| refused(format!("it is not a signed token: {e}")))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(refused(format!(
                "it is signed with {:?}, which the depot does not accept",
                header.alg
            )));
        }
        let keys = self.keys(&provider.http, discovery, false).await?;
        let jwk = match pick_key(&keys, header.kid.as_deref(), header.alg) {
            Some(jwk) => jwk.clone(),
            None => {
                // The provider may have rotated its keys: fetch them once more.
                let keys = self.keys(&provider.http, discovery, true).await?;
                pick_key(&keys, header.kid.as_deref(), header.alg)
                    .cloned()
                    .ok_or_else(|| {
                        refused(format!(
                            "it is signed by the key `{}`, which is not among the provider's \
                             keys",
                            header.kid.as_deref().unwrap_or("(no kid)")
                        ))
                    })?
            }
        };
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| refused(format!("the provider's key cannot be used: {e}")))?;
        let client_id = &provider.settings.client_id;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&discovery.issuer]);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            refused(match e.kind() {
                ErrorKind::InvalidSignature => {
                    "its signature does not match the provider's key".to_owned()
                }
                ErrorKind::ExpiredSignature => "it has expired".to_owned(),
                ErrorKind::InvalidAudience => {
                    format!("it is for another audience, not the client `{client_id}`")
                }
                ErrorKind::InvalidIssuer => {
                    format!(
                        "it was issued by another issuer, not `{}`",
                        discovery.issuer
                    )
                }
                ErrorKind::MissingRequiredClaim(claim) => format!("it has no `{claim}`"),
                _ => e.to_string(),
            })
        })?;
        let claims = data.claims;
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(refused(
                "its nonce is not the one this sign-in sent (a replayed or foreign token)"
                    .to_owned(),
            ));
        }
        if claims.azp.as_deref().is_some_and(|azp| azp != client_id) {
            return Err(refused(format!(
                "it was issued to another client (`azp` is not `{client_id}`)"
            )));
        }
        Ok(claims)
    }
}

/// The user name of the claims: `preferred_username` (its local part when it looks like an
/// e-mail address, as Entra ID's user principal names do), else the e-mail's local part, else
/// the subject.
fn user_name(claims: &Claims) -> String {
    let local = |name: &str| name.split('@').next().unwrap_or(name).trim().to_owned();
    [
        claims.preferred_username.as_deref(),
        claims.email.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(local)
    .find(|name| !name.is_empty())
    .unwrap_or_else(|| claims.sub.clone())
}

/// The key that signed a token: the one with its `kid`, or without one, the only key of its
/// family.
fn pick_key<'a>(keys: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => keys.find(kid),
        None => {
            let family = alg.family();
            let mut fitting = keys
                .keys
                .iter()
                .filter(|k| DecodingKey::from_jwk(k).is_ok_and(|d| d.family() == family));
            let first = fitting.next();
            if fitting.next().is_some() {
                return None;
            }
            first
        }
    }
}

/// The cached value if still fresh.
fn fresh<T>(cache: &Mutex<Option<(Instant, Arc<T>)>>) -> Option<Arc<T>> {
    let guard = cache.lock().ok()?;
    guard
        .as_ref()
        .filter(|(at, _)| at.elapsed() < CACHE_FOR)
        .map(|(_, value)| value.clone())
}

fn store<T>(cache: &Mutex<Option<(Instant, Arc<T>)>>, value: Arc<T>) {
    if let Ok(mut guard) = cache.lock() {
        *guard = Some((Instant::now(), value));
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_name_is_the_preferred_one_else_the_e_mail_local_part_else_the_subject() {
        let claims = |preferred: Option<&str>, email: Option<&str>| Claims {
            sub: "248289761001".into(),
            nonce: None,
            azp: None,
            preferred_username: preferred.map(Into::into),
            email: email.map(Into::into),
        };
        let name = |p, e| user_name(&claims(p, e));
        assert_eq!(name(Some("jane"), Some("j.doe@example.com")), "jane");
        assert_eq!(name(Some("jane@contoso.com"), None), "jane");
        assert_eq!(name(None, Some("j.doe@example.com")), "j.doe");
        assert_eq!(name(Some(" "), Some("j.doe@example.com")), "j.doe");
        assert_eq!(name(None, None), "248289761001");
    }

    #[test]
    fn form_encoding_keeps_only_unreserved_bytes() {
        assert_eq!(form_encode("hab-depot"), "hab-depot");
        assert_eq!(form_encode("a b:c/d%"), "a+b%3Ac%2Fd%25");
    }
}
