//! A realistic synthetic package, packed and signed once and cached for later runs.
//!
//! The package has the shape of a real one: executables under `bin/`, shared libraries with
//! their `.so` links under `lib/`, jars, data files, and many small text files (headers, docs,
//! man pages, configs, scripts). Executables, libraries and data files are runs of
//! machine-code-like bytes interleaved with incompressible "asset" runs, in a proportion that
//! makes the payload compress to about 2/3 of its size, like the 256 MiB package (170 MiB
//! compressed) the anchors were measured on.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use habitat_core::pack::{PackSpec, pack};
use habitat_core::{FullyQualifiedIdent, KeyCache, OriginName, PackageTarget, SecretKey};

use crate::data::{Kind, XorShift64, extend};

/// Bump when the generated content changes, so cached artifacts are rebuilt.
const GENERATOR_VERSION: u32 = 2;
/// The origin of the generated package and its signing key.
pub const ORIGIN: &str = "bench";
/// The generated package's identifier: a fixed release keeps the archive name stable.
pub const IDENT: &str = "bench/bigpkg/1.0.0/20240101000000";
/// Share of the bytes of executables, libraries and data files that are incompressible
/// (per mille), calibrated so that the whole payload compresses to about 2/3.
const OPAQUE_PER_MILLE: u64 = 515;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArtifactSpec {
    /// Total size of the package's files, in MiB.
    pub size_mib: u64,
    /// Seed of every pseudo-random choice: the same seed gives the same files.
    pub seed: u64,
}

impl Default for ArtifactSpec {
    /// The 256 MiB package.
    fn default() -> Self {
        Self {
            size_mib: 256,
            seed: 1,
        }
    }
}

impl ArtifactSpec {
    /// Total size of the package's files, in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_mib << 20
    }
}

/// A packed, signed artifact and the key cache that verifies it.
#[derive(Clone, Debug)]
pub struct BenchArtifact {
    /// The `.hart` file.
    pub hart: PathBuf,
    /// A key cache holding the signing key pair (origin [`ORIGIN`]).
    pub keys: PathBuf,
    /// What was written, when this call generated the artifact (`None`: reused from the cache).
    pub generated: Option<PackageStats>,
}

/// The default cache directory: `data/` in this crate (gitignored).
pub fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Returns the artifact for `spec` cached under `data_dir`, generating, packing and signing it
/// first if it is not there. The cache lives in its own directory per spec and generator
/// version, with the key cache in `keys/` beside the `.hart`.
///
/// Fails if the package cannot be written or packed (disk full, unwritable `data_dir`).
pub fn ensure_artifact(data_dir: &Path, spec: &ArtifactSpec) -> Result<BenchArtifact> {
    let dir = data_dir.join(format!(
        "artifact-{}mib-seed{}-v{GENERATOR_VERSION}",
        spec.size_mib, spec.seed
    ));
    let ready = dir.join("READY");
    let keys = dir.join("keys");
    if let Ok(name) = fs::read_to_string(&ready) {
        let hart = dir.join(name.trim());
        if hart.is_file() {
            return Ok(BenchArtifact {
                hart,
                keys,
                generated: None,
            });
        }
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("remove `{}`", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("create `{}`", dir.display()))?;

    let src = tempfile::Builder::new()
        .prefix(".src-")
        .tempdir_in(&dir)
        .with_context(|| format!("create a temporary directory in `{}`", dir.display()))?;
    let stats = write_package_dir(src.path(), spec)?;

    let origin: OriginName = ORIGIN.parse()?;
    let key = SecretKey::generate(&origin)?;
    let cache = KeyCache::new(&keys);
    cache.write_secret(&key)?;
    cache.write_public(&key.public_key())?;
    let pack_spec = PackSpec {
        ident: IDENT.parse::<FullyQualifiedIdent>()?,
        target: PackageTarget::X86_64Linux,
        deps: Vec::new(),
        tdeps: Vec::new(),
    };
    let hart = pack(src.path(), &dir, &pack_spec, &key)?;
    let name = hart
        .file_name()
        .and_then(|n| n.to_str())
        .context("pack returned a path without a file name")?;
    fs::write(&ready, name).with_context(|| format!("write `{}`", ready.display()))?;
    Ok(BenchArtifact {
        hart,
        keys,
        generated: Some(stats),
    })
}

/// One file of the generated package.
#[derive(Clone, Debug)]
struct PlannedFile {
    path: PathBuf,
    size: u64,
    mode: u32,
    /// `None`: mixed runs of code and opaque bytes.
    kind: Option<Kind>,
}

/// What [`write_package_dir`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PackageStats {
    /// Regular files.
    pub files: u64,
    /// Symbolic links.
    pub links: u64,
    /// Bytes of all regular files (the spec's size exactly).
    pub bytes: u64,
    /// Bytes of incompressible runs.
    pub opaque_bytes: u64,
    /// Bytes of text.
    pub text_bytes: u64,
}

