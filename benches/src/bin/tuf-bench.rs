//! `tuf-bench`: the TUF benchmark (see benches/README.md, "TUF"; `benches/tuf-bench.sh` builds
//! and runs it), with real release `hab-depot` and `hab` processes on 127.0.0.1 and the
//! embedded store.
//!
//! A depot of 100,000 packages (`habitat_benches::web::populate`, rows without artifacts that
//! carry a SHA-256 and a signer, so the channel indexes list them) plus a few real signed
//! packages uploaded through the API. Then:
//!
//! 1. **Promote time**: the same promotes and demotes of different packages through the API,
//!    before `hab-depot tuf init` and after it (when the publisher runs before each answer);
//!    median and p90 of each, and the ratio of the medians (goal: at most 1.5).
//! 2. **Metadata bytes** a client downloads from `/v1/tuf/`, counted by a proxy between `hab`
//!    and the depot: `hab depot trust`, a first `hab pkg install` with an empty cache, and a
//!    later install of another package after some promotions (goal: the later one under 64 KiB).
//! 3. **Install time**: `hab pkg install` of the same package with verification (first contact,
//!    and with the trusted metadata of an earlier run) against `HAB_TUF=off`, rounds
//!    interleaved, medians.
//!
//! Usage: `tuf-bench [--hab-depot PATH] [--hab PATH] [options]` (`--help` lists them).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use habitat_benches::default_data_dir;
use habitat_benches::depot::{
    DepotProcess, beside_this_binary, block_on_two_threads, ensure_binaries, load_text, number,
    proc_stats, start_depot, verdict, wait_for_quiet,
};
use habitat_benches::web::{OWNER, RELEASES_PER_NAME, WebCatalogSpec, populate};
use habitat_core::tuf::sha256_hex;
use habitat_core::{Blake2bHash, FullyQualifiedIdent};
use habitat_depot_server::AppState;
use habitat_depot_server::settings::Settings;
use habitat_test_support::proxy::Proxy;
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;

/// Largest acceptable median promote time with TUF over the one without (issue).
const PROMOTE_RATIO_TARGET: f64 = 1.5;
/// A later install must fetch fewer metadata bytes than this (issue).
const LATER_INSTALL_TARGET: u64 = 64 << 10;
/// The target of every package.
const TARGET: &str = "x86_64-linux";
/// The origin of the real packages (one of the catalog's, owned by [`OWNER`]).
const REAL_ORIGIN: &str = "core";
/// The release of every real package.
const REAL_RELEASE: &str = "20260101000000";
/// Libraries the installed application needs.
const REAL_LIBS: usize = 3;
/// Promotes and demotes made before each timed phase, not timed.
const WARM_UP: usize = 4;

