//! The one error type of this crate.

use std::path::PathBuf;

use habitat_core::Blake2bHash;

/// What a failed call returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from below that we keep as a source without tying the API to its type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a call to the depot failed.
///
/// No variant ever holds the secret of a [`Token`](crate::Token): messages from the depot are
/// scrubbed of it before they are stored here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The depot URL cannot be used: not `http`/`https`, no host, credentials in it, or a path
    /// that is none of the shapes of docs/api.md.
    #[error("invalid depot URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given (with any password replaced by `***`).
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The token cannot be sent in an `Authorization` header. The token itself is not shown.
    #[error("invalid token: {reason}")]
    InvalidToken {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// An argument that cannot be put into a request (an empty path segment, `..`).
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidValue {
        /// What the value is (`account name`, `invitation id`, ...).
        what: &'static str,
        /// The value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The depot answered with a non-2xx status. `code` and `message` are the depot's own
    /// (`{"code", "message"}`); when the body is not that JSON, `message` is the start of the
    /// body text and `code` is `None`.
    #[error("`{method} {url}` answered {status}{code_text}: {message}", code_text = code_suffix(code.as_deref()))]
    Http {
        /// The request method.
        method: String,
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The depot's stable snake_case code, such as `not_found` or `unknown_signing_key`.
        code: Option<String>,
        /// The depot's message, naming the offending value.
        message: String,
    },

    /// The depot could not be reached, or the connection broke, on every attempt the retry
    /// policy allowed.
    #[error("cannot reach `{url}` (after {attempts} attempt{s})", s = if *attempts == 1 { "" } else { "s" })]
    Connection {
        /// The request URL.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: BoxError,
    },

    /// A local file operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done (`open`, `write`, `rename ... into`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The depot's answer is not what the API promises (JSON of the wrong shape, a missing
    /// header, a key that does not parse).
    #[error("unexpected answer from `{url}`: {reason}")]
    Decode {
        /// The request URL.
        url: String,
        /// What was wrong.
        reason: String,
    },

    /// The depot named a download file that is not a plain `.hart` file name.
    #[error("refusing the file name `{name}` sent by `{url}`: {reason}")]
    UnsafeFileName {
        /// The request URL.
        url: String,
        /// The name in `X-Filename`.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// A downloaded file does not have the checksum the depot announced in its `ETag`.
    #[error("`{path}` has checksum `{found}`, but the depot announced `{expected}`")]
    ChecksumMismatch {
        /// The downloaded (temporary) file, removed since.
        path: PathBuf,
        /// The depot's checksum.
        expected: Blake2bHash,
        /// The checksum of the bytes received.
        found: Blake2bHash,
    },

    /// The depot sent another key than the one asked for.
    #[error("asked for a key of `{expected}`, the depot sent `{found}`")]
    UnexpectedKey {
        /// The key asked for (`origin` or `origin-revision`).
        expected: String,
        /// The key's named revision.
        found: String,
    },

    /// The depot's TLS certificate is not trusted: issued by an authority that neither the
    /// platform nor a `ca_file` trusts, expired, or made for another name. Not retried.
    #[error("the TLS certificate of `{url}` is not trusted: {reason}")]
    Certificate {
        /// The request URL.
        url: String,
        /// What is wrong with the certificate.
        reason: String,
    },

    /// A file of extra trusted certificates (`ca_file`, `SSL_CERT_FILE`) cannot be used.
    #[error("cannot use the CA file `{path}`: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why: unreadable, not PEM, no certificate in it.
        reason: String,
    },

    /// The HTTP client could not be set up (TLS initialisation and the like).
    #[error("cannot set up the HTTP client")]
    Setup {
        /// What failed.
        #[source]
        source: BoxError,
    },

    /// The depot's TUF metadata, or a target it lists, was refused (docs/security.md,
    /// "Client").
    #[error(transparent)]
    Tuf(#[from] crate::tuf::TufError),

    /// An error of the formats crate: a key cache write, an identifier that does not parse.
    #[error(transparent)]
    Core(#[from] habitat_core::Error),
}

fn code_suffix(code: Option<&str>) -> String {
    code.map(|c| format!(" `{c}`")).unwrap_or_default()
}

impl Error {
    /// The HTTP status, when the depot answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The depot's error code (`not_found`, `conflict`, ...), when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Http { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// 404: the thing does not exist (or the caller may not see it).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 409: the thing exists already, or is still in use.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// 401: no token where one is needed, or the token is unknown, revoked or expired.
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_errors_show_status_code_and_message() {
        let err = Error::Http {
            method: "GET".into(),
            url: "http://127.0.0.1:1/v1/depot/origins/core".into(),
            status: 404,
            code: Some("not_found".into()),
            message: "origin `core` not found".into(),
        };
        assert_eq!(
            err.to_string(),
            "`GET http://127.0.0.1:1/v1/depot/origins/core` answered 404 `not_found`: origin \
             `core` not found"
        );
        assert!(err.is_not_found());
        assert_eq!(err.code(), Some("not_found"));
    }

    #[test]
    fn connection_errors_count_attempts() {
        let err = Error::Connection {
            url: "http://127.0.0.1:1/v1/status".into(),
            attempts: 1,
            source: "refused".into(),
        };
        assert_eq!(
            err.to_string(),
            "cannot reach `http://127.0.0.1:1/v1/status` (after 1 attempt)"
        );
    }
}
