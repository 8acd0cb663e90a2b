//! The trusted copies of a depot's metadata, kept between runs so that rollback protection
//! survives: `root.json`, `timestamp.json`, `snapshot.json`, `targets.json`, `bin-XX.json`.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One depot's directory of trusted metadata.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, role: &str) -> PathBuf {
        self.dir.join(format!("{role}.json"))
    }

    /// The trusted copy of `role`, if there is one.
    pub(crate) fn read(&self, role: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(role);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path)(e)),
        }
    }

    /// Replaces the trusted copy of `role` (written beside it, then renamed over it, so a
    /// reader never sees half a file).
    pub(crate) fn write(&self, role: &str, bytes: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(Error::io("create", &self.dir))?;
        let path = self.path(role);
        let temporary = self
            .dir
            .join(format!(".{role}.json.{}.tmp", std::process::id()));
        std::fs::write(&temporary, bytes).map_err(Error::io("write", &temporary))?;
        std::fs::rename(&temporary, &path).map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            Error::io("rename into", &path)(e)
        })
    }

    /// Forgets the trusted copy of `role`.
    pub(crate) fn remove(&self, role: &str) -> Result<()> {
        let path = self.path(role);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", path)(e)),
        }
    }

    /// Forgets everything but `root.json`: a new pin starts over.
    pub(crate) fn clear(&self) -> Result<()> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("read", &self.dir)(e)),
        };
        for entry in entries {
            let path = entry.map_err(Error::io("read", &self.dir))?.path();
            let json = path.extension().is_some_and(|e| e == "json");
            if json && path.file_name().is_some_and(|n| n != "root.json") {
                std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
            }
        }
        Ok(())
    }
}
