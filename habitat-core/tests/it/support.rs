//! Helpers shared by the integration tests: tars written header by header, signed artifacts
//! in a throw-away world (FS_ROOT, key cache, artifacts), and snapshots of that world.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use habitat_core::install::StagedPackage;
use habitat_core::{Error, FsRoot, KeyCache, SecretKey, UnpackLimits, artifact};

/// The package every hand-made archive holds.
pub const IDENT: &str = "core/foo/1.0.0/20200101000000";
/// Its directory inside the archive.
pub const PKG: &str = "hab/pkgs/core/foo/1.0.0/20200101000000";

/// A tar written header by header. Names and link targets go into the header's raw fields, so
/// that the archive can hold what the `tar` crate's checked setters refuse (`..`, absolute
/// paths).
pub struct TarBytes {
    builder: tar::Builder<Vec<u8>>,
}

impl TarBytes {
    /// An empty archive.
    pub fn new() -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    /// A well-formed package: IDENT, TARGET and `bin/hello` under [`PKG`].
    pub fn package() -> Self {
        Self::new()
            .file(&format!("{PKG}/IDENT"), format!("{IDENT}\n").as_bytes())
            .file(&format!("{PKG}/TARGET"), b"x86_64-linux\n")
            .file(&format!("{PKG}/bin/hello"), b"#!/bin/sh\necho hello\n")
    }

    /// Appends one member with raw name and link name.
    pub fn entry(
        mut self,
        kind: tar::EntryType,
        name: &str,
        link: &str,
        data: &[u8],
        mode: u32,
    ) -> Self {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_mtime(1_600_000_000);
        header.set_size(data.len() as u64);
        let raw = header.as_old_mut();
        assert!(name.len() < raw.name.len() && link.len() < raw.linkname.len());
        raw.name = [0; 100];
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        raw.linkname = [0; 100];
        raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    /// A regular file (mode 0644).
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(tar::EntryType::Regular, name, "", data, 0o644)
    }

    /// A directory (mode 0755).
    pub fn dir(self, name: &str) -> Self {
        self.entry(tar::EntryType::Directory, name, "", b"", 0o755)
    }

    /// A symbolic link.
    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(tar::EntryType::Symlink, name, target, b"", 0o777)
    }

    /// The archive's bytes, end-of-archive blocks included.
    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }
}

/// Compresses with xz (a low preset: these tests are about the tar, not the compression).
pub fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Decompresses an xz stream.
pub fn unxz(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    liblzma::read::XzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A temporary directory holding an FS_ROOT (`root/`), a key cache (`keys/`) with the public
/// half of a fresh key of origin `core`, and signed artifacts (`out/`).
pub struct World {
    dir: tempfile::TempDir,
    pub root: FsRoot,
    pub keys: KeyCache,
    pub key: SecretKey,
}

impl World {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = FsRoot::new(dir.path().join("root"));
        fs::create_dir(root.path()).unwrap();
        fs::create_dir(dir.path().join("out")).unwrap();
        let keys = KeyCache::new(dir.path().join("keys"));
        let key = SecretKey::generate(&"core".parse().unwrap()).unwrap();
        keys.write_public(&key.public_key()).unwrap();
        Self {
            dir,
            root,
            keys,
            key,
        }
    }

    /// The world's directory, which holds the root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The directory for artifacts.
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// xz-compresses `tar` and signs it as `out/<name>.hart`.
    pub fn sign(&self, tar: &[u8], name: &str) -> PathBuf {
        let payload = self.out().join(format!("{name}.tar.xz"));
        fs::write(&payload, xz(tar)).unwrap();
        let hart = self.out().join(format!("{name}.hart"));
        artifact::sign(&payload, &hart, &self.key).unwrap();
        fs::remove_file(&payload).unwrap();
        hart
    }

    /// Stages an artifact under the root with the world's key cache.
    pub fn stage(&self, hart: &Path, limits: &UnpackLimits) -> Result<StagedPackage, Error> {
        self.root.stage(hart, &self.keys, limits)
    }

    /// Everything under the world's directory.
    pub fn snapshot(&self) -> Snapshot {
        snapshot(self.path())
    }
}

/// What a file-system node looks like, for before/after comparisons.
#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    Dir { mode: u32 },
    File { mode: u32, content: Vec<u8> },
    Link { target: PathBuf },
    Other,
}

/// Every node under a directory, by path relative to it (links are not followed).
pub type Snapshot = BTreeMap<PathBuf, Node>;

pub fn snapshot(dir: &Path) -> Snapshot {
    fn walk(base: &Path, dir: &Path, out: &mut Snapshot) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = path.symlink_metadata().unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let node = if meta.file_type().is_symlink() {
                Node::Link {
                    target: fs::read_link(&path).unwrap(),
                }
            } else if meta.is_dir() {
                walk(base, &path, out);
                Node::Dir { mode }
            } else if meta.is_file() {
                Node::File {
                    mode,
                    content: fs::read(&path).unwrap(),
                }
            } else {
                Node::Other
            };
            out.insert(path.strip_prefix(base).unwrap().to_owned(), node);
        }
    }
    let mut out = Snapshot::new();
    walk(dir, dir, &mut out);
    out
}

/// Asserts that two snapshots are equal, listing what differs.
#[track_caller]
pub fn assert_unchanged(before: &Snapshot, after: &Snapshot) {
    let added: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    let removed: Vec<_> = before.keys().filter(|p| !after.contains_key(*p)).collect();
    let changed: Vec<_> = before
        .iter()
        .filter(|(p, n)| after.get(*p).is_some_and(|m| m != *n))
        .map(|(p, _)| p)
        .collect();
    assert!(
        added.is_empty() && removed.is_empty() && changed.is_empty(),
        "the world changed: added {added:?}, removed {removed:?}, changed {changed:?}"
    );
}

/// `../shared/fixtures/habitat/` relative to the repository root.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/habitat")
}

/// The path of a real Habitat fixture, or `None` (said on stderr) when it is absent, as in a
/// clone outside this workplace. Under CI it must be there.
pub fn fixture(name: &str) -> Option<PathBuf> {
    let path = fixtures_dir().join(name);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "fixture `{}` must exist under CI",
        path.display()
    );
    eprintln!("skipping: fixture `{}` is absent", path.display());
    None
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
