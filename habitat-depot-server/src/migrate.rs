//! Moving a depot from one pair of stores to another (`hab-depot migrate`, issue "Scale-out",
//! part 4): say from the embedded default to PostgreSQL + S3, losing nothing.
//!
//! The order keeps the destination consistent at every step: artifacts first (a rerun copies
//! only those still missing, so an interrupted migration resumes), then the metadata in one
//! transaction (a restore leaves rows already present as they are, so running it twice changes
//! nothing), then a check of the result: every table's row count, and every package's artifact
//! present with its size and, optionally, its BLAKE2b checksum read back.
//!
//! The source should be stopped (or at least not written to) while it runs: a package uploaded
//! after the copy of the artifacts would have its row moved without its artifact, and the
//! check would report it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use habitat_core::Blake2bHash;
use habitat_core::hash::Hasher;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fsck::read_checksum;
use crate::store::{ArtifactStore, DUMP_TABLES, MetadataStore, StoreError};

/// One side of a migration: a metadata store and an artifact store.
#[derive(Clone)]
pub struct Stores {
    /// Accounts, origins, packages...
    pub metadata: Arc<dyn MetadataStore>,
    /// The `.hart` files.
    pub artifacts: Arc<dyn ArtifactStore>,
}

/// Why a migration stopped before its check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A temp file failed.
    #[error("`{path}`: {source}")]
    Io {
        /// The temp file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The source's bytes are not what its metadata says.
    #[error(
        "the source's artifact `{checksum}` is corrupt: read {size} bytes with checksum \
         `{found}`; run `hab-depot fsck` on the source"
    )]
    CorruptSource {
        /// The checksum the source's metadata names.
        checksum: Blake2bHash,
        /// What was read.
        found: Blake2bHash,
        /// How many bytes were read.
        size: u64,
    },
}

/// Row counts of one table on both sides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableCount {
    /// The table.
    pub name: String,
    /// Rows in the source.
    pub source: u64,
    /// Rows in the destination after the migration.
    pub destination: u64,
}

