//! What mirroring (`hab-depot sync`) and the pull-through cache share: an upstream depot, the
//! keys it serves checked against the pinned ones and against this depot's, and a downloaded
//! artifact stored through the one ingest path.

use std::path::{Path, PathBuf};

use habitat_core::artifact::Artifact;
use habitat_core::keys::PublicKey;
use habitat_core::{Blake2bHash, FullyQualifiedIdent, OriginName, PackageTarget};
use habitat_depot_client::{Client, Downloaded};

use crate::AppState;
use crate::ingest::{self, Claim, IngestError, Ingested, Received, Source};
use crate::store::StoreError;

/// Why a package or key from an upstream was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The upstream did not answer as asked.
    #[error("{what}: {error}")]
    Upstream {
        /// What was asked.
        what: String,
        /// The client's error (in the message, so not a `source` too: a printed chain would
        /// repeat it).
        error: habitat_depot_client::Error,
    },
    /// The upstream's key is not one of the pinned `trusted_keys`.
    #[error(
        "the upstream's public key `{origin}-{revision}` is not one of the pinned `trusted_keys`; \
         refused"
    )]
    NotPinned {
        /// The key's origin.
        origin: OriginName,
        /// The key's revision.
        revision: String,
    },
    /// The upstream's key differs from the one this depot has under that revision.
    #[error(
        "the upstream's public key `{origin}-{revision}` differs from the one this depot has; \
         refused"
    )]
    KeyDiffers {
        /// The key's origin.
        origin: OriginName,
        /// The key's revision.
        revision: String,
    },
    /// The artifact a key new here was fetched for does not verify with it (the artifact or
    /// the key was altered): neither is taken.
    #[error(
        "the artifact does not verify with the upstream's public key `{origin}-{revision}` \
         ({problem}); neither is taken"
    )]
    KeyDoesNotVerify {
        /// The key's origin.
        origin: OriginName,
        /// The key's revision.
        revision: String,
        /// Why the artifact does not verify.
        problem: String,
    },
    /// A pinned key file could not be read or is not a public key.
    #[error("the trusted key `{}`: {problem}", path.display())]
    TrustedKey {
        /// The file named in `trusted_keys`.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A downloaded file could not be opened or read.
    #[error("`{}`: {problem}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The ingest path refused the artifact.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The stores failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An upstream depot and the keys this depot accepts from it.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// The client for the upstream (with its token, if any).
    pub client: Client,
    /// The pinned keys (`trusted_keys`); empty: any key the upstream has.
    pub pinned: Vec<PublicKey>,
}

/// What is known upstream about a package to be stored here.
#[derive(Clone, Debug)]
pub struct Remote {
    /// The package.
    pub ident: FullyQualifiedIdent,
    /// Its target.
    pub target: PackageTarget,
    /// Its checksum as the upstream lists it; the downloaded file must have it.
    pub checksum: Blake2bHash,
    /// Its transitive dependencies.
    pub tdeps: Vec<FullyQualifiedIdent>,
    /// Its owner as the upstream reports it.
    pub owner: Option<String>,
}

/// The keys of `trusted_keys` in the settings, read and parsed.
pub fn pinned_keys(state: &AppState) -> Result<Vec<PublicKey>, FetchError> {
    state
        .settings
        .trusted_keys
        .iter()
        .map(|path| {
            let problem = |problem: String| FetchError::TrustedKey {
                path: path.clone(),
                problem,
            };
            let text = std::fs::read_to_string(path)
                .map_err(|e| problem(format!("cannot read it: {e}")))?;
            PublicKey::parse(&text).map_err(|e| problem(format!("not a public key: {e}")))
        })
        .collect()
}

/// The revision of the key that signed the artifact at `path` (read from its header).
pub async fn signer_revision(path: &Path) -> Result<String, FetchError> {
    let header_path = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || {
        Artifact::open(&header_path).map(|a| a.header().signer().revision().to_owned())
    })
    .await;
    let problem = |problem: String| FetchError::File {
        path: path.to_path_buf(),
        problem,
    };
    read.map_err(|e| problem(format!("cannot read the header: {e}")))?
        .map_err(|e| problem(format!("cannot read the header: {e}")))
}

