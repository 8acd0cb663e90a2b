//! The typed routes, one module per area of docs/api.md; transfers live in `transfer.rs`.

mod account;
mod keys;
mod origins;
pub(crate) mod packages;
