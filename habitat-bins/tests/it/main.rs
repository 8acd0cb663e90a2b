//! End-to-end tests of the `hab` binary: each runs the built binary in a temp directory.

mod local;
mod readme;
mod support;
