//! Moving a depot from one pair of stores to another (`hab-depot migrate`, docs/operations.md,
//! "Scale-out"): say from the embedded default to PostgreSQL + S3, losing nothing.
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

use crate::crypto::ServerKey;
use crate::fsck::read_checksum;
use crate::settings::Settings;
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

/// Why `hab-depot migrate` refuses to begin: the destination's settings are unusable, name the
/// source itself, or cannot be given the source's server key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PreflightError {
    /// The destination's settings file cannot be read or parsed.
    #[error("{reason}")]
    DestinationSettings {
        /// The settings file.
        path: PathBuf,
        /// What is wrong with it (the message names the file).
        reason: String,
    },
    /// A side's PostgreSQL URL cannot be read or is not one.
    #[error("{reason}")]
    MetadataUrl {
        /// What is wrong with it (the message never repeats the URL).
        reason: String,
    },
    /// The destination is the embedded store in the source's own data directory.
    #[error(
        "the destination `{to}` uses the embedded metadata store in the source's data \
         directory `{data_dir}`: nothing to migrate",
        to = .to.display(),
        data_dir = .data_dir.display()
    )]
    SameDataDir {
        /// The destination's settings file.
        to: PathBuf,
        /// The source's data directory.
        data_dir: PathBuf,
    },
    /// The destination is the source's own PostgreSQL database.
    #[error(
        "the destination `{to}` uses the source's own metadata database: nothing to migrate",
        to = .to.display()
    )]
    SameDatabase {
        /// The destination's settings file.
        to: PathBuf,
    },
    /// The source has no readable server key: most likely not a depot's data directory.
    #[error(
        "cannot read the source's server key `{path}`: is `{data_dir}` the data directory (or \
         --config the settings) of the depot to migrate?",
        path = .path.display(),
        data_dir = .data_dir.display()
    )]
    SourceKey {
        /// The source's server key file.
        path: PathBuf,
        /// The source's data directory.
        data_dir: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The destination already has a server key, and not the source's.
    #[error(
        "the destination's server key `{destination}` differs from the source's `{source_key}`: \
         secret origin keys could not be decrypted; remove it or point server_key_file at a \
         copy of the source's",
        destination = .destination.display(),
        source_key = .source_key.display()
    )]
    KeysDiffer {
        /// The destination's server key file.
        destination: PathBuf,
        /// The source's server key file.
        source_key: PathBuf,
    },
    /// The destination's metadata store holds secret origin keys that the source's server key
    /// cannot decrypt: it belongs to another depot.
    #[error(
        "the destination's metadata store holds {count} secret origin key(s) that the source's \
         server key `{source_key}` cannot decrypt (first: `{first}`): it belongs to a depot with \
         another server key; migrate into an empty database or one migrated from this source",
        source_key = .source_key.display()
    )]
    ForeignSecrets {
        /// How many.
        count: usize,
        /// The first one, `ORIGIN-REVISION`.
        first: String,
        /// The source's server key file.
        source_key: PathBuf,
    },
    /// The destination's stores cannot be read while checking them.
    #[error("cannot check the destination before writing to it")]
    DestinationStore(#[source] StoreError),
    /// The destination's server key cannot be read, or the source's cannot be copied there.
    #[error("cannot {action} `{path}`", path = .path.display())]
    DestinationKey {
        /// `read`, `create` (its directory) or `write`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// A migration checked before anything is opened: the destination's settings and the source's
/// server key, which the destination must share (secret origin keys stay encrypted with it).
#[derive(Debug)]
pub struct Preflight {
    /// The destination's settings; [`Preflight::share_server_key`] fills `server_key_file`.
    pub destination: Settings,
    server_key: Vec<u8>,
    source_key_path: PathBuf,
}

impl Preflight {
    /// Checks a migration from the depot `source` to the settings in the file `to`: the
    /// destination must not be the source's own store, and the source must have a server key.
    ///
    /// Runs before the source is opened: opening a data directory that holds no depot would
    /// make an empty one (and its key), and the migration would then copy nothing.
    pub fn check(source: &Settings, to: &Path) -> Result<Self, PreflightError> {
        let destination =
            Settings::from_file(to).map_err(|e| PreflightError::DestinationSettings {
                path: to.to_owned(),
                reason: e.to_string(),
            })?;
        // The destination is what its file says; only its data directory may come from the
        // source's environment, and an embedded destination must not be the source itself.
        if destination.metadata.is_embedded() && destination.data_dir == source.data_dir {
            return Err(PreflightError::SameDataDir {
                to: to.to_owned(),
                data_dir: source.data_dir.clone(),
            });
        }
        if !destination.metadata.is_embedded()
            && postgres_url(&destination)? == postgres_url(source)?
        {
            return Err(PreflightError::SameDatabase { to: to.to_owned() });
        }
        let source_key_path = source.server_key_path();
        let server_key =
            std::fs::read(&source_key_path).map_err(|error| PreflightError::SourceKey {
                path: source_key_path.clone(),
                data_dir: source.data_dir.clone(),
                source: error,
            })?;
        Ok(Self {
            destination,
            server_key,
            source_key_path,
        })
    }

    /// Checks the destination's stores before anything is written to them (or its server key
    /// file): they answer, a server key file already there is the source's, and every secret
    /// origin key they hold decrypts with the source's key (else they belong to another depot,
    /// and restoring into them would mix two keys). Nothing is written.
    pub async fn check_destination(&self, destination: &Stores) -> Result<(), PreflightError> {
        let path = self.destination.server_key_path();
        match std::fs::read(&path) {
            Ok(existing) if existing != self.server_key => {
                return Err(PreflightError::KeysDiffer {
                    destination: path,
                    source_key: self.source_key_path.clone(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(PreflightError::DestinationKey {
                    action: "read",
                    path,
                    source,
                });
            }
        }
        destination
            .artifacts
            .ping()
            .await
            .map_err(PreflightError::DestinationStore)?;
        let dump = destination
            .metadata
            .dump()
            .await
            .map_err(PreflightError::DestinationStore)?;
        use crate::store::DumpValue;
        let table = |name: &str| dump.tables.iter().find(|t| t.name == name);
        let column = |table: &crate::store::DumpTable, name: &str| {
            table.columns.iter().position(|c| c == name)
        };
        // Origin ids to names, to name a foreign key in the error.
        let mut origins = HashMap::new();
        if let Some(table) = table("origins")
            && let (Some(id), Some(name)) = (column(table, "id"), column(table, "name"))
        {
            for row in &table.rows {
                if let (Some(DumpValue::Int(id)), Some(DumpValue::Text(name))) =
                    (row.get(id), row.get(name))
                {
                    origins.insert(*id, name.clone());
                }
            }
        }
        let key = ServerKey::from_slice(&self.server_key);
        let mut foreign = Vec::new();
        if let Some(table) = table("secret_keys") {
            let at = |name| column(table, name);
            let (origin, revision, sealed) = (at("origin_id"), at("revision"), at("encrypted"));
            for row in &table.rows {
                let get = |at: Option<usize>| at.and_then(|i| row.get(i));
                let opens = match (&key, get(sealed)) {
                    (Some(key), Some(DumpValue::Blob(sealed))) => key.decrypt(sealed).is_ok(),
                    _ => false,
                };
                if !opens {
                    let origin = match get(origin) {
                        Some(DumpValue::Int(id)) => origins.get(id).cloned(),
                        _ => None,
                    };
                    let revision = match get(revision) {
                        Some(DumpValue::Text(revision)) => revision.clone(),
                        _ => "?".to_owned(),
                    };
                    let origin = origin.unwrap_or_else(|| "?".to_owned());
                    foreign.push(format!("{origin}-{revision}"));
                }
            }
        }
        if let Some(first) = foreign.first() {
            return Err(PreflightError::ForeignSecrets {
                count: foreign.len(),
                first: first.clone(),
                source_key: self.source_key_path.clone(),
            });
        }
        Ok(())
    }

    /// Gives the destination the source's server key: a key already there must be the same
    /// one; a missing one is written. Answers the path written, if any (every process of the
    /// new deployment needs that file). Afterwards the destination's settings name the file.
    pub fn share_server_key(&mut self) -> Result<Option<PathBuf>, PreflightError> {
        let path = self.destination.server_key_path();
        let io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| PreflightError::DestinationKey {
                action,
                path,
                source,
            }
        };
        let written = match std::fs::read(&path) {
            Ok(existing) if existing == self.server_key => None,
            Ok(_) => {
                return Err(PreflightError::KeysDiffer {
                    destination: path,
                    source_key: self.source_key_path.clone(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io("create", parent))?;
                }
                ServerKey::write_file(&path, &self.server_key).map_err(io("write", &path))?;
                Some(path.clone())
            }
            Err(e) => return Err(io("read", &path)(e)),
        };
        if self.destination.server_key_file.is_none() {
            self.destination.server_key_file = Some(path);
        }
        Ok(written)
    }
}

/// A side's PostgreSQL URL (`None` for the embedded store).
fn postgres_url(settings: &Settings) -> Result<Option<String>, PreflightError> {
    settings
        .metadata
        .postgres_url()
        .map_err(|e| PreflightError::MetadataUrl {
            reason: e.to_string(),
        })
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
    // 1. Artifacts the destination lacks.
    let mut copied = Vec::new();
    let copy = copy_artifacts(
        source,
        destination,
        tmp_dir,
        &mut report,
        &mut copied,
        &progress,
    );
    let restored = match copy.await {
        // 2. The metadata, in one transaction, ids kept.
        Ok(()) => match source.metadata.dump().await {
            Ok(dump) => destination.metadata.restore(&dump).await.map(|()| dump),
            Err(e) => Err(e),
        }
        .map_err(MigrateError::from),
        Err(e) => Err(e),
    };
    let dump = match restored {
        Ok(dump) => dump,
        Err(e) => {
            // The restore is one transaction, so no row was written: the artifacts copied by
            // this run are removed, and the destination is as it was found.
            for checksum in &copied {
                if let Err(error) = destination.artifacts.delete(checksum).await {
                    progress(&format!(
                        "cannot remove the artifact `{checksum}` copied by this failed run: \
                         {error} (fsck --repair on the destination removes it)"
                    ));
                }
            }
            return Err(e);
        }
    };
    progress("metadata restored");

    // 3. The check: counts, then every package's artifact in the destination.
    let after = destination.metadata.dump().await?;
    count_rows(&dump, &after, &mut report);
    let read_back = check_artifacts(destination, verify_checksums, &mut report).await?;
    if verify_checksums {
        progress(&format!("{read_back} artifacts read back"));
    }
    Ok(report)
}

/// Copies the artifacts the source's packages refer to and the destination lacks
/// (content-addressed: the same checksum and size is the same artifact), in checksum order.
/// One missing from the source is a problem of the report, not an error.
async fn copy_artifacts(
    source: &Stores,
    destination: &Stores,
    tmp_dir: &Path,
    report: &mut Report,
    copied: &mut Vec<Blake2bHash>,
    progress: &impl Fn(&str),
) -> Result<(), MigrateError> {
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
                copied.push(**checksum);
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
    Ok(())
}

/// Compares the row count of every table of [`DUMP_TABLES`] in the source's dump and the
/// destination's.
fn count_rows(source: &crate::store::Dump, destination: &crate::store::Dump, report: &mut Report) {
    let count = |dump: &crate::store::Dump, name: &str| {
        dump.tables
            .iter()
            .find(|t| t.name == name)
            .map_or(0, |t| t.rows.len() as u64)
    };
    for name in DUMP_TABLES {
        let table = TableCount {
            name: (*name).to_owned(),
            source: count(source, name),
            destination: count(destination, name),
        };
        if table.source != table.destination {
            report.problems.push(format!(
                "table `{name}` has {} rows in the source but {} in the destination",
                table.source, table.destination
            ));
        }
        report.tables.push(table);
    }
}

/// Checks that every package of the destination has its artifact there with the right size
/// and, when `verify_checksums`, the right checksum read back. Answers how many packages were
/// checked.
async fn check_artifacts(
    destination: &Stores,
    verify_checksums: bool,
    report: &mut Report,
) -> Result<usize, MigrateError> {
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
            Some(_) if verify_checksums => read_back(destination, package, checksum, *size).await?,
            Some(_) => None,
        };
        match problem {
            Some(problem) => report.problems.push(problem),
            None => report.artifacts_verified += 1,
        }
    }
    Ok(packages.len())
}

/// Reads an artifact back from the destination: `None` when it is whole, else the problem.
async fn read_back(
    destination: &Stores,
    package: &str,
    checksum: &Blake2bHash,
    size: u64,
) -> Result<Option<String>, MigrateError> {
    Ok(
        match read_checksum(destination.artifacts.as_ref(), checksum).await? {
            Some((found, read)) if found == *checksum && read == size => None,
            Some((found, read)) => Some(format!(
                "the artifact of `{package}` reads back as {read} bytes with checksum \
                 `{found}`, not `{checksum}`"
            )),
            None => Some(format!(
                "the artifact of `{package}` (`{checksum}`) vanished from the destination"
            )),
        },
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A source depot in `dir/source` with a server key, and a destination settings file
    /// `dir/to.toml` with an embedded store in `dir/dest`.
    fn source_and_destination(dir: &Path) -> (Settings, PathBuf) {
        let source = Settings {
            data_dir: dir.join("source"),
            ..Settings::default()
        };
        std::fs::create_dir_all(&source.data_dir).unwrap();
        std::fs::write(source.server_key_path(), [7; 32]).unwrap();
        let to = dir.join("to.toml");
        let dest = dir.join("dest");
        std::fs::write(
            &to,
            format!("data_dir = {:?}\n", dest.display().to_string()),
        )
        .unwrap();
        (source, to)
    }

    #[test]
    fn preflight_refuses_the_source_itself_and_a_source_without_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let (source, _) = source_and_destination(dir.path());
        let itself = dir.path().join("itself.toml");
        let data_dir = source.data_dir.display().to_string();
        std::fs::write(&itself, format!("data_dir = {data_dir:?}\n")).unwrap();
        let err = Preflight::check(&source, &itself).unwrap_err();
        assert!(matches!(err, PreflightError::SameDataDir { .. }), "{err:?}");
        assert!(err.to_string().ends_with("nothing to migrate"), "{err}");

        let (_, to) = source_and_destination(dir.path());
        let keyless = Settings {
            data_dir: dir.path().join("not-a-depot"),
            ..Settings::default()
        };
        let err = Preflight::check(&keyless, &to).unwrap_err();
        assert!(matches!(err, PreflightError::SourceKey { .. }), "{err:?}");
        assert!(err.to_string().contains("not-a-depot"), "{err}");

        let missing = dir.path().join("missing.toml");
        let err = Preflight::check(&source, &missing).unwrap_err();
        assert!(
            matches!(err, PreflightError::DestinationSettings { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn preflight_copies_the_server_key_once_and_refuses_another() {
        let dir = tempfile::tempdir().unwrap();
        let (source, to) = source_and_destination(dir.path());
        let mut preflight = Preflight::check(&source, &to).unwrap();
        let copied = preflight.share_server_key().unwrap();
        let written = dir.path().join("dest").join(crate::crypto::KEY_FILE);
        assert_eq!(copied.as_deref(), Some(written.as_path()));
        assert_eq!(preflight.destination.server_key_file, Some(written.clone()));
        assert_eq!(std::fs::read(&written).unwrap(), [7; 32]);

        // Again: the same key is already there.
        let mut again = Preflight::check(&source, &to).unwrap();
        assert_eq!(again.share_server_key().unwrap(), None);

        std::fs::write(&written, [8; 32]).unwrap();
        let mut differs = Preflight::check(&source, &to).unwrap();
        let err = differs.share_server_key().unwrap_err();
        assert!(matches!(err, PreflightError::KeysDiffer { .. }), "{err:?}");
        assert!(
            err.to_string().contains("differs from the source's"),
            "{err}"
        );
    }

    /// Embedded stores in `dir`.
    fn stores(dir: &Path) -> Stores {
        std::fs::create_dir_all(dir).unwrap();
        Stores {
            metadata: Arc::new(
                crate::store::sqlite::SqliteStore::open(&dir.join("depot.sqlite")).unwrap(),
            ),
            artifacts: Arc::new(
                crate::store::files::FileArtifacts::open(dir.join("artifacts")).unwrap(),
            ),
        }
    }

    /// Stores origin `acme` (owned by a new account) with a secret key sealed with `key`.
    async fn with_secret(stores: &Stores, key: [u8; 32]) {
        let account = stores.metadata.create_account("owner", None).await.unwrap();
        let acme: habitat_core::OriginName = "acme".parse().unwrap();
        let visibility = crate::store::Visibility::Public;
        stores
            .metadata
            .create_origin(&acme, account.id, visibility)
            .await
            .unwrap();
        let sealed = ServerKey::from_slice(&key)
            .unwrap()
            .encrypt(b"secret")
            .unwrap();
        let secret = crate::store::SecretOriginKey {
            origin: acme,
            revision: "20240101000000".to_owned(),
            encrypted: sealed,
        };
        stores.metadata.put_secret_key(&secret).await.unwrap();
    }

    #[tokio::test]
    async fn a_destination_of_another_depot_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (source, to) = source_and_destination(dir.path());
        let source_stores = stores(&source.data_dir);
        with_secret(&source_stores, [7; 32]).await;
        // The destination holds a secret sealed with another server key, whose file is not
        // beside it: only its rows tell.
        let dest_dir = dir.path().join("dest");
        let destination = stores(&dest_dir);
        with_secret(&destination, [8; 32]).await;
        let before = destination.metadata.dump().await.unwrap();
        let listing = |dir: &Path| {
            let mut names: Vec<_> = walk(dir);
            names.sort();
            names
        };
        fn walk(dir: &Path) -> Vec<PathBuf> {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    found.extend(walk(&path));
                }
                found.push(path);
            }
            found
        }
        let files = listing(&dest_dir);

        let preflight = Preflight::check(&source, &to).unwrap();
        let err = preflight.check_destination(&destination).await.unwrap_err();
        assert!(
            matches!(err, PreflightError::ForeignSecrets { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("`acme-20240101000000`"), "{err}");
        assert_eq!(destination.metadata.dump().await.unwrap(), before);
        assert_eq!(listing(&dest_dir), files, "no file written");

        // A destination sealed with the source's key (a migration run before) passes.
        let again = stores(&dir.path().join("again"));
        with_secret(&again, [7; 32]).await;
        preflight.check_destination(&again).await.unwrap();
        preflight
            .check_destination(&stores(&dir.path().join("empty")))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_failed_row_copy_removes_the_artifacts_it_copied() {
        let dir = tempfile::tempdir().unwrap();
        let source_dir = dir.path().join("source");
        let source = stores(&source_dir);
        let hart = dir.path().join("a.hart");
        std::fs::write(&hart, b"artifact bytes").unwrap();
        let checksum = habitat_core::artifact::checksum(&hart).unwrap();
        source.artifacts.put(&checksum, &hart).await.unwrap();
        let account = source.metadata.create_account("alice", None).await.unwrap();
        let acme: habitat_core::OriginName = "acme".parse().unwrap();
        let visibility = crate::store::Visibility::Public;
        source
            .metadata
            .create_origin(&acme, account.id, visibility)
            .await
            .unwrap();
        let package = crate::store::Package {
            id: 0,
            ident: "acme/hello/1.0.0/20240101000000".parse().unwrap(),
            target: habitat_core::PackageTarget::X86_64Linux,
            checksum,
            size: 14,
            visibility,
            manifest: String::new(),
            config: String::new(),
            deps: vec![],
            tdeps: vec![],
            build_deps: vec![],
            build_tdeps: vec![],
            exposes: vec![],
            binds: vec![],
            binds_optional: vec![],
            is_a_service: false,
            owner: "alice".into(),
            created_at: time::OffsetDateTime::now_utc(),
            sha256: None,
            signer: None,
        };
        source.metadata.insert_package(&package).await.unwrap();
        // The rows cannot be read whole any more: the copy fails after the artifacts moved.
        rusqlite::Connection::open(source_dir.join("depot.sqlite"))
            .unwrap()
            .execute_batch("DROP TABLE invitations")
            .unwrap();

        let dest_dir = dir.path().join("dest");
        let destination = stores(&dest_dir);
        let lines = std::sync::Mutex::new(Vec::new());
        let result = migrate(
            &source,
            &destination,
            &dest_dir.join("tmp"),
            false,
            |line| lines.lock().unwrap().push(line.to_owned()),
        )
        .await;
        assert!(result.is_err(), "{result:?}");
        let lines = lines.into_inner().unwrap();
        assert!(
            lines.iter().any(|l| l.starts_with("copied ")),
            "the artifact was copied first: {lines:?}"
        );
        assert_eq!(destination.artifacts.list().await.unwrap(), vec![]);
        assert!(destination.metadata.accounts().await.unwrap().is_empty());
    }
}
