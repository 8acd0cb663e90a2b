//! OpenID Connect providers for the sign-in tests, on 127.0.0.1:
//! - [`NodeOidc`]: a real provider, the npm package `oidc-provider` run by Debian's `node`
//!   from `habitat-test-support/oidc` (`npm ci` there first). Without node or the package the
//!   tests that need it say so and skip; with `HAB_TEST_OIDC_REQUIRED=1` they fail instead.
//! - [`RogueIssuer`]: a small misbehaving issuer written here, for the ID tokens a real
//!   provider never makes (signed by another key, for another audience, expired, with another
//!   nonce). It is not a provider to learn from: it signs whatever it is told to.
//! - [`Browser`]: a cookie-keeping HTTP client that follows redirects one hop at a time across
//!   hosts, so a test can stop before the depot's callback and look at (or change) it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, Once};

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::stores::{flag, say};

/// The folder of the node provider.
fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// A real OpenID Connect provider, started but not yet told its client.
pub struct NodeOidc {
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    accounts: PathBuf,
    _dir: tempfile::TempDir,
}

impl NodeOidc {
    /// Starts the provider; `None` (after saying why, once) when node or the package is
    /// missing, a failed test instead with `HAB_TEST_OIDC_REQUIRED=1`.
    pub async fn start() -> Option<Self> {
        let dir = node_dir();
        let why = if !dir
            .join("node_modules/oidc-provider/package.json")
            .is_file()
        {
            Some(format!(
                "the npm package `oidc-provider` is not installed: run `npm ci` in `{}`",
                dir.display()
            ))
        } else if std::process::Command::new("node")
            .arg("--version")
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            Some("`node` is not installed (apt-get install nodejs npm)".to_owned())
        } else {
            None
        };
        if let Some(why) = why {
            assert!(
                !flag("HAB_TEST_OIDC_REQUIRED"),
                "HAB_TEST_OIDC_REQUIRED=1 but {why}"
            );
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                say(&format!(
                    "note: skipping the sign-in tests with a real OpenID Connect provider: {why}"
                ))
            });
            return None;
        }
        let scratch = tempfile::tempdir().unwrap();
        let accounts = scratch.path().join("accounts.json");
        std::fs::write(&accounts, "{}").unwrap();
        let mut child = Command::new("node")
            .arg(dir.join("provider.js"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the OIDC provider says its port within 30 s")
            .unwrap()
            .expect("the OIDC provider says its port");
        let port = first
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("the OIDC provider said `{first}`, not its port"));
        Some(Self {
            issuer: format!("http://127.0.0.1:{port}"),
            child,
            stdin,
            lines,
            accounts,
            _dir: scratch,
        })
    }

    /// Registers the depot as the client `client_id` (ID tokens signed with `alg`) with its
    /// redirect URI, and waits until the provider answers.
    pub async fn register(&mut self, client_id: &str, secret: &str, redirect_uri: &str, alg: &str) {
        let setup = json!({
            "client_id": client_id,
            "client_secret": secret,
            "redirect_uri": redirect_uri,
            "alg": alg,
            "accounts_file": self.accounts,
        });
        let stdin = self.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{setup}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("the OIDC provider is ready within 30 s")
            .unwrap();
        assert_eq!(
            line.as_deref(),
            Some("READY"),
            "the OIDC provider did not start"
        );
    }

    /// Sets the provider's users: subject → (preferred_username, e-mail). Read at every
    /// sign-in, so this renames users too.
    pub fn set_accounts(&self, accounts: &[(&str, &str, &str)]) {
        let map: serde_json::Map<String, serde_json::Value> = accounts
            .iter()
            .map(|(sub, name, email)| {
                (
                    (*sub).to_owned(),
                    json!({"preferred_username": name, "email": email}),
                )
            })
            .collect();
        std::fs::write(&self.accounts, serde_json::Value::Object(map).to_string()).unwrap();
    }
}

impl Drop for NodeOidc {
    fn drop(&mut self) {
        // Closing standard input stops it; kill_on_drop is the backstop.
        self.stdin.take();
        let _ = self.child.start_kill();
    }
}

/// One answer, as a browser saw it.
#[derive(Debug)]
pub struct Hop {
    /// The URL asked.
    pub url: String,
    /// The status.
    pub status: StatusCode,
    /// `Location`, absolute, for redirects.
    pub location: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: String,
}

impl Hop {
    /// Whether the answer sets the depot's session cookie.
    pub fn sets_session(&self) -> bool {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .any(|v| {
                let v = v.to_str().unwrap_or_default();
                v.contains("hab_session=") && !v.contains("hab_session=;")
            })
    }
}

