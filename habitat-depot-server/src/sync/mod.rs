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
