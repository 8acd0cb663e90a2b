//! The client against a real depot on 127.0.0.1:0 (started in-process, accounts made through
//! its store), and against a tiny scripted HTTP server for retries. Nothing leaves 127.0.0.1.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod accounts;
mod keys;
mod origins;
mod packages;
mod retry;
mod support;
mod tls;
