//! `mirror-bench`: the mirroring benchmark (see benches/README.md, "Mirroring";
//! `benches/mirror-bench.sh` builds and runs it), with real release `hab-depot` and `hab`
//! processes on 127.0.0.1.
//!
//! An upstream depot gets 500 small signed packages over several origins with a realistic
//! dependency graph (`habitat_benches::mirror`), a chosen set of them promoted into `stable` so
//! that the channel's closure is the 500. Then, best of `--runs` rounds, interleaved:
//!
//! - (a) `hab-depot sync --from UPSTREAM --origin … --channel stable` into an empty depot;
//! - (b) the stock sequence into another empty depot: `hab pkg download` of the members (with
//!   their dependencies) into a directory, one artifact at a time, `hab pkg bulkupload` of it,
//!   then `hab pkg promote` of each member;
//! - (c) the same `hab-depot sync` again, with nothing new.
//!
//! Targets: (a) at most a quarter of (b); (c) under one second.
//!
//! Usage: `mirror-bench [--hab-depot PATH] [--hab PATH] [options]` (`--help` lists them).

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use habitat_benches::default_data_dir;
use habitat_benches::depot::{
    DepotProcess, beside_this_binary, block_on_two_threads, ensure_binaries, load_average,
    load_text, number, proc_stats, start_depot, user_create, verdict, wait_for_quiet,
};
use habitat_benches::mirror::{CHANNEL, MirrorSet, SetSpec, ensure_set};
use habitat_core::{Blake2bHash, PublicKey};
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;

/// Largest acceptable time of (a) over the time of (b) (issue).
const RATIO_TARGET: f64 = 0.25;
/// Time a sync with nothing new must stay under, seconds (issue).
const RERUN_TARGET_SECS: f64 = 1.0;
/// The target of every package of the set.
const TARGET: &str = "x86_64-linux";

const USAGE: &str = "\
usage: mirror-bench [options]
  --hab-depot PATH        the server binary [default: hab-depot beside this binary]
  --hab PATH              the client binary [default: hab beside this binary]
  --data-dir DIR          cache and scratch directory [default: benches/data]
  --packages N            packages in the set [default: 500]
  --base N                base libraries among them [default: 50]
  --seed N                seed of the set (graph, sizes, contents) [default: 1]
  --runs N                rounds of (a), (b) and (c); the best of each counts [default: 3]
  --stock-concurrency N   downloads at once in (b) (HAB_DOWNLOAD_CONCURRENCY) [default: 1,
                          one at a time as the stock client does]
  --max-load X            wait for a 1-minute load average at most X before measuring
                          [default: 1.5]
  --max-wait-secs N       ... but not longer than N seconds [default: 60; 0: do not wait]
  --keep                  keep the scratch directory (data dirs, logs, downloads)";

struct Options {
    hab_depot: PathBuf,
    hab: PathBuf,
    data_dir: PathBuf,
    set: SetSpec,
    runs: usize,
    stock_concurrency: usize,
    max_load: f64,
    max_wait: Duration,
    keep: bool,
}

