//! The depot benchmark's pieces (`depot-bench`, `depot-bench.sh`): a big incompressible
//! artifact made quickly and cached, a `hab-depot` child process whose memory and CPU time can
//! be read from `/proc`, a metadata store filled with many packages through the library, and a
//! fixed-duration, fixed-concurrency HTTP load loop.
//!
//! Linux only (it reads `/proc`), loopback only.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use habitat_core::SecretKey;
use habitat_core::artifact::sign;
use habitat_core::version::Version;
use habitat_core::{Blake2bHash, FullyQualifiedIdent, KeyCache, OriginName, PackageTarget};
use habitat_depot_server::AppState;
use habitat_depot_server::settings::Settings;
use habitat_depot_server::store::{Package, Visibility};
pub use habitat_test_support::process::{self, DepotProcess};
use liblzma::stream::{Check, MtStreamBuilder};

use crate::data::XorShift64;

/// Bump when the big artifact's content or layout changes, so cached ones are rebuilt.
const BIG_GENERATOR_VERSION: u32 = 1;
/// The big artifact's identifier (its origin is also the origin of the populated packages).
pub const BIG_IDENT: &str = "bench/big/1.0.0/20200101000000";
/// The origin every package of the benchmark belongs to.
pub const ORIGIN: &str = "bench";

/// What big artifact to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BigSpec {
    /// Size of the one file in the package, in MiB (the `.hart` is a few KiB larger: the bytes
    /// are incompressible).
    pub size_mib: u64,
    /// Seed of the pseudo-random bytes.
    pub seed: u64,
    /// xz block size in MiB. `hab pkg pack` (preset 6, multi-threaded) writes 24 MiB blocks; the
    /// depot's decoder holds about a block per thread while it checks an upload, so the block
    /// size matters for the server's memory and is kept like `pack`'s by default.
    pub block_mib: u64,
}

impl Default for BigSpec {
    /// The issue's 1 GiB artifact, in blocks the size `hab pkg pack` writes.
    fn default() -> Self {
        Self {
            size_mib: 1024,
            seed: 1,
            block_mib: 24,
        }
    }
}

/// A signed artifact of incompressible bytes and what the depot needs to accept it.
#[derive(Clone, Debug)]
pub struct BigArtifact {
    /// The `.hart` file.
    pub hart: PathBuf,
    /// Its identifier.
    pub ident: FullyQualifiedIdent,
    /// BLAKE2b-256 of the whole `.hart` (what the depot reports as `checksum`).
    pub checksum: Blake2bHash,
    /// Size of the `.hart` in bytes.
    pub size: u64,
    /// The signing key's public key file, as uploaded to the origin.
    pub public_key: String,
    /// The signing key's revision (the key upload URL's last segment).
    pub key_revision: String,
    /// Whether this call made it (`false`: reused from the cache).
    pub generated: bool,
}

/// `n` pseudo-random bytes from a [`XorShift64`], as a reader.
struct RandomReader {
    rng: XorShift64,
    remaining: u64,
}

impl Read for RandomReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = (buf.len() as u64).min(self.remaining) as usize;
        let out = &mut buf[..len];
        let mut words = out.chunks_exact_mut(8);
        for word in &mut words {
            word.copy_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        let rest = words.into_remainder();
        let last = self.rng.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
        self.remaining -= len as u64;
        Ok(len)
    }
}

