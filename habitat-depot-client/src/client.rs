//! The client, its builder, and the one request path every small call goes through.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use habitat_core::ChannelName;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::retry::{Attempts, Next, Retry, RetryPolicy};
use crate::token::Token;
use crate::url::DepotUrl;

/// The largest answer read into memory (JSON, key files). Package JSON holds a MANIFEST, so
/// this is generous; artifacts are never read into memory.
pub(crate) const SMALL_BODY_LIMIT: usize = 16 << 20;

/// How much of an error body is kept for the message.
const ERROR_BODY_LIMIT: usize = 8 << 10;

/// How many characters of a non-JSON error body the message shows.
const ERROR_TEXT_CHARS: usize = 300;

/// A typed async client for one depot (docs/api.md). Cheap to clone: clones share connections.
///
/// Every method maps a non-2xx answer to [`Error::Http`] with the depot's status, code and
/// message, and retries as its [`RetryPolicy`] allows: reads, `PUT`, `DELETE` and uploads on
/// connection errors, 5xx and 429; other requests only when the depot cannot have acted on
/// them (the connection could not be made, or 429).
#[derive(Clone)]
pub struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) url: DepotUrl,
    pub(crate) token: Option<Token>,
    auth: Option<HeaderValue>,
    pub(crate) retry: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("token", &self.token)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Sets up a [`Client`]: token, retries, timeouts, user agent, proxies, extra trusted
/// certificate authorities.
#[derive(Debug)]
pub struct ClientBuilder {
    url: DepotUrl,
    token: Option<Token>,
    retry: RetryPolicy,
    connect_timeout: Duration,
    read_timeout: Option<Duration>,
    user_agent: String,
    proxy_from_env: bool,
    ca_files: Vec<PathBuf>,
}

