//! A stand-in for GitHub's OAuth app endpoints and user API, on 127.0.0.1, since the real
//! GitHub cannot be reached from the tests: `GET /login/oauth/authorize` (the "user" set with
//! [`GitHubStandIn::sign_in_as`] authorizes at once), `POST /login/oauth/access_token`
//! (answering errors as GitHub does, with 200 and an `error` field), and, under `/api/v3` as
//! on GitHub Enterprise, `GET /user` and `GET /user/emails`. PKCE is checked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// A user of the stand-in.
#[derive(Clone, Debug)]
pub struct GitHubUser {
    /// The numeric id (the depot's subject).
    pub id: u64,
    /// The login (user name), which users may change.
    pub login: String,
    /// The e-mail address.
    pub email: String,
    /// Whether the profile hides the e-mail (then only `/user/emails` has it).
    pub hide_email: bool,
}

#[derive(Default)]
struct Inner {
    client_id: String,
    client_secret: String,
    signing_in: Option<GitHubUser>,
    codes: HashMap<String, (GitHubUser, String, Option<String>)>,
    tokens: HashMap<String, GitHubUser>,
    token_error: Option<(String, String)>,
}

/// The running stand-in.
#[derive(Clone)]
pub struct GitHubStandIn {
    /// `http://127.0.0.1:PORT`: the provider's `web_url`.
    pub web_url: String,
    /// `{web_url}/api/v3`: the provider's `api_url`.
    pub api_url: String,
    inner: Arc<Mutex<Inner>>,
    user_calls: Arc<AtomicUsize>,
}

impl GitHubStandIn {
    /// Starts a stand-in that knows the OAuth app `client_id` with `client_secret`.
    pub async fn start(client_id: &str, client_secret: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let web_url = format!("http://{}", listener.local_addr().unwrap());
        let stand_in = Self {
            api_url: format!("{web_url}/api/v3"),
            web_url,
            inner: Arc::new(Mutex::new(Inner {
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
                ..Inner::default()
            })),
            user_calls: Arc::new(AtomicUsize::new(0)),
        };
        let app = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/api/v3/user", get(user))
            .route("/api/v3/user/emails", get(emails))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        stand_in
    }

    /// The user who authorizes at the next `/login/oauth/authorize`.
    pub fn sign_in_as(&self, user: &GitHubUser) {
        self.inner.lock().unwrap().signing_in = Some(user.clone());
    }

    /// Makes the token endpoint answer this error (with status 200, as GitHub does), or
    /// answer normally again with `None`.
    pub fn token_error(&self, error: Option<(&str, &str)>) {
        self.inner.lock().unwrap().token_error = error.map(|(e, d)| (e.to_owned(), d.to_owned()));
    }

    /// A personal access token of `user`, as GitHub's settings page would make.
    pub fn personal_token(&self, user: &GitHubUser) -> String {
        let token = format!("ghp_{}", random());
        self.inner
            .lock()
            .unwrap()
            .tokens
            .insert(token.clone(), user.clone());
        token
    }

    /// Renames a user everywhere (their tokens see the new login).
    pub fn rename(&self, id: u64, login: &str) {
        let mut inner = self.inner.lock().unwrap();
        for user in inner.tokens.values_mut() {
            if user.id == id {
                user.login = login.to_owned();
            }
        }
    }

    /// How many times `/user` was asked.
    pub fn user_calls(&self) -> usize {
        self.user_calls.load(Ordering::SeqCst)
    }
}

fn random() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

async fn authorize(State(gh): State<GitHubStandIn>, Query(q): Query<AuthorizeQuery>) -> Response {
    let mut inner = gh.inner.lock().unwrap();
    if q.client_id != inner.client_id {
        return (StatusCode::NOT_FOUND, "unknown OAuth app").into_response();
    }
    if q.code_challenge.is_some() && q.code_challenge_method.as_deref() != Some("S256") {
        return (StatusCode::BAD_REQUEST, "only S256").into_response();
    }
    let Some(user) = inner.signing_in.clone() else {
        return (StatusCode::FORBIDDEN, "nobody signs in").into_response();
    };
    let code = random();
    inner.codes.insert(
        code.clone(),
        (user, q.redirect_uri.clone(), q.code_challenge),
    );
    let mut back = reqwest::Url::parse(&q.redirect_uri).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q.state);
    Redirect::to(back.as_str()).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    client_id: String,
    client_secret: String,
    code: String,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
}

async fn access_token(State(gh): State<GitHubStandIn>, Form(f): Form<TokenForm>) -> Response {
    let mut inner = gh.inner.lock().unwrap();
    let error = |e: &str, d: &str| {
        Json(json!({
            "error": e,
            "error_description": d,
            "error_uri": "https://docs.github.com/apps/troubleshooting"
        }))
        .into_response()
    };
    if let Some((e, d)) = inner.token_error.clone() {
        return error(&e, &d);
    }
    if f.client_id != inner.client_id || f.client_secret != inner.client_secret {
        return error(
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        );
    }
    let Some((user, redirect_uri, challenge)) = inner.codes.remove(&f.code) else {
        return error(
            "bad_verification_code",
            "The code passed is incorrect or expired.",
        );
    };
    if f.redirect_uri.is_some_and(|r| r != redirect_uri) {
        return error(
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        );
    }
    if let Some(challenge) = challenge {
        let verified = f
            .code_verifier
            .is_some_and(|v| URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == challenge);
        if !verified {
            return error("bad_verification_code", "The code_verifier does not match.");
        }
    }
    let token = format!("gho_{}", random());
    inner.tokens.insert(token.clone(), user);
    Json(json!({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}))
        .into_response()
}

fn bearer_user(gh: &GitHubStandIn, headers: &HeaderMap) -> Option<GitHubUser> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    gh.inner.lock().unwrap().tokens.get(token).cloned()
}

fn bad_credentials() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"message": "Bad credentials", "status": "401"})),
    )
        .into_response()
}

async fn user(State(gh): State<GitHubStandIn>, headers: HeaderMap) -> Response {
    gh.user_calls.fetch_add(1, Ordering::SeqCst);
    let Some(user) = bearer_user(&gh, &headers) else {
        return bad_credentials();
    };
    let email = (!user.hide_email).then_some(user.email.clone());
    Json(json!({"id": user.id, "login": user.login, "email": email, "type": "User"}))
        .into_response()
}

async fn emails(State(gh): State<GitHubStandIn>, headers: HeaderMap) -> Response {
    let Some(user) = bearer_user(&gh, &headers) else {
        return bad_credentials();
    };
    Json(json!([
        {"email": format!("old-{}", user.email), "primary": false, "verified": true, "visibility": null},
        {"email": user.email, "primary": true, "verified": true, "visibility": "private"},
    ]))
    .into_response()
}