/// Returns the big artifact for `spec`, cached under `data_dir`, making it first if needed:
/// a tar of one file of pseudo-random bytes under `hab/pkgs/bench/big/1.0.0/20200101000000/`
/// with `IDENT` and `TARGET`, xz-compressed at preset 0 on every core (incompressible input
/// makes xz store it, so preset 6 would only be slower), signed with a generated `bench` key
/// kept in `keys/` beside it. About a minute per GiB on two idle cores.
///
/// Fails on I/O errors (disk full: the cache needs twice the size while it is made).
pub fn ensure_big_artifact(data_dir: &Path, spec: &BigSpec) -> Result<BigArtifact> {
    let dir = data_dir.join(format!(
        "depot-big-{}mib-seed{}-block{}mib-v{BIG_GENERATOR_VERSION}",
        spec.size_mib, spec.seed, spec.block_mib
    ));
    let ready = dir.join("READY");
    let keys = KeyCache::new(dir.join("keys"));
    let ident: FullyQualifiedIdent = BIG_IDENT.parse()?;
    let hart = dir.join(ident.archive_name(PackageTarget::X86_64Linux));
    if let Ok(text) = fs::read_to_string(&ready)
        && let Ok(checksum) = text.trim().parse::<Blake2bHash>()
        && let Ok(meta) = hart.metadata()
    {
        let public = keys.latest_public(ORIGIN)?;
        return Ok(BigArtifact {
            key_revision: public.name().revision().to_owned(),
            public_key: public.to_file_string(),
            hart,
            ident,
            checksum,
            size: meta.len(),
            generated: false,
        });
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("remove `{}`", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("create `{}`", dir.display()))?;

    let payload = dir.join("payload.tar.xz");
    write_payload(&payload, &ident, spec)?;
    let key = SecretKey::generate(&ORIGIN.parse::<OriginName>()?)?;
    keys.write_secret(&key)?;
    keys.write_public(&key.public_key())?;
    sign(&payload, &hart, &key)?;
    fs::remove_file(&payload).with_context(|| format!("remove `{}`", payload.display()))?;
    let checksum = Blake2bHash::of_file(&hart)?;
    fs::write(&ready, format!("{checksum}\n"))
        .with_context(|| format!("write `{}`", ready.display()))?;
    let size = hart
        .metadata()
        .with_context(|| format!("stat `{}`", hart.display()))?
        .len();
    Ok(BigArtifact {
        key_revision: key.name().revision().to_owned(),
        public_key: key.public_key().to_file_string(),
        hart,
        ident,
        checksum,
        size,
        generated: true,
    })
}

/// Writes the xz-compressed tar of the big package to `path`.
fn write_payload(path: &Path, ident: &FullyQualifiedIdent, spec: &BigSpec) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8) as u32);
    let stream = MtStreamBuilder::new()
        .threads(threads)
        .preset(0)
        .block_size(spec.block_mib << 20)
        .check(Check::Crc64)
        .encoder()
        .context("create the xz encoder")?;
    let file = fs::File::create(path).with_context(|| format!("create `{}`", path.display()))?;
    let encoder =
        liblzma::write::XzEncoder::new_stream(BufWriter::with_capacity(1 << 20, file), stream);
    let mut tar = tar::Builder::new(encoder);
    let write_err = |e: io::Error| anyhow::anyhow!("write `{}`: {e}", path.display());
    let prefix = PathBuf::from(format!("hab/pkgs/{ident}"));
    let mtime = 1_577_836_800; // 2020-01-01, like the release
    let mut dirs: Vec<&Path> = prefix.ancestors().collect();
    dirs.reverse();
    for dir in dirs.into_iter().skip(1) {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_mtime(mtime);
        header.set_size(0);
        tar.append_data(&mut header, dir, io::empty())
            .map_err(write_err)?;
    }
    let mut file = |name: &str, size: u64, data: &mut dyn Read| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_size(size);
        tar.append_data(&mut header, prefix.join(name), data)
    };
    for (name, text) in [
        ("IDENT", format!("{ident}\n")),
        ("TARGET", format!("{}\n", PackageTarget::X86_64Linux)),
    ] {
        file(name, text.len() as u64, &mut text.as_bytes()).map_err(write_err)?;
    }
    let size = spec.size_mib << 20;
    let mut random = RandomReader {
        rng: XorShift64::new(spec.seed),
        remaining: size,
    };
    file("blob.bin", size, &mut random).map_err(write_err)?;
    let buffered = tar
        .into_inner()
        .map_err(write_err)?
        .finish()
        .map_err(write_err)?;
    let file = buffered
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    Ok(())
}

/// Memory and CPU figures of a process, from `/proc/<pid>/status` and `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcStats {
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident set size so far (`VmHWM`), KiB.
    pub hwm_kib: u64,
    /// User plus system CPU time so far, seconds.
    pub cpu_secs: f64,
}