fn parse_args() -> Result<Option<Options>> {
    let mut o = Options {
        hab_depot: beside_this_binary("hab-depot"),
        hab: beside_this_binary("hab"),
        data_dir: default_data_dir(),
        set: SetSpec::default(),
        runs: 3,
        stock_concurrency: 1,
        max_load: 1.5,
        max_wait: Duration::from_secs(60),
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--hab-depot" => o.hab_depot = value(&arg)?.into(),
            "--hab" => o.hab = value(&arg)?.into(),
            "--data-dir" => o.data_dir = value(&arg)?.into(),
            "--packages" => o.set.packages = number(&arg, value(&arg)?)?,
            "--base" => o.set.base = number(&arg, value(&arg)?)?,
            "--seed" => o.set.seed = number(&arg, value(&arg)?)?,
            "--runs" => o.runs = number(&arg, value(&arg)?)?,
            "--stock-concurrency" => o.stock_concurrency = number(&arg, value(&arg)?)?,
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
    ensure!(o.runs > 0, "--runs must be positive");
    ensure!(
        (1..=64).contains(&o.stock_concurrency),
        "--stock-concurrency must be from 1 to 64"
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

/// CPU seconds (user plus system) of this process's children that have been waited for.
fn children_cpu_secs() -> Result<f64> {
    let stat = fs::read_to_string("/proc/self/stat").context("read /proc/self/stat")?;
    // Fields after the command name: state is the first, cutime and cstime the 14th and 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<u64> = after
        .split_whitespace()
        .skip(13)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    ensure!(ticks.len() == 2, "cannot parse /proc/self/stat");
    Ok((ticks[0] + ticks[1]) as f64 / 100.0)
}

/// CPU seconds a server process has used so far (0 when it cannot be read).
fn server_cpu(depot: &DepotProcess) -> f64 {
    proc_stats(depot.pid()).map_or(0.0, |s| s.cpu_secs)
}

fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()?)
}

async fn expect(response: reqwest::Response, want: &[StatusCode], what: &str) -> Result<String> {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    ensure!(
        want.contains(&status),
        "{what}: {status} (wanted {want:?}): {body}"
    );
    Ok(body)
}

/// The depot's root URL for `hab` (`http://127.0.0.1:PORT`), from its API root.
fn root_url(depot: &DepotProcess) -> String {
    depot.url.trim_end_matches("/v1").to_owned()
}

/// Fills the upstream: origins, their public keys, every package (dependencies first), then
/// the members promoted into the channel.
async fn publish(set: &MirrorSet, api: &str, token: &str) -> Result<()> {
    let client = http()?;
    let bearer = format!("Bearer {token}");
    for (origin, key_text) in set.origins.iter().zip(&set.public_keys) {
        expect(
            client
                .post(format!("{api}/depot/origins"))
                .header(AUTHORIZATION, &bearer)
                .json(&serde_json::json!({ "name": origin }))
                .send()
                .await?,
            &[StatusCode::CREATED],
            "create origin",
        )
        .await?;
        let key = PublicKey::parse(key_text)?;
        expect(
            client
                .post(format!(
                    "{api}/depot/origins/{origin}/keys/{}",
                    key.name().revision()
                ))
                .header(AUTHORIZATION, &bearer)
                .body(key_text.clone())
                .send()
                .await?,
            &[StatusCode::CREATED],
            "upload a public key",
        )
        .await?;
    }
    for package in &set.packages {
        let bytes = tokio::fs::read(&package.hart)
            .await
            .with_context(|| format!("read `{}`", package.hart.display()))?;
        let checksum = Blake2bHash::digest(&bytes);
        expect(
            client
                .post(format!(
                    "{api}/depot/pkgs/{}?checksum={checksum}&target={TARGET}",
                    package.ident
                ))
                .header(AUTHORIZATION, &bearer)
                .body(bytes)
                .send()
                .await?,
            &[StatusCode::CREATED],
            &format!("upload {}", package.ident),
        )
        .await?;
    }
    for package in set.packages.iter().filter(|p| p.member) {
        let ident = &package.ident;
        expect(
            client
                .put(format!(
                    "{api}/depot/channels/{}/{CHANNEL}/pkgs/{}/{}/{}/promote?target={TARGET}",
                    ident.origin(),
                    ident.name(),
                    ident.version(),
                    ident.release()
                ))
                .header(AUTHORIZATION, &bearer)
                .send()
                .await?,
            &[StatusCode::OK],
            &format!("promote {ident}"),
        )
        .await?;
    }
    Ok(())
}

/// The identifiers in a channel's manifest, as text (`None`: no such channel).
async fn manifest(
    client: &reqwest::Client,
    api: &str,
    origin: &str,
    channel: &str,
) -> Result<Option<BTreeSet<String>>> {
    let response = client
        .get(format!(
            "{api}/depot/channels/{origin}/{channel}/manifest?target={TARGET}"
        ))
        .send()
        .await?;
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let body = expect(response, &[StatusCode::OK], "channel manifest").await?;
    let json: serde_json::Value = serde_json::from_str(&body)?;
    let mut idents = BTreeSet::new();
    for entry in json["packages"]
        .as_array()
        .context("a manifest without packages")?
    {
        let ident = &entry["ident"];
        let text = match ident.as_str() {
            Some(text) => text.to_owned(),
            None => format!(
                "{}/{}/{}/{}",
                ident["origin"].as_str().unwrap_or_default(),
                ident["name"].as_str().unwrap_or_default(),
                ident["version"].as_str().unwrap_or_default(),
                ident["release"].as_str().unwrap_or_default()
            ),
        };
        idents.insert(text);
    }
    Ok(Some(idents))
}

/// Checks that the depot at `api` holds the whole set, with the same members in the channel
/// as upstream (and no dependency promoted into it).
async fn verify(set: &MirrorSet, api: &str, what: &str) -> Result<()> {
    let client = http()?;
    let mut stored = 0;
    for origin in &set.origins {
        let want = set.members_of(origin);
        let members = manifest(&client, api, origin.as_str(), CHANNEL)
            .await?
            .unwrap_or_default();
        ensure!(
            members == want,
            "{what}: `{origin}/{CHANNEL}` has {} members, upstream {} (first difference: {:?})",
            members.len(),
            want.len(),
            members.symmetric_difference(&want).next()
        );
        stored += manifest(&client, api, origin.as_str(), "unstable")
            .await?
            .map_or(0, |all| all.len());
    }
    ensure!(
        stored == set.packages.len(),
        "{what}: {stored} packages stored, not {}",
        set.packages.len()
    );
    Ok(())
}

/// One `hab-depot sync` run.
struct SyncRun {
    secs: f64,
    /// Each line it printed on stderr, with the seconds since the start.
    lines: Vec<(f64, String)>,
    /// CPU seconds of the `hab-depot sync` process.
    cpu: f64,
}

impl SyncRun {
    /// When the first line starting with `prefix` came (`first`) or the last one.
    fn at(&self, prefix: &str, first: bool) -> Option<f64> {
        let mut found = self.lines.iter().filter(|(_, l)| l.starts_with(prefix));
        if first {
            found.next()
        } else {
            found.next_back()
        }
        .map(|(t, _)| *t)
    }

    /// The summary line.
    fn summary(&self) -> &str {
        self.lines
            .iter()
            .rev()
            .find(|(_, l)| l.contains(" up to date, "))
            .map_or("", |(_, l)| l.as_str())
    }

    /// Its phases, from the times of its lines: listing and look-ups (until the origins are
    /// created, just before the first download), downloads with checks and stores (until the
    /// last package is stored), channel memberships (until the summary), and the exit.
    fn phases(&self) -> Option<[f64; 4]> {
        let listed = self
            .at("created origin", false)
            .or(self.at("added public key", true))?;
        let stored = self.at("stored ", false)?;
        let summary = self
            .lines
            .iter()
            .rev()
            .find(|(_, l)| l.contains(" up to date, "))?
            .0;
        Some([
            listed,
            stored - listed,
            summary - stored,
            self.secs - summary,
        ])
    }
}

/// `hab-depot sync --data-dir DATA --from UPSTREAM --origin … --channel stable --owner mirror`,
/// timed, its stderr read line by line (and written to `log`).
fn run_sync(o: &Options, data: &Path, from: &str, set: &MirrorSet, log: &Path) -> Result<SyncRun> {
    let mut command = Command::new(&o.hab_depot);
    command
        .arg("sync")
        .arg("--data-dir")
        .arg(data)
        .args(["--from", from]);
    for origin in set.member_origins() {
        command.args(["--origin", origin.as_str()]);
    }
    command
        .args(["--channel", CHANNEL, "--owner", "mirror"])
        .env_remove("HAB_DEPOT_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let cpu_before = children_cpu_secs()?;
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("start `{}`", o.hab_depot.display()))?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines() {
        lines.push((started.elapsed().as_secs_f64(), line?));
    }
    let status = child.wait()?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = children_cpu_secs()? - cpu_before;
    let mut file = fs::File::create(log).with_context(|| format!("create `{}`", log.display()))?;
    for (t, line) in &lines {
        writeln!(file, "{t:8.3} {line}")?;
    }
    ensure!(
        status.success(),
        "hab-depot sync failed ({status}); its output is in `{}`",
        log.display()
    );
    Ok(SyncRun { secs, lines, cpu })
}

/// One run of the stock sequence.
struct StockRun {
    secs: f64,
    download: f64,
    bulkupload: f64,
    promote: f64,
    /// CPU seconds of the `hab` processes.
    cpu: f64,
}

/// A `hab` command in the scratch client's environment: its own home, root and key cache, no
/// setting from this environment.
fn hab(o: &Options, work: &Path, url: &str) -> Command {
    let mut command = Command::new(&o.hab);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HAB_") {
            command.env_remove(&name);
        }
    }
    command
        .env_remove("RUST_LOG")
        .env_remove("FS_ROOT")
        .env("HOME", work.join("home"))
        .env("FS_ROOT", work.join("root"))
        .env("HAB_CACHE_KEY_PATH", work.join("keys"))
        .env("HAB_BLDR_URL", url)
        .stdin(Stdio::null());
    command
}

