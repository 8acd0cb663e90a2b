//! End-to-end tests of the `hab` binary: each runs the built binary in a temp directory.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod backup;
mod bundle;
mod depot;
mod https;
mod install;
mod local;
mod mirror_conditional;
mod mirror_schedule;
mod pull_through;
mod readme;
mod remote;
mod scale_out;
mod start;
mod stock_commands;
mod support;
mod sync;
mod tuf_client;
mod tuf_depot;
mod web;