/// Reads a process's [`ProcStats`] (`pid` 0: this process).
pub fn proc_stats(pid: u32) -> Result<ProcStats> {
    let base = if pid == 0 {
        PathBuf::from("/proc/self")
    } else {
        PathBuf::from(format!("/proc/{pid}"))
    };
    let status = fs::read_to_string(base.join("status"))
        .with_context(|| format!("read {}/status", base.display()))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in {}/status", base.display()))
    };
    let stat = fs::read_to_string(base.join("stat"))
        .with_context(|| format!("read {}/stat", base.display()))?;
    // The command name may hold spaces and parentheses: fields are counted after the last `)`.
    // Field 3 (state) is the first after it, so utime (14) and stime (15) are at 11 and 12.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    ensure!(ticks.len() == 2, "cannot parse {}/stat", base.display());
    // /proc reports CPU time in USER_HZ, which is 100 on Linux whatever the kernel's HZ.
    Ok(ProcStats {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        cpu_secs: (ticks[0] + ticks[1]) as f64 / 100.0,
    })
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> Result<[f64; 3]> {
    let text = fs::read_to_string("/proc/loadavg").context("read /proc/loadavg")?;
    let mut values = text.split_whitespace().map(|v| v.parse::<f64>());
    let mut next = || -> Result<f64> {
        values
            .next()
            .context("/proc/loadavg is too short")?
            .context("/proc/loadavg does not parse")
    };
    Ok([next()?, next()?, next()?])
}

/// The load averages as the benchmarks print them (`0.52 0.61 0.70`, or `unknown`).
pub fn load_text() -> String {
    load_average().map_or_else(
        |_| "unknown".to_owned(),
        |l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]),
    )
}

/// A target's verdict in the benchmarks' tables.
pub fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

/// The number a benchmark's option `name` was given as `text`.
pub fn number<T: std::str::FromStr>(name: &str, text: String) -> Result<T> {
    text.parse()
        .map_err(|_| anyhow::anyhow!("{name} takes a number, not `{text}`"))
}

/// The binary `name` in the folder of the running benchmark (where cargo puts `hab` and
/// `hab-depot` too), or `name` alone when that folder is unknown.
pub fn beside_this_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Checks that each of the `binaries` (a path and the option that names it) is a file, saying
/// how to build it otherwise.
pub fn ensure_binaries(binaries: &[(&Path, &str)]) -> Result<()> {
    for (bin, option) in binaries {
        ensure!(
            bin.is_file(),
            "no binary at `{}` (build it: cargo build --release -p habitat-bins, or pass {option})",
            bin.display()
        );
    }
    Ok(())
}

/// Runs a benchmark's `main` future on a runtime of two worker threads (the machine's cores).
pub fn block_on_two_threads<T>(main: impl Future<Output = T>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(main))
}

/// Starts `bin` (a `hab-depot`) on `data_dir` with a free port on `127.0.0.1`, with stderr
/// going to `log`, and waits (up to 60 s) for it to announce its address. `rust_log` sets
/// `RUST_LOG` (`None`: the depot's default, `info`, one line per request as in production).
/// `config` is a settings file passed as `--config` (a scale-out configuration). The process is
/// killed when dropped, so an error anywhere stops it.
pub fn start_depot(
    bin: &Path,
    data_dir: &Path,
    config: Option<&Path>,
    log: &Path,
    rust_log: Option<&str>,
) -> Result<DepotProcess> {
    let mut args = vec![OsStr::new("--data-dir"), data_dir.as_os_str()];
    if let Some(config) = config {
        args.extend([OsStr::new("--config"), config.as_os_str()]);
    }
    DepotProcess::start(bin, &args, rust_log, Some(log), Duration::from_secs(60))
        .map_err(anyhow::Error::msg)
}

/// `hab-depot user create NAME --data-dir DIR [--config FILE]`: the new account's token.
pub fn user_create(
    bin: &Path,
    data_dir: &Path,
    config: Option<&Path>,
    name: &str,
) -> Result<String> {
    process::user_create(bin, data_dir, config, name).map_err(anyhow::Error::msg)
}

/// How many packages to store for the `latest` benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogSpec {
    /// Package names (`app0000`, `app0001`, …).
    pub names: usize,
    /// Versions of each name, one release each.
    pub versions: usize,
}

impl Default for CatalogSpec {
    /// The issue's 100,000 packages: 1,000 names × 100 versions.
    fn default() -> Self {
        Self {
            names: 1000,
            versions: 100,
        }
    }
}

impl CatalogSpec {
    /// Packages in all.
    pub fn packages(&self) -> usize {
        self.names * self.versions
    }

    /// The name of package `n`.
    pub fn name(n: usize) -> String {
        format!("app{n:04}")
    }

