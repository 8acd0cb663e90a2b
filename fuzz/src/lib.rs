//! Helpers shared by the fuzz targets in `fuzz_targets/`: tar checksum repair (so mutations
//! reach the archive checks instead of dying on a checksum), xz compression, `.hart` files
//! signed with a fixed key, and snapshots of a directory tree for before/after comparison.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use habitat_core::keys::{KeyCache, SecretKey};
use habitat_core::{UnpackLimits, artifact};
use liblzma::stream::{Check, Filters, LzmaOptions, Stream};

/// Small bounds, so that a decompression bomb costs the fuzzer little.
pub const LIMITS: UnpackLimits = UnpackLimits {
    max_unpacked_bytes: 64 << 20,
    max_entries: 10_000,
    decoder_threading_memory: 64 << 20,
};

const BLOCK: usize = 512;

/// Rewrites the checksum of every tar header in `tar`, walking it as the `tar` crate does
/// (header, then the data rounded up to 512 bytes, until the first all-zero block). Without
/// this almost every mutation of a header is rejected as a checksum mismatch.
pub fn fix_tar_checksums(tar: &mut [u8]) {
    edit_tar_headers(tar, |_| {});
}

/// Like [`fix_tar_checksums`], after letting `edit` change each 512-byte header.
pub fn edit_tar_headers(tar: &mut [u8], mut edit: impl FnMut(&mut [u8])) {
    let mut offset = 0;
    while offset + BLOCK <= tar.len() {
        let header = &mut tar[offset..offset + BLOCK];
        if header.iter().all(|&b| b == 0) {
            return;
        }
        edit(header);
        let sum: u32 = header[..148]
            .iter()
            .chain(&header[156..])
            .map(|&b| u32::from(b))
            .sum::<u32>()
            + 8 * u32::from(b' ');
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let Some(size) = numeric_field(&header[124..136]) else {
            return;
        };
        let Some(next) = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(BLOCK - 1))
            .map(|s| s & !(BLOCK - 1))
            .and_then(|s| s.checked_add(offset + BLOCK))
        else {
            return;
        };
        offset = next;
    }
}

/// A tar numeric field: octal text, or base-256 when the high bit of the first byte is set.
fn numeric_field(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let tail = &field[field.len() - 8..];
        let mut value = 0u64;
        for (i, &b) in tail.iter().enumerate() {
            let b = if i == 0 && field.len() == 8 {
                b ^ 0x80
            } else {
                b
            };
            value = (value << 8) | u64::from(b);
        }
        return Some(value);
    }
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let text = std::str::from_utf8(&field[..end]).ok()?;
    u64::from_str_radix(text.trim(), 8).ok()
}

/// xz-compresses `data` with preset 0 and a 4 KiB dictionary: the decoder does not care how
/// well it was compressed, and the encoder's and decoder's buffers (which must be allocated and
/// cleared on every run) stay small.
pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut options = LzmaOptions::new_preset(0).expect("preset 0 exists");
    options.dict_size(4096);
    let stream = Stream::new_stream_encoder(Filters::new().lzma2(&options), Check::Crc64)
        .expect("an LZMA2 encoder with valid options");
    let mut encoder = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .expect("xz-compressing into memory cannot fail")
}

/// A temporary directory, in memory when `/dev/shm` exists: signing and committing sync to
/// disk, which on a real disk would dominate the run time.
pub fn tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    dir.expect("create a temporary directory")
}

/// A signing key and a key cache holding its public half, made once per process.
pub struct Signer {
    /// Scratch space for payloads and artifacts; also holds the key cache.
    pub dir: tempfile::TempDir,
    /// The cache with the public key.
    pub keys: KeyCache,
    /// The secret key every artifact is signed with.
    pub key: SecretKey,
}

/// The process-wide [`Signer`].
pub fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let dir = tempdir();
        let keys = KeyCache::new(dir.path().join("keys"));
        let key = SecretKey::generate(&"fuzz".parse().expect("`fuzz` is an origin name"))
            .expect("generate the fuzzer's signing key");
        keys.write_public(&key.public_key())
            .expect("write the fuzzer's public key");
        Signer { dir, keys, key }
    })
}