/// Runs `command`, its output appended to `log`; fails with the log's end when it fails.
fn checked(mut command: Command, log: &Path, what: &str) -> Result<()> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("open `{}`", log.display()))?;
    let status = command
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("start {what}"))?;
    if !status.success() {
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(10).collect();
        bail!(
            "{what} failed ({status}):\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}

/// The stock sequence from `upstream` to `downstream` (root URLs): `hab pkg download` of the
/// members into a directory, `hab pkg bulkupload` of it, `hab pkg promote` of each member.
fn run_stock(
    o: &Options,
    work: &Path,
    (upstream, downstream, token): (&str, &str, &str),
    set: &MirrorSet,
) -> Result<StockRun> {
    fs::create_dir_all(work.join("home"))?;
    let members: Vec<String> = set
        .packages
        .iter()
        .filter(|p| p.member)
        .map(|p| p.ident.to_string())
        .collect();
    // The operator's list of what to carry over: not timed.
    let list = work.join("members.txt");
    fs::write(&list, members.join("\n") + "\n")?;
    let dir = work.join("download");
    let log = work.join("hab.log");
    let cpu_before = children_cpu_secs()?;
    let started = Instant::now();

    let mut download = hab(o, work, upstream);
    download
        .env("HAB_DOWNLOAD_CONCURRENCY", o.stock_concurrency.to_string())
        .args(["pkg", "download", "-c", CHANNEL, "--download-directory"])
        .arg(&dir)
        .arg("--file")
        .arg(&list);
    checked(download, &log, "hab pkg download")?;
    let downloaded = started.elapsed().as_secs_f64();

    let mut bulk = hab(o, work, downstream);
    bulk.env("HAB_AUTH_TOKEN", token)
        .args(["pkg", "bulkupload", "--auto-create-origins"])
        .arg(&dir);
    checked(bulk, &log, "hab pkg bulkupload")?;
    let uploaded = started.elapsed().as_secs_f64();

    for ident in &members {
        let mut promote = hab(o, work, downstream);
        promote
            .env("HAB_AUTH_TOKEN", token)
            .args(["pkg", "promote", ident.as_str(), CHANNEL]);
        checked(promote, &log, &format!("hab pkg promote {ident}"))?;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = children_cpu_secs()? - cpu_before;
    let artifacts = fs::read_dir(dir.join("artifacts"))?.count();
    ensure!(
        artifacts == set.packages.len(),
        "hab pkg download fetched {artifacts} artifacts, not {}",
        set.packages.len()
    );
    Ok(StockRun {
        secs,
        download: downloaded,
        bulkupload: uploaded - downloaded,
        promote: secs - uploaded,
        cpu,
    })
}

/// What one round measured, with the CPU time the servers spent in each part.
struct Round {
    sync: SyncRun,
    sync_servers_cpu: f64,
    rerun: SyncRun,
    stock: StockRun,
    stock_servers_cpu: f64,
}

async fn sync_round(
    o: &Options,
    set: &MirrorSet,
    upstream: &DepotProcess,
    scratch: &Path,
    round: usize,
) -> Result<(SyncRun, f64, SyncRun)> {
    let data = scratch.join(format!("sync-{round}"));
    user_create(&o.hab_depot, &data, None, "mirror")?;
    let down = start_depot(
        &o.hab_depot,
        &data,
        None,
        &scratch.join(format!("sync-{round}.log")),
        None,
    )?;
    let from = upstream.url.clone();
    let cpu_before = server_cpu(upstream) + server_cpu(&down);
    let sync = tokio::task::block_in_place(|| {
        run_sync(
            o,
            &data,
            &from,
            set,
            &scratch.join(format!("sync-{round}-a.txt")),
        )
    })?;
    let servers_cpu = server_cpu(upstream) + server_cpu(&down) - cpu_before;
    let want = format!("{} new, 0 up to date", set.packages.len());
    ensure!(
        sync.summary().starts_with(&want),
        "(a) said `{}`, not `{want}, …`",
        sync.summary()
    );
    verify(set, &down.url, "(a)").await?;
    let rerun = tokio::task::block_in_place(|| {
        run_sync(
            o,
            &data,
            &from,
            set,
            &scratch.join(format!("sync-{round}-c.txt")),
        )
    })?;
    let want = format!(
        "0 new, {} up to date, 0 channel memberships added",
        set.packages.len()
    );
    ensure!(
        rerun.summary().starts_with(&want),
        "(c) said `{}`, not `{want}, …`",
        rerun.summary()
    );
    down.stop().map_err(anyhow::Error::msg)?;
    if !o.keep {
        fs::remove_dir_all(&data).with_context(|| format!("remove `{}`", data.display()))?;
    }
    Ok((sync, servers_cpu, rerun))
}

async fn stock_round(
    o: &Options,
    set: &MirrorSet,
    upstream: &DepotProcess,
    scratch: &Path,
    round: usize,
) -> Result<(StockRun, f64)> {
    let data = scratch.join(format!("stock-{round}"));
    let token = user_create(&o.hab_depot, &data, None, "bench")?;
    let down = start_depot(
        &o.hab_depot,
        &data,
        None,
        &scratch.join(format!("stock-{round}.log")),
        None,
    )?;
    let work = scratch.join(format!("stock-{round}-client"));
    let (up, downstream) = (root_url(upstream), root_url(&down));
    let cpu_before = server_cpu(upstream) + server_cpu(&down);
    let stock =
        tokio::task::block_in_place(|| run_stock(o, &work, (&up, &downstream, &token), set))?;
    let servers_cpu = server_cpu(upstream) + server_cpu(&down) - cpu_before;
    verify(set, &down.url, "(b)").await?;
    down.stop().map_err(anyhow::Error::msg)?;
    if !o.keep {
        fs::remove_dir_all(&data).with_context(|| format!("remove `{}`", data.display()))?;
        fs::remove_dir_all(&work).with_context(|| format!("remove `{}`", work.display()))?;
    }
    Ok((stock, servers_cpu))
}

async fn run(o: Options) -> Result<ExitCode> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "== mirror-bench: {} and {} ({cpus} CPUs, load {})",
        o.hab_depot.display(),
        o.hab.display(),
        load_text()
    );
    fs::create_dir_all(&o.data_dir)
        .with_context(|| format!("create `{}`", o.data_dir.display()))?;
    eprintln!(
        "== making (or reusing) the set of {} packages ({} base libraries, seed {})",
        o.set.packages, o.set.base, o.set.seed
    );
    let started = Instant::now();
    let (dir, spec) = (o.data_dir.clone(), o.set);
    let set = tokio::task::spawn_blocking(move || ensure_set(&dir, &spec)).await??;
    let members = set.packages.iter().filter(|p| p.member).count();
    let (smallest, largest) = (
        set.packages.iter().map(|p| p.size).min().unwrap_or(0),
        set.packages.iter().map(|p| p.size).max().unwrap_or(0),
    );
    eprintln!(
        "   {} in {:.1} s: {} packages in {} origins, {members} members of `{CHANNEL}`, \
         {:.1} MiB of .hart ({:.1} to {:.0} KiB)",
        if set.generated { "made" } else { "reused" },
        started.elapsed().as_secs_f64(),
        set.packages.len(),
        set.origins.len(),
        set.bytes() as f64 / f64::from(1 << 20),
        smallest as f64 / 1024.0,
        largest as f64 / 1024.0
    );

    let scratch = tempfile::Builder::new()
        .prefix("mirror-run.")
        .tempdir_in(&o.data_dir)
        .with_context(|| format!("create a scratch directory in `{}`", o.data_dir.display()))?;
    let up_data = scratch.path().join("upstream");
    let token = user_create(&o.hab_depot, &up_data, None, "alice")?;
    let upstream = start_depot(
        &o.hab_depot,
        &up_data,
        None,
        &scratch.path().join("upstream.log"),
        None,
    )?;
    eprintln!(
        "== publishing into the upstream (hab-depot pid {} at {})",
        upstream.pid(),
        upstream.url
    );
    let started = Instant::now();
    publish(&set, &upstream.url, &token).await?;
    verify(&set, &upstream.url, "upstream").await?;
    eprintln!(
        "   {} packages uploaded, {members} promoted in {:.1} s",
        set.packages.len(),
        started.elapsed().as_secs_f64()
    );

    let wait_started = Instant::now();
    let (max_load, max_wait) = (o.max_load, o.max_wait);
    let load_before =
        tokio::task::spawn_blocking(move || wait_for_quiet(max_load, max_wait)).await??;
    eprintln!(
        "== measuring (waited {:.0} s; load {:.2} {:.2} {:.2})",
        wait_started.elapsed().as_secs_f64(),
        load_before[0],
        load_before[1],
        load_before[2]
    );
    let mut rounds = Vec::new();
    for round in 1..=o.runs {
        // Interleaved: (a) first in odd rounds, (b) first in even ones.
        let sync_first = round % 2 == 1;
        let mut stock = None;
        if !sync_first {
            stock = Some(stock_round(&o, &set, &upstream, scratch.path(), round).await?);
        }
        let (sync, sync_servers_cpu, rerun) =
            sync_round(&o, &set, &upstream, scratch.path(), round).await?;
        let (stock, stock_servers_cpu) = match stock {
            Some(done) => done,
            None => stock_round(&o, &set, &upstream, scratch.path(), round).await?,
        };
        eprintln!(
            "   round {round}: (a) {:.2} s  (b) {:.2} s (download {:.2}, bulkupload {:.2}, \
             promote {:.2})  (c) {:.3} s  load {}",
            sync.secs,
            stock.secs,
            stock.download,
            stock.bulkupload,
            stock.promote,
            rerun.secs,
            load_text()
        );
        rounds.push(Round {
            sync,
            sync_servers_cpu,
            rerun,
            stock,
            stock_servers_cpu,
        });
    }
    let load_after = load_average()?;
    upstream.stop().map_err(anyhow::Error::msg)?;

    let best = |key: fn(&Round) -> f64| -> &Round {
        rounds
            .iter()
            .min_by(|x, y| key(x).total_cmp(&key(y)))
            .expect("at least one round")
    };
    let best_a = best(|r| r.sync.secs);
    let best_b = best(|r| r.stock.secs);
    let best_c = best(|r| r.rerun.secs);
    let (a, b, c) = (best_a.sync.secs, best_b.stock.secs, best_c.rerun.secs);
    let ratio = a / b.max(1e-9);
    let ratio_ok = ratio <= RATIO_TARGET;
    let rerun_ok = c < RERUN_TARGET_SECS;

    let n = set.packages.len();
    println!();
    println!(
        "== mirror-bench results ({cpus} CPUs; 1-minute load {:.2} before, {:.2} after; \
         5-minute {:.2} before, {:.2} after)",
        load_before[0], load_after[0], load_before[1], load_after[1]
    );
    println!(
        "   set: {n} packages in {} origins ({} base libraries), {members} members of \
         `{CHANNEL}` whose closure is the {n}; {:.1} MiB of .hart; best of {} rounds",
        set.origins.len(),
        o.set.base,
        set.bytes() as f64 / f64::from(1 << 20),
        o.runs
    );
    println!("{:<62} {:>10} {:>9}  verdict", "measure", "value", "target");
    let row = |what: &str, value: String, target: &str, verdict: &str| {
        println!("{what:<62} {value:>10} {target:>9}  {verdict}");
    };
    row(
        "(a) hab-depot sync into an empty depot",
        format!("{a:.2} s"),
        "",
        "",
    );
    if let Some([list, store, memberships, exit]) = best_a.sync.phases() {
        row(
            "    listing + look-ups / downloads + stores",
            format!("{list:.2} / {store:.2}"),
            "",
            "",
        );
        row(
            "    memberships / exit",
            format!("{memberships:.2} / {exit:.2}"),
            "",
            "",
        );
    }
    row(
        "    CPU: sync process / both servers",
        format!("{:.1} / {:.1} s", best_a.sync.cpu, best_a.sync_servers_cpu),
        "",
        "",
    );
    row(
        &format!(
            "(b) stock: download ({} at once), bulkupload, {members} promotes",
            o.stock_concurrency
        ),
        format!("{b:.2} s"),
        "",
        "",
    );
    row(
        "    download / bulkupload / promotes",
        format!(
            "{:.1} / {:.1} / {:.1}",
            best_b.stock.download, best_b.stock.bulkupload, best_b.stock.promote
        ),
        "",
        "",
    );
    row(
        "    CPU: hab processes / both servers",
        format!(
            "{:.1} / {:.1} s",
            best_b.stock.cpu, best_b.stock_servers_cpu
        ),
        "",
        "",
    );
    row(
        "(a) / (b)",
        format!("{ratio:.3}"),
        &format!("<= {RATIO_TARGET:.2}"),
        verdict(ratio_ok),
    );
    row(
        "(c) the same sync again, nothing new",
        format!("{c:.3} s"),
        &format!("< {RERUN_TARGET_SECS:.0} s"),
        verdict(rerun_ok),
    );
    row(
        "    CPU of the sync process",
        format!("{:.2} s", best_c.rerun.cpu),
        "",
        "",
    );
    let all = |key: fn(&Round) -> f64| {
        rounds
            .iter()
            .map(|r| format!("{:.2}", key(r)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "   every round: (a) {}  (b) {}  (c) {}",
        all(|r| r.sync.secs),
        all(|r| r.stock.secs),
        all(|r| r.rerun.secs)
    );
    if o.keep {
        let kept = scratch.keep();
        eprintln!("== kept {}", kept.display());
    }
    println!(
        "\n{}",
        if ratio_ok && rerun_ok {
            "all targets met"
        } else {
            "some targets missed"
        }
    );
    Ok(ExitCode::SUCCESS)
}