    /// Version `v` of name `n`: `{major}.{minor}.{patch}`, every tenth one a `-rcN`, the numbers
    /// spread differently per name. Distinct for `v` below 125.
    pub fn version(n: usize, v: usize) -> String {
        let (major, minor, patch) = (v / 25 + n % 7, (v / 5 % 5) * (1 + n % 4), v % 5);
        if v % 10 == 9 {
            format!("{major}.{minor}.{patch}-rc{}", 1 + v % 3)
        } else {
            format!("{major}.{minor}.{patch}")
        }
    }

    /// The release of version `v` of name `n`: a timestamp, distinct for `v` below 112.
    pub fn release(n: usize, v: usize) -> String {
        format!(
            "2021{:02}{:02}{:02}{:02}00",
            1 + v / 28,
            1 + v % 28,
            n % 24,
            n / 24 % 60
        )
    }

    /// The version `latest` must answer for name `n` (Habitat's version ordering).
    pub fn latest_version(&self, n: usize) -> String {
        let versions: Vec<String> = (0..self.versions).map(|v| Self::version(n, v)).collect();
        versions
            .iter()
            .max_by(|a, b| Version::new(a).cmp(&Version::new(b)))
            .cloned()
            .unwrap_or_default()
    }
}

/// A plausible MANIFEST (about 900 bytes), so rows are the size of real ones.
fn manifest(ident: &FullyQualifiedIdent) -> String {
    format!(
        "# {origin} / {name}\n\nBenchmark package {name}, one of many.\n\n\
         * __Maintainer__: Bench <bench@example.invalid>\n* __Version__: {version}\n\
         * __Release__: {release}\n* __License__: Apache-2.0\n\
         * __Source__: [https://example.invalid/{name}-{version}.tar.gz](https://example.invalid/{name}-{version}.tar.gz)\n\
         * __SHA__: `{sha}`\n* __Path__: `/hab/pkgs/{ident}`\n\
         * __Build Dependencies__: `core/gcc core/make core/pkg-config`\n\
         * __Dependencies__: `core/glibc core/zlib`\n\
         * __Interpreters__: no interpreters or no binaries\n\n\
         # Plan\n\n## Build Flags\n\n```bash\nCFLAGS: -I/hab/pkgs/core/zlib/1.3/20230101000000/include\n\
         LDFLAGS: -L/hab/pkgs/core/zlib/1.3/20230101000000/lib\nPREFIX: /hab/pkgs/{ident}\n```\n\n\
         ## Plan Source\n\n```bash\npkg_name={name}\npkg_origin={origin}\npkg_version={version}\n\
         pkg_deps=(core/glibc core/zlib)\npkg_build_deps=(core/gcc core/make)\n\
         pkg_bin_dirs=(bin)\npkg_exports=([port]=port)\npkg_exposes=(port)\n```\n",
        origin = ident.origin(),
        name = ident.name(),
        version = ident.version(),
        release = ident.release(),
        sha = Blake2bHash::digest(ident.to_string().as_bytes()),
    )
}