const USAGE: &str = "\
usage: tuf-bench [options]
  --hab-depot PATH     the server binary [default: hab-depot beside this binary]
  --hab PATH           the client binary [default: hab beside this binary]
  --data-dir DIR       scratch directory's parent [default: benches/data]
  --names N            ordinary package names of the catalog, 50 releases each [default: 1980,
                       with the heavy name's 1,000: 100,000 packages]
  --batch N            packages per import transaction [default: 10000]
  --promotes N         promotes and demotes per phase, each undone after (2N timed) [default: 50]
  --between N          promotes and demotes between the first and the later install [default: 10]
  --install-rounds N   rounds of the three install variants [default: 5]
  --max-load X         wait for a 1-minute load average at most X before each phase
                       [default: 1.5]
  --max-wait-secs N    ... but not longer than N seconds [default: 120; 0: do not wait]
  --keep               keep the scratch directory (data directory, logs, client files)";

struct Options {
    hab_depot: PathBuf,
    hab: PathBuf,
    data_dir: PathBuf,
    catalog: WebCatalogSpec,
    batch: usize,
    promotes: usize,
    between: usize,
    install_rounds: usize,
    max_load: f64,
    max_wait: Duration,
    keep: bool,
}

fn parse_args() -> Result<Option<Options>> {
    let mut o = Options {
        hab_depot: beside_this_binary("hab-depot"),
        hab: beside_this_binary("hab"),
        data_dir: default_data_dir(),
        catalog: WebCatalogSpec {
            release_facts: true,
            ..WebCatalogSpec::default()
        },
        batch: 10_000,
        promotes: 50,
        between: 10,
        install_rounds: 5,
        max_load: 1.5,
        max_wait: Duration::from_secs(120),
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--hab-depot" => o.hab_depot = value(&arg)?.into(),
            "--hab" => o.hab = value(&arg)?.into(),
            "--data-dir" => o.data_dir = value(&arg)?.into(),
            "--names" => o.catalog.names = number(&arg, value(&arg)?)?,
            "--batch" => o.batch = number(&arg, value(&arg)?)?,
            "--promotes" => o.promotes = number(&arg, value(&arg)?)?,
            "--between" => o.between = number(&arg, value(&arg)?)?,
            "--install-rounds" => o.install_rounds = number(&arg, value(&arg)?)?,
            "--max-load" => o.max_load = number(&arg, value(&arg)?)?,
            "--max-wait-secs" => o.max_wait = Duration::from_secs(number(&arg, value(&arg)?)?),
            "--keep" => o.keep = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    ensure!(o.batch > 0, "--batch must be positive");
    ensure!(o.promotes > 0, "--promotes must be positive");
    ensure!(o.install_rounds > 0, "--install-rounds must be positive");
    ensure!(
        o.catalog.names >= 10 * (o.promotes.max(o.between) + WARM_UP),
        "--names must be at least 10 × (--promotes + {WARM_UP}) (names to promote and demote)"
    );
    ensure_binaries(&[(&o.hab_depot, "--hab-depot"), (&o.hab, "--hab")])?;
    Ok(Some(o))
}

fn main() -> Result<ExitCode> {
    let Some(options) = parse_args()? else {
        return Ok(ExitCode::SUCCESS);
    };
    block_on_two_threads(run(options))?
}

fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()?)
}

async fn expect(response: reqwest::Response, want: StatusCode, what: &str) -> Result<Vec<u8>> {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    ensure!(
        status == want,
        "{what}: {status} (wanted {want}): {}",
        String::from_utf8_lossy(&body)
    );
    Ok(body.to_vec())
}

/// A token of the catalog's owner, made through the library before the server starts.
async fn owner_token(data: &Path) -> Result<String> {
    let state = AppState::open_embedded(Settings {
        data_dir: data.to_owned(),
        ..Settings::default()
    })?;
    let owner = state
        .metadata
        .account_by_name(OWNER)
        .await?
        .with_context(|| format!("no account `{OWNER}`"))?;
    habitat_depot_server::auth::issue_token(&state, &owner, "tuf-bench")
        .await
        .map_err(|e| anyhow::anyhow!("issue a token: {}", e.message))
}

/// The real packages: libraries, an application that needs all of them (the first install)
/// and a tool that needs the first one (the later install).
struct RealPackages {
    app: String,
    tool: String,
}

