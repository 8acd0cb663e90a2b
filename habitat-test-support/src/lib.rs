//! Test support shared by the tests of the depot server, the client and the binaries, and by
//! the benchmarks: a real depot on 127.0.0.1 (in-process, or a `hab-depot` child process),
//! accounts with tokens, origins, origin keys and signed packages made on the spot, the
//! request-and-assert steps of the API tests, and the real PostgreSQL and S3-compatible servers
//! of the scale-out tests with the environment rules that start, require or skip them, and the
//! identity providers of the sign-in tests ([`oidc`], [`github`]), and a TLS front with its own
//! certificate authority for the HTTPS tests ([`tls`]), and a proxy between two depots that
//! counts requests and alters answers on demand ([`proxy`]), and the reference TUF client
//! with a stand-in repository for the TUF verifier tests ([`tuf`]).
//!
//! ```
//! use habitat_test_support::{Stores, TestDepot, expect_status};
//! use reqwest::StatusCode;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let depot = TestDepot::start_on(Stores::Embedded, |_| {}).await;
//! let alice = depot.user("alice").await;
//! depot.origin(&alice, "acme").await;
//! let response = depot.get("/depot/origins/acme", None).await;
//! let status = response.status();
//! let body = expect_status(status, StatusCode::OK, &response.text().await.unwrap());
//! assert_eq!(body["name"], "acme");
//! # });
//! ```
//!
//! Only a dev-dependency (and a dependency of the unpublished benchmarks): a failed step here
//! is a failed test, so helpers panic with a message naming what failed rather than return
//! errors, except where a benchmark needs the error ([`process`]).

// Test support: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

pub mod artifacts;
pub mod browser;
pub mod depot;
pub mod github;
pub mod http;
pub mod oidc;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod s3;
pub mod scale_out;
pub mod stores;
pub mod tls;
pub mod tuf;
pub mod web;

pub use artifacts::{OriginKeys, artifact, origin_keys, rich_artifact, signing_key};
pub use depot::TestDepot;
pub use http::{Call, assert_error, assert_message_contains, expect_status, send};
pub use stores::{SCALE_OUT_COMMAND, Stores};