impl ClientBuilder {
    /// The token sent as `Authorization: Bearer …` (none: anonymous, public reads only).
    pub fn token(mut self, token: Option<Token>) -> Self {
        self.token = token;
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How long opening a connection may take (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the depot may stay silent while an answer is awaited or read (default 10
    /// minutes: the depot verifies a large upload before it answers). There is no limit on a
    /// whole transfer, which may be long.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// The `User-Agent` (default `habitat-depot-client/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Ignores `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` (which are honoured by default).
    pub fn no_proxy(mut self) -> Self {
        self.proxy_from_env = false;
        self
    }

    /// Trusts the certificates of a PEM file (a private certificate authority) besides the
    /// platform's roots, for `https` depots. May be given several times.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Builds the client. `https` URLs are verified against the platform's roots (on Linux the
    /// system bundle, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set) plus every
    /// [`ca_file`](Self::ca_file).
    ///
    /// # Errors
    /// [`Error::CaFile`] when a `ca_file` cannot be read or holds no PEM certificate;
    /// [`Error::Setup`] when the HTTP client cannot be set up.
    pub fn build(self) -> Result<Client> {
        let mut builder = reqwest::Client::builder()
            .user_agent(self.user_agent)
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout.unwrap_or(Duration::from_secs(600)));
        if !self.proxy_from_env {
            builder = builder.no_proxy();
        }
        for path in &self.ca_files {
            builder = builder.tls_certs_merge(read_ca_file(path)?);
        }
        let http = builder.build().map_err(|e| Error::Setup {
            source: Box::new(e),
        })?;
        let auth = self.token.as_ref().map(Token::header).transpose()?;
        Ok(Client {
            http,
            url: self.url,
            token: self.token,
            auth,
            retry: self.retry,
        })
    }
}

/// A request body that can be sent again on a retry.
#[derive(Clone)]
pub(crate) enum Payload {
    /// `application/json`.
    Json(Bytes),
    /// `text/plain` (key files).
    Text(Bytes),
}

impl Payload {
    pub(crate) fn json(value: &serde_json::Value) -> Self {
        Self::Json(Bytes::from(value.to_string()))
    }
}

/// A successful (2xx) answer read whole.
pub(crate) struct Answer {
    pub(crate) url: Url,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as JSON of type `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            url: self.url.to_string(),
            reason: format!("the JSON is not what the API promises: {e}"),
        })
    }

    /// The body as UTF-8 text.
    pub(crate) fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.body).map_err(|_| Error::Decode {
            url: self.url.to_string(),
            reason: "the body is not UTF-8 text".into(),
        })
    }
}

impl Client {
    /// A client for the depot at `url`, with `token` (or anonymous), the default retry policy
    /// and timeouts. See [`Client::builder`] for more settings.
    ///
    /// # Errors
    /// As [`ClientBuilder::build`].
    pub fn new(url: DepotUrl, token: Option<Token>) -> Result<Self> {
        Self::builder(url).token(token).build()
    }

    /// A builder for a client of the depot at `url`.
    pub fn builder(url: DepotUrl) -> ClientBuilder {
        ClientBuilder {
            url,
            token: None,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: None,
            user_agent: concat!("habitat-depot-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            proxy_from_env: true,
            ca_files: Vec::new(),
        }
    }

    /// This client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The depot's URL.
    pub fn url(&self) -> &DepotUrl {
        &self.url
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Whether requests carry a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The channel of a view URL (`…/v1/depot/views/NAME`) if the client was given one, else
    /// `default`: the seed's `hab start core/postgresql --url http://host/v1/depot/views/myview`
    /// installs from `myview`.
    pub fn channel_or<'a>(&'a self, default: &'a ChannelName) -> &'a ChannelName {
        self.url.channel().unwrap_or(default)
    }

    /// The URL of a route: segments under `/v1`, each percent-encoded.
    pub(crate) fn endpoint<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> Url {
        self.url.join(segments)
    }

    /// A request with the token, if any.
    pub(crate) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let builder = self.http.request(method, url);
        match &self.auth {
            Some(auth) => builder.header(AUTHORIZATION, auth.clone()),
            None => builder,
        }
    }

    /// Sends a request with retries and reads the whole (small) answer; non-2xx is
    /// [`Error::Http`].
    pub(crate) async fn call(
        &self,
        method: Method,
        url: Url,
        payload: Option<Payload>,
        mode: Retry,
    ) -> Result<Answer> {
        let mut attempts = Attempts::new(&self.retry, mode, &url);
        loop {
            attempts.start();
            let mut request = self.request(method.clone(), url.clone());
            request = match payload.clone() {
                Some(Payload::Json(body)) => {
                    request.header(CONTENT_TYPE, "application/json").body(body)
                }
                Some(Payload::Text(body)) => request.header(CONTENT_TYPE, "text/plain").body(body),
                None => request,
            };
            let mut response = match attempts.after(request.send().await).await? {
                Next::Retry => continue,
                Next::Response(response) => response,
            };
            if !response.status().is_success() {
                return Err(self.http_error(&method, response).await);
            }
            match read_limited(&mut response, SMALL_BODY_LIMIT).await {
                Ok(Some(body)) => {
                    return Ok(Answer { url, body });
                }
                Ok(None) => {
                    return Err(Error::Decode {
                        url: url.to_string(),
                        reason: format!("the answer is larger than {} MiB", SMALL_BODY_LIMIT >> 20),
                    });
                }
                // The connection broke while the answer was read.
                Err(e) => attempts.broken(e).await?,
            }
        }
    }

    /// `GET` and decode JSON.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        self.call(Method::GET, url, None, Retry::Always)
            .await?
            .json()
    }

    /// A request whose answer has no body worth reading (204, 200 without content).
    pub(crate) async fn call_empty(
        &self,
        method: Method,
        url: Url,
        payload: Option<Payload>,
    ) -> Result<()> {
        let mode = retry_mode(&method);
        self.call(method, url, payload, mode).await.map(drop)
    }

