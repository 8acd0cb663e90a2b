//! The depot's TUF repository (docs/security.md): signed, expiring metadata about what each
//! channel holds and which origin keys are genuine.
//!
//! - [`keys`]: the key files of the offline roles and the online key kept in the store.
//! - [`init`]: `hab-depot tuf init`, the first root, targets and bins.
//! - [`publish`]: turning the store's outbox into new bins, snapshot and timestamp, and
//!   re-signing what is about to expire.
//! - [`check`]: what `hab-depot fsck` checks of the repository.
//! - [`root`]: rotating root keys and the online key.
//! - [`backfill`]: the SHA-256 and signer of packages stored before those were recorded.

pub mod backfill;
pub mod check;
pub mod init;
pub mod keys;
pub mod publish;
pub mod root;

use crate::crypto::CryptoError;
use crate::store::StoreError;
use habitat_core::tuf::TufError;

/// What building or publishing TUF metadata can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Metadata could not be written or read.
    #[error(transparent)]
    Metadata(#[from] TufError),
    /// The online key could not be sealed or opened with the server key.
    #[error("the TUF online key: {0}")]
    Crypto(#[from] CryptoError),
    /// `tuf init` on a depot that has a TUF repository already.
    #[error("this depot's TUF repository exists already (see `hab-depot tuf root` to rotate keys)")]
    AlreadyInitialized,
    /// A command that needs the repository on a depot without one.
    #[error("this depot has no TUF repository: run `hab-depot tuf init` first")]
    NotInitialized,
    /// A key file could not be read or written (the string names it and says why).
    #[error("{0}")]
    KeyFile(String),
    /// Stored TUF state that cannot be used (the string says which).
    #[error("stored TUF state: {0}")]
    Corrupt(String),
}
