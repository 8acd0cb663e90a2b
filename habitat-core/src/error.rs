//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use crate::ident::FullyQualifiedIdent;
use crate::keys::NamedRevision;

/// Everything that can go wrong in `habitat-core`.
///
/// Each variant carries the offending value, so that the message names what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string is not a valid value of some identifier type (origin, name, ident, channel, ...).
    #[error("invalid {what} `{input}`: {reason}")]
    InvalidValue {
        /// What kind of value was expected, e.g. "origin name".
        what: &'static str,
        /// The input as given.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A string names none of a fixed set of values (a role, a package visibility).
    #[error("`{input}` is not a {what}: expected {expected}")]
    NotOneOf {
        /// What kind of value was expected, e.g. "role".
        what: &'static str,
        /// The input as given.
        input: String,
        /// The names accepted, e.g. "`public` or `private`".
        expected: &'static str,
    },

    /// An identifier was expected to be fully qualified (`origin/name/version/release`).
    #[error(
        "package identifier `{0}` is not fully qualified (expected origin/name/version/release)"
    )]
    NotFullyQualified(String),

    /// A key file starts with a kind this crate does not handle.
    #[error("unsupported key kind `{0}` (expected SIG-PUB-1 or SIG-SEC-1)")]
    UnsupportedKeyKind(String),

    /// A key file is malformed.
    #[error("malformed key {name}: {reason}")]
    MalformedKey {
        /// The key's name where known, or its file.
        name: String,
        /// What was wrong.
        reason: String,
    },

    /// A key named by an artifact or a command is not in the key cache.
    #[error("no key `{name}` in `{dir}`")]
    KeyNotFound {
        /// The named revision looked for.
        name: NamedRevision,
        /// The key cache directory.
        dir: PathBuf,
    },

    /// No key at all for an origin is in the key cache.
    #[error("no {kind} key for origin `{origin}` in `{dir}`")]
    NoKeyForOrigin {
        /// "public" or "secret".
        kind: &'static str,
        /// The origin.
        origin: String,
        /// The key cache directory.
        dir: PathBuf,
    },

    /// A key file already exists with different content.
    #[error("key file `{0}` already exists with different content")]
    KeyConflict(PathBuf),

    /// The header of a `.hart` artifact is malformed.
    #[error("malformed artifact header at line {line}: {reason}")]
    MalformedHeader {
        /// 1-based header line.
        line: usize,
        /// What was wrong.
        reason: String,
    },

    /// The Ed25519 signature of an artifact does not verify with the signer's key.
    #[error("signature does not verify with key `{signer}`")]
    BadSignature {
        /// The key named in the header.
        signer: NamedRevision,
    },

    /// The payload hashes to something other than what was signed.
    #[error("payload hash {actual} does not match signed hash {signed}")]
    PayloadHashMismatch {
        /// The hash of the payload as read.
        actual: String,
        /// The hash the signer signed.
        signed: String,
    },

    /// A member of an artifact's archive is refused.
    #[error("unsafe archive member `{member}`: {reason}")]
    UnsafeMember {
        /// The member's path as it appears in the archive.
        member: String,
        /// Why it was refused.
        reason: String,
    },

    /// The archive exceeds a configured bound (size or entry count).
    #[error("archive exceeds the limit of {limit} {what}")]
    ArchiveLimit {
        /// "unpacked bytes" or "entries".
        what: &'static str,
        /// The limit.
        limit: u64,
    },

    /// The xz stream or the tar inside it cannot be read.
    #[error("corrupt payload: {0}")]
    CorruptPayload(io::Error),

    /// A metadata file inside a package is missing or does not parse.
    #[error("package metadata file `{file}`: {reason}")]
    Metadata {
        /// The metadata file's name (IDENT, TDEPS, ...).
        file: String,
        /// What was wrong.
        reason: String,
    },

    /// A line of BINDS or BINDS_OPTIONAL is not `NAME=EXPORT EXPORT…`.
    #[error("bind `{line}`: {reason}")]
    InvalidBind {
        /// The line.
        line: String,
        /// What was wrong.
        reason: String,
    },

    /// Dependencies of a package are not installed.
    #[error("{ident} needs dependencies that are not installed: {}", join(missing))]
    MissingDependencies {
        /// The package being installed.
        ident: FullyQualifiedIdent,
        /// What is missing.
        missing: Vec<FullyQualifiedIdent>,
    },

    /// An artifact is signed by a key that is not its package's origin's.
    #[error("{ident} is signed by `{signer}`, which is not a key of origin `{}`", ident.origin())]
    ForeignSigner {
        /// The package.
        ident: FullyQualifiedIdent,
        /// The key that signed it.
        signer: NamedRevision,
    },

    /// An artifact was built for another target than the one being installed for.
    #[error("{ident} is built for `{found}`, not `{expected}`")]
    WrongTarget {
        /// The package.
        ident: FullyQualifiedIdent,
        /// Its target.
        found: crate::PackageTarget,
        /// The target being installed for.
        expected: crate::PackageTarget,
    },

    /// A directory cannot be packed as asked.
    #[error("cannot pack `{path}`: {reason}")]
    PackSource {
        /// The offending path.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// An error about one artifact of several, naming it. The inner error is part of the
    /// message; match on it with [`Error::innermost`].
    #[error("`{path}`: {error}")]
    InArtifact {
        /// The artifact.
        path: PathBuf,
        /// What went wrong with it.
        error: Box<Error>,
    },

    /// An I/O error, with the path it happened on. The underlying error is part of the
    /// message (not a separate source), so a chain printer does not repeat it.
    #[error("{action} `{path}`: {error}")]
    Io {
        /// What was being done ("read", "create", ...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
}

impl Error {
    /// The error itself, or for [`Error::InArtifact`] the error inside it.
    pub fn innermost(&self) -> &Error {
        match self {
            Self::InArtifact { error, .. } => error.innermost(),
            other => other,
        }
    }
}

fn join(idents: &[FullyQualifiedIdent]) -> String {
    idents
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Extension to attach a path and an action to an [`io::Error`].
pub(crate) trait IoContext<T> {
    fn at(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|error| Error::Io {
            action,
            path: path.into(),
            error,
        })
    }
}
