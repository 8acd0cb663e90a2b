//! The depot's TUF repository (docs/security.md): signed, expiring metadata about what each
//! channel holds and which origin keys are genuine.
//!
//! - [`backfill`]: the SHA-256 and signer of packages stored before those were recorded.

pub mod backfill;