/// Fills the empty data directory `data_dir` through the library: account `bench`, origin
/// `bench` (public) and `spec.packages()` packages without artifacts (`latest` reads rows only),
/// inserted with [`MetadataStore::import_packages`] in transactions of `batch` packages, in an
/// order that is not the version order. Returns how long the inserts took.
///
/// [`MetadataStore::import_packages`]: habitat_depot_server::store::MetadataStore::import_packages
///
/// With `config` (a settings file), the stores are those it names (a scale-out configuration).
pub async fn populate(
    data_dir: &Path,
    config: Option<&Path>,
    spec: &CatalogSpec,
    batch: usize,
) -> Result<Duration> {
    let base = match config {
        Some(path) => Settings::from_file(path).map_err(anyhow::Error::msg)?,
        None => Settings::default(),
    };
    let settings = Settings {
        data_dir: data_dir.to_owned(),
        ..base
    };
    let state = AppState::open(settings).await?;
    let account = state.metadata.create_account(ORIGIN, None).await?;
    let origin: OriginName = ORIGIN.parse()?;
    state
        .metadata
        .create_origin(&origin, account.id, Visibility::Public)
        .await?;
    let deps: Vec<FullyQualifiedIdent> = [
        "core/glibc/2.36/20230101000000",
        "core/zlib/1.3/20230101000000",
    ]
    .iter()
    .map(|s| s.parse())
    .collect::<habitat_core::Result<_>>()?;
    let mut tdeps = deps.clone();
    tdeps.insert(0, "core/linux-headers/6.1/20230101000000".parse()?);
    let build_deps: Vec<FullyQualifiedIdent> = ["core/gcc/12.2.0/20230101000000".parse()?].into();
    let created_at = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let mut packages = Vec::with_capacity(batch);
    // Versions in a scrambled order (37 is prime, so stepping by it visits every version unless
    // the count is a multiple of 37), so the newest is not simply the last row of a name.
    let stride = if spec.versions.is_multiple_of(37) {
        1
    } else {
        37
    };
    for n in 0..spec.names {
        for i in 0..spec.versions {
            let v = (i * stride + n) % spec.versions;
            let ident: FullyQualifiedIdent = format!(
                "{ORIGIN}/{}/{}/{}",
                CatalogSpec::name(n),
                CatalogSpec::version(n, v),
                CatalogSpec::release(n, v)
            )
            .parse()?;
            packages.push(Package {
                id: 0,
                checksum: Blake2bHash::digest(ident.to_string().as_bytes()),
                size: 1,
                visibility: Visibility::Public,
                manifest: manifest(&ident),
                config: "port = 8080\n[log]\nlevel = \"info\"\n".to_owned(),
                deps: deps.clone(),
                tdeps: tdeps.clone(),
                build_deps: build_deps.clone(),
                build_tdeps: build_deps.clone(),
                exposes: vec![8080],
                binds: Vec::new(),
                binds_optional: Vec::new(),
                is_a_service: true,
                owner: ORIGIN.to_owned(),
                created_at,
                target: PackageTarget::X86_64Linux,
                ident,
                sha256: None,
                signer: None,
            });
            if packages.len() == batch {
                state.metadata.import_packages(&packages).await?;
                packages.clear();
            }
        }
    }
    if !packages.is_empty() {
        state.metadata.import_packages(&packages).await?;
    }
    Ok(started.elapsed())
}

/// What one load run measured, over its measurement window only.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Requests completed inside the window with status 200 and a whole body.
    pub ok: u64,
    /// Requests completed inside the window otherwise (any status but 200, or an error).
    pub failed: u64,
    /// The first failure, described.
    pub first_failure: Option<String>,
    /// Length of the window, seconds.
    pub seconds: f64,
    /// Latency of every request of the window, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// CPU seconds the server used during the window.
    pub server_cpu_secs: f64,
    /// CPU seconds this process (the client) used during the window.
    pub client_cpu_secs: f64,
}

impl LoadReport {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds.max(1e-9)
    }

    /// A latency percentile (0 to 100), milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = (p / 100.0 * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[rank.min(self.latencies_us.len() - 1)] as f64 / 1000.0
    }

    /// Server CPU time per successful request, microseconds.
    pub fn server_cpu_us_per_request(&self) -> f64 {
        self.server_cpu_secs * 1e6 / self.ok.max(1) as f64
    }
}

/// Longest one request of a load may take (it bounds the load's end).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to run a load.
#[derive(Clone, Copy, Debug)]
pub struct LoadSpec {
    /// Requests in flight at any time (one task each, sharing one keep-alive client).
    pub concurrency: usize,
    /// Time before the window: connections open, caches warm.
    pub warmup: Duration,
    /// The measurement window.
    pub duration: Duration,
}

/// Where a server's CPU time is read: a child process, or the threads of an in-process server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCpu {
    /// A `hab-depot` child process (its pid).
    Process(u32),
    /// The threads of this process that bear this name (an in-process server's runtime, whose
    /// workers and blocking threads all get the name; at most 15 bytes, as Linux keeps them).
    Threads(&'static str),
}

impl ServerCpu {
    /// The server's user plus system CPU time so far, seconds.
    pub fn secs(self) -> Result<f64> {
        match self {
            Self::Process(pid) => Ok(proc_stats(pid)?.cpu_secs),
            Self::Threads(name) => threads_cpu_secs(name),
        }
    }

    /// CPU time of the client so far: this process, less the server's threads when the server
    /// runs inside it.
    fn client_secs(self, server_secs: f64) -> Result<f64> {
        let own = proc_stats(0)?.cpu_secs;
        Ok(match self {
            Self::Process(_) => own,
            Self::Threads(_) => own - server_secs,
        })
    }
}

