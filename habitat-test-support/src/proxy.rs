//! A small HTTP proxy on 127.0.0.1 in front of a depot, for the depot-to-depot tests (mirroring,
//! the pull-through cache): it passes every request on and logs it, and on demand it answers
//! 404 to the channel manifest route (as a Builder does), cuts downloads after some bytes,
//! flips a byte of each download, serves another public key file, or answers 503 to
//! everything (an upstream that is down). For the TUF attack tests it keeps the answers it
//! passed on, and serves, for the paths it is told, given bytes (an old answer replayed), the
//! upstream's answer for another path (a file of another version under the current name), or
//! the upstream's answer rewritten.
//!
//! ```no_run
//! # async fn run(upstream: habitat_test_support::TestDepot) {
//! use habitat_test_support::proxy::Proxy;
//!
//! let proxy = Proxy::start(&upstream.url).await;
//! // ... point a depot or a client at `proxy.url` ...
//! assert_eq!(proxy.count("/download"), 0);
//! # }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, ETAG, RANGE, TRANSFER_ENCODING,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// What the proxy is told to do, changed while it runs.
#[derive(Default)]
struct Switches {
    no_manifest: AtomicBool,
    cut_path: Mutex<Option<String>>,
    flip: AtomicBool,
    key: Mutex<Option<String>>,
    down: AtomicBool,
    rules: Mutex<Vec<(String, Rule)>>,
    keep: Mutex<Option<String>>,
    kept: Mutex<HashMap<String, Vec<Bytes>>>,
}

/// A rewriting of one answer's body.
type Rewrite = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// What the proxy answers for the paths a rule names instead of the upstream's answer.
#[derive(Clone)]
enum Rule {
    /// These bytes, with 200.
    Body(Bytes),
    /// The upstream's answer for this other path (and query).
    From(String),
    /// The upstream's answer, its body changed by the function when it is a success.
    Rewrite(Rewrite),
}

/// A running proxy.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`: the upstream's paths under it (`…/v1/…`).
    pub url: String,
    /// Each request's path and query, with ` range=…` when it had a `Range` header.
    pub seen: Arc<Mutex<Vec<String>>>,
    /// Each answer's path (without the query) and the bytes of its body as sent on, in the
    /// order they were answered (what a benchmark counts).
    pub answered: Arc<Mutex<Vec<(String, u64)>>>,
    /// Downloads (of the paths [`Proxy::cut_only`] names, else all) break after this many
    /// bytes; 0: never.
    pub cut: Arc<AtomicUsize>,
    switches: Arc<Switches>,
}

impl Proxy {
    /// A proxy in front of `upstream` (its `http://…/v1` URL or its root), passing everything
    /// on.
    pub async fn start(upstream: &str) -> Self {
        let root = upstream
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .to_owned();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(Mutex::new(Vec::new()));
        let cut = Arc::new(AtomicUsize::new(0));
        let switches = Arc::new(Switches::default());
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let (log, sizes, cut_after, told) = (
            seen.clone(),
            answered.clone(),
            cut.clone(),
            switches.clone(),
        );
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (root, http, log, sizes, cut_after, told) = (
                root.clone(),
                http.clone(),
                log.clone(),
                sizes.clone(),
                cut_after.clone(),
                told.clone(),
            );
            async move {
                let path = request.uri().path().to_owned();
                let (response, sent) =
                    pass_on(request, &root, &http, &log, &cut_after, &told).await;
                sizes.lock().unwrap().push((path, sent));
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{address}"),
            seen,
            answered,
            cut,
            switches,
        }
    }

    /// Answers 404 to the channel manifest route, which a Builder does not have.
    pub fn without_manifest(&self) {
        self.switches.no_manifest.store(true, Ordering::SeqCst);
    }

    /// Cuts (see [`Proxy::cut`]) only the downloads whose path contains `part`.
    pub fn cut_only(&self, part: &str) {
        *self.switches.cut_path.lock().unwrap() = Some(part.to_owned());
    }

    /// Flips one byte in the middle of every download from now on (`false`: no more), and
    /// drops its `ETag`, so that only the receiver's own checks can tell.
    pub fn flip_downloads(&self, flip: bool) {
        self.switches.flip.store(flip, Ordering::SeqCst);
    }

    /// Serves `key` (a public key file's text) for every single public key of its origin asked
    /// from now on (`None`: the upstream's again).
    pub fn serve_key(&self, key: Option<String>) {
        *self.switches.key.lock().unwrap() = key;
    }

    /// Answers 503 to every request (`true`), as an upstream that is down, or passes them on
    /// again (`false`).
    pub fn set_down(&self, down: bool) {
        self.switches.down.store(down, Ordering::SeqCst);
    }

    /// Answers 200 with `body` (an answer kept before, say) for every path that ends with
    /// `path` (`/timestamp.json`, `/3.snapshot.json`) from now on, without asking the upstream.
    pub fn replace(&self, path: &str, body: impl Into<Bytes>) {
        self.rule(path, Rule::Body(body.into()));
    }

    /// Answers every path that ends with `path` with the upstream's answer for `other` (a path
    /// from the root, `/v1/tuf/metadata/1.bin-3a.json`) from now on.
    pub fn serve_from(&self, path: &str, other: &str) {
        self.rule(path, Rule::From(other.to_owned()));
    }

    /// Changes the body of every successful answer for a path that ends with `path` with
    /// `change` from now on (the length and `ETag` headers are dropped).
    pub fn rewrite(&self, path: &str, change: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) {
        self.rule(path, Rule::Rewrite(Arc::new(change)));
    }

    /// Drops every rule of [`Proxy::replace`], [`Proxy::serve_from`] and [`Proxy::rewrite`]:
    /// the upstream's answers pass again.
    pub fn pass_all(&self) {
        self.switches.rules.lock().unwrap().clear();
    }

