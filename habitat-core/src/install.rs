//! Installing packages under a filesystem root (docs/formats.md, "The install layout").
//!
//! An artifact is unpacked into a temporary directory beside its destination while its payload
//! is hashed (one pass over the bytes); only when the hash matches the signature is the result
//! a [`StagedPackage`], and only [`StagedPackage::commit`] renames it into place. Dropping a
//! staged package, or any failure before, removes everything it wrote.
//!
//! ```no_run
//! use habitat_core::{FsRoot, KeyCache, UnpackLimits};
//!
//! let root = FsRoot::new("/");
//! let keys = KeyCache::new("/hab/cache/keys");
//! let staged = root.stage("core-redis-4.0.14-20190319155852-x86_64-linux.hart".as_ref(), &keys, &UnpackLimits::default())?;
//! let installed = staged.commit()?;
//! println!("installed {installed}");
//! # Ok::<(), habitat_core::Error>(())
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::archive::{self, Sink, UnpackLimits, io_error};
use crate::artifact::{Artifact, VerifiedArtifact};
use crate::error::{Error, IoContext, Result};
use crate::ident::{FullyQualifiedIdent, PackageIdent};
use crate::keys::KeyCache;
use crate::metadata::PackageMetadata;

/// A filesystem root (`FS_ROOT`, `/` by default) and the Habitat layout under it.
#[derive(Clone, Debug)]
pub struct FsRoot {
    root: PathBuf,
}

impl FsRoot {
    /// The layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `hab/pkgs` under the root.
    pub fn pkgs_dir(&self) -> PathBuf {
        self.root.join("hab/pkgs")
    }

    /// Where a package is installed: `hab/pkgs/O/N/V/R`.
    pub fn package_dir(&self, ident: &FullyQualifiedIdent) -> PathBuf {
        self.root.join(ident.install_path())
    }

    /// `hab/cache/artifacts`.
    pub fn artifact_cache(&self) -> PathBuf {
        self.root.join("hab/cache/artifacts")
    }

    /// `hab/cache/keys`: the key cache of root.
    pub fn key_cache(&self) -> PathBuf {
        self.root.join("hab/cache/keys")
    }

    /// Is this exact package installed?
    pub fn is_installed(&self, ident: &FullyQualifiedIdent) -> bool {
        self.package_dir(ident).join("IDENT").is_file()
    }

    /// Installed packages that satisfy `query` (all of them when `query` is `None`), newest
    /// first within a package. Directories being staged (names starting with `.`) are skipped.
    pub fn installed(&self, query: Option<&PackageIdent>) -> Result<Vec<FullyQualifiedIdent>> {
        let mut found = Vec::new();
        let pkgs = self.pkgs_dir();
        let origins: Vec<String> = match query {
            Some(q) => vec![q.origin().to_string()],
            None => list_dir(&pkgs)?,
        };
        for origin in origins {
            let origin_dir = pkgs.join(&origin);
            let names = match query {
                Some(q) => vec![q.name().to_string()],
                None => list_dir(&origin_dir)?,
            };
            for name in names {
                let name_dir = origin_dir.join(&name);
                for version in list_dir(&name_dir)? {
                    for release in list_dir(&name_dir.join(&version))? {
                        let text = format!("{origin}/{name}/{version}/{release}");
                        let Ok(ident) = text.parse::<FullyQualifiedIdent>() else {
                            continue;
                        };
                        if self.is_installed(&ident) && query.is_none_or(|q| q.satisfied_by(&ident))
                        {
                            found.push(ident);
                        }
                    }
                }
            }
        }
        found.sort_by(|a, b| {
            (a.origin(), a.name())
                .cmp(&(b.origin(), b.name()))
                .then_with(|| b.cmp_release(a))
        });
        Ok(found)
    }

    /// The newest installed package that satisfies `query`.
    pub fn latest_installed(&self, query: &PackageIdent) -> Result<Option<FullyQualifiedIdent>> {
        Ok(self.installed(Some(query))?.into_iter().next())
    }

