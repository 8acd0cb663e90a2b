//! The `hab` and `hab-depot` command-line tools: each binary's `main` only calls into these modules.
//!
//! `hab` keeps the command names, flags and environment variables of Habitat's own `hab` for
//! what it shares with it (docs/commands.md). Settings are resolved once in [`settings`]; messages
//! go to stderr and data to stdout ([`output`]).

pub mod depot;
pub mod hab;
pub mod output;
pub mod progress;
pub mod settings;
