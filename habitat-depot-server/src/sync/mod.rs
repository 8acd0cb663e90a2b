//! Depot to depot (docs/mirroring.md): what this depot takes from another one. Every way stores
//! through [`crate::ingest`], the path an upload takes, so each package is checked the same.
//!
//! - [`mirror`]: a run that copies channels of an upstream (`hab-depot sync`, `[[mirror]]`).
//! - [`schedule`]: the serving process running each `[[mirror]]` every `interval`.
//! - [`bundle`]: air-gap bundles, written on one side and imported on the other.
//! - [`fetch`]: what mirroring and the pull-through cache share: an upstream's keys checked
//!   against this depot's, a downloaded artifact stored.
//! - [`pull`]: the pull-through cache, which fetches what a client asks for and this depot
//!   lacks from the `[[upstream]]` of its origin.

pub mod bundle;
pub mod fetch;
pub mod mirror;
pub mod pull;
pub mod schedule;

/// Orders packages dependencies first, the order every way in stores them: a dependency's
/// TDEPS are a strict subset of its dependent's, so fewer TDEPS come first (ties by `key`, so
/// that the order is the same on every run).
pub(crate) fn dependencies_first<T>(
    items: &mut [T],
    tdeps: impl Fn(&T) -> usize,
    key: impl Fn(&T) -> String,
) {
    items.sort_by(|a, b| tdeps(a).cmp(&tdeps(b)).then_with(|| key(a).cmp(&key(b))));
}
