//! A typed async client for the Habitat depot API.
//!
//! Not built yet: this crate has no public items. The client arrives with the issue "The client
//! and `hab` against a depot"; until then `hab` works only on local files.
