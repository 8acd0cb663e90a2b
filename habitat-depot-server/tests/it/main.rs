//! API tests: each starts a real depot on 127.0.0.1:0 and talks HTTP to it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod audit;
mod authz;
mod channels;
mod concurrency;
mod contract;
mod keys;
mod metrics;
mod mirrored;
mod origins;
mod packages;
mod postgres;
mod profile;
mod pull_through;
mod rate_limit;
mod s3;
mod signin;
mod store;
mod support;
mod tuf;
mod tuf_publish;
mod tuf_verify;
mod upload;
mod web;
mod web_forms;
mod web_pages;
