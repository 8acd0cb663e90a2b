//! A real depot on 127.0.0.1:0 with a temp data directory, accounts with tokens, and signed
//! artifacts built on the spot.
//!
//! The depot's stores are the ones `HAB_TEST_STORES` names (see [`Stores`]): the embedded ones
//! by default, or with `HAB_TEST_STORES=scale-out` a fresh PostgreSQL database and a fresh S3
//! bucket per depot, from the servers of `backends`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use habitat_core::keys::SecretKey;
use habitat_core::pack::{PackSpec, pack};
use habitat_core::{FullyQualifiedIdent, KeyCache, PackageTarget};
use habitat_depot_server::settings::Settings;
use habitat_depot_server::store::postgres::PostgresStore;
use habitat_depot_server::store::s3::S3Artifacts;
use habitat_depot_server::{AppState, auth, router};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

pub use super::backends::Stores;
use super::backends::s3::S3Server;
use super::backends::{SCALE_OUT_COMMAND, postgres};

/// Connections in a scale-out depot's PostgreSQL pool: enough for the concurrency tests.
const POOL_SIZE: usize = 8;

/// A running depot.
pub struct TestDepot {
    /// `http://127.0.0.1:PORT/v1`.
    pub url: String,
    /// Its state, for reaching the stores directly.
    pub state: AppState,
    pub client: Client,
    pub dir: tempfile::TempDir,
    /// Its bucket, on the scale-out stores.
    bucket: Option<String>,
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
        let (state, bucket) = open_state(settings).await;
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
            bucket,
        }
    }

    /// Makes the artifact store unreachable: its directory or its bucket disappears.
    pub async fn break_artifact_store(&self) {
        match &self.bucket {
            None => std::fs::remove_dir_all(self.dir.path().join("data/artifacts")).unwrap(),
            Some(bucket) => S3Server::get().unwrap().delete_bucket(bucket).await,
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

/// A state over the stores `HAB_TEST_STORES` names, with its bucket on the scale-out stores.
pub async fn open_state(settings: Settings) -> (AppState, Option<String>) {
    match Stores::from_env() {
        Stores::Embedded => {
            static NOTE: Once = Once::new();
            // Straight to stderr, past the harness's capture, once per test process.
            NOTE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: the depot API tests run on the embedded stores; on PostgreSQL + S3 \
                     with: {SCALE_OUT_COMMAND}"
                );
            });
            (AppState::open_embedded(settings).unwrap(), None)
        }
        Stores::ScaleOut => {
            // `database` and `S3Server::get` fail the test when their server is missing.
            let url = postgres::migrated_database()
                .await
                .expect("HAB_TEST_STORES=scale-out needs PostgreSQL");
            let metadata = PostgresStore::connect(&url, POOL_SIZE).await.unwrap();
            let s3 = S3Server::get().expect("HAB_TEST_STORES=scale-out needs an S3 server");
            let bucket = s3.fresh_bucket().await;
            let artifacts = S3Artifacts::open(&s3.settings(&bucket, None)).unwrap();
            let state =
                AppState::with_stores(settings, Arc::new(metadata), Arc::new(artifacts)).unwrap();
            (state, Some(bucket))
        }
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