    /// Keeps the body of every successful answer passed on for a path containing `part` from
    /// now on (`None`: no more), for [`Proxy::kept`].
    pub fn keep_answers(&self, part: Option<&str>) {
        *self.switches.keep.lock().unwrap() = part.map(str::to_owned);
    }

    /// The bodies kept for exactly `path` (no query), oldest first; an answer the same as the
    /// one before it is kept once.
    pub fn kept(&self, path: &str) -> Vec<Bytes> {
        let kept = self.switches.kept.lock().unwrap();
        kept.get(path).cloned().unwrap_or_default()
    }

    /// Adds `rule` for `path`; a later rule wins over an earlier one for the same path.
    fn rule(&self, path: &str, rule: Rule) {
        let mut rules = self.switches.rules.lock().unwrap();
        rules.push((path.to_owned(), rule));
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests seen so far have `part` in their path.
    pub fn count(&self, part: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.contains(part))
            .count()
    }
}

/// Logs `request`, then answers as the switches say, or with the upstream's answer; also
/// returns the length of the body it answers with (of a cut download, the bytes before the cut).
async fn pass_on(
    request: axum::extract::Request,
    root: &str,
    http: &reqwest::Client,
    log: &Mutex<Vec<String>>,
    cut_after: &AtomicUsize,
    told: &Switches,
) -> (Response, u64) {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let range = request
        .headers()
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| format!(" range={v}"))
        .unwrap_or_default();
    log.lock().unwrap().push(format!("{path}{range}"));
    let bare = request.uri().path().to_owned();
    if told.down.load(Ordering::SeqCst) {
        let body = r#"{"code":"unavailable","message":"down for the test"}"#;
        return (
            json_answer(StatusCode::SERVICE_UNAVAILABLE, body),
            body.len() as u64,
        );
    }
    if told.no_manifest.load(Ordering::SeqCst) && bare.ends_with("/manifest") {
        let body = r#"{"code":"not_found","message":"no such route"}"#;
        return (json_answer(StatusCode::NOT_FOUND, body), body.len() as u64);
    }
    if let Some(key) = told.key.lock().unwrap().clone()
        && bare.contains(&format!("/origins/{}/keys/", key_origin(&key)))
        && !bare.ends_with("/latest")
    {
        let sent = key.len() as u64;
        let response = (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/octet-stream")],
            key,
        )
            .into_response();
        return (response, sent);
    }
    let rule = told
        .rules
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(end, _)| bare.ends_with(end.as_str()))
        .map(|(_, rule)| rule.clone());
    let asked_path = match &rule {
        Some(Rule::Body(body)) => {
            let kind = if bare.ends_with(".json") {
                "application/json"
            } else {
                "application/octet-stream"
            };
            let sent = body.len() as u64;
            let response = (StatusCode::OK, [(CONTENT_TYPE, kind)], body.clone()).into_response();
            return (response, sent);
        }
        Some(Rule::From(other)) => other.clone(),
        _ => path.clone(),
    };
    let mut asked = http.request(request.method().clone(), format!("{root}{asked_path}"));
    for name in [AUTHORIZATION, RANGE] {
        if let Some(value) = request.headers().get(&name) {
            asked = asked.header(name, value.clone());
        }
    }
    let body = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap();
    let answer = asked.body(body).send().await.unwrap();
    let (status, mut headers) = (answer.status(), answer.headers().clone());
    let mut bytes = answer.bytes().await.unwrap();
    if status.is_success() {
        let keep = told.keep.lock().unwrap().clone();
        if keep.is_some_and(|part| bare.contains(&part)) && rule.is_none() {
            let mut kept = told.kept.lock().unwrap();
            let bodies = kept.entry(bare.clone()).or_default();
            if bodies.last() != Some(&bytes) {
                bodies.push(bytes.clone());
            }
        }
        if let Some(Rule::Rewrite(change)) = &rule {
            bytes = Bytes::from(change(&bytes));
            headers.remove(CONTENT_LENGTH);
            headers.remove(ETAG);
        }
    }
    let download = bare.ends_with("/download");
    let cut = cut_after.load(Ordering::SeqCst);
    let cut_here = told
        .cut_path
        .lock()
        .unwrap()
        .as_deref()
        .is_none_or(|part| path.contains(part));
    let mut sent = bytes.len() as u64;
    let body = if download && cut > 0 && cut_here {
        use futures_util::StreamExt;
        sent = cut.min(bytes.len()) as u64;
        let head: Result<Bytes, std::io::Error> = Ok(bytes.slice(..cut.min(bytes.len())));
        // A pause, so that what was sent leaves before the connection breaks.
        let broken = futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Err(std::io::Error::other("cut by the test proxy"))
        });
        Body::from_stream(futures_util::stream::iter([head]).chain(broken))
    } else if download && status.is_success() && told.flip.load(Ordering::SeqCst) {
        let mut flipped = bytes.to_vec();
        if let Some(byte) = flipped.get_mut(bytes.len() / 2) {
            *byte ^= 0x01;
        }
        headers.remove(ETAG);
        Body::from(flipped)
    } else {
        Body::from(bytes)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != TRANSFER_ENCODING && name != CONNECTION {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    (response, sent)
}

/// An answer with a JSON body.
fn json_answer(status: StatusCode, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    response
}

/// The origin of a public key file's text: its name's part before the revision
/// (`core-20240101000000` on its second line).
fn key_origin(key: &str) -> &str {
    key.lines()
        .nth(1)
        .and_then(|name| name.rsplit_once('-'))
        .map_or("", |(origin, _)| origin)
}