/// A browser without a browser: keeps cookies for every host, follows nothing by itself.
pub struct Browser {
    client: Client,
    jar: Arc<Jar>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// A browser with no cookies.
    pub fn new() -> Self {
        let jar = Arc::new(Jar::default());
        let client = Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .build()
            .unwrap();
        Self { client, jar }
    }

    async fn hop(url: &str, response: reqwest::Response) -> Hop {
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| Url::parse(url).unwrap().join(l).unwrap().to_string());
        Hop {
            url: url.to_owned(),
            status,
            location,
            headers,
            body: response.text().await.unwrap(),
        }
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Hop {
        let response = self.client.get(url).send().await.unwrap();
        Self::hop(url, response).await
    }

    /// Posts a form to `url`.
    pub async fn post(&self, url: &str, fields: &[(&str, &str)]) -> Hop {
        let response = self.client.post(url).form(fields).send().await.unwrap();
        Self::hop(url, response).await
    }

    /// Follows redirects from `hop` until an answer that is not one, or until the next URL
    /// starts with `stop_before` (then that URL is the `Err`).
    pub async fn follow(&self, mut hop: Hop, stop_before: &str) -> Result<Hop, String> {
        for _ in 0..20 {
            let Some(next) = hop.location.clone().filter(|_| hop.status.is_redirection()) else {
                return Ok(hop);
            };
            if next.starts_with(stop_before) {
                return Err(next);
            }
            hop = self.get(&next).await;
        }
        panic!("more than 20 redirects, the last to {:?}", hop.location);
    }

    /// The cookies this browser sends to `url`.
    pub fn cookies(&self, url: &str) -> String {
        self.jar
            .cookies(&Url::parse(url).unwrap())
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }

    /// Whether this browser holds a session cookie of the depot at `base`.
    pub fn has_session(&self, base: &str) -> bool {
        self.cookies(base)
            .split("; ")
            .any(|c| c.starts_with("hab_session=") && c.len() > "hab_session=".len())
    }

    /// Signs in at the node provider as `login` through its development forms, starting from
    /// the depot's `login_url`; returns the depot callback URL the provider sends the browser
    /// to (not followed yet).
    pub async fn sign_in_at_provider(
        &self,
        login_url: &str,
        login: &str,
        callback: &str,
    ) -> String {
        let mut hop = self.get(login_url).await;
        for _ in 0..6 {
            let page = match self.follow(hop, callback).await {
                Ok(page) => page,
                Err(callback_url) => return callback_url,
            };
            assert_eq!(page.status, StatusCode::OK, "{}: {}", page.url, page.body);
            hop = if page.body.contains("name=\"prompt\" value=\"login\"") {
                self.post(
                    &page.url,
                    &[("prompt", "login"), ("login", login), ("password", "any")],
                )
                .await
            } else if page.body.contains("name=\"prompt\" value=\"consent\"") {
                self.post(&page.url, &[("prompt", "consent")]).await
            } else {
                panic!("unexpected page at {}: {}", page.url, page.body);
            };
        }
        panic!("the provider never sent the browser back to the depot");
    }

    /// Like [`Browser::sign_in_at_provider`], but the user cancels at the provider's login
    /// form; returns the callback URL (with `error=access_denied`).
    pub async fn cancel_at_provider(&self, login_url: &str, callback: &str) -> String {
        let hop = self.get(login_url).await;
        let page = self.follow(hop, callback).await.expect("the login form");
        let abort = format!("{}/abort", page.url.trim_end_matches('/'));
        let hop = self.get(&abort).await;
        self.follow(hop, callback)
            .await
            .expect_err("a redirect to the depot")
    }
}

/// What the [`RogueIssuer`] puts in its next ID tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rogue {
    /// A correct token.
    Honest,
    /// Signed by a key that is not in its key set (under the good key's `kid`).
    OtherKey,
    /// For another client.
    OtherAudience,
    /// Expired ten minutes ago.
    Expired,
    /// With a nonce that is not the sign-in's.
    WrongNonce,
}

struct RogueState {
    issuer: String,
    mode: Mutex<Rogue>,
    /// The current key: its `kid`, the signing key, the public key in base64url.
    good: Mutex<(String, Arc<EncodingKey>, String)>,
    other: EncodingKey,
    jwks_fetches: std::sync::atomic::AtomicUsize,
    codes: Mutex<HashMap<String, String>>,
    subject: Mutex<(String, String)>,
}