    /// Reads an installed package's TDEPS (empty when absent).
    pub fn installed_tdeps(&self, ident: &FullyQualifiedIdent) -> Result<Vec<FullyQualifiedIdent>> {
        let path = self.package_dir(ident).join("TDEPS");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at("read", &path),
        };
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.parse().map_err(|e: Error| Error::Metadata {
                    file: path.display().to_string(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// Verifies `artifact` with the key its header names (from `keys`) while unpacking it into
    /// a temporary directory beside its destination. Nothing is visible until
    /// [`StagedPackage::commit`].
    pub fn stage(
        &self,
        artifact: &Path,
        keys: &KeyCache,
        limits: &UnpackLimits,
    ) -> Result<StagedPackage> {
        let artifact = Artifact::open(artifact)?;
        let key = keys.public_key(artifact.header().signer())?;
        let mut sink = StagingSink {
            root: self.clone(),
            staging: None,
        };
        let (verified, metadata) =
            artifact.verify_streaming(&key, |payload| archive::walk(payload, limits, &mut sink))?;
        let staging = sink.staging.take().ok_or_else(|| Error::UnsafeMember {
            member: String::new(),
            reason: "the archive has no package directory".into(),
        })?;
        staging.apply_directory_modes()?;
        Ok(StagedPackage {
            artifact: verified,
            metadata,
            staging,
        })
    }
}

fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("read directory", dir),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.at("read directory", dir)?;
        if let Some(name) = entry.file_name().to_str().filter(|n| !n.starts_with('.'))
            && entry.file_type().at("stat", entry.path())?.is_dir()
        {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// A verified package unpacked into a temporary directory, waiting to be renamed into place.
#[derive(Debug)]
pub struct StagedPackage {
    artifact: VerifiedArtifact,
    metadata: PackageMetadata,
    staging: Staging,
}

impl StagedPackage {
    /// The package's metadata.
    pub fn metadata(&self) -> &PackageMetadata {
        &self.metadata
    }

    /// The verified artifact it came from.
    pub fn artifact(&self) -> &VerifiedArtifact {
        &self.artifact
    }

    /// Renames the package into place. If the same package is already installed, the staged
    /// copy is dropped and the installed one is kept.
    pub fn commit(mut self) -> Result<FullyQualifiedIdent> {
        let dest = self.staging.dest.clone();
        let Some(dir) = self.staging.dir.as_ref().map(|d| d.path().to_owned()) else {
            return Ok(self.metadata.ident);
        };
        // On failure the staged copy stays in `self.staging`, whose drop makes its directories
        // writable before removing it (they may be read-only by now).
        match fs::rename(&dir, &dest) {
            Ok(()) => {
                // The staged directory is the package now: nothing is left to remove.
                if let Some(staged) = self.staging.dir.take() {
                    let _ = staged.keep();
                }
                self.staging.created_parents.clear();
                crate::fs::sync_dir(dest.parent().unwrap_or(Path::new("/")))?;
                Ok(self.metadata.ident)
            }
            Err(_) if dest.join("IDENT").is_file() => {
                self.staging.created_parents.clear();
                Ok(self.metadata.ident)
            }
            Err(e) => Err(e).at("rename into", &dest),
        }
    }
}

/// The temporary directory of a package being unpacked, and the directories created to hold it.
#[derive(Debug)]
struct Staging {
    dir: Option<tempfile::TempDir>,
    dest: PathBuf,
    /// Parents of `dest` created for this install, deepest first; removed (if empty) on drop.
    created_parents: Vec<PathBuf>,
    /// Directory modes to apply once every member is written, deepest last.
    directory_modes: Vec<(PathBuf, u32)>,
}

impl Staging {
    fn path(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), |d| d.path())
    }

    fn apply_directory_modes(&self) -> Result<()> {
        for (dir, mode) in self.directory_modes.iter().rev() {
            fs::set_permissions(dir, fs::Permissions::from_mode(*mode)).at("set mode of", dir)?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            // Directories may have been made read-only; make them writable to remove them.
            for (path, _) in &self.directory_modes {
                let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o755));
            }
            drop(dir);
        }
        for parent in &self.created_parents {
            let _ = fs::remove_dir(parent);
        }
    }
}

struct StagingSink {
    root: FsRoot,
    staging: Option<Staging>,
}

impl StagingSink {
    fn staging(&mut self) -> &mut Staging {
        // `begin` runs before any member (archive::walk guarantees it).
        self.staging.get_or_insert_with(|| Staging {
            dir: None,
            dest: PathBuf::new(),
            created_parents: Vec::new(),
            directory_modes: Vec::new(),
        })
    }

    fn target(&mut self, rel: &Path) -> PathBuf {
        self.staging().path().join(rel)
    }
}

impl Sink for StagingSink {
    fn begin(&mut self, ident: &FullyQualifiedIdent) -> Result<()> {
        let dest = self.root.package_dir(ident);
        let parent = dest.parent().unwrap_or(Path::new("/")).to_owned();
        let mut created_parents = Vec::new();
        let mut missing = Some(parent.as_path());
        while let Some(dir) = missing.filter(|d| !d.exists()) {
            created_parents.push(dir.to_owned());
            missing = dir.parent();
        }
        // Stored before creating so that a failure part-way still cleans up.
        self.staging = Some(Staging {
            dir: None,
            dest,
            created_parents,
            directory_modes: Vec::new(),
        });
        fs::create_dir_all(&parent).at("create directory", &parent)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{}.staging-", ident.release()))
            .tempdir_in(&parent)
            .at("create staging directory in", &parent)?;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .at("set mode of", dir.path())?;
        self.staging().dir = Some(dir);
        Ok(())
    }

    fn directory(&mut self, rel: &Path, mode: u32) -> Result<()> {
        let path = self.target(rel);
        // Parent directories may be missing from the archive (docs/formats.md).
        create_parent(&path)?;
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {}
            Err(e) => return Err(e).at("create directory", &path),
        }
        // Keep the directory writable while unpacking; its own mode is applied at the end.
        self.staging().directory_modes.push((path, mode));
        Ok(())
    }

    fn file(&mut self, rel: &Path, mode: u32, mtime: u64, data: &mut dyn Read) -> Result<()> {
        let path = self.target(rel);
        create_parent(&path)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .at("create", &path)?;
        copy(data, &mut file).map_err(|e| match e {
            // The reader is the decompressor and tar: its errors are the payload's fault.
            CopyError::Read(e) => Error::CorruptPayload(e),
            CopyError::Write(e) => io_error("write", &path)(e),
        })?;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .at("set mode of", &path)?;
        // A time past what the platform represents (base-256 tar fields allow it) is left
        // as the time of writing.
        if let Some(modified) = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(mtime)) {
            file.set_modified(modified).at("set the time of", &path)?;
        }
        Ok(())
    }

    fn symlink(&mut self, rel: &Path, target: &Path) -> Result<()> {
        let path = self.target(rel);
        create_parent(&path)?;
        std::os::unix::fs::symlink(target, &path).at("create link", &path)
    }
}

/// Parents of members are created on demand: not every archive lists its directories.
fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) if !parent.is_dir() => {
            fs::create_dir_all(parent).at("create directory", parent)
        }
        _ => Ok(()),
    }
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// `io::copy` with a large buffer (the reader is a decompressor, not a file), keeping read and
/// write errors apart.
fn copy(reader: &mut dyn Read, writer: &mut File) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        writer.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}