/// Packs the real packages with a new key of [`REAL_ORIGIN`], uploads the key and the
/// packages through the API (dependencies first), and promotes the application and the tool
/// to `stable`.
async fn publish_real(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    dir: &Path,
) -> Result<RealPackages> {
    let bearer = format!("Bearer {token}");
    let key = habitat_test_support::signing_key(REAL_ORIGIN);
    let public = key.public_key();
    expect(
        client
            .post(format!(
                "{api}/depot/origins/{REAL_ORIGIN}/keys/{}",
                public.name().revision()
            ))
            .header(AUTHORIZATION, &bearer)
            .body(public.to_file_string())
            .send()
            .await?,
        StatusCode::CREATED,
        "upload the origin key",
    )
    .await?;
    let libs: Vec<String> = (1..=REAL_LIBS)
        .map(|n| format!("{REAL_ORIGIN}/tufbench-lib{n}/1.0.0/{REAL_RELEASE}"))
        .collect();
    let lib_refs: Vec<&str> = libs.iter().map(String::as_str).collect();
    let app = format!("{REAL_ORIGIN}/tufbench-app/1.0.0/{REAL_RELEASE}");
    let tool = format!("{REAL_ORIGIN}/tufbench-tool/1.0.0/{REAL_RELEASE}");
    let mut packed = Vec::new();
    for lib in &libs {
        packed.push((
            lib.clone(),
            habitat_test_support::artifact(dir, lib, &[], &key),
        ));
    }
    packed.push((
        app.clone(),
        habitat_test_support::artifact(dir, &app, &lib_refs, &key),
    ));
    packed.push((
        tool.clone(),
        habitat_test_support::artifact(dir, &tool, &lib_refs[..1], &key),
    ));
    for (ident, hart) in &packed {
        let bytes = tokio::fs::read(hart)
            .await
            .with_context(|| format!("read `{}`", hart.display()))?;
        let checksum = Blake2bHash::digest(&bytes);
        expect(
            client
                .post(format!(
                    "{api}/depot/pkgs/{ident}?checksum={checksum}&target={TARGET}"
                ))
                .header(AUTHORIZATION, &bearer)
                .body(bytes)
                .send()
                .await?,
            StatusCode::CREATED,
            &format!("upload {ident}"),
        )
        .await?;
    }
    for ident in [&app, &tool] {
        let ident: FullyQualifiedIdent = ident.parse()?;
        channel_op(client, api, &bearer, &ident, true).await?;
    }
    Ok(RealPackages {
        app: format!("{REAL_ORIGIN}/tufbench-app"),
        tool: format!("{REAL_ORIGIN}/tufbench-tool"),
    })
}

/// A promote to `stable` (`promote`) or a demote from it, through the API; fails unless it
/// answers 200.
async fn channel_op(
    client: &reqwest::Client,
    api: &str,
    bearer: &str,
    ident: &FullyQualifiedIdent,
    promote: bool,
) -> Result<()> {
    let action = if promote { "promote" } else { "demote" };
    expect(
        client
            .put(format!(
                "{api}/depot/channels/{}/stable/pkgs/{}/{}/{}/{action}?target={TARGET}",
                ident.origin(),
                ident.name(),
                ident.version(),
                ident.release()
            ))
            .header(AUTHORIZATION, bearer)
            .send()
            .await?,
        StatusCode::OK,
        &format!("{action} {ident}"),
    )
    .await?;
    Ok(())
}

/// One promote or demote.
#[derive(Clone, Debug)]
struct Op {
    ident: FullyQualifiedIdent,
    promote: bool,
}

impl Op {
    fn undone(&self) -> Self {
        Self {
            ident: self.ident.clone(),
            promote: !self.promote,
        }
    }
}

/// `count` operations on as many different public names of the catalog, alternately a
/// promote to `stable` of the release before the newest and a demote of the newest (which is
/// in `stable`), starting from name number `skip` of the eligible ones (spread over the
/// catalog). Undone in the same order, they leave `stable` as it was.
fn channel_ops(spec: &WebCatalogSpec, skip: usize, count: usize) -> Result<Vec<Op>> {
    // Public names whose newest release is public too, so each operation changes an index.
    let eligible: Vec<usize> = (0..spec.names)
        .filter(|&n| !WebCatalogSpec::name_is_private(n) && n % 10 != 3)
        .collect();
    let step = (eligible.len() / (skip + count).max(1)).max(1);
    let mut ops = Vec::with_capacity(count);
    for k in 0..count {
        let n = *eligible
            .get((skip + k) * step)
            .context("not enough names in the catalog")?;
        let promote = k % 2 == 0;
        let j = if promote {
            RELEASES_PER_NAME - 2
        } else {
            RELEASES_PER_NAME - 1
        };
        let (version, release) = WebCatalogSpec::version_release(n, j);
        let ident = format!(
            "{}/{}/{version}/{release}",
            WebCatalogSpec::origin(n),
            WebCatalogSpec::name(n)
        )
        .parse()?;
        ops.push(Op { ident, promote });
    }
    Ok(ops)
}

