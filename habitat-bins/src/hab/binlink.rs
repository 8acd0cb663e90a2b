//! `hab pkg install -b/--binlink`: links the programs of installed packages into
//! `$FS_ROOT/bin`, so they are on the PATH without naming the package's directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use habitat_core::{FsRoot, FullyQualifiedIdent};

use super::start::package::{bin_dirs, read_optional};
use crate::say;

/// Links every executable file in the directories of `ident`'s PATH metadata into `dest`,
/// replacing links that are already there (an earlier release's) but never a file that is not
/// a link. Returns the links made.
pub(super) fn binlink(
    root: &FsRoot,
    ident: &FullyQualifiedIdent,
    dest: &Path,
) -> Result<Vec<PathBuf>> {
    let package_dir = root.package_dir(ident);
    let Some(path) = read_optional(&package_dir.join("PATH"))? else {
        say!("{ident} has no programs to link (no PATH)");
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create `{}`", dest.display()))?;
    let mut linked = Vec::new();
    for dir in bin_dirs(root, &package_dir, &path) {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", dir.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read `{}`", dir.display()))?;
            let program = entry.path();
            if !is_executable(&program) {
                continue;
            }
            let link = dest.join(entry.file_name());
            match std::fs::symlink_metadata(&link) {
                Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(&link)
                    .with_context(|| format!("cannot replace `{}`", link.display()))?,
                Ok(_) => {
                    say!(
                        "Not linking {}: `{}` is not a link",
                        program.display(),
                        link.display()
                    );
                    continue;
                }
                Err(_) => {}
            }
            std::os::unix::fs::symlink(&program, &link).with_context(|| {
                format!(
                    "cannot link `{}` to `{}`",
                    link.display(),
                    program.display()
                )
            })?;
            say!("Linked {} to {}", link.display(), program.display());
            linked.push(link);
        }
    }
    Ok(linked)
}

/// A regular file (through links) with an execute bit.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