/// User plus system CPU time of this process's threads named `name`, seconds (threads that
/// have ended are not counted: keep the server's threads alive while measuring).
pub fn threads_cpu_secs(name: &str) -> Result<f64> {
    let mut ticks = 0u64;
    for entry in fs::read_dir("/proc/self/task").context("read /proc/self/task")? {
        // A thread may end between the listing and the read: skip it.
        let Ok(stat) = fs::read_to_string(entry?.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        // Fields after the name: state is the first, utime and stime the 12th and 13th.
        ticks += stat[close + 1..]
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|v| v.parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok(ticks as f64 / 100.0)
}

/// Sends GET requests to `url_for(rng)` from `spec.concurrency` tasks until the window ends,
/// reading every body to its end. Requests that complete inside the window count; the loop
/// stops by itself (a 30 s timeout bounds the last request). `check` sees the first
/// answer of each task (status and body) and may refuse it, which aborts the run.
pub async fn run_load<U, C>(
    client: &reqwest::Client,
    server: ServerCpu,
    spec: &LoadSpec,
    url_for: U,
    check: C,
) -> Result<LoadReport>
where
    U: Fn(&mut XorShift64) -> (String, usize) + Send + Sync + 'static,
    C: Fn(usize, &[u8]) -> Result<()> + Send + Sync + 'static,
{
    let url_for = Arc::new(url_for);
    let check = Arc::new(check);
    let start = Instant::now();
    let window_start = start + spec.warmup;
    let window_end = window_start + spec.duration;
    let stop = Arc::new(AtomicBool::new(false));

    // CPU time of the server and the client at the window's edges.
    let sampler = tokio::spawn(async move {
        let both = || -> Result<(f64, f64)> {
            let server_secs = server.secs()?;
            Ok((server_secs, server.client_secs(server_secs)?))
        };
        tokio::time::sleep_until(window_start.into()).await;
        let before = both()?;
        tokio::time::sleep_until(window_end.into()).await;
        let after = both()?;
        Ok::<_, anyhow::Error>((after.0 - before.0, after.1 - before.1))
    });

    let mut tasks = Vec::with_capacity(spec.concurrency);
    for task in 0..spec.concurrency {
        let (client, url_for, check, stop) =
            (client.clone(), url_for.clone(), check.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = XorShift64::new(0x5eed_0000 + task as u64);
            let mut report = LoadReport::default();
            let mut checked = false;
            while Instant::now() < window_end && !stop.load(Ordering::Relaxed) {
                let (url, key) = url_for(&mut rng);
                let sent = Instant::now();
                let request = client.get(&url).timeout(REQUEST_TIMEOUT);
                let answer = match request.send().await {
                    Ok(response) => {
                        let status = response.status();
                        response.bytes().await.map(|body| (status, body))
                    }
                    Err(e) => Err(e),
                };
                let done = Instant::now();
                let failure = match &answer {
                    Ok((status, _)) if *status == reqwest::StatusCode::OK => None,
                    Ok((status, body)) => Some(format!(
                        "GET {url}: {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    )),
                    Err(e) => Some(format!("GET {url}: {e}")),
                };
                if !checked && let Ok((_, body)) = &answer {
                    checked = true;
                    if let Err(e) = check(key, body) {
                        stop.store(true, Ordering::Relaxed);
                        return Err(e.context(format!("GET {url}")));
                    }
                }
                if done < window_start || done > window_end {
                    continue;
                }
                match failure {
                    None => {
                        report.ok += 1;
                        let micros = (done - sent).as_micros().min(u32::MAX as u128) as u32;
                        report.latencies_us.push(micros);
                    }
                    Some(what) => {
                        report.failed += 1;
                        report.first_failure.get_or_insert(what);
                    }
                }
            }
            Ok::<_, anyhow::Error>(report)
        }));
    }
    let mut total = LoadReport {
        seconds: spec.duration.as_secs_f64(),
        ..LoadReport::default()
    };
    let mut error = None;
    for task in tasks {
        match task.await.context("a load task panicked")? {
            Ok(report) => {
                total.ok += report.ok;
                total.failed += report.failed;
                if total.first_failure.is_none() {
                    total.first_failure = report.first_failure;
                }
                total.latencies_us.extend(report.latencies_us);
            }
            Err(e) => error = error.or(Some(e)),
        }
    }
    if let Some(e) = error {
        sampler.abort();
        return Err(e);
    }
    let (server_cpu, client_cpu) = sampler.await.context("the CPU sampler panicked")??;
    total.server_cpu_secs = server_cpu;
    total.client_cpu_secs = client_cpu;
    total.latencies_us.sort_unstable();
    Ok(total)
}

/// Samples a process's resident set size every `period` until stopped, to tell which phase of
/// a transfer its peak belongs to.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Vec<(Instant, u64)>>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32, period: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(period);
            while !flag.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Ok(stats) = proc_stats(pid) {
                    samples.push((Instant::now(), stats.rss_kib));
                }
            }
            samples
        });
        Self { stop, handle }
    }

    /// Stops and returns the samples (time, KiB).
    pub async fn finish(self) -> Vec<(Instant, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.await.unwrap_or_default()
    }
}

