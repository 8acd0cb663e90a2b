//! A real depot on 127.0.0.1:0 with a temp data directory (started as the server's own tests
//! do), accounts made through its store, clients for them, and signed artifacts built on the
//! spot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use habitat_core::keys::SecretKey;
use habitat_core::pack::{PackSpec, pack};
use habitat_core::{FullyQualifiedIdent, OriginName, PackageTarget};
use habitat_depot_client::{Client, DepotUrl, RetryPolicy, Token};
use habitat_depot_server::settings::Settings;
use habitat_depot_server::{AppState, auth, router};

/// Retries that keep the tests fast.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy::new(3, Duration::from_millis(10))
}

/// A client for `url` with fast retries that ignores proxies (nothing leaves 127.0.0.1).
pub fn client_for(url: &str, token: Option<&Token>) -> Client {
    Client::builder(url.parse().unwrap())
        .token(token.cloned())
        .retry(fast_retry())
        .no_proxy()
        .build()
        .unwrap()
}

/// A running depot.
pub struct TestDepot {
    /// `http://127.0.0.1:PORT/v1`.
    pub url: String,
    /// Its state, for reaching the stores directly.
    pub state: AppState,
    /// Scratch space: the data directory, keys, artifacts, downloads.
    pub dir: tempfile::TempDir,
}

impl TestDepot {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
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
            dir,
        }
    }

    /// Creates an account through the store and returns a token for it.
    pub async fn user(&self, name: &str) -> Token {
        let account = self
            .state
            .metadata
            .create_account(name, None)
            .await
            .unwrap();
        let secret = auth::issue_token(&self.state, &account, "test")
            .await
            .unwrap();
        Token::new(secret).unwrap()
    }

    /// A client, anonymous or with a token.
    pub fn client(&self, token: Option<&Token>) -> Client {
        client_for(&self.url, token)
    }

    /// The depot's URL parsed.
    pub fn depot_url(&self) -> DepotUrl {
        self.url.parse().unwrap()
    }

    /// A fresh directory under the scratch space.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }
}

/// A new signing key for `origin`.
pub fn signing_key(origin: &str) -> SecretKey {
    SecretKey::generate(&origin.parse::<OriginName>().unwrap()).unwrap()
}

/// Packs `ident` with these TDEPS (also its DEPS), signed by `key`, into `dir/out-<n>`. The
/// package carries `filler` bytes that do not compress (so transfers take several chunks) and
/// `salt`, so that two artifacts of one ident can differ.
pub fn artifact(
    dir: &Path,
    ident: &str,
    tdeps: &[&str],
    key: &SecretKey,
    filler: usize,
    salt: &str,
) -> PathBuf {
    let ident: FullyQualifiedIdent = ident.parse().unwrap();
    let tag = format!("{}-{salt}", ident.to_string().replace('/', "-"));
    let src = dir.join(format!("src-{tag}"));
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(
        src.join("bin/run"),
        format!("#!/bin/sh\necho {ident} {salt}\n"),
    )
    .unwrap();
    std::fs::write(src.join("MANIFEST"), format!("# {ident}\n")).unwrap();
    std::fs::write(src.join("EXPOSES"), "8080\n").unwrap();
    std::fs::write(src.join("SVC_USER"), "hab\n").unwrap();
    std::fs::write(src.join("filler"), noise(filler)).unwrap();
    let out = dir.join(format!("out-{tag}"));
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

/// Bytes xz cannot shrink (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Asserts a progress series is non-decreasing and ends at `size`.
#[track_caller]
pub fn assert_progress(seen: &[habitat_depot_client::Progress], size: u64) {
    assert!(seen.len() >= 3, "too few progress calls: {seen:?}");
    for pair in seen.windows(2) {
        assert!(pair[0].done <= pair[1].done, "progress went back: {seen:?}");
    }
    let last = seen.last().unwrap();
    assert_eq!(last.done, size, "{seen:?}");
    assert_eq!(last.total, Some(size), "{seen:?}");
}