/// Times of one phase of promotes and demotes, and the server's CPU time over it.
struct Phase {
    /// Each operation's time, in the order made.
    times: Vec<Duration>,
    /// CPU seconds the server used during the timed operations.
    server_cpu: f64,
}

impl Phase {
    fn sorted(&self) -> Vec<Duration> {
        let mut sorted = self.times.clone();
        sorted.sort_unstable();
        sorted
    }

    fn median_ms(&self) -> f64 {
        percentile_ms(&self.sorted(), 0.5)
    }

    fn p90_ms(&self) -> f64 {
        percentile_ms(&self.sorted(), 0.9)
    }

    fn cpu_ms_per_op(&self) -> f64 {
        self.server_cpu * 1000.0 / self.times.len().max(1) as f64
    }
}

/// The `p` quantile (nearest rank) of sorted times, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// The warm-up operations (untimed, done and undone), then `ops` and their undoing, each timed.
async fn time_ops(
    client: &reqwest::Client,
    depot: &DepotProcess,
    token: &str,
    warm_up: &[Op],
    ops: &[Op],
) -> Result<Phase> {
    let bearer = format!("Bearer {token}");
    let warm_undone: Vec<Op> = warm_up.iter().map(Op::undone).collect();
    for op in warm_up.iter().chain(&warm_undone) {
        channel_op(client, &depot.url, &bearer, &op.ident, op.promote).await?;
    }
    let cpu_before = proc_stats(depot.pid())?.cpu_secs;
    let mut times = Vec::with_capacity(2 * ops.len());
    let undone: Vec<Op> = ops.iter().map(Op::undone).collect();
    for op in ops.iter().chain(&undone) {
        let started = Instant::now();
        channel_op(client, &depot.url, &bearer, &op.ident, op.promote).await?;
        times.push(started.elapsed());
    }
    let server_cpu = proc_stats(depot.pid())?.cpu_secs - cpu_before;
    Ok(Phase { times, server_cpu })
}

/// Where a `/v1/tuf/` file's bytes are counted: `root`, `timestamp`, `snapshot`, `targets`,
/// `bins`, `channel indexes`, `origin keys`.
fn kind_of(path: &str) -> &'static str {
    let Some(rest) = path.strip_prefix("/v1/tuf/") else {
        return "not TUF";
    };
    if let Some(file) = rest.strip_prefix("metadata/") {
        if file.ends_with(".root.json") {
            "root"
        } else if file == "timestamp.json" {
            "timestamp"
        } else if file.ends_with(".snapshot.json") {
            "snapshot"
        } else if file.contains(".bin-") {
            "bins"
        } else {
            "targets"
        }
    } else if rest.starts_with("targets/channels/") {
        "channel indexes"
    } else {
        "origin keys"
    }
}

/// What one client step fetched from `/v1/tuf/`.
#[derive(Clone, Debug, Default)]
struct Fetched {
    /// Body bytes and files by kind ([`kind_of`]).
    by_kind: BTreeMap<&'static str, (u64, usize)>,
}

impl Fetched {
    fn of(answers: &[(String, u64)]) -> Self {
        let mut by_kind: BTreeMap<&'static str, (u64, usize)> = BTreeMap::new();
        for (path, bytes) in answers {
            if path.starts_with("/v1/tuf/") {
                let entry = by_kind.entry(kind_of(path)).or_default();
                entry.0 += bytes;
                entry.1 += 1;
            }
        }
        Self { by_kind }
    }

    fn bytes(&self) -> u64 {
        self.by_kind.values().map(|(b, _)| b).sum()
    }

    fn files(&self) -> usize {
        self.by_kind.values().map(|(_, n)| n).sum()
    }

