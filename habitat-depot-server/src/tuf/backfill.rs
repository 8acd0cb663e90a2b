//! The SHA-256 and signer of packages stored before the depot recorded them: each such
//! package's artifact is read from the artifact store, its header parsed for the signer and
//! the whole file hashed (SHA-256 and, to check it is the stored file, BLAKE2b-256), and both
//! facts recorded with [`MetadataStore::set_package_tuf_facts`]. Channel indexes list them
//! (docs/security.md).
//!
//! A package whose artifact cannot be measured (missing, unreadable, not a `.hart`, not the
//! file its checksum names) is left as it is and logged: `hab-depot fsck` reports those, and a
//! later run tries again. Only a failing metadata store stops a run.

use habitat_core::artifact::ArtifactHeader;
use habitat_core::hash::{Hasher, hex};
use habitat_core::{Blake2bHash, NamedRevision};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::store::{ArtifactStore, MetadataStore, StoreError, StoreResult};

/// Packages asked of the store at a time.
const BATCH: usize = 100;

/// How many bytes of an artifact are read to parse its header (a real one is under 1 KiB).
const HEADER_BYTES: u64 = 8 << 10;

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backfilled {
    /// Packages whose facts were recorded.
    pub filled: u64,
    /// Packages left as they were: their artifact could not be measured.
    pub skipped: u64,
    /// Whether packages may be left that this run did not look at (it stopped at its limit).
    pub more: bool,
}

/// What was measured of one artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// The key named in its header.
    pub signer: NamedRevision,
}

/// Why an artifact could not be measured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeasureError {
    /// The artifact store has no file under the checksum.
    #[error("the artifact `{0}` is missing from the artifact store")]
    Missing(Blake2bHash),
    /// The artifact store failed.
    #[error("cannot open the artifact `{checksum}`: {source}")]
    Store {
        /// The artifact.
        checksum: Blake2bHash,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// Reading the artifact failed.
    #[error("cannot read the artifact `{checksum}`: {source}")]
    Read {
        /// The artifact.
        checksum: Blake2bHash,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// Its header does not parse.
    #[error("the artifact `{checksum}` has no valid header: {source}")]
    Header {
        /// The artifact.
        checksum: Blake2bHash,
        /// The parser's error.
        #[source]
        source: habitat_core::Error,
    },
    /// The file is not the one its checksum names.
    #[error("the artifact stored as `{checksum}` has checksum `{found}`")]
    Mismatch {
        /// The checksum it is stored under.
        checksum: Blake2bHash,
        /// The file's.
        found: Blake2bHash,
    },
}

/// Records the facts of every package that lacks them; see the module's documentation.
pub async fn run(
    store: &dyn MetadataStore,
    artifacts: &dyn ArtifactStore,
) -> StoreResult<Backfilled> {
    run_limited(store, artifacts, usize::MAX).await
}

/// [`run`], stopping once `limit` packages were filled ([`Backfilled::more`] then says so): a
/// caller with other work to do (a publish cycle) takes the backfill a slice at a time.
pub async fn run_limited(
    store: &dyn MetadataStore,
    artifacts: &dyn ArtifactStore,
    limit: usize,
) -> StoreResult<Backfilled> {
    let mut done = Backfilled::default();
    let mut after = 0;
    loop {
        let batch = store.packages_missing_tuf_facts(after, BATCH).await?;
        let Some(&(last, _)) = batch.last() else {
            return Ok(done);
        };
        after = last;
        for (id, checksum) in batch {
            if done.filled >= limit as u64 {
                done.more = true;
                return Ok(done);
            }
            match measure(artifacts, &checksum).await {
                Ok(facts) => {
                    store
                        .set_package_tuf_facts(id, &facts.sha256, &facts.signer.to_string())
                        .await?;
                    done.filled += 1;
                }
                Err(error) => {
                    tracing::warn!(package = id, error = %crate::error::Chain(&error), "cannot record the SHA-256 and signer of a package; its channel indexes list it without them");
                    done.skipped += 1;
                }
            }
        }
    }
}

/// Reads the artifact stored as `checksum`: the signer from its header, the SHA-256 of the
/// whole file, which must also have that BLAKE2b-256 checksum.
pub async fn measure(
    artifacts: &dyn ArtifactStore,
    checksum: &Blake2bHash,
) -> Result<Facts, MeasureError> {
    let checksum = *checksum;
    let store_failed = |source| MeasureError::Store { checksum, source };
    let read_failed = |source| MeasureError::Read { checksum, source };

    // The header first, from its first bytes only: a file that is no artifact is not read whole.
    let mut head = Vec::new();
    artifacts
        .open_range(&checksum, 0, HEADER_BYTES)
        .await
        .map_err(store_failed)?
        .ok_or(MeasureError::Missing(checksum))?
        .reader
        .read_to_end(&mut head)
        .await
        .map_err(read_failed)?;
    let header = ArtifactHeader::read(&mut head.as_slice())
        .map_err(|source| MeasureError::Header { checksum, source })?;

    let mut reader = artifacts
        .open(&checksum, 0)
        .await
        .map_err(store_failed)?
        .ok_or(MeasureError::Missing(checksum))?
        .reader;
    let (mut sha256, mut blake2b) = (Sha256::new(), Hasher::new());
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = reader.read(&mut buf).await.map_err(read_failed)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        sha256.update(chunk);
        blake2b.update(chunk);
    }
    let found = blake2b.finish();
    if found != checksum {
        return Err(MeasureError::Mismatch { checksum, found });
    }
    Ok(Facts {
        sha256: hex(&sha256.finalize()),
        signer: header.signer().clone(),
    })
}
