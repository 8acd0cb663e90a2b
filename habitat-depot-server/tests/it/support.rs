//! A real depot on 127.0.0.1:0 with a temp data directory, accounts with tokens, and signed
//! artifacts built on the spot.

use std::path::{Path, PathBuf};

use habitat_core::keys::SecretKey;
use habitat_core::pack::{PackSpec, pack};
use habitat_core::{FullyQualifiedIdent, KeyCache, PackageTarget};
use habitat_depot_server::settings::Settings;
use habitat_depot_server::{AppState, auth, router};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

/// A running depot.
pub struct TestDepot {
    /// `http://127.0.0.1:PORT/v1`.
    pub url: String,
    /// Its state, for reaching the stores directly.
    pub state: AppState,
    pub client: Client,
    pub dir: tempfile::TempDir,
}

impl TestDepot {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        configure(&mut settings);
        let state = AppState::open_embedded(settings).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(state.clone());
        let idle = state.settings.idle_timeout();
        tokio::spawn(habitat_depot_server::serve::serve(
            listener,
            app,
            idle,
            std::future::pending(),
        ));
        Self {
            url: format!("http://{addr}/v1"),
            state,
            client: Client::new(),
            dir,
        }
    }

    /// Creates an account and returns a token for it.
    pub async fn user(&self, name: &str) -> String {
        let account = self
            .state
            .metadata
            .create_account(name, None)
            .await
            .unwrap();
        auth::issue_token(&self.state, &account, "test")
            .await
            .unwrap()
    }

    /// A request to `path` (under /v1), with a token if given.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.url));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token).send().await.unwrap()
    }

    /// Creates an origin owned by `token`'s account.
    pub async fn origin(&self, token: &str, name: &str) {
        let response = self
            .request(Method::POST, "/depot/origins", Some(token))
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "create origin {name}"
        );
    }
}

/// Asserts the status and returns the JSON body (Null when empty).
#[track_caller]
pub fn expect_status(status: StatusCode, expected: StatusCode, body: &str) -> Value {
    assert_eq!(status, expected, "body: {body}");
    if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()))
    }
}

/// Sends and checks the status; returns the JSON body.
pub async fn send(builder: RequestBuilder, expected: StatusCode) -> Value {
    let response = builder.send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    expect_status(status, expected, &body)
}

/// An error body must carry a code and a message.
#[track_caller]
pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// A signing key for an origin, its public key file text, and a key cache holding it.
pub struct OriginKeys {
    pub secret: SecretKey,
    pub public_text: String,
    pub cache: KeyCache,
}

pub fn origin_keys(dir: &Path, origin: &str) -> OriginKeys {
    let secret = SecretKey::generate(&origin.parse().unwrap()).unwrap();
    let cache = KeyCache::new(dir.join(format!("keys-{origin}")));
    cache.write_public(&secret.public_key()).unwrap();
    cache.write_secret(&secret).unwrap();
    OriginKeys {
        public_text: secret.public_key().to_file_string(),
        secret,
        cache,
    }
}

/// Packs a small package `ident` (fully qualified) with these TDEPS, signed by `key`.
pub fn artifact(dir: &Path, ident: &str, tdeps: &[&str], key: &SecretKey) -> PathBuf {
    let ident: FullyQualifiedIdent = ident.parse().unwrap();
    let src = dir.join(format!("src-{}", ident.to_string().replace('/', "-")));
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(src.join("bin/run"), format!("#!/bin/sh\necho {ident}\n")).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let tdeps: Vec<FullyQualifiedIdent> = tdeps.iter().map(|t| t.parse().unwrap()).collect();
    let spec = PackSpec {
        ident,
        target: PackageTarget::X86_64Linux,
        deps: tdeps.clone(),
        tdeps,
    };
    pack(&src, &out, &spec, key).unwrap()
}

/// Uploads an artifact file to its ident's route.
pub async fn upload(depot: &TestDepot, token: Option<&str>, ident: &str, hart: &Path) -> Response {
    let bytes = std::fs::read(hart).unwrap();
    depot
        .request(Method::POST, &format!("/depot/pkgs/{ident}"), token)
        .body(bytes)
        .send()
        .await
        .unwrap()
}