    fn detail(&self) -> String {
        self.by_kind
            .iter()
            .map(|(kind, (bytes, files))| format!("{kind} {} ({files})", kib(*bytes)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

/// A `hab` client's files: its home, install root and key cache (the TUF cache is the key
/// cache's sibling `tuf/`).
struct ClientDirs {
    base: PathBuf,
}

impl ClientDirs {
    fn new(base: PathBuf) -> Result<Self> {
        fs::create_dir_all(base.join("home"))?;
        fs::create_dir_all(base.join("cache/keys"))?;
        Ok(Self { base })
    }

    fn root(&self) -> PathBuf {
        self.base.join("root")
    }

    fn keys(&self) -> PathBuf {
        self.base.join("cache/keys")
    }

    fn tuf(&self) -> PathBuf {
        self.base.join("cache/tuf")
    }

    /// Empties the install root and the key cache (and the TUF cache unless `keep_tuf`).
    fn reset(&self, keep_tuf: bool) -> Result<()> {
        for dir in [self.root(), self.keys()] {
            if dir.exists() {
                fs::remove_dir_all(&dir).with_context(|| format!("remove `{}`", dir.display()))?;
            }
        }
        if !keep_tuf && self.tuf().exists() {
            fs::remove_dir_all(self.tuf())
                .with_context(|| format!("remove `{}`", self.tuf().display()))?;
        }
        fs::create_dir_all(self.keys())?;
        Ok(())
    }
}

/// How `hab` is told about TUF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verify {
    /// `HAB_TUF=off` (the root file named all the same).
    Off,
    /// `HAB_TUF_ROOT` names the root file.
    Pinned,
    /// Whatever the TUF cache holds (a root pinned with `hab depot trust`).
    Cached,
}

/// Runs `hab ARGS` in `dirs`'s environment against `url`, and returns its wall time and
/// output; fails with its output when it fails.
async fn hab(
    o: &Options,
    dirs: &ClientDirs,
    url: &str,
    verify: Verify,
    root_file: &Path,
    args: &[&str],
) -> Result<(Duration, String)> {
    let mut command = tokio::process::Command::new(&o.hab);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HAB_") {
            command.env_remove(&name);
        }
    }
    command
        .env_remove("RUST_LOG")
        .env("HOME", dirs.base.join("home"))
        .env("FS_ROOT", dirs.root())
        .env("HAB_CACHE_KEY_PATH", dirs.keys())
        .env("HAB_BLDR_URL", url)
        .env("HAB_NONINTERACTIVE", "true")
        .args(args)
        .stdin(Stdio::null());
    match verify {
        Verify::Off => {
            command.env("HAB_TUF", "off").env("HAB_TUF_ROOT", root_file);
        }
        Verify::Pinned => {
            command.env("HAB_TUF_ROOT", root_file);
        }
        Verify::Cached => {}
    }
    let started = Instant::now();
    let out = command
        .output()
        .await
        .with_context(|| format!("start `{}`", o.hab.display()))?;
    let took = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success(),
        "hab {} failed ({}):\n{text}",
        args.join(" "),
        out.status
    );
    Ok((took, text))
}

/// Checks that `ident` (origin/name) ended up installed under `dirs`, and that the run was
/// verified (or not) as asked.
fn check_install(dirs: &ClientDirs, ident: &str, verified: bool, output: &str) -> Result<()> {
    let installed = dirs.root().join("hab/pkgs").join(ident);
    ensure!(
        installed.is_dir(),
        "`{ident}` is not installed under `{}`:\n{output}",
        dirs.root().display()
    );
    let unverified = output.contains("are not verified");
    ensure!(
        !unverified,
        "hab said the channels are not verified:\n{output}"
    );
    if verified {
        ensure!(
            dirs.tuf().is_dir(),
            "a verified install left no TUF cache in `{}`",
            dirs.tuf().display()
        );
    }
    Ok(())
}

/// The metadata measurement's figures.
struct Metadata {
    trust: Fetched,
    first: Fetched,
    later: Fetched,
    unchanged: Fetched,
}

