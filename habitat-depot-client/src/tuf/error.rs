//! Why the depot's TUF metadata was refused.

use std::path::PathBuf;

/// Why a depot's TUF metadata or a target was refused. Each names the depot and the role (or
/// target) at fault, so that the message says where to look.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TufError {
    /// A role's metadata expired: the freeze attack, or a depot that stopped re-signing.
    #[error(
        "the depot {depot} served a `{role}` that expired at {expires}: a proxy or cache may be \
         serving stale data"
    )]
    Expired {
        /// The depot.
        depot: String,
        /// The role (`root`, `timestamp`, `snapshot`, `targets`, `bin-3f`).
        role: String,
        /// The expiry it carries, as served.
        expires: String,
    },

    /// A role's version went down: the rollback attack.
    #[error(
        "the depot {depot} served `{role}` version {version}, older than version {trusted} \
         trusted already: a proxy or cache may be replaying old metadata"
    )]
    Rollback {
        /// The depot.
        depot: String,
        /// The role.
        role: String,
        /// The version served.
        version: u64,
        /// The version trusted already.
        trusted: u64,
    },

    /// Fewer valid signatures than the role's threshold.
    #[error(
        "the depot {depot} served a `{role}` with {valid} valid signature(s) where {threshold} \
         are needed"
    )]
    Signature {
        /// The depot.
        depot: String,
        /// The role.
        role: String,
        /// Valid signatures by the role's keys.
        valid: u32,
        /// Signatures needed.
        threshold: u32,
    },

    /// A role or target that does not match what trusted metadata says of it: another
    /// version (mix-and-match), another length or hash (a changed byte).
    #[error("the depot {depot} served `{what}` that does not match the trusted metadata: {reason}")]
    Mismatch {
        /// The depot.
        depot: String,
        /// The role or target path.
        what: String,
        /// Which fact differs, with both values.
        reason: String,
    },

    /// A role that does not parse as TUF metadata of its kind.
    #[error("the depot {depot} served a `{role}` that is not valid TUF metadata: {reason}")]
    Malformed {
        /// The depot.
        depot: String,
        /// The role or target path.
        role: String,
        /// What is wrong.
        reason: String,
    },

    /// A file the metadata promises is not there (404).
    #[error("the depot {depot} has no `{what}` (404)")]
    Missing {
        /// The depot.
        depot: String,
        /// The file.
        what: String,
    },

    /// The pinned root cannot be used.
    #[error("cannot use the pinned TUF root `{path}`: {reason}")]
    PinnedRoot {
        /// The file (or the cache's `root.json`).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// `1.root.json` does not have the fingerprint given out of band.
    #[error("the depot {depot} served a `1.root.json` with sha256 `{found}`, not `{expected}`")]
    Fingerprint {
        /// The depot.
        depot: String,
        /// The fingerprint given.
        expected: String,
        /// The sha256 of the bytes served.
        found: String,
    },
}
