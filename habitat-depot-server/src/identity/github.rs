//! GitHub (and GitHub Enterprise) OAuth apps: the browser authorizes at
//! `{web_url}/login/oauth/authorize`, the code is exchanged at
//! `{web_url}/login/oauth/access_token` (which answers errors with 200 and an `error` field),
//! and the user comes from `{api_url}/user`, the e-mail from `{api_url}/user/emails` when the
//! profile hides it. The subject is the numeric user id, which survives renames.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use habitat_core::Blake2bHash;
use serde::Deserialize;

use super::fetch::{self, OAuthError, ProviderFailure};
use super::signin::{Failed, Step};
use super::{Provider, pkce};
use crate::store::{LoginFlow, NewIdentity};

/// How long the user API's answer about a personal access token is trusted.
const TOKEN_CACHE_FOR: Duration = Duration::from_secs(60);
/// At most this many tokens' answers are kept; past it, stale ones are dropped, then all.
const TOKEN_CACHE_MAX: usize = 10_000;

/// A GitHub provider's addresses, and the answers about personal access tokens.
pub(crate) struct GitHub {
    web_url: String,
    api_url: String,
    /// Hash of a token → when asked, and whose it is (`None`: GitHub does not know it).
    token_users: Mutex<HashMap<Blake2bHash, (Instant, Option<TokenUser>)>>,
}

/// Whose a personal access token is.
#[derive(Clone, Debug)]
pub(crate) struct TokenUser {
    /// The numeric id (the subject).
    pub subject: String,
    /// The login.
    pub login: String,
}

/// The token endpoint's answer: a token, or an error (with status 200).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    #[serde(flatten)]
    error: OAuthError,
}

/// `GET /user`.
#[derive(Debug, Deserialize)]
pub(crate) struct User {
    id: u64,
    login: String,
    email: Option<String>,
}

/// One entry of `GET /user/emails`.
#[derive(Deserialize)]
struct Email {
    email: String,
    primary: bool,
    verified: bool,
}

impl GitHub {
    pub(crate) fn new(web_url: String, api_url: String) -> Self {
        Self {
            web_url,
            api_url,
            token_users: Mutex::new(HashMap::new()),
        }
    }

    /// Whose a personal access token is, from the user API or an answer of the last minute
    /// (kept under the token's hash, never the token). `Ok(None)`: GitHub does not know the
    /// token.
    pub(crate) async fn token_user(
        &self,
        http: &reqwest::Client,
        token: &str,
    ) -> Result<Option<TokenUser>, ProviderFailure> {
        let key = Blake2bHash::digest(token.as_bytes());
        if let Ok(cache) = self.token_users.lock()
            && let Some((at, user)) = cache.get(&key)
            && at.elapsed() < TOKEN_CACHE_FOR
        {
            return Ok(user.clone());
        }
        let user = match self.user(http, token).await {
            Ok(user) => Some(TokenUser {
                subject: user.id.to_string(),
                login: user.login,
            }),
            Err(ProviderFailure::Status { status: 401, .. }) => None,
            Err(e) => return Err(e),
        };
        if let Ok(mut cache) = self.token_users.lock() {
            if cache.len() >= TOKEN_CACHE_MAX {
                cache.retain(|_, (at, _)| at.elapsed() < TOKEN_CACHE_FOR);
                if cache.len() >= TOKEN_CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(key, (Instant::now(), user.clone()));
        }
        Ok(user)
    }

    /// Where to send the browser.
    pub(crate) fn authorize_url(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        flow: &LoginFlow,
        state: &str,
    ) -> Result<String, Failed> {
        let endpoint = format!("{}/login/oauth/authorize", self.web_url);
        let challenge = pkce::challenge(&flow.verifier);
        let scopes = provider
            .settings
            .scopes
            .as_ref()
            .map(|s| s.join(" "))
            .unwrap_or_else(|| "read:user user:email".to_owned());
        let url = reqwest::Url::parse_with_params(
            &endpoint,
            [
                ("client_id", provider.settings.client_id.as_str()),
                ("redirect_uri", redirect_uri),
                ("scope", scopes.as_str()),
                ("state", state),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("allow_signup", "true"),
            ],
        )
        .map_err(|e| {
            Step::Start.failed()(ProviderFailure::Inconsistent(format!(
                "`{endpoint}` is not a URL: {e}"
            )))
        })?;
        Ok(url.into())
    }

    /// Finishes a sign-in: exchanges the code, then reads the user.
    pub(crate) async fn finish(
        &self,
        provider: &Provider,
        code: &str,
        flow: &LoginFlow,
        redirect_uri: &str,
    ) -> Result<NewIdentity, Failed> {
        let token = self
            .exchange(provider, code, flow, redirect_uri)
            .await
            .map_err(Step::Token.failed())?;
        let user = self
            .user(&provider.http, &token)
            .await
            .map_err(Step::User.failed())?;
        let email = match user.email.clone() {
            Some(email) => Some(email),
            None => match self.primary_email(&provider.http, &token).await {
                Ok(email) => email,
                Err(failure) => {
                    // The e-mail is optional: sign in without it, and say why in the log.
                    tracing::warn!(
                        provider = provider.id(),
                        step = %Step::Emails,
                        error = %failure,
                        "signing in without an e-mail address"
                    );
                    None
                }
            },
        };
        Ok(self.identity(provider, user, email))
    }

    /// The identity of a user.
    pub(crate) fn identity(
        &self,
        provider: &Provider,
        user: User,
        email: Option<String>,
    ) -> NewIdentity {
        NewIdentity {
            provider: provider.id().to_owned(),
            subject: user.id.to_string(),
            username: user.login,
            email,
        }
    }

    async fn exchange(
        &self,
        provider: &Provider,
        code: &str,
        flow: &LoginFlow,
        redirect_uri: &str,
    ) -> Result<String, ProviderFailure> {
        let url = format!("{}/login/oauth/access_token", self.web_url);
        let form = [
            ("client_id", provider.settings.client_id.as_str()),
            ("client_secret", provider.secret.as_str()),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", flow.verifier.as_str()),
        ];
        let answer: TokenAnswer = fetch::json(provider.http.post(&url).form(&form), &url).await?;
        if let Some(refusal) = answer.error.refusal() {
            return Err(refusal);
        }
        answer
            .access_token
            .ok_or_else(|| ProviderFailure::Unexpected {
                url,
                detail: "the answer has neither `access_token` nor `error`".to_owned(),
            })
    }

    /// The user a token belongs to (`GET {api_url}/user`).
    pub(crate) async fn user(
        &self,
        http: &reqwest::Client,
        token: &str,
    ) -> Result<User, ProviderFailure> {
        let url = format!("{}/user", self.api_url);
        fetch::get_json(http, &url, Some(token)).await
    }

    /// The primary, verified e-mail address (`GET {api_url}/user/emails`).
    async fn primary_email(
        &self,
        http: &reqwest::Client,
        token: &str,
    ) -> Result<Option<String>, ProviderFailure> {
        let url = format!("{}/user/emails", self.api_url);
        let emails: Vec<Email> = fetch::get_json(http, &url, Some(token)).await?;
        Ok(emails
            .into_iter()
            .find(|e| e.primary && e.verified)
            .map(|e| e.email))
    }
}
