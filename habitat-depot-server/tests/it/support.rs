//! The depot's API tests start their depots with `habitat-test-support` (a real depot on
//! 127.0.0.1:0 on the stores `HAB_TEST_STORES` names, accounts, origins, keys, signed
//! artifacts); what only these tests need is here.

use std::path::Path;

pub use habitat_test_support::depot::open_state;
pub use habitat_test_support::http::send_error;
pub use habitat_test_support::{
    Call, OriginKeys, Stores, TestDepot, artifact, assert_error, assert_message_contains,
    origin_keys, send,
};
use reqwest::{Method, Response, StatusCode};

/// 401, which the tables of cases name often.
pub const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;
/// 403.
pub const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
/// 404.
pub const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
/// 409.
pub const CONFLICT: StatusCode = StatusCode::CONFLICT;
/// 422.
pub const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
/// 204.
pub const NO_CONTENT: StatusCode = StatusCode::NO_CONTENT;

/// A token that looks right but authenticates nobody.
pub const BAD_TOKEN: &str = "hab_not-a-real-token";

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
