//! Small file-system helpers: atomic writes.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename) with
/// `mode`, creating the parent directory. If `path` already has exactly these bytes this is a
/// no-op; if it has other bytes the error is an [`io::ErrorKind::AlreadyExists`] I/O error and
/// the file is left alone.
pub fn write_once(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).at("create directory", dir)?;
    if same_content(path, bytes)? {
        return Ok(());
    }
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .at("create temporary file in", dir)?;
    temp.write_all(bytes).at("write", temp.path())?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .at("set mode of", temp.path())?;
    temp.as_file().sync_all().at("sync", temp.path())?;
    match temp.persist_noclobber(path) {
        Ok(_) => sync_dir(dir),
        // Someone else wrote it between our check and our rename: fine if identical.
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists && same_content(path, bytes)? => {
            Ok(())
        }
        Err(e) => Err(e.error).at("rename into", path),
    }
}

fn same_content(path: &Path, bytes: &[u8]) -> Result<bool> {
    match fs::read(path) {
        Ok(existing) if existing == bytes => Ok(true),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists with other content",
        ))
        .at("write", path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).at("read", path),
    }
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .at("sync directory", dir)
}
