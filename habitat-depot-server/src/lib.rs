//! The Habitat depot server as a library.
//!
//! Not built yet: this crate has no public items. The server arrives with the issue
//! "hab-depot: the depot server, complete on an embedded store".