/// Through a counting proxy: `hab depot trust`, a first install with empty caches, `between`
/// promotes and demotes, a later install of another package, and that install again into an
/// empty install root with nothing published in between.
#[allow(clippy::too_many_arguments)]
async fn measure_metadata(
    o: &Options,
    client: &reqwest::Client,
    depot: &DepotProcess,
    token: &str,
    real: &RealPackages,
    fingerprint: &str,
    between: &[Op],
    work: &Path,
) -> Result<Metadata> {
    let proxy = Proxy::start(&depot.url).await;
    let dirs = ClientDirs::new(work.join("client-metadata"))?;
    let no_root = work.join("no-root.json");
    let take = |proxy: &Proxy| -> Fetched {
        let answers =
            std::mem::take(&mut *proxy.answered.lock().unwrap_or_else(|e| e.into_inner()));
        Fetched::of(&answers)
    };
    hab(
        o,
        &dirs,
        &proxy.url,
        Verify::Cached,
        &no_root,
        &[
            "depot",
            "trust",
            "--url",
            &proxy.url,
            "--root-sha256",
            fingerprint,
        ],
    )
    .await?;
    let trust = take(&proxy);
    let (_, output) = hab(
        o,
        &dirs,
        &proxy.url,
        Verify::Cached,
        &no_root,
        &["pkg", "install", &real.app],
    )
    .await?;
    check_install(&dirs, &real.app, true, &output)?;
    let first = take(&proxy);
    let bearer = format!("Bearer {token}");
    for op in between {
        channel_op(client, &depot.url, &bearer, &op.ident, op.promote).await?;
    }
    let (_, output) = hab(
        o,
        &dirs,
        &proxy.url,
        Verify::Cached,
        &no_root,
        &["pkg", "install", &real.tool],
    )
    .await?;
    check_install(&dirs, &real.tool, true, &output)?;
    let later = take(&proxy);
    // The same install again into an empty install root, nothing published in between.
    fs::remove_dir_all(dirs.root()).context("empty the install root")?;
    let (_, output) = hab(
        o,
        &dirs,
        &proxy.url,
        Verify::Cached,
        &no_root,
        &["pkg", "install", &real.tool],
    )
    .await?;
    check_install(&dirs, &real.tool, true, &output)?;
    let unchanged = take(&proxy);
    for op in between.iter().map(Op::undone) {
        channel_op(client, &depot.url, &bearer, &op.ident, op.promote).await?;
    }
    Ok(Metadata {
        trust,
        first,
        later,
        unchanged,
    })
}

/// `hab pkg install` times of the three variants.
#[derive(Default)]
struct Installs {
    off: Vec<Duration>,
    first_contact: Vec<Duration>,
    warm: Vec<Duration>,
}

fn median_secs(times: &[Duration]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    percentile_ms(&sorted, 0.5) / 1000.0
}

/// `rounds` rounds of `hab pkg install APP` straight to the depot, each into an empty install
/// root with an empty key cache: with `HAB_TUF=off`; verified with the root file named and an
/// empty TUF cache (first contact); verified with the TUF cache of the previous warm run. The
/// order of the three turns each round.
async fn time_installs(
    o: &Options,
    depot: &DepotProcess,
    real: &RealPackages,
    root_file: &Path,
    work: &Path,
) -> Result<Installs> {
    let url = depot.url.trim_end_matches("/v1").to_owned();
    let off = ClientDirs::new(work.join("client-off"))?;
    let cold = ClientDirs::new(work.join("client-cold"))?;
    let warm = ClientDirs::new(work.join("client-warm"))?;
    // The warm client's first run fills its TUF cache.
    let (_, output) = hab(
        o,
        &warm,
        &url,
        Verify::Pinned,
        root_file,
        &["pkg", "install", &real.app],
    )
    .await?;
    check_install(&warm, &real.app, true, &output)?;
    let mut installs = Installs::default();
    for round in 0..o.install_rounds {
        for turn in 0..3 {
            let variant = (round + turn) % 3;
            let (dirs, verify, keep_tuf) = match variant {
                0 => (&off, Verify::Off, false),
                1 => (&cold, Verify::Pinned, false),
                _ => (&warm, Verify::Pinned, true),
            };
            dirs.reset(keep_tuf)?;
            let (took, output) = hab(
                o,
                dirs,
                &url,
                verify,
                root_file,
                &["pkg", "install", &real.app],
            )
            .await?;
            check_install(dirs, &real.app, verify != Verify::Off, &output)?;
            match variant {
                0 => installs.off.push(took),
                1 => installs.first_contact.push(took),
                _ => installs.warm.push(took),
            }
        }
    }
    Ok(installs)
}

