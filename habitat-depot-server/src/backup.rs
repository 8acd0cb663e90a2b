//! Online backups of the embedded store and their restore (docs/operations.md, "Backups").
//!
//! [`backup`] copies `depot.sqlite` with SQLite's online backup API (a consistent snapshot,
//! taken while the depot serves), then the artifacts that snapshot references and the server
//! key, into a temp folder next to the destination that is renamed into place at the end: an
//! interrupted backup leaves no half-written destination. [`restore`] copies a backup into an
//! empty data directory; the caller then checks it as `hab-depot fsck` does.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::settings::Settings;

/// The database file of the embedded store, in the data directory and in a backup.
const DATABASE: &str = "depot.sqlite";
/// The artifacts folder of the embedded store, in the data directory and in a backup.
const ARTIFACTS: &str = "artifacts";
/// The server key's name inside a backup.
const SERVER_KEY: &str = "server.key";

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The settings name PostgreSQL or S3, which this command cannot copy consistently.
    #[error(
        "`backup` and `restore` copy the embedded store only; for PostgreSQL use `pg_dump` \
         (and `pg_restore`), for S3 turn on bucket versioning, or export with `hab-depot \
         migrate --to FILE` into a fresh embedded data directory (docs/operations.md, \
         \"Backups\")"
    )]
    NotEmbedded,
    /// The destination exists and holds something.
    #[error("`{}` exists and is not empty; name a new or empty directory", .0.display())]
    NotEmpty(PathBuf),
    /// The source has no database.
    #[error("`{}` holds no `depot.sqlite`", .0.display())]
    NoDatabase(PathBuf),
    /// The server key is missing.
    #[error("the server key `{}` is missing", .0.display())]
    NoServerKey(PathBuf),
    /// The restore would replace another server key.
    #[error(
        "the server key `{}` exists and differs from the backup's; move it away first",
        .0.display()
    )]
    OtherServerKey(PathBuf),
    /// An artifact the copied database references is gone from the store.
    #[error(
        "artifact `{}` of the copied database is gone from the store (deleted during the \
         backup?); run the backup again",
        .0.display()
    )]
    ArtifactGone(PathBuf),
    /// A file system call failed.
    #[error("cannot {action} `{}`: {source}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// SQLite failed.
    #[error("cannot copy the database `{}`: {source}", .path.display())]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// The failure.
        source: rusqlite::Error,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackupError {
    let path = path.to_owned();
    move |source| BackupError::Io {
        action,
        path,
        source,
    }
}

fn sqlite_error(path: &Path) -> impl FnOnce(rusqlite::Error) -> BackupError {
    let path = path.to_owned();
    move |source| BackupError::Sqlite { path, source }
}

/// What a backup or a restore copied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// Artifacts copied or hard-linked.
    pub artifacts: usize,
    /// Of those, how many were hard-linked (same file system).
    pub linked: usize,
    /// Bytes of the artifacts.
    pub bytes: u64,
}

/// Refuses anything but the embedded store.
fn embedded_only(settings: &Settings) -> Result<(), BackupError> {
    if settings.is_embedded() {
        Ok(())
    } else {
        Err(BackupError::NotEmbedded)
    }
}

/// `dir` is missing or an empty directory.
fn is_missing_or_empty(dir: &Path) -> Result<bool, BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Ok(false),
        Err(e) => Err(io_error("read", dir)(e)),
    }
}

/// Takes a backup of the embedded store of `settings` into `to` (which must be missing or
/// empty) while the depot may be serving.
pub fn backup(settings: &Settings, to: &Path) -> Result<Copied, BackupError> {
    embedded_only(settings)?;
    if !is_missing_or_empty(to)? {
        return Err(BackupError::NotEmpty(to.to_owned()));
    }
    let data_dir = &settings.data_dir;
    let database = data_dir.join(DATABASE);
    if !database.is_file() {
        return Err(BackupError::NoDatabase(data_dir.clone()));
    }
    let key = settings.server_key_path();
    if !key.is_file() {
        return Err(BackupError::NoServerKey(key));
    }
    let parent = match to.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io_error("create", &parent))?;
    let temp = tempfile::Builder::new()
        .prefix(".hab-depot-backup-")
        .tempdir_in(&parent)
        .map_err(io_error("create a temp folder in", &parent))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(io_error("protect", temp.path()))?;
    }
    let copy = temp.path().join(DATABASE);
    let checksums = copy_database(&database, &copy)?;
    let mut copied = Copied::default();
    for hex in &checksums {
        let Some(relative) = artifact_relative(hex) else {
            continue;
        };
        let from = data_dir.join(ARTIFACTS).join(&relative);
        if !from.is_file() {
            return Err(BackupError::ArtifactGone(from));
        }
        link_or_copy(
            &from,
            &temp.path().join(ARTIFACTS).join(&relative),
            true,
            &mut copied,
        )?;
    }
    copy_private(&key, &temp.path().join(SERVER_KEY))?;
    let imports = data_dir.join(crate::sync::bundle::SEQUENCE_FILE);
    if imports.is_file() {
        copy_private(
            &imports,
            &temp.path().join(crate::sync::bundle::SEQUENCE_FILE),
        )?;
    }
    std::fs::rename(temp.path(), to).map_err(io_error("move the backup to", to))?;
    Ok(copied)
}

