//! Integration tests of `habitat-core`, in one binary: hostile archives, install, the bytes
//! `pack` writes, and the real Habitat fixtures.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod fixtures;
mod hostile;
mod install;
mod pack;
mod support;