/// The largest sample taken in `[from, to]`, KiB (0 if none).
pub fn peak_between(samples: &[(Instant, u64)], from: Instant, to: Instant) -> u64 {
    samples
        .iter()
        .filter(|(at, _)| *at >= from && *at <= to)
        .map(|(_, kib)| *kib)
        .max()
        .unwrap_or(0)
}

/// Waits until the 1-minute load average is at most `max`, for at most `patience`, saying so
/// on stderr every minute. Returns the load average when it stopped waiting.
pub fn wait_for_quiet(max: f64, patience: Duration) -> Result<[f64; 3]> {
    let started = Instant::now();
    let mut said = None::<Instant>;
    loop {
        let load = load_average()?;
        if load[0] <= max {
            return Ok(load);
        }
        if started.elapsed() >= patience {
            eprintln!(
                "   load {:.2} is still above {max:.2} after {} s: measuring anyway",
                load[0],
                patience.as_secs()
            );
            return Ok(load);
        }
        if said.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            eprintln!(
                "   1-minute load {:.2} > {max:.2}: waiting for a quieter moment (up to {} s more)",
                load[0],
                patience.saturating_sub(started.elapsed()).as_secs()
            );
            said = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// How a benchmark ends: keeps the scratch directory when asked, fails when any request did not
/// answer 200, else says whether every target was met (`missed` is what to say when not).
pub fn finish(
    scratch: tempfile::TempDir,
    keep: bool,
    failures: u64,
    ok: bool,
    missed: &str,
) -> std::process::ExitCode {
    if keep {
        let kept = scratch.keep();
        eprintln!("== kept {}", kept.display());
    }
    if failures > 0 {
        eprintln!("error: {failures} requests did not answer 200 (see above)");
        return std::process::ExitCode::FAILURE;
    }
    println!("\n{}", if ok { "all targets met" } else { missed });
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_versions_and_releases_are_distinct() {
        let spec = CatalogSpec::default();
        for n in [0, 1, 5, 999] {
            let mut seen = std::collections::HashSet::new();
            for v in 0..spec.versions {
                assert!(seen.insert(CatalogSpec::version(n, v)), "{n} {v}");
            }
            let mut releases = std::collections::HashSet::new();
            for v in 0..spec.versions {
                assert!(releases.insert(CatalogSpec::release(n, v)), "{n} {v}");
            }
            let latest = spec.latest_version(n);
            assert!(seen.contains(&latest));
        }
        assert_eq!(CatalogSpec::version(0, 99), "3.4.4-rc1");
        assert_eq!(CatalogSpec::default().latest_version(0), "3.4.4-rc1");
    }

    #[test]
    fn random_reader_gives_exactly_n_bytes() -> Result<()> {
        let mut out = Vec::new();
        RandomReader {
            rng: XorShift64::new(1),
            remaining: 100_003,
        }
        .read_to_end(&mut out)?;
        assert_eq!(out.len(), 100_003);
        Ok(())
    }

    #[test]
    fn small_big_artifact_verifies_and_is_cached() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let spec = BigSpec {
            size_mib: 2,
            seed: 3,
            block_mib: 1,
        };
        let made = ensure_big_artifact(dir.path(), &spec)?;
        assert!(made.generated);
        let keys = dir
            .path()
            .join("depot-big-2mib-seed3-block1mib-v1")
            .join("keys");
        let verified = habitat_core::artifact::verify(&made.hart, &KeyCache::new(&keys))?;
        assert_eq!(verified.signer().name(), ORIGIN);
        let meta = habitat_core::metadata::read_metadata(&made.hart, &Default::default())?;
        assert_eq!(meta.ident.to_string(), BIG_IDENT);
        assert!(made.size > 2 << 20);
        let again = ensure_big_artifact(dir.path(), &spec)?;
        assert!(!again.generated);
        assert_eq!(again.checksum, made.checksum);
        assert_eq!(again.key_revision, made.key_revision);
        Ok(())
    }
}