/// A misbehaving OpenID Connect issuer (see the module's doc): discovery, a key set with one
/// Ed25519 key, an authorization endpoint that authorizes at once, and a token endpoint that
/// takes the client secret in the form and signs ID tokens as [`RogueIssuer::set`] says.
#[derive(Clone)]
pub struct RogueIssuer {
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    state: Arc<RogueState>,
}

/// A new Ed25519 key: the signing key, and the public key in base64url.
fn ed25519() -> (EncodingKey, String) {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    // PKCS#8 v1: the fixed prefix of an Ed25519 private key, then the seed.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    (
        EncodingKey::from_ed_der(&der),
        URL_SAFE_NO_PAD.encode(public),
    )
}

impl RogueIssuer {
    /// Starts the issuer; it signs in `subject` named `username`, for whichever client asks.
    pub async fn start(subject: &str, username: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(RogueState {
            issuer: issuer.clone(),
            mode: Mutex::new(Rogue::Honest),
            good: Mutex::new({
                let (key, public) = ed25519();
                ("rogue-1".to_owned(), Arc::new(key), public)
            }),
            other: ed25519().0,
            jwks_fetches: std::sync::atomic::AtomicUsize::new(0),
            codes: Mutex::new(HashMap::new()),
            subject: Mutex::new((subject.to_owned(), username.to_owned())),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(rogue_discovery))
            .route("/jwks", get(rogue_jwks))
            .route("/authorize", get(rogue_authorize))
            .route("/token", post(rogue_token))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { issuer, state }
    }

    /// What the next ID tokens are like.
    pub fn set(&self, mode: Rogue) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Replaces the signing key by a new one under a new `kid` (a key rotation): the key set
    /// serves only the new key from now on.
    pub fn rotate_keys(&self) {
        let mut good = self.state.good.lock().unwrap();
        let n = good.0.trim_start_matches("rogue-").parse::<u32>().unwrap() + 1;
        let (key, public) = ed25519();
        *good = (format!("rogue-{n}"), Arc::new(key), public);
    }

    /// How many times the key set was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state
            .jwks_fetches
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn rogue_discovery(State(s): State<Arc<RogueState>>) -> Json<serde_json::Value> {
    let i = &s.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    }))
}

async fn rogue_jwks(State(s): State<Arc<RogueState>>) -> Json<serde_json::Value> {
    s.jwks_fetches
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let (kid, _, public) = s.good.lock().unwrap().clone();
    Json(json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "x": public, "kid": kid, "alg": "EdDSA", "use": "sig"
    }]}))
}

#[derive(Deserialize)]
struct RogueAuthorize {
    redirect_uri: String,
    state: String,
    nonce: String,
}

async fn rogue_authorize(
    State(s): State<Arc<RogueState>>,
    Query(q): Query<RogueAuthorize>,
) -> Response {
    let mut code = [0u8; 16];
    getrandom::fill(&mut code).unwrap();
    let code = URL_SAFE_NO_PAD.encode(code);
    s.codes.lock().unwrap().insert(code.clone(), q.nonce);
    let mut back = Url::parse(&q.redirect_uri).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q.state);
    Redirect::to(back.as_str()).into_response()
}

#[derive(Deserialize)]
struct RogueTokenForm {
    code: String,
    client_id: String,
}

async fn rogue_token(State(s): State<Arc<RogueState>>, Form(f): Form<RogueTokenForm>) -> Response {
    let Some(nonce) = s.codes.lock().unwrap().remove(&f.code) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "unknown code"})),
        )
            .into_response();
    };
    let mode = *s.mode.lock().unwrap();
    let now = jsonwebtoken::get_current_timestamp();
    let (sub, name) = s.subject.lock().unwrap().clone();
    let claims = json!({
        "iss": s.issuer,
        "sub": sub,
        "aud": if mode == Rogue::OtherAudience { "someone-else".to_owned() } else { f.client_id.clone() },
        "iat": now,
        "exp": if mode == Rogue::Expired { now - 600 } else { now + 300 },
        "nonce": if mode == Rogue::WrongNonce { "not-the-nonce".to_owned() } else { nonce },
        "preferred_username": name,
    });
    let (kid, good, _) = s.good.lock().unwrap().clone();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid);
    let key = if mode == Rogue::OtherKey {
        &s.other
    } else {
        &*good
    };
    let id_token = jsonwebtoken::encode(&header, &claims, key).unwrap();
    Json(json!({"access_token": "rogue", "token_type": "Bearer", "id_token": id_token}))
        .into_response()
}
