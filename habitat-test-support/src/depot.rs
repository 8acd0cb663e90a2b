//! A real depot in this process on 127.0.0.1:0 with a temp data directory, on the stores the
//! run asks for, and the store-level shortcuts the tests set it up with: accounts with tokens,
//! origins, members, public keys.

use std::path::PathBuf;
use std::sync::{Arc, Once};

use habitat_core::OriginName;
use habitat_depot_server::settings::Settings;
use habitat_depot_server::store::postgres::PostgresStore;
use habitat_depot_server::store::s3::S3Artifacts;
use habitat_depot_server::store::{Role, Visibility};
use habitat_depot_server::{AppState, auth, router};
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;

use crate::artifacts::OriginKeys;
use crate::http::{Call, create_origin_at};
use crate::postgres;
use crate::s3::S3Server;
use crate::stores::{SCALE_OUT_COMMAND, Stores, say};

/// Connections in a scale-out depot's PostgreSQL pool: enough for the concurrency tests.
const POOL_SIZE: usize = 8;

/// A running depot.
pub struct TestDepot {
    /// `http://127.0.0.1:PORT/v1`.
    pub url: String,
    /// Its state, for reaching the stores directly.
    pub state: AppState,
    /// An HTTP client for it.
    pub client: Client,
    /// Scratch space: the data directory (`data/`), keys, artifacts, downloads.
    pub dir: tempfile::TempDir,
    /// Its bucket, on the scale-out stores.
    bucket: Option<String>,
}

impl TestDepot {
    /// A depot with default settings on the stores `HAB_TEST_STORES` names.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A depot with `configure`d settings on the stores `HAB_TEST_STORES` names.
    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        Self::start_on(stores_from_env(), configure).await
    }

    /// A depot with `configure`d settings on `stores`, whatever `HAB_TEST_STORES` says.
    pub async fn start_on(stores: Stores, configure: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        configure(&mut settings);
        let (state, bucket) = open_state_on(stores, settings).await;
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

    /// A fresh directory `name` under the scratch space.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// Makes the artifact store unreachable: its directory or its bucket disappears.
    pub async fn break_artifact_store(&self) {
        match &self.bucket {
            None => std::fs::remove_dir_all(self.dir.path().join("data/artifacts")).unwrap(),
            Some(bucket) => S3Server::get().unwrap().delete_bucket(bucket).await,
        }
    }

    /// Creates account `name` through the store and returns a token for it.
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

    /// `GET path` (under /v1), with a token if given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token).send().await.unwrap()
    }

    /// Sends each call in turn and checks its answer; returns the JSON bodies in order.
    pub async fn check(&self, calls: &[Call<'_>]) -> Vec<Value> {
        let mut bodies = Vec::with_capacity(calls.len());
        for call in calls {
            bodies.push(self.call(call).await);
        }
        bodies
    }

    /// Sends one call and checks its answer; returns the JSON body.
    pub async fn call(&self, call: &Call<'_>) -> Value {
        let mut request = self.request(call.method.clone(), &call.path, call.token);
        if let Some((body, json)) = &call.body {
            if *json {
                request = request.header("content-type", "application/json");
            }
            request = request.body(body.clone());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        call.check(status, &text)
    }

    /// Creates an origin owned by `token`'s account, through the API.
    pub async fn origin(&self, token: &str, name: &str) {
        create_origin_at(&self.client, &self.url, token, name).await;
    }

    /// Creates `origin` owned by the account `owner` through the store, for tests that must
    /// not depend on the origin routes.
    pub async fn create_origin(&self, owner: &str, origin: &str, visibility: Visibility) {
        let store = &self.state.metadata;
        let account = store.account_by_name(owner).await.unwrap().unwrap();
        let origin: OriginName = origin.parse().unwrap();
        store
            .create_origin(&origin, account.id, visibility)
            .await
            .unwrap();
    }

    /// Makes the existing account `account` a member of `origin` with `role`, through an
    /// invitation from `inviter` that it accepts.
    pub async fn join(&self, origin: &str, account: &str, role: Role, inviter: &str) {
        let origin: OriginName = origin.parse().unwrap();
        let store = &self.state.metadata;
        let invitation = store
            .create_invitation(&origin, account, inviter)
            .await
            .unwrap();
        store.accept_invitation(invitation.id).await.unwrap();
        if role != Role::Member {
            store.set_role(&origin, account, role).await.unwrap();
        }
    }

    /// A new account `name` that is a member of `origin` with `role` (invited by `inviter`);
    /// returns its token.
    pub async fn member(&self, origin: &str, name: &str, role: Role, inviter: &str) -> String {
        let token = self.user(name).await;
        self.join(origin, name, role, inviter).await;
        token
    }

    /// Adds the public half of `keys` to `origin` through the store, for tests that must not
    /// depend on the key routes.
    pub async fn publish_key(&self, origin: &str, keys: &OriginKeys) {
        let origin: OriginName = origin.parse().unwrap();
        let revision = keys.secret.name().revision().to_owned();
        self.state
            .metadata
            .add_public_key(&origin, &revision, &keys.public_text)
            .await
            .unwrap();
    }
}

/// A state over the stores `HAB_TEST_STORES` names, with its bucket on the scale-out stores.
pub async fn open_state(settings: Settings) -> (AppState, Option<String>) {
    open_state_on(stores_from_env(), settings).await
}

/// The stores `HAB_TEST_STORES` names; on the embedded ones, says once how to run on the
/// others.
fn stores_from_env() -> Stores {
    let stores = Stores::from_env();
    if stores == Stores::Embedded {
        static NOTE: Once = Once::new();
        NOTE.call_once(|| {
            say(&format!(
                "note: the depot API tests run on the embedded stores; on PostgreSQL + S3 \
                 with: {SCALE_OUT_COMMAND}"
            ));
        });
    }
    stores
}

/// A state over `stores`, with its bucket on the scale-out stores.
pub async fn open_state_on(stores: Stores, settings: Settings) -> (AppState, Option<String>) {
    match stores {
        Stores::Embedded => (AppState::open_embedded(settings).unwrap(), None),
        Stores::ScaleOut => {
            // `migrated_database` and `S3Server::get` fail the test when their server is
            // missing.
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
