//! The Habitat depot server as a library: the storage seam and its embedded implementations.
//!
//! The HTTP router and handlers are being built (issue "hab-depot: the depot server").

pub mod store;