/// What a migration did and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Artifacts the packages of the source refer to.
    pub artifacts: u64,
    /// Of those, copied by this run (the others were there already).
    pub artifacts_copied: u64,
    /// Bytes copied by this run.
    pub bytes_copied: u64,
    /// Row counts, per table of [`DUMP_TABLES`].
    pub tables: Vec<TableCount>,
    /// Artifacts of the destination's packages found with the right size (and checksum, when
    /// checked).
    pub artifacts_verified: u64,
    /// Whether checksums were read back.
    pub checksums_checked: bool,
    /// Everything that does not match, one line each.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether the destination holds everything the source does.
    pub fn is_complete(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Copies everything from `source` to `destination` and checks the result; temp files go in
/// `tmp_dir` (created when missing), which must be on the destination's file system when its
/// artifacts are files. `progress` hears one line per step.
pub async fn migrate(
    source: &Stores,
    destination: &Stores,
    tmp_dir: &Path,
    verify_checksums: bool,
    progress: impl Fn(&str),
) -> Result<Report, MigrateError> {
    let mut report = Report {
        checksums_checked: verify_checksums,
        ..Report::default()
    };

    // 1. Artifacts the destination lacks (content-addressed: the same checksum and size is
    // the same artifact).
    let wanted: HashMap<Blake2bHash, u64> = source
        .metadata
        .package_checksums()
        .await?
        .into_iter()
        .map(|(_, _, _, checksum, size)| (checksum, size))
        .collect();
    report.artifacts = wanted.len() as u64;
    let present: HashMap<Blake2bHash, u64> =
        destination.artifacts.list().await?.into_iter().collect();
    let mut missing: Vec<_> = wanted
        .iter()
        .filter(|(checksum, size)| present.get(*checksum) != Some(*size))
        .collect();
    missing.sort_by_key(|(checksum, _)| checksum.to_string());
    progress(&format!(
        "artifacts: {} referenced, {} already in the destination, {} to copy",
        wanted.len(),
        wanted.len() - missing.len(),
        missing.len()
    ));
    if !missing.is_empty() {
        std::fs::create_dir_all(tmp_dir).map_err(|source| MigrateError::Io {
            path: tmp_dir.to_owned(),
            source,
        })?;
    }
    for (index, (checksum, size)) in missing.iter().enumerate() {
        match copy_artifact(source, destination, checksum, **size, tmp_dir).await? {
            true => {
                report.artifacts_copied += 1;
                report.bytes_copied += **size;
                progress(&format!(
                    "copied {checksum} ({size} bytes, {} of {})",
                    index + 1,
                    missing.len()
                ));
            }
            false => report.problems.push(format!(
                "artifact `{checksum}` is missing from the source (run `hab-depot fsck` there)"
            )),
        }
    }

    // 2. The metadata, in one transaction, ids kept.
    let dump = source.metadata.dump().await?;
    destination.metadata.restore(&dump).await?;
    progress("metadata restored");

    // 3. The check: counts, then every package's artifact in the destination.
    let after = destination.metadata.dump().await?;
    let count = |dump: &crate::store::Dump, name: &str| {
        dump.tables
            .iter()
            .find(|t| t.name == name)
            .map_or(0, |t| t.rows.len() as u64)
    };
    for name in DUMP_TABLES {
        let table = TableCount {
            name: (*name).to_owned(),
            source: count(&dump, name),
            destination: count(&after, name),
        };
        if table.source != table.destination {
            report.problems.push(format!(
                "table `{name}` has {} rows in the source but {} in the destination",
                table.source, table.destination
            ));
        }
        report.tables.push(table);
    }
    let stored: HashMap<Blake2bHash, u64> =
        destination.artifacts.list().await?.into_iter().collect();
    let packages: HashMap<Blake2bHash, (String, u64)> = destination
        .metadata
        .package_checksums()
        .await?
        .into_iter()
        .map(|(_, ident, target, checksum, size)| (checksum, (format!("{ident} ({target})"), size)))
        .collect();
    for (checksum, (package, size)) in &packages {
        let problem = match stored.get(checksum) {
            None => Some(format!(
                "the artifact of `{package}` (`{checksum}`) is not in the destination"
            )),
            Some(found) if found != size => Some(format!(
                "the artifact of `{package}` has {found} bytes in the destination, not {size}"
            )),
            Some(_) if verify_checksums => {
                match read_checksum(destination.artifacts.as_ref(), checksum).await? {
                    Some((found, read)) if found == *checksum && read == *size => None,
                    Some((found, read)) => Some(format!(
                        "the artifact of `{package}` reads back as {read} bytes with checksum \
                         `{found}`, not `{checksum}`"
                    )),
                    None => Some(format!(
                        "the artifact of `{package}` (`{checksum}`) vanished from the destination"
                    )),
                }
            }
            Some(_) => None,
        };
        match problem {
            Some(problem) => report.problems.push(problem),
            None => report.artifacts_verified += 1,
        }
    }
    if verify_checksums {
        progress(&format!("{} artifacts read back", packages.len()));
    }
    Ok(report)
}

/// Copies one artifact through a temp file, checking its checksum on the way; `false` when the
/// source does not have it.
async fn copy_artifact(
    source: &Stores,
    destination: &Stores,
    checksum: &Blake2bHash,
    size: u64,
    tmp_dir: &Path,
) -> Result<bool, MigrateError> {
    let Some(mut artifact) = source.artifacts.open(checksum, 0).await? else {
        return Ok(false);
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| MigrateError::Io { path, source }
    };
    // Removed when dropped, whether or not the store moved it away.
    let temp = tempfile::Builder::new()
        .prefix("migrate-")
        .tempfile_in(tmp_dir)
        .map_err(io(tmp_dir))?;
    let path = temp.path().to_owned();
    let mut file = tokio::fs::File::from_std(temp.reopen().map_err(io(&path))?);
    let mut hasher = Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = artifact.reader.read(&mut buffer).await.map_err(io(&path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).await.map_err(io(&path))?;
        read += n as u64;
    }
    file.flush().await.map_err(io(&path))?;
    file.sync_all().await.map_err(io(&path))?;
    drop(file);
    let found = hasher.finish();
    if found != *checksum || read != size {
        return Err(MigrateError::CorruptSource {
            checksum: *checksum,
            found,
            size: read,
        });
    }
    destination.artifacts.put(checksum, &path).await?;
    drop(temp);
    Ok(true)
}