/// `hab-depot tuf init --data-dir DATA --keys-out KEYS`: the root's fingerprint it printed,
/// and its time.
async fn tuf_init(o: &Options, data: &Path, keys: &Path) -> Result<(String, Duration)> {
    let started = Instant::now();
    let out = tokio::process::Command::new(&o.hab_depot)
        .args(["tuf", "init", "--data-dir"])
        .arg(data)
        .arg("--keys-out")
        .arg(keys)
        .env_remove("HAB_DEPOT_CONFIG")
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("start `{}`", o.hab_depot.display()))?;
    let took = started.elapsed();
    ensure!(
        out.status.success(),
        "hab-depot tuf init failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let fingerprint = String::from_utf8(out.stdout)
        .context("tuf init printed no text")?
        .trim()
        .to_owned();
    ensure!(
        fingerprint.len() == 64,
        "tuf init printed `{fingerprint}`, not a SHA-256"
    );
    eprintln!(
        "   {}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .find(|l| l.starts_with("published"))
            .unwrap_or_default()
    );
    Ok((fingerprint, took))
}

fn quiet(o: &Options) -> Result<()> {
    if !o.max_wait.is_zero() {
        wait_for_quiet(o.max_load, o.max_wait)?;
    }
    Ok(())
}

async fn run(o: Options) -> Result<ExitCode> {
    fs::create_dir_all(&o.data_dir)
        .with_context(|| format!("create `{}`", o.data_dir.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("tuf-bench-")
        .tempdir_in(&o.data_dir)?;
    let work = scratch.path();
    let data = work.join("depot");
    let spec = o.catalog;
    eprintln!(
        "== storing {} packages ({} names) through the library into {}",
        spec.packages(),
        spec.names,
        data.display()
    );
    let populated = populate(&data, &spec, o.batch).await?;
    eprintln!(
        "   {} packages in {:.1} s, {} promotions in {:.1} s",
        populated.packages,
        populated.import.as_secs_f64(),
        populated.promotions,
        populated.promote.as_secs_f64()
    );
    let token = owner_token(&data).await?;
    let client = http()?;

    let depot = start_depot(&o.hab_depot, &data, None, &work.join("depot-1.log"), None)?;
    eprintln!(
        "== real packages (hab-depot pid {} at {})",
        depot.pid(),
        depot.url
    );
    let real = publish_real(&client, &depot.url, &token, &work.join("real")).await?;

    let warm_up = channel_ops(&spec, 0, WARM_UP)?;
    let ops = channel_ops(&spec, WARM_UP, o.promotes)?;
    let between = channel_ops(&spec, WARM_UP + o.promotes, o.between)?;
    quiet(&o)?;
    eprintln!(
        "== {} promotes and demotes without TUF (load {})",
        2 * ops.len(),
        load_text()
    );
    let without = time_ops(&client, &depot, &token, &warm_up, &ops).await?;
    depot.stop().map_err(anyhow::Error::msg)?;

    eprintln!("== hab-depot tuf init");
    let (fingerprint, init_took) = tuf_init(&o, &data, &work.join("tuf-keys")).await?;
    eprintln!("   {:.1} s", init_took.as_secs_f64());
    let depot = start_depot(&o.hab_depot, &data, None, &work.join("depot-2.log"), None)?;
    let root = expect(
        client
            .get(format!("{}/tuf/metadata/1.root.json", depot.url))
            .send()
            .await?,
        StatusCode::OK,
        "GET 1.root.json",
    )
    .await?;
    ensure!(
        sha256_hex(&root) == fingerprint,
        "1.root.json is not the root tuf init printed"
    );
    let root_file = work.join("1.root.json");
    fs::write(&root_file, &root)?;

    quiet(&o)?;
    eprintln!(
        "== the same {} promotes and demotes with TUF (load {})",
        2 * ops.len(),
        load_text()
    );
    let with = time_ops(&client, &depot, &token, &warm_up, &ops).await?;

    eprintln!("== metadata a client downloads (through a counting proxy)");
    let metadata = measure_metadata(
        &o,
        &client,
        &depot,
        &token,
        &real,
        &fingerprint,
        &between,
        work,
    )
    .await?;

    quiet(&o)?;
    eprintln!(
        "== hab pkg install {}, {} rounds (load {})",
        real.app,
        o.install_rounds,
        load_text()
    );
    let installs = time_installs(&o, &depot, &real, &root_file, work).await?;
    eprintln!("== load after: {}", load_text());
    depot.stop().map_err(anyhow::Error::msg)?;

    let ratio = with.median_ms() / without.median_ms();
    let ratio_ok = ratio <= PROMOTE_RATIO_TARGET;
    let later_ok = metadata.later.bytes() < LATER_INSTALL_TARGET;
    println!(
        "\nTUF with {} packages (embedded store); promotes: {} timed per phase\n",
        populated.packages,
        with.times.len()
    );
    println!("| measure | value | goal | verdict |");
    println!("|---|---|---|---|");
    for (what, phase) in [("without TUF", &without), ("with TUF publishing", &with)] {
        println!(
            "| promote/demote {what}: median, p90 (server CPU per request) | {:.2} ms, {:.2} ms ({:.2} ms) | | |",
            phase.median_ms(),
            phase.p90_ms(),
            phase.cpu_ms_per_op()
        );
    }
    println!(
        "| with / without, medians (p90s: {:.2}) | {ratio:.2} | ≤ {PROMOTE_RATIO_TARGET} | {} |",
        with.p90_ms() / without.p90_ms(),
        verdict(ratio_ok)
    );
    println!(
        "| `hab-depot tuf init` (first publication) | {:.1} s | | |",
        init_took.as_secs_f64()
    );
    for (what, fetched) in [
        ("`hab depot trust`", &metadata.trust),
        ("first install (empty cache)", &metadata.first),
    ] {
        println!(
            "| metadata bytes: {what} | {} in {} files | | |",
            kib(fetched.bytes()),
            fetched.files()
        );
    }
    println!(
        "| metadata bytes: later install ({} promotes and demotes before) | {} in {} files | < {} | {} |",
        between.len(),
        kib(metadata.later.bytes()),
        metadata.later.files(),
        kib(LATER_INSTALL_TARGET),
        verdict(later_ok)
    );
    println!(
        "| metadata bytes: the later install again, nothing published since | {} in {} files | | |",
        kib(metadata.unchanged.bytes()),
        metadata.unchanged.files()
    );
    let off = median_secs(&installs.off);
    for (what, times) in [
        ("`HAB_TUF=off`", &installs.off),
        ("verified, first contact", &installs.first_contact),
        ("verified, trusted metadata cached", &installs.warm),
    ] {
        let median = median_secs(times);
        let ratio = if what.contains("off") {
            String::new()
        } else {
            format!(" ({:.2}× off)", median / off)
        };
        println!(
            "| `hab pkg install` ({} artifacts), {what}: median | {:.0} ms{ratio} | | |",
            REAL_LIBS + 1,
            median * 1000.0
        );
    }
    println!("\nmetadata by kind (bytes, files):");
    for (what, fetched) in [
        ("trust", &metadata.trust),
        ("first install", &metadata.first),
        ("later install", &metadata.later),
        ("nothing changed", &metadata.unchanged),
    ] {
        println!("- {what}: {}", fetched.detail());
    }
    println!(
        "\nevery time, ms: without {:?}\n                 with    {:?}",
        ms_list(&without.times),
        ms_list(&with.times)
    );
    println!(
        "install times, ms: off {:?}, first contact {:?}, cached {:?}",
        ms_list(&installs.off),
        ms_list(&installs.first_contact),
        ms_list(&installs.warm)
    );

    if o.keep {
        let kept = scratch.keep();
        eprintln!("== kept {}", kept.display());
    }
    println!(
        "\n{}",
        if ratio_ok && later_ok {
            "all goals met"
        } else {
            "some goals missed (see above)"
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn ms_list(times: &[Duration]) -> Vec<u64> {
    times.iter().map(|t| t.as_millis() as u64).collect()
}
