//! The embedded artifact store: one file per artifact under `<data>/artifacts/`, named by its
//! checksum (`ab/abcdef….hart`), written by rename so readers see all of it or nothing.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use habitat_core::Blake2bHash;
use tokio::io::AsyncSeekExt;

use super::{ArtifactReader, ArtifactStore, StoreError, StoreResult};

/// Artifacts as files under a directory.
#[derive(Clone, Debug)]
pub struct FileArtifacts {
    dir: PathBuf,
}

/// A failure of the local file `path`, as a [`StoreError::Backend`] naming it.
pub(super) fn backend(action: &str, path: &Path, e: io::Error) -> StoreError {
    StoreError::backend(format!("cannot {action} `{}`", path.display()), e)
}

impl FileArtifacts {
    /// The store at `dir` (created if missing).
    pub fn open(dir: impl Into<PathBuf>) -> StoreResult<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| backend("create", &dir, e))?;
        Ok(Self { dir })
    }

    /// Where an artifact lives.
    pub fn path_of(&self, checksum: &Blake2bHash) -> PathBuf {
        let hex = checksum.to_string();
        self.dir.join(&hex[..2]).join(format!("{hex}.hart"))
    }
}

#[async_trait]
impl ArtifactStore for FileArtifacts {
    async fn ping(&self) -> StoreResult<()> {
        let meta = tokio::fs::metadata(&self.dir)
            .await
            .map_err(|e| backend("read", &self.dir, e))?;
        if meta.is_dir() {
            Ok(())
        } else {
            Err(StoreError::Invalid(format!(
                "`{}` is not a directory",
                self.dir.display()
            )))
        }
    }

    /// Moves `local` into place (it must be on the same file system, as the data directory's
    /// temp files are), after making its content durable.
    async fn put(&self, checksum: &Blake2bHash, local: &Path) -> StoreResult<()> {
        let dest = self.path_of(checksum);
        let local = local.to_owned();
        tokio::task::spawn_blocking(move || {
            if dest.is_file() {
                return Ok(());
            }
            let parent = dest.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(parent).map_err(|e| backend("create", parent, e))?;
            std::fs::File::open(&local)
                .and_then(|f| f.sync_all())
                .map_err(|e| backend("sync", &local, e))?;
            std::fs::rename(&local, &dest).map_err(|e| backend("move into", &dest, e))?;
            std::fs::File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| backend("sync", parent, e))
        })
        .await
        .map_err(|e| StoreError::backend("a file-system task did not finish", e))?
    }

    async fn open(
        &self,
        checksum: &Blake2bHash,
        offset: u64,
    ) -> StoreResult<Option<ArtifactReader>> {
        let path = self.path_of(checksum);
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(backend("open", &path, e)),
        };
        let size = file
            .metadata()
            .await
            .map_err(|e| backend("read", &path, e))?
            .len();
        file.seek(SeekFrom::Start(offset.min(size)))
            .await
            .map_err(|e| backend("seek", &path, e))?;
        Ok(Some(ArtifactReader {
            size,
            reader: Box::pin(file),
        }))
    }

    async fn delete(&self, checksum: &Blake2bHash) -> StoreResult<()> {
        let path = self.path_of(checksum);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(backend("remove", &path, e)),
        }
    }

    async fn list(&self) -> StoreResult<Vec<(Blake2bHash, u64)>> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            for shard in std::fs::read_dir(&dir).map_err(|e| backend("read", &dir, e))? {
                let shard = shard.map_err(|e| backend("read", &dir, e))?.path();
                if !shard.is_dir() {
                    continue;
                }
                for entry in std::fs::read_dir(&shard).map_err(|e| backend("read", &shard, e))? {
                    let entry = entry.map_err(|e| backend("read", &shard, e))?;
                    let name = entry.file_name();
                    let Some(hash) = name
                        .to_str()
                        .and_then(|n| n.strip_suffix(".hart"))
                        .and_then(|h| h.parse().ok())
                    else {
                        continue;
                    };
                    let size = entry
                        .metadata()
                        .map_err(|e| backend("read", &entry.path(), e))?
                        .len();
                    found.push((hash, size));
                }
            }
            Ok(found)
        })
        .await
        .map_err(|e| StoreError::backend("a file-system task did not finish", e))?
    }
}