/// Writes the package's files into the empty directory `dir`: exactly `spec.size_bytes()` bytes
/// of regular files plus library links, the same for the same spec.
///
/// Fails on any I/O error, or if the spec is too small to hold the text files (under 4 MiB).
pub fn write_package_dir(dir: &Path, spec: &ArtifactSpec) -> Result<PackageStats> {
    let mut rng = XorShift64::new(spec.seed);
    let (files, links) = plan(spec, &mut rng)?;
    let mut stats = PackageStats::default();
    let mut buf = Vec::new();
    for file in &files {
        buf.clear();
        let size = file.size as usize;
        match file.kind {
            Some(kind) => {
                extend(&mut buf, kind, size, &mut rng);
                if kind == Kind::Text {
                    stats.text_bytes += file.size;
                }
            }
            None => {
                while buf.len() < size {
                    let run = (rng.log_uniform(16 << 10, 2 << 20) as usize).min(size - buf.len());
                    let kind = if rng.below(1000) < OPAQUE_PER_MILLE {
                        stats.opaque_bytes += run as u64;
                        Kind::Opaque
                    } else {
                        Kind::Code
                    };
                    extend(&mut buf, kind, run, &mut rng);
                }
            }
        }
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("create `{}`", parent.display()))?;
        }
        fs::write(&path, &buf).with_context(|| format!("write `{}`", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(file.mode))
            .with_context(|| format!("set the mode of `{}`", path.display()))?;
        stats.files += 1;
        stats.bytes += file.size;
    }
    for (link, target) in &links {
        let path = dir.join(link);
        std::os::unix::fs::symlink(target, &path)
            .with_context(|| format!("create link `{}`", path.display()))?;
        stats.links += 1;
    }
    Ok(stats)
}

type Links = Vec<(PathBuf, PathBuf)>;

/// Chooses every file's name, size and content kind, and the library links.
fn plan(spec: &ArtifactSpec, rng: &mut XorShift64) -> Result<(Vec<PlannedFile>, Links)> {
    let total = spec.size_bytes();
    // File counts scale with the size, so that small artifacts (for profiling) keep the mix.
    let scaled = |n: u64| (n * spec.size_mib / 256).max(1);
    let mut files = Vec::new();
    let mut text = |files: &mut Vec<PlannedFile>, path: String, lo: u64, hi: u64, mode: u32| {
        files.push(PlannedFile {
            path: path.into(),
            size: rng.log_uniform(lo, hi),
            mode,
            kind: Some(Kind::Text),
        });
    };
    for i in 0..scaled(320) {
        let path = format!("include/bench{}/header_{i:04}.h", i % 12);
        text(&mut files, path, 1 << 10, 40 << 10, 0o644);
    }
    for i in 0..scaled(160) {
        let path = format!("share/doc/bigpkg/topic_{i:04}.md");
        text(&mut files, path, 1 << 10, 30 << 10, 0o644);
    }
    for i in 0..scaled(220) {
        let path = format!("share/man/man{}/tool_{i:04}.{}", 1 + i % 8, 1 + i % 8);
        text(&mut files, path, 1 << 10, 16 << 10, 0o644);
    }
    for i in 0..scaled(24) {
        text(
            &mut files,
            format!("etc/conf_{i:02}.conf"),
            200,
            4 << 10,
            0o644,
        );
    }
    for i in 0..scaled(24) {
        text(
            &mut files,
            format!("libexec/helper_{i:02}.sh"),
            300,
            8 << 10,
            0o755,
        );
    }
    let text_total: u64 = files.iter().map(|f| f.size).sum();
    if text_total >= total / 2 {
        bail!("an artifact of {} MiB is too small", spec.size_mib);
    }

    // The rest: binaries, libraries, jars and data, sized by log-uniform weights.
    let mut links = Vec::new();
    let mut big = Vec::new();
    for i in 0..scaled(24) {
        big.push((format!("bin/tool{i:02}"), 0o755, None));
    }
    for i in 0..scaled(80) {
        let (major, minor, patch) = (rng.below(5), rng.below(20), rng.below(10));
        let real = format!("libbench{i:02}.so.{major}.{minor}.{patch}");
        let soname = format!("libbench{i:02}.so.{major}");
        links.push((format!("lib/{soname}").into(), PathBuf::from(&real)));
        links.push((
            format!("lib/libbench{i:02}.so").into(),
            PathBuf::from(&soname),
        ));
        big.push((format!("lib/{real}"), 0o755, None));
    }
    for i in 0..scaled(30) {
        big.push((format!("lib/java/module{i:02}.jar"), 0o644, None));
    }
    for i in 0..scaled(60) {
        big.push((format!("share/bigpkg/data/set{i:02}.dat"), 0o644, None));
    }
    let weights: Vec<u64> = big.iter().map(|_| rng.log_uniform(1, 400)).collect();
    let weight_total: u64 = weights.iter().sum();
    let budget = total - text_total;
    let mut assigned = 0;
    let count = big.len();
    for (i, ((path, mode, kind), weight)) in big.into_iter().zip(weights).enumerate() {
        let size = if i + 1 == count {
            budget - assigned
        } else {
            budget * weight / weight_total
        };
        assigned += size;
        files.push(PlannedFile {
            path: path.into(),
            size,
            mode,
            kind,
        });
    }
    Ok((files, links))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_hits_the_size_exactly_and_is_deterministic() -> Result<()> {
        let spec = ArtifactSpec {
            size_mib: 16,
            seed: 3,
        };
        let (a, links) = plan(&spec, &mut XorShift64::new(3))?;
        let (b, _) = plan(&spec, &mut XorShift64::new(3))?;
        assert_eq!(a.iter().map(|f| f.size).sum::<u64>(), 16 << 20);
        assert_eq!(
            a.iter().map(|f| (&f.path, f.size)).collect::<Vec<_>>(),
            b.iter().map(|f| (&f.path, f.size)).collect::<Vec<_>>()
        );
        assert!(!links.is_empty());
        Ok(())
    }
}