/// Copies a live database with SQLite's online backup API, in one step: the copy is one
/// consistent snapshot, however the depot writes meanwhile. Returns the checksums the copy's
/// package rows reference.
fn copy_database(database: &Path, copy: &Path) -> Result<BTreeSet<String>, BackupError> {
    // Read-write (but never created): only a writer may remove the write-ahead log files
    // when it is the last connection to close; the backup itself only reads.
    let source = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_error(database))?;
    source
        .busy_timeout(Duration::from_secs(30))
        .map_err(sqlite_error(database))?;
    let mut dest = Connection::open(copy).map_err(sqlite_error(copy))?;
    {
        let backup = Backup::new(&source, &mut dest).map_err(sqlite_error(database))?;
        loop {
            match backup.step(-1).map_err(sqlite_error(database))? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    let checksums = referenced_checksums(&dest, copy)?;
    // Closing the last connection folds any write-ahead log into the file and removes it.
    dest.close().map_err(|(_, e)| sqlite_error(copy)(e))?;
    sync_file(copy)?;
    Ok(checksums)
}

/// The checksums of every package row of `conn`, the database at `path`.
fn referenced_checksums(conn: &Connection, path: &Path) -> Result<BTreeSet<String>, BackupError> {
    let mut statement = conn
        .prepare("SELECT DISTINCT checksum FROM packages")
        .map_err(sqlite_error(path))?;
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(sqlite_error(path))?;
    rows.collect::<Result<_, _>>().map_err(sqlite_error(path))
}

/// Where the artifact `hex` lives under `artifacts/` (as the embedded artifact store names
/// it); `None` for a value that is no checksum.
fn artifact_relative(hex: &str) -> Option<PathBuf> {
    let checksum: habitat_core::Blake2bHash = hex.parse().ok()?;
    let hex = checksum.to_string();
    Some(PathBuf::from(&hex[..2]).join(format!("{hex}.hart")))
}

/// With `link`, hard-links `from` to `to` (artifacts are never changed in place), or copies
/// it when that fails (another file system); without, copies it.
fn link_or_copy(
    from: &Path,
    to: &Path,
    link: bool,
    copied: &mut Copied,
) -> Result<(), BackupError> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(io_error("create", dir))?;
    }
    let size = std::fs::metadata(from)
        .map_err(io_error("read", from))?
        .len();
    if link && std::fs::hard_link(from, to).is_ok() {
        copied.linked += 1;
    } else {
        std::fs::copy(from, to).map_err(io_error("copy", from))?;
        sync_file(to)?;
    }
    copied.artifacts += 1;
    copied.bytes += size;
    Ok(())
}

/// Copies a private file (a key), readable by its owner only.
fn copy_private(from: &Path, to: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::OpenOptionsExt;
    let bytes = std::fs::read(from).map_err(io_error("read", from))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(io_error("create", to))?;
    io::Write::write_all(&mut file, &bytes).map_err(io_error("write", to))?;
    file.sync_all().map_err(io_error("write", to))
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_error("write", path))
}

/// Copies the backup in `from` into the data directory of `settings`, which must be missing
/// or empty. The caller checks the result as `hab-depot fsck` does.
pub fn restore(settings: &Settings, from: &Path) -> Result<Copied, BackupError> {
    embedded_only(settings)?;
    let data_dir = &settings.data_dir;
    if !is_missing_or_empty(data_dir)? {
        return Err(BackupError::NotEmpty(data_dir.clone()));
    }
    let database = from.join(DATABASE);
    if !database.is_file() {
        return Err(BackupError::NoDatabase(from.to_owned()));
    }
    let backup_key = from.join(SERVER_KEY);
    let key_bytes = std::fs::read(&backup_key).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => BackupError::NoServerKey(backup_key.clone()),
        _ => io_error("read", &backup_key)(e),
    })?;
    let key = settings.server_key_path();
    let key_exists = match std::fs::read(&key) {
        Ok(existing) if existing == key_bytes => true,
        Ok(_) => return Err(BackupError::OtherServerKey(key)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(io_error("read", &key)(e)),
    };
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(io_error("create", data_dir))?;
    }
    if !key_exists {
        if let Some(dir) = key.parent() {
            std::fs::create_dir_all(dir).map_err(io_error("create", dir))?;
        }
        copy_private(&backup_key, &key)?;
    }
    let restored = data_dir.join(DATABASE);
    std::fs::copy(&database, &restored).map_err(io_error("copy", &database))?;
    sync_file(&restored)?;
    let imports = from.join(crate::sync::bundle::SEQUENCE_FILE);
    if imports.is_file() {
        copy_private(&imports, &data_dir.join(crate::sync::bundle::SEQUENCE_FILE))?;
    }
    let mut copied = Copied::default();
    let artifacts = from.join(ARTIFACTS);
    if artifacts.is_dir() {
        for shard in std::fs::read_dir(&artifacts).map_err(io_error("read", &artifacts))? {
            let shard = shard.map_err(io_error("read", &artifacts))?.path();
            if !shard.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&shard).map_err(io_error("read", &shard))? {
                let file = file.map_err(io_error("read", &shard))?.path();
                let (Some(shard_name), Some(name)) = (shard.file_name(), file.file_name()) else {
                    continue;
                };
                let to = data_dir.join(ARTIFACTS).join(shard_name).join(name);
                link_or_copy(&file, &to, false, &mut copied)?;
            }
        }
    }
    Ok(copied)
}
