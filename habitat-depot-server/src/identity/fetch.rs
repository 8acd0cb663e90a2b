//! Talking to a provider: JSON over HTTP with a size limit, and what can go wrong, worded so
//! that a page and the log can say which answer was wrong and what the provider said.

use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde::de::DeserializeOwned;

/// The largest answer read from a provider.
const MAX_ANSWER: usize = 1 << 20;

/// What went wrong in one exchange with a provider.
#[derive(Debug, thiserror::Error)]
pub enum ProviderFailure {
    /// The provider refused, with its own error code and description.
    #[error("the provider answered `{error}`{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// The OAuth error code (`access_denied`, `bad_verification_code`...).
        error: String,
        /// The provider's description of it.
        description: Option<String>,
    },
    /// The provider cannot be reached or did not answer in time.
    #[error("cannot reach `{url}`: {detail}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The provider answered with an unexpected status.
    #[error("`{url}` answered {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of the answer.
        body: String,
    },
    /// The answer is not the JSON expected.
    #[error("`{url}` answered something unexpected: {detail}")]
    Unexpected {
        /// The URL.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The ID token is refused.
    #[error("the ID token is refused: {0}")]
    IdToken(String),
    /// The provider's answers contradict each other or the settings.
    #[error("{0}")]
    Inconsistent(String),
}

/// The provider's own error in an answer: `error` and `error_description`.
#[derive(serde::Deserialize)]
pub(crate) struct OAuthError {
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl OAuthError {
    /// The refusal, when the answer carries an `error`.
    pub fn refusal(&self) -> Option<ProviderFailure> {
        self.error.as_ref().map(|error| ProviderFailure::Refused {
            error: error.clone(),
            description: self.error_description.clone(),
        })
    }
}

/// The start of a body, for an error message: at most 200 characters, on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// Sends `request` (to `url`) and reads the JSON answer. An error status is a failure that
/// quotes the provider's `error` when the body has one, else the start of the body.
pub(crate) async fn json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<T, ProviderFailure> {
    let unreachable = |e: reqwest::Error| ProviderFailure::Unreachable {
        url: url.to_owned(),
        detail: crate::error::Chain(&e).to_string(),
    };
    let mut response = request
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(ProviderFailure::Unexpected {
                url: url.to_owned(),
                detail: format!("the answer is larger than {MAX_ANSWER} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        if let Ok(error) = serde_json::from_slice::<OAuthError>(&body)
            && let Some(refusal) = error.refusal()
        {
            return Err(refusal);
        }
        return Err(ProviderFailure::Status {
            url: url.to_owned(),
            status: status.as_u16(),
            body: excerpt(&body),
        });
    }
    serde_json::from_slice(&body).map_err(|e| ProviderFailure::Unexpected {
        url: url.to_owned(),
        detail: e.to_string(),
    })
}

/// `GET url` with a bearer token, as JSON.
pub(crate) async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
) -> Result<T, ProviderFailure> {
    let mut request = http.get(url);
    if let Some(token) = bearer {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    json(request, url).await
}