    /// The [`Error::Http`] for a non-2xx answer: the depot's `{code, message}`, or the start
    /// of the body text, scrubbed of the token.
    pub(crate) async fn http_error(&self, method: &Method, mut response: Response) -> Error {
        let status = response.status();
        let url = response.url().to_string();
        let body = match read_limited(&mut response, ERROR_BODY_LIMIT).await {
            Ok(Some(body)) => body,
            // Too long or cut off: what arrived is enough for a message.
            _ => Bytes::new(),
        };
        let (code, message) = error_body(status, &body);
        let scrub = |text: String| match &self.token {
            Some(token) => token.scrub(&text),
            None => text,
        };
        Error::Http {
            method: method.to_string(),
            url,
            status: status.as_u16(),
            code: code.map(scrub),
            message: scrub(message),
        }
    }
}

/// The certificates of a PEM file, at least one.
fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let fail = |reason: String| Error::CaFile {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("it holds no PEM certificate".to_owned()));
    }
    Ok(certs)
}

/// The retry mode HTTP gives a method: `POST` and `PATCH` may not be repeated blindly.
pub(crate) fn retry_mode(method: &Method) -> Retry {
    if *method == Method::POST || *method == Method::PATCH {
        Retry::Unsent
    } else {
        Retry::Always
    }
}

/// Reads the body up to `limit` bytes: `Ok(None)` when it is longer.
pub(crate) async fn read_limited(
    response: &mut Response,
    limit: usize,
) -> std::result::Result<Option<Bytes>, reqwest::Error> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// The depot's `{"code", "message"}`, else the body text (truncated), else the status.
fn error_body(status: StatusCode, body: &[u8]) -> (Option<String>, String) {
    #[derive(Deserialize)]
    struct ApiError {
        code: Option<String>,
        message: String,
    }
    if let Ok(error) = serde_json::from_slice::<ApiError>(body) {
        return (error.code, error.message);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        let reason = status.canonical_reason().unwrap_or("no message");
        return (None, reason.to_lowercase());
    }
    let mut shown: String = text.chars().take(ERROR_TEXT_CHARS).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    (None, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let (code, message) = error_body(
            StatusCode::NOT_FOUND,
            br#"{"code":"not_found","message":"origin `x` not found"}"#,
        );
        assert_eq!(code.as_deref(), Some("not_found"));
        assert_eq!(message, "origin `x` not found");

        let (code, message) = error_body(StatusCode::BAD_GATEWAY, b"  <html>bad gateway</html>\n");
        assert_eq!(code, None);
        assert_eq!(message, "<html>bad gateway</html>");

        let long = "x".repeat(1000);
        let (_, message) = error_body(StatusCode::BAD_REQUEST, long.as_bytes());
        assert_eq!(message.chars().count(), ERROR_TEXT_CHARS + 1);
        assert!(message.ends_with('…'));

        let (_, message) = error_body(StatusCode::SERVICE_UNAVAILABLE, b"");
        assert_eq!(message, "service unavailable");
    }

    #[test]
    fn debug_hides_the_token() {
        let url: DepotUrl = "http://127.0.0.1:9/v1".parse().unwrap();
        let secret = "hab_dG9wLXNlY3JldC10b3Atc2VjcmV0";
        let client = Client::new(url, Some(Token::new(secret).unwrap())).unwrap();
        let shown = format!("{client:?} {client:#?}");
        assert!(!shown.contains("dG9w"), "{shown}");
        assert!(shown.contains("hab_…***"), "{shown}");
    }

    #[test]
    fn https_is_built_in() {
        let url: DepotUrl = "https://bldr.habitat.sh".parse().unwrap();
        assert!(Client::new(url, None).is_ok());
    }

    #[test]
    fn ca_files_must_hold_certificates() {
        let url: DepotUrl = "https://127.0.0.1:9".parse().unwrap();
        let empty = tempfile::NamedTempFile::new().unwrap();
        let err = Client::builder(url.clone())
            .ca_file(empty.path())
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
        assert!(
            err.to_string().contains(&*empty.path().to_string_lossy()),
            "{err}"
        );

        let missing = empty.path().with_extension("missing");
        let err = Client::builder(url).ca_file(&missing).build().unwrap_err();
        assert!(matches!(err, Error::CaFile { .. }), "{err}");
    }
}
