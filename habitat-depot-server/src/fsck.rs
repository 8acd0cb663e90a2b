//! `hab-depot fsck`: every package row must have its artifact with the right checksum and size;
//! artifacts no row refers to are orphans.

use std::collections::HashSet;

use habitat_core::hash::Hasher;
use habitat_core::{Blake2bHash, FullyQualifiedIdent, PackageTarget};
use tokio::io::AsyncReadExt;

use crate::AppState;
use crate::store::{ArtifactStore, StoreError, StoreResult};

/// A problem fsck found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A row whose artifact is absent.
    Missing {
        /// The package.
        ident: FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
        /// The checksum the row expects.
        checksum: Blake2bHash,
    },
    /// A row whose artifact has other bytes than its checksum says.
    Corrupt {
        /// The package.
        ident: FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
        /// The checksum the row expects.
        expected: Blake2bHash,
        /// The checksum of the stored bytes.
        actual: Blake2bHash,
    },
    /// Something wrong in the TUF repository (the sentence says what).
    Tuf(String),
    /// An artifact no row refers to (left by an upload interrupted between the two steps).
    Orphan {
        /// Its checksum.
        checksum: Blake2bHash,
        /// Removed by `--repair`.
        removed: bool,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing {
                ident,
                target,
                checksum,
            } => {
                write!(f, "missing: {ident} ({target}) has no artifact {checksum}")
            }
            Self::Corrupt {
                ident,
                target,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "corrupt: {ident} ({target}) expects {expected}, the stored artifact hashes to {actual}"
                )
            }
            Self::Tuf(problem) => f.write_str(problem),
            Self::Orphan {
                checksum,
                removed: true,
            } => write!(f, "orphan: artifact {checksum} (removed)"),
            Self::Orphan {
                checksum,
                removed: false,
            } => write!(f, "orphan: artifact {checksum}"),
        }
    }
}

/// What fsck saw.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Package rows checked.
    pub packages: usize,
    /// Artifacts in the store.
    pub artifacts: usize,
    /// What is wrong.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Every row has its artifact with the right checksum. Orphans do not count: a crash
    /// between storing an artifact and committing its row leaves one, harmlessly (nothing
    /// refers to it, and a retried upload reuses it); they are reported and `--repair` removes
    /// them.
    pub fn is_clean(&self) -> bool {
        self.problems
            .iter()
            .all(|p| matches!(p, Problem::Orphan { .. }))
    }
}

/// Checks every package row against the artifact store (re-hashing every artifact), and the
/// TUF repository (signatures, expiries, and that every target matches the database); with
/// `repair` removes orphan artifacts.
pub async fn check(state: &AppState, repair: bool) -> StoreResult<Report> {
    let rows = state.metadata.package_checksums().await?;
    let stored = state.artifacts.list().await?;
    let mut report = Report {
        packages: rows.len(),
        artifacts: stored.len(),
        problems: Vec::new(),
    };
    let mut referenced = HashSet::new();
    for (_, ident, target, checksum, size) in rows {
        referenced.insert(checksum);
        let Some((actual, read)) = read_checksum(state.artifacts.as_ref(), &checksum).await? else {
            report.problems.push(Problem::Missing {
                ident,
                target,
                checksum,
            });
            continue;
        };
        if actual != checksum || read != size {
            report.problems.push(Problem::Corrupt {
                ident,
                target,
                expected: checksum,
                actual,
            });
        }
    }
    let tuf = crate::tuf::check::check(
        state.metadata.as_ref(),
        &state.tuf,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    report.problems.extend(tuf.into_iter().map(Problem::Tuf));
    for (checksum, _) in stored {
        if !referenced.contains(&checksum) {
            if repair {
                state.artifacts.delete(&checksum).await?;
            }
            report.problems.push(Problem::Orphan {
                checksum,
                removed: repair,
            });
        }
    }
    Ok(report)
}

/// The checksum and size of an artifact as read back from `store`, in one pass; `None` when the
/// store does not have it.
pub(crate) async fn read_checksum(
    store: &dyn ArtifactStore,
    checksum: &Blake2bHash,
) -> StoreResult<Option<(Blake2bHash, u64)>> {
    let Some(mut artifact) = store.open(checksum, 0).await? else {
        return Ok(None);
    };
    let mut hasher = Hasher::new();
    let mut read = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n =
            artifact.reader.read(&mut buf).await.map_err(|e| {
                StoreError::backend(format!("cannot read artifact `{checksum}`"), e)
            })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    Ok(Some((hasher.finish(), read)))
}
