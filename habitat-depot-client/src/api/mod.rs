//! The typed routes, one module per area of API.md; transfers live in `transfer.rs`.

mod account;
mod keys;
mod origins;
pub(crate) mod packages;
