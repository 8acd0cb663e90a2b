//! A real depot on 127.0.0.1:0 with a temp data directory (from `habitat-test-support`, on
//! the embedded stores), accounts made through its store, and clients for them.

use std::ops::Deref;
use std::time::Duration;

use habitat_depot_client::{Client, DepotUrl, RetryPolicy, Token};
use habitat_test_support::Stores;
pub use habitat_test_support::{rich_artifact as artifact, signing_key};

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

/// A depot of `habitat-test-support` on the embedded stores, whose accounts come as client
/// tokens.
pub struct TestDepot(habitat_test_support::TestDepot);

impl Deref for TestDepot {
    type Target = habitat_test_support::TestDepot;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestDepot {
    pub async fn start() -> Self {
        Self(habitat_test_support::TestDepot::start_on(Stores::Embedded, |_| {}).await)
    }

    /// Creates an account through the store and returns a token for it.
    pub async fn user(&self, name: &str) -> Token {
        Token::new(self.0.user(name).await).unwrap()
    }

    /// A client, anonymous or with a token.
    pub fn client(&self, token: Option<&Token>) -> Client {
        client_for(&self.url, token)
    }

    /// The depot's URL parsed.
    pub fn depot_url(&self) -> DepotUrl {
        self.url.parse().unwrap()
    }
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
