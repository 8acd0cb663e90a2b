//! The depot's API tests start their depots with `habitat-test-support` (a real depot on
//! 127.0.0.1:0 on the stores `HAB_TEST_STORES` names, accounts, origins, keys, signed
//! artifacts); what only these tests need is here.

use std::path::Path;

use habitat_core::{Blake2bHash, PackageTarget};
use habitat_depot_server::store::{Package, Role, Visibility};
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

/// The refusals of `call` on a route whose minimum role is `min`, as a table: without a token
/// and with a bad one, 401 `unauthorized`; as the outsider and as each of `members` whose role
/// is below `min`, 403 `forbidden`.
pub fn refusals<'a>(
    call: &Call<'a>,
    min: Role,
    outsider: &'a str,
    members: &[(Role, &'a str)],
) -> Vec<Call<'a>> {
    let unauthorized = |token| call.clone().by(token).fails(UNAUTHORIZED, "unauthorized");
    let forbidden = |token| call.clone().as_(token).fails(FORBIDDEN, "forbidden");
    let mut calls = vec![unauthorized(None), unauthorized(Some(BAD_TOKEN))];
    calls.push(forbidden(outsider));
    calls.extend(
        members
            .iter()
            .filter(|(role, _)| *role < min)
            .map(|(_, token)| forbidden(token)),
    );
    calls
}

/// A package row of `ident` for x86_64-linux, as the store tests insert them: public, owned by
/// `alice`, one byte whose checksum is that of the ident, made now, with no metadata.
pub fn package_row(ident: &str) -> Package {
    Package {
        id: 0,
        ident: ident.parse().unwrap(),
        target: PackageTarget::X86_64Linux,
        checksum: Blake2bHash::digest(ident.as_bytes()),
        size: 1,
        visibility: Visibility::Public,
        manifest: String::new(),
        config: String::new(),
        deps: vec![],
        tdeps: vec![],
        build_deps: vec![],
        build_tdeps: vec![],
        exposes: vec![],
        binds: vec![],
        binds_optional: vec![],
        is_a_service: false,
        owner: "alice".into(),
        created_at: time::OffsetDateTime::now_utc(),
        sha256: None,
        signer: None,
    }
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