/// The public key `origin-revision` here: fetched from the upstream and added when absent (then
/// `true`); when present, the upstream's must be the same key, else it is refused.
pub async fn ensure_key(
    state: &AppState,
    upstream: &Upstream,
    origin: &OriginName,
    revision: &str,
) -> Result<bool, FetchError> {
    checked_key(state, upstream, origin, revision, None).await
}

/// [`ensure_key`] for the signer of the downloaded artifact at `path`: a key new here is added
/// only when that artifact's signature and payload hash verify with it, so that a key an
/// upstream (or anything on the way) substituted is never kept.
pub async fn ensure_signer_key(
    state: &AppState,
    upstream: &Upstream,
    origin: &OriginName,
    path: &Path,
) -> Result<bool, FetchError> {
    let revision = signer_revision(path).await?;
    checked_key(state, upstream, origin, &revision, Some(path)).await
}

/// The key check of [`ensure_key`]; a key new here is first tried on the artifact at `verify`,
/// when given.
async fn checked_key(
    state: &AppState,
    upstream: &Upstream,
    origin: &OriginName,
    revision: &str,
    verify: Option<&Path>,
) -> Result<bool, FetchError> {
    let key = upstream
        .client
        .public_key(origin, Some(revision))
        .await
        .map_err(|error| FetchError::Upstream {
            what: format!("public key `{origin}-{revision}`"),
            error,
        })?;
    if !upstream.pinned.is_empty() && !upstream.pinned.contains(&key) {
        return Err(FetchError::NotPinned {
            origin: origin.clone(),
            revision: revision.to_owned(),
        });
    }
    match state.metadata.public_key(origin, revision).await? {
        Some(stored) => match PublicKey::parse(&stored.body) {
            Ok(here) if here == key => Ok(false),
            _ => Err(FetchError::KeyDiffers {
                origin: origin.clone(),
                revision: revision.to_owned(),
            }),
        },
        None => {
            if let Some(path) = verify {
                let (artifact, candidate) = (path.to_path_buf(), key.clone());
                let verified = tokio::task::spawn_blocking(move || {
                    Artifact::open(&artifact).and_then(|a| a.verify(&candidate).map(drop))
                })
                .await;
                let problem = match verified {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(e) => Some(format!("the check did not finish: {e}")),
                };
                if let Some(problem) = problem {
                    return Err(FetchError::KeyDoesNotVerify {
                        origin: origin.clone(),
                        revision: revision.to_owned(),
                        problem,
                    });
                }
            }
            state
                .metadata
                .add_public_key(origin, revision, &key.to_file_string())
                .await?;
            Ok(true)
        }
    }
}

/// Stores a downloaded artifact of `package` through the ingest path (every check of an
/// upload, and the checksum the upstream listed); the signer's key must be here already
/// ([`ensure_key`]). The downloaded file is moved into the artifact store, or removed.
pub async fn store(
    state: &AppState,
    package: &Remote,
    downloaded: Downloaded,
) -> Result<(), FetchError> {
    let file = received(&downloaded.path, downloaded.checksum, downloaded.size)?;
    let claim = Claim {
        ident: package.ident.clone(),
        target: package.target,
        checksum: Some(package.checksum),
        forced: false,
        source: Source::Mirror {
            owner: package
                .owner
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
        },
    };
    let prechecked = ingest::precheck(state, &claim).await?;
    match ingest::ingest(state, file, &claim, prechecked).await? {
        Ingested::Stored(_) | Ingested::Unchanged(_) => Ok(()),
    }
}

/// The downloaded file as the ingest path takes it (removed when dropped).
fn received(path: &Path, checksum: Blake2bHash, size: u64) -> Result<Received, FetchError> {
    let problem = |problem: String| FetchError::File {
        path: path.to_path_buf(),
        problem,
    };
    let file = std::fs::File::open(path).map_err(|e| problem(format!("cannot open it: {e}")))?;
    let temp = tempfile::TempPath::try_from_path(path)
        .map_err(|e| problem(format!("cannot take it: {e}")))?;
    Ok(Received {
        file: tempfile::NamedTempFile::from_parts(file, temp),
        checksum,
        size,
    })
}