/// Writes `tar`, xz-compressed and signed with the fixed key, as a `.hart` in the scratch
/// directory and returns its path.
pub fn signed_hart(tar: &[u8]) -> PathBuf {
    let signer = signer();
    let payload = signer.dir.path().join("payload.tar.xz");
    fs::write(&payload, xz(tar)).expect("write the payload");
    let hart = signer.dir.path().join("fuzz.hart");
    artifact::sign(&payload, &hart, &signer.key).expect("sign the payload");
    hart
}

/// Writes `tar`, xz-compressed, as a `.hart` in the scratch directory with a well-formed but
/// unsigned header (the signature is 128 zero bytes), for readers that do not verify, and
/// returns its path.
pub fn unsigned_hart(tar: &[u8]) -> PathBuf {
    let zero_signature = format!("{}=", "A".repeat(171));
    let mut bytes =
        format!("HART-1\nfuzz-20200101000000\nBLAKE2b\n{zero_signature}\n\n").into_bytes();
    bytes.extend(xz(tar));
    let hart = signer().dir.path().join("unsigned.hart");
    fs::write(&hart, bytes).expect("write the artifact");
    hart
}

/// One entry of a directory tree, as far as the install invariants care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory and its permission bits.
    Directory(u32),
    /// A regular file, its permission bits and content.
    File(u32, Vec<u8>),
    /// A symbolic link and its target.
    Symlink(PathBuf),
    /// Anything else (fifo, socket, device).
    Other,
}

/// Every entry under `root` (not `root` itself), by path relative to it. Links are not
/// followed.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut tree = BTreeMap::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = root.join(&rel);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("read a directory entry");
            let rel = rel.join(entry.file_name());
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).expect("stat an entry");
            let mode = meta.permissions().mode() & 0o7777;
            let node = if meta.is_symlink() {
                Node::Symlink(fs::read_link(&path).expect("read a link"))
            } else if meta.is_dir() {
                pending.push(rel.clone());
                Node::Directory(mode)
            } else if meta.is_file() {
                Node::File(mode, fs::read(&path).expect("read a file"))
            } else {
                Node::Other
            };
            tree.insert(rel, node);
        }
    }
    tree
}

#[derive(Clone)]
enum Step {
    Root,
    Current,
    Parent,
    Name(OsString),
}

fn steps(path: &Path) -> Vec<Step> {
    path.components()
        .map(|c| match c {
            Component::RootDir | Component::Prefix(_) => Step::Root,
            Component::CurDir => Step::Current,
            Component::ParentDir => Step::Parent,
            Component::Normal(name) => Step::Name(name.to_owned()),
        })
        .collect()
}

/// Follows the symbolic link `link` as the kernel would, through every link on disk, with
/// `fs_root` as the root directory (absolute targets start there, as they do once `FS_ROOT` is
/// the root of a container or chroot), and says how it escapes `package`: by resolving outside
/// it, or by passing through a link outside it. `link` and `package` are relative to
/// `fs_root`. Missing components are followed lexically.
pub fn link_escape(fs_root: &Path, package: &Path, link: &Path) -> Option<String> {
    let mut stack: Vec<OsString> = names(link.parent().unwrap_or(Path::new("")));
    let target = fs::read_link(fs_root.join(link)).expect("read a link");
    let mut pending: Vec<Step> = steps(&target).into_iter().rev().collect();
    let mut hops = 0;
    while let Some(step) = pending.pop() {
        match step {
            Step::Root => stack.clear(),
            Step::Current => {}
            // `..` at the root stays at the root.
            Step::Parent => {
                stack.pop();
            }
            Step::Name(name) => {
                stack.push(name);
                let here: PathBuf = stack.iter().collect();
                if fs::symlink_metadata(fs_root.join(&here)).is_ok_and(|m| m.is_symlink()) {
                    if !here.starts_with(package) {
                        return Some(format!("passes through the link `{}`", here.display()));
                    }
                    hops += 1;
                    if hops > 40 {
                        // The kernel gives up with ELOOP: nothing is reached.
                        return None;
                    }
                    stack.pop();
                    let next = fs::read_link(fs_root.join(&here)).expect("read a link");
                    pending.extend(steps(&next).into_iter().rev());
                }
            }
        }
    }
    let resolved: PathBuf = stack.iter().collect();
    (!resolved.starts_with(package)).then(|| format!("resolves to `{}`", resolved.display()))
}

fn names(path: &Path) -> Vec<OsString> {
    steps(path)
        .into_iter()
        .filter_map(|s| match s {
            Step::Name(n) => Some(n),
            _ => None,
        })
        .collect()
}
