//! `depot-bench`: the depot's transfer and lookup benchmark, against a real `hab-depot` process
//! on 127.0.0.1 (see benches/README.md, "Depot"; `benches/depot-bench.sh` builds and runs it).
//!
//! 1. Uploads a 1 GiB artifact (streamed from its file) and downloads it (streamed, hashed) and
//!    prints the throughput and the server's peak RSS (`VmHWM`). Target: below 100 MiB.
//! 2. With 100,000 packages stored, measures `GET …/{name}/latest` per second against
//!    `GET /v1/status` at the same concurrency. Target: at least half the rate of `status`.
//! 3. With `--limits`: the same two endpoints on the same packages with `[rate_limit]` set
//!    (limits far above the load, so that nothing is refused but every request is counted)
//!    against without it, in interleaved rounds. Target: at least 0.95 times the rate.
//!
//! Usage: `depot-bench [--hab-depot PATH] [options]` (`--help` lists them).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures_util::StreamExt;
use habitat_benches::default_data_dir;
use habitat_benches::depot::{
    BigArtifact, BigSpec, CatalogSpec, LoadReport, LoadSpec, ORIGIN, ProcStats, RssSampler,
    ServerCpu, ensure_big_artifact, load_average, load_text, number, peak_between, populate,
    proc_stats, run_load, start_depot, user_create, verdict, wait_for_quiet,
};
use habitat_core::Blake2bHash;
use habitat_core::hash::Hasher;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use tokio_util::io::ReaderStream;

/// Peak RSS the server may reach, whatever the artifact size (issue).
const RSS_TARGET_MIB: f64 = 100.0;
/// Smallest acceptable `latest` / `status` rate ratio (issue).
const RATIO_TARGET: f64 = 0.5;
/// Smallest acceptable rate with rate limits on / off (issue).
const LIMITS_TARGET: f64 = 0.95;
/// The `[rate_limit]` of the `--limits` phase: far above what the load can send, so nothing is
/// refused, but every request goes through the limiter (and the metrics, which are always on).
const HIGH_LIMITS: &str = "\n[rate_limit]\nrequests_per_second = 1000000000\nburst = 1000000000\n\
                           downloads_per_second = 1000000000\nwrites_per_second = 1000000000\n\
                           max_concurrent_uploads = 1000\n";
/// Longest any transfer may take.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(3600);

const USAGE: &str = "\
usage: depot-bench [options]
  --hab-depot PATH     the server binary [default: hab-depot beside this binary]
  --data-dir DIR       cache and scratch directory [default: benches/data]
  --config FILE        settings file for every hab-depot started (its [metadata] and
                       [artifacts] stores: a scale-out configuration) [default: embedded]
  --size-mib N         artifact size [default: 1024]
  --block-mib N        xz block size of the artifact [default: 24, as hab pkg pack writes]
  --seed N             seed of the artifact's bytes [default: 1]
  --names N            package names stored for `latest` [default: 1000]
  --versions N         versions of each name [default: 100]
  --batch N            packages per import transaction [default: 10000]
  --concurrency N      requests in flight [default: 32]
  --warmup-secs N      warm-up before each measurement [default: 2]
  --duration-secs N    length of each measurement [default: 10]
  --rounds N           rounds of status + latest, the best of each is compared [default: 2]
  --max-load X         wait for a 1-minute load average at most X before measuring [default: 1.5]
  --max-wait-secs N    ... but not longer than N seconds [default: 600; 0: do not wait]
  --rust-log FILTER    RUST_LOG of the server [default: unset, i.e. info: a line per request]
  --skip-transfer      only the lookup benchmark
  --skip-latest        only the transfer benchmark (with --limits: no plain lookup phase)
  --limits             also measure status and latest with [rate_limit] on (limits too high
                       to refuse anything) against off, --rounds interleaved rounds of each
  --keep               keep the scratch directory (data dirs and server logs)";

struct Options {
    hab_depot: PathBuf,
    data_dir: PathBuf,
    config: Option<PathBuf>,
    big: BigSpec,
    catalog: CatalogSpec,
    batch: usize,
    load: LoadSpec,
    rounds: usize,
    max_load: f64,
    max_wait: Duration,
    rust_log: Option<String>,
    transfer: bool,
    latest: bool,
    limits: bool,
    keep: bool,
}

fn parse_args() -> Result<Option<Options>> {
    let hab_depot = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("hab-depot")))
        .unwrap_or_else(|| PathBuf::from("hab-depot"));
    let mut o = Options {
        hab_depot,
        data_dir: default_data_dir(),
        config: None,
        big: BigSpec::default(),
        catalog: CatalogSpec::default(),
        batch: 10_000,
        load: LoadSpec {
            concurrency: 32,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
        },
        rounds: 2,
        max_load: 1.5,
        max_wait: Duration::from_secs(600),
        rust_log: None,
        transfer: true,
        latest: true,
        limits: false,
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--hab-depot" => o.hab_depot = value(&arg)?.into(),
            "--data-dir" => o.data_dir = value(&arg)?.into(),
            "--config" => o.config = Some(value(&arg)?.into()),
            "--size-mib" => o.big.size_mib = number(&arg, value(&arg)?)?,
            "--block-mib" => o.big.block_mib = number(&arg, value(&arg)?)?,
            "--seed" => o.big.seed = number(&arg, value(&arg)?)?,
            "--names" => o.catalog.names = number(&arg, value(&arg)?)?,
            "--versions" => o.catalog.versions = number(&arg, value(&arg)?)?,
            "--batch" => o.batch = number(&arg, value(&arg)?)?,
            "--concurrency" => o.load.concurrency = number(&arg, value(&arg)?)?,
            "--warmup-secs" => o.load.warmup = Duration::from_secs(number(&arg, value(&arg)?)?),
            "--duration-secs" => {
                o.load.duration = Duration::from_secs(number(&arg, value(&arg)?)?);
            }
            "--rounds" => o.rounds = number(&arg, value(&arg)?)?,
            "--max-load" => o.max_load = number(&arg, value(&arg)?)?,
            "--max-wait-secs" => o.max_wait = Duration::from_secs(number(&arg, value(&arg)?)?),
            "--rust-log" => o.rust_log = Some(value(&arg)?),
            "--skip-transfer" => o.transfer = false,
            "--skip-latest" => o.latest = false,
            "--limits" => o.limits = true,
            "--keep" => o.keep = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    ensure!(
        o.big.size_mib > 0 && o.big.block_mib > 0,
        "sizes must be positive"
    );
    ensure!(
        o.catalog.names > 0 && (1..=100).contains(&o.catalog.versions),
        "--names must be positive and --versions within 1..=100"
    );
    ensure!(
        o.batch > 0 && o.load.concurrency > 0 && o.rounds > 0,
        "--batch, --concurrency and --rounds must be positive"
    );
    ensure!(
        o.load.duration > Duration::ZERO,
        "--duration-secs must be positive"
    );
    ensure!(
        o.hab_depot.is_file(),
        "no hab-depot binary at `{}` (build it: cargo build --release -p habitat-bins, or pass \
         --hab-depot)",
        o.hab_depot.display()
    );
    Ok(Some(o))
}

fn main() -> Result<ExitCode> {
    let Some(options) = parse_args()? else {
        return Ok(ExitCode::SUCCESS);
    };
    // Two workers: the machine the numbers are taken on has two cores, shared with the server.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn run(o: Options) -> Result<ExitCode> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "== depot-bench: {} ({cpus} CPUs, load {})",
        o.hab_depot.display(),
        load_text()
    );
    std::fs::create_dir_all(&o.data_dir)
        .with_context(|| format!("create `{}`", o.data_dir.display()))?;

    // Preparation first, so that its CPU load has died down before anything is timed.
    let big = if o.transfer {
        eprintln!(
            "== making (or reusing) the {} MiB artifact in {} MiB xz blocks",
            o.big.size_mib, o.big.block_mib
        );
        let started = Instant::now();
        let (dir, spec) = (o.data_dir.clone(), o.big);
        let big = tokio::task::spawn_blocking(move || ensure_big_artifact(&dir, &spec)).await??;
        eprintln!(
            "   {} ({} bytes, {}) {} in {:.1} s",
            big.hart.display(),
            big.size,
            big.checksum,
            if big.generated { "made" } else { "reused" },
            started.elapsed().as_secs_f64()
        );
        Some(big)
    } else {
        None
    };
    let scratch = tempfile::Builder::new()
        .prefix("depot-run.")
        .tempdir_in(&o.data_dir)
        .with_context(|| format!("create a scratch directory in `{}`", o.data_dir.display()))?;
    let catalog_dir = scratch.path().join("latest-depot");
    if o.latest || o.limits {
        eprintln!(
            "== storing {} packages ({} names x {} versions) through the library",
            o.catalog.packages(),
            o.catalog.names,
            o.catalog.versions
        );
        let took = populate(&catalog_dir, o.config.as_deref(), &o.catalog, o.batch).await?;
        eprintln!("   imported in {:.1} s", took.as_secs_f64());
    }

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

    let transfer = match &big {
        Some(big) => Some(transfer(&o, big, scratch.path()).await?),
        None => None,
    };
    let lookups = if o.latest {
        Some(lookups(&o, &catalog_dir, scratch.path()).await?)
    } else {
        None
    };
    let limits = if o.limits {
        Some(limits(&o, &catalog_dir, scratch.path()).await?)
    } else {
        None
    };
    let load_after = load_average()?;

    let mut ok = true;
    println!();
    println!(
        "== depot-bench results ({cpus} CPUs; 1-minute load {:.2} before, {:.2} after; \
         5-minute {:.2} before)",
        load_before[0], load_after[0], load_before[1]
    );
    println!(
        "{:<52} {:>18} {:>12}  verdict",
        "measure", "value", "target"
    );
    let row = |what: &str, value: String, target: &str, verdict: &str| {
        println!("{what:<52} {value:>18} {target:>12}  {verdict}");
    };
    if let Some(t) = &transfer {
        let size = format!("{:.0} MiB", mib(t.size));
        row(
            &format!("upload {size}, until 201 (server checks included)"),
            format!("{:.1} MiB/s", mib(t.size) / t.upload_secs),
            "",
            "info",
        );
        row(
            "  of which: body sent / checks after the body",
            format!(
                "{:.1} s / {:.1} s",
                t.body_secs,
                t.upload_secs - t.body_secs
            ),
            "",
            "",
        );
        row(
            "download, hashed by the client (checksum ok)",
            format!("{:.1} MiB/s", mib(t.size) / t.download_hashed_secs),
            "",
            "info",
        );
        row(
            "download, discarded",
            format!("{:.1} MiB/s", mib(t.size) / t.download_plain_secs),
            "",
            "info",
        );
        row(
            "server peak RSS (VmHWM) after start",
            format!("{:.1} MiB", kib_to_mib(t.baseline.hwm_kib)),
            "",
            "info",
        );
        row(
            "server peak RSS during upload: receiving body",
            format!("{:.1} MiB", kib_to_mib(t.peak_receiving_kib)),
            "",
            "",
        );
        row(
            "server peak RSS during upload: checks after body",
            format!("{:.1} MiB", kib_to_mib(t.peak_checking_kib)),
            "",
            "",
        );
        row(
            "server peak RSS during downloads",
            format!("{:.1} MiB", kib_to_mib(t.peak_downloading_kib)),
            "",
            "",
        );
        // VmHWM can lag a sample of VmRSS by a few pages: the larger of the two counts.
        let peak = kib_to_mib(
            t.end
                .hwm_kib
                .max(t.peak_receiving_kib)
                .max(t.peak_checking_kib)
                .max(t.peak_downloading_kib),
        );
        let pass = peak < RSS_TARGET_MIB;
        ok &= pass;
        row(
            "server peak RSS (VmHWM) after upload + downloads",
            format!("{peak:.1} MiB"),
            &format!("< {RSS_TARGET_MIB:.0} MiB"),
            verdict(pass),
        );
        row(
            "server CPU during upload / during hashed download",
            format!("{:.1} s / {:.1} s", t.upload_cpu, t.download_cpu),
            "",
            "info",
        );
    }
    let mut failures = 0;
    if let Some(l) = &lookups {
        let (latest, status) = (&l.latest, &l.status);
        failures = l.failed;
        let c = o.load.concurrency;
        row(
            &format!(
                "latest req/s ({} pkgs, c={c}, best of {})",
                o.catalog.packages(),
                o.rounds
            ),
            format!("{:.0}", latest.rate()),
            "",
            "info",
        );
        row(
            &format!("status req/s (c={c}, best of {})", o.rounds),
            format!("{:.0}", status.rate()),
            "",
            "info",
        );
        let ratio = latest.rate() / status.rate().max(1e-9);
        let pass = ratio >= RATIO_TARGET;
        ok &= pass;
        row(
            "latest / status",
            format!("{ratio:.2}"),
            &format!(">= {RATIO_TARGET:.2}"),
            verdict(pass),
        );
        for (name, r) in [("latest", latest), ("status", status)] {
            row(
                &format!("{name} latency p50 / p99"),
                format!(
                    "{:.2} / {:.2} ms",
                    r.percentile_ms(50.0),
                    r.percentile_ms(99.0)
                ),
                "",
                "info",
            );
        }
        for (name, r) in [("latest", latest), ("status", status)] {
            row(
                &format!("{name}: server / client CPU per request"),
                format!(
                    "{:.0} / {:.0} us",
                    r.server_cpu_us_per_request(),
                    r.client_cpu_secs * 1e6 / r.ok.max(1) as f64
                ),
                "",
                "info",
            );
        }
        row(
            "server peak RSS (VmHWM) after the lookups",
            format!("{:.1} MiB", kib_to_mib(l.end.hwm_kib)),
            "",
            "info",
        );
        row(
            "answers other than 200 (all rounds)",
            failures.to_string(),
            "0",
            verdict(failures == 0),
        );
    }
    if let Some(l) = &limits {
        let c = o.load.concurrency;
        for (name, off, on) in [
            ("status", &l.off_status, &l.on_status),
            ("latest", &l.off_latest, &l.on_latest),
        ] {
            row(
                &format!(
                    "{name} req/s, limits off / on (c={c}, best of {})",
                    o.rounds
                ),
                format!("{:.0} / {:.0}", off.rate(), on.rate()),
                "",
                "info",
            );
            let ratio = on.rate() / off.rate().max(1e-9);
            let pass = ratio >= LIMITS_TARGET;
            ok &= pass;
            row(
                &format!("{name}: limits on / off"),
                format!("{ratio:.3}"),
                &format!(">= {LIMITS_TARGET:.2}"),
                verdict(pass),
            );
            row(
                &format!("{name}: server CPU per request, off / on"),
                format!(
                    "{:.0} / {:.0} us",
                    off.server_cpu_us_per_request(),
                    on.server_cpu_us_per_request()
                ),
                "",
                "info",
            );
        }
        failures += l.failed;
        row(
            "limits on: answers refused (hab_depot_requests_limited)",
            l.refused.to_string(),
            "0",
            verdict(l.refused == 0),
        );
        ok &= l.refused == 0;
        row(
            "answers other than 200 (all rounds, off and on)",
            l.failed.to_string(),
            "0",
            verdict(l.failed == 0),
        );
    }
    Ok(habitat_benches::depot::finish(
        scratch,
        o.keep,
        failures,
        ok,
        "some targets missed",
    ))
}

/// What the transfer benchmark measured.
struct TransferReport {
    size: u64,
    upload_secs: f64,
    body_secs: f64,
    download_hashed_secs: f64,
    download_plain_secs: f64,
    baseline: ProcStats,
    end: ProcStats,
    peak_receiving_kib: u64,
    peak_checking_kib: u64,
    peak_downloading_kib: u64,
    upload_cpu: f64,
    download_cpu: f64,
}

fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(60))
        .build()?)
}

async fn expect(response: reqwest::Response, want: StatusCode, what: &str) -> Result<String> {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    ensure!(status == want, "{what}: {status} (wanted {want}): {body}");
    Ok(body)
}

async fn transfer(o: &Options, big: &BigArtifact, scratch: &Path) -> Result<TransferReport> {
    let data = scratch.join("transfer-depot");
    let token = user_create(&o.hab_depot, &data, o.config.as_deref(), ORIGIN)?;
    let bearer = format!("Bearer {token}");
    let depot = start_depot(
        &o.hab_depot,
        &data,
        o.config.as_deref(),
        &scratch.join("transfer-depot.log"),
        o.rust_log.as_deref(),
    )?;
    let api = depot.url.clone();
    eprintln!("== transfer: hab-depot pid {} at {api}", depot.pid());
    let client = client()?;
    expect(
        client.get(format!("{api}/status")).send().await?,
        StatusCode::OK,
        "GET /v1/status",
    )
    .await?;
    let baseline = proc_stats(depot.pid())?;
    expect(
        client
            .post(format!("{api}/depot/origins"))
            .header(AUTHORIZATION, &bearer)
            .json(&serde_json::json!({ "name": ORIGIN }))
            .send()
            .await?,
        StatusCode::CREATED,
        "create origin",
    )
    .await?;
    expect(
        client
            .post(format!(
                "{api}/depot/origins/{ORIGIN}/keys/{}",
                big.key_revision
            ))
            .header(AUTHORIZATION, &bearer)
            .body(big.public_key.clone())
            .send()
            .await?,
        StatusCode::CREATED,
        "upload the public key",
    )
    .await?;

    let package_url = format!("{api}/depot/pkgs/{}", big.ident);
    let sampler = RssSampler::start(depot.pid(), Duration::from_millis(20));
    let cpu_before = proc_stats(depot.pid())?.cpu_secs;

    // Upload: the body streams from the file; the time the last byte left is noted.
    let file = tokio::fs::File::open(&big.hart)
        .await
        .with_context(|| format!("open `{}`", big.hart.display()))?;
    let body_sent = Arc::new(OnceLock::new());
    let mark = body_sent.clone();
    let (size, mut sent) = (big.size, 0u64);
    let stream = ReaderStream::with_capacity(file, 256 << 10).map(move |chunk| {
        if let Ok(bytes) = &chunk {
            sent += bytes.len() as u64;
            if sent >= size {
                let _ = mark.set(Instant::now());
            }
        }
        chunk
    });
    eprintln!("   uploading {:.0} MiB", mib(big.size));
    let upload_started = Instant::now();
    let response = client
        .post(format!("{package_url}?checksum={}", big.checksum))
        .header(AUTHORIZATION, &bearer)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, big.size)
        .timeout(TRANSFER_TIMEOUT)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await?;
    let answered = expect(response, StatusCode::CREATED, "upload").await;
    let upload_done = Instant::now();
    answered?;
    let body_done = body_sent.get().copied().unwrap_or(upload_done);
    let cpu_after_upload = proc_stats(depot.pid())?.cpu_secs;

    let stored: serde_json::Value = serde_json::from_str(
        &expect(
            client.get(&package_url).send().await?,
            StatusCode::OK,
            "package JSON",
        )
        .await?,
    )?;
    ensure!(
        stored["checksum"] == big.checksum.to_string() && stored["size"] == big.size,
        "the depot stored checksum {} and size {}, not {} and {}",
        stored["checksum"],
        stored["size"],
        big.checksum,
        big.size
    );

    eprintln!("   downloading (hashed)");
    let download_started = Instant::now();
    let (got, hash) = download(&client, &format!("{package_url}/download"), true).await?;
    let hashed_done = Instant::now();
    let cpu_after_download = proc_stats(depot.pid())?.cpu_secs;
    ensure!(
        got == big.size && hash == Some(big.checksum),
        "the download has {got} bytes hashing to {hash:?}, not {} bytes hashing to {}",
        big.size,
        big.checksum
    );
    eprintln!("   downloading (discarded)");
    let plain_started = Instant::now();
    let (got, _) = download(&client, &format!("{package_url}/download"), false).await?;
    let plain_done = Instant::now();
    ensure!(got == big.size, "the second download has {got} bytes");
    let samples = sampler.finish().await;
    let end = proc_stats(depot.pid())?;
    depot.stop().map_err(anyhow::Error::msg)?;
    Ok(TransferReport {
        size: big.size,
        upload_secs: (upload_done - upload_started).as_secs_f64(),
        body_secs: (body_done - upload_started).as_secs_f64(),
        download_hashed_secs: (hashed_done - download_started).as_secs_f64(),
        download_plain_secs: (plain_done - plain_started).as_secs_f64(),
        baseline,
        end,
        peak_receiving_kib: peak_between(&samples, upload_started, body_done),
        peak_checking_kib: peak_between(&samples, body_done, upload_done),
        peak_downloading_kib: peak_between(&samples, download_started, plain_done),
        upload_cpu: cpu_after_upload - cpu_before,
        download_cpu: cpu_after_download - cpu_after_upload,
    })
}

/// Downloads `url` to its end, hashing the bytes when asked; returns the byte count and hash.
async fn download(
    client: &reqwest::Client,
    url: &str,
    hash: bool,
) -> Result<(u64, Option<Blake2bHash>)> {
    let response = client.get(url).timeout(TRANSFER_TIMEOUT).send().await?;
    ensure!(
        response.status() == StatusCode::OK,
        "GET {url}: {}",
        response.status()
    );
    let mut hasher = hash.then(Hasher::new);
    let mut received = 0u64;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("GET {url}: the body broke off"))?;
        received += chunk.len() as u64;
        if let Some(hasher) = &mut hasher {
            hasher.update(&chunk);
        }
    }
    Ok((received, hasher.map(Hasher::finish)))
}

/// What the lookup benchmark measured: the best round of each endpoint.
struct LookupReport {
    latest: LoadReport,
    status: LoadReport,
    failed: u64,
    end: ProcStats,
}

async fn lookups(o: &Options, data: &Path, scratch: &Path) -> Result<LookupReport> {
    let depot = start_depot(
        &o.hab_depot,
        data,
        o.config.as_deref(),
        &scratch.join("latest-depot.log"),
        o.rust_log.as_deref(),
    )?;
    let api = depot.url.clone();
    eprintln!("== lookups: hab-depot pid {} at {api}", depot.pid());
    let client = client()?;
    let mut best_latest: Option<LoadReport> = None;
    let mut best_status: Option<LoadReport> = None;
    let mut failed = 0;
    eprintln!(
        "   {} rounds of: status then latest, {} s warm-up + {} s each, {} in flight",
        o.rounds,
        o.load.warmup.as_secs(),
        o.load.duration.as_secs(),
        o.load.concurrency
    );
    for round in 1..=o.rounds {
        let (status, latest) =
            status_and_latest(o, &client, depot.pid(), &api, &format!("round {round}")).await?;
        failed += status.failed + latest.failed;
        keep_best(&mut best_status, status);
        keep_best(&mut best_latest, latest);
    }
    let end = proc_stats(depot.pid())?;
    depot.stop().map_err(anyhow::Error::msg)?;
    Ok(LookupReport {
        latest: best_latest.context("no round ran")?,
        status: best_status.context("no round ran")?,
        failed,
        end,
    })
}

/// `GET …/{name}/latest` of package `n` under `api`.
fn latest_url(api: &str, n: usize) -> String {
    format!("{api}/depot/pkgs/{ORIGIN}/{}/latest", CatalogSpec::name(n))
}

/// Checks that a `latest` answer for package `n` names its newest version.
fn latest_checker(
    o: &Options,
) -> impl Fn(usize, &[u8]) -> Result<()> + Clone + Send + Sync + 'static {
    let expected: Arc<Vec<String>> = Arc::new(
        (0..o.catalog.names)
            .map(|n| o.catalog.latest_version(n))
            .collect(),
    );
    move |n: usize, body: &[u8]| -> Result<()> {
        let json: serde_json::Value = serde_json::from_slice(body)?;
        let version = json["ident"]["version"].as_str().unwrap_or_default();
        ensure!(
            version == expected[n],
            "latest of {} is {version}, expected {}",
            CatalogSpec::name(n),
            expected[n]
        );
        Ok(())
    }
}

/// One round on the depot at `api` (process `pid`): a few `latest` answers checked in full,
/// then the load on `GET /v1/status`, then on `latest` of random names; `what` names the round
/// in the progress lines.
async fn status_and_latest(
    o: &Options,
    client: &reqwest::Client,
    pid: u32,
    api: &str,
    what: &str,
) -> Result<(LoadReport, LoadReport)> {
    let check_latest = latest_checker(o);
    for n in [0, 1, o.catalog.names / 2, o.catalog.names - 1] {
        let body = expect(
            client.get(latest_url(api, n)).send().await?,
            StatusCode::OK,
            "latest",
        )
        .await?;
        check_latest(n, body.as_bytes())?;
    }
    let status_url = format!("{api}/status");
    let status = run_load(
        client,
        ServerCpu::Process(pid),
        &o.load,
        move |_| (status_url.clone(), 0),
        |_, body| {
            ensure!(body.is_empty(), "status answered a body");
            Ok(())
        },
    )
    .await?;
    let names = o.catalog.names as u64;
    let api_owned = api.to_owned();
    let latest = run_load(
        client,
        ServerCpu::Process(pid),
        &o.load,
        move |rng| {
            let n = rng.below(names) as usize;
            (latest_url(&api_owned, n), n)
        },
        check_latest,
    )
    .await?;
    for (name, r) in [("status", &status), ("latest", &latest)] {
        eprintln!(
            "   {what} {name}: {:>7.0} req/s  p50 {:.2} ms  p99 {:.2} ms  server CPU \
             {:.0} us/req  client CPU {:.0} us/req  load {}",
            r.rate(),
            r.percentile_ms(50.0),
            r.percentile_ms(99.0),
            r.server_cpu_us_per_request(),
            r.client_cpu_secs * 1e6 / r.ok.max(1) as f64,
            load_text()
        );
        if let Some(what) = &r.first_failure {
            eprintln!("   {} failures, the first: {what}", r.failed);
        }
    }
    Ok((status, latest))
}

/// Keeps the faster of `best` and `report`.
fn keep_best(best: &mut Option<LoadReport>, report: LoadReport) {
    if best.as_ref().is_none_or(|b| report.rate() > b.rate()) {
        *best = Some(report);
    }
}

/// What the `--limits` phase measured: the best round of each endpoint, limits off and on.
struct LimitsReport {
    off_status: LoadReport,
    off_latest: LoadReport,
    on_status: LoadReport,
    on_latest: LoadReport,
    failed: u64,
    /// Requests the limits refused (`hab_depot_requests_limited_total`, every round).
    refused: u64,
}

/// `--limits`: a fresh `hab-depot` on the stored packages for each (round, mode), without and
/// with [`HIGH_LIMITS`] (in odd rounds off first, in even ones on first), each measured as
/// [`status_and_latest`].
async fn limits(o: &Options, data: &Path, scratch: &Path) -> Result<LimitsReport> {
    let base = match &o.config {
        Some(config) => std::fs::read_to_string(config)
            .with_context(|| format!("read `{}`", config.display()))?,
        None => String::new(),
    };
    ensure!(
        !base.contains("[rate_limit]"),
        "--limits: the settings file has a [rate_limit] already"
    );
    let limited_config = scratch.join("limits-on.toml");
    std::fs::write(&limited_config, format!("{base}{HIGH_LIMITS}"))
        .with_context(|| format!("write `{}`", limited_config.display()))?;
    let client = client()?;
    eprintln!(
        "== rate limits: {} rounds of off and on (alternating which goes first), each: status \
         then latest, {} s warm-up + {} s, {} in flight",
        o.rounds,
        o.load.warmup.as_secs(),
        o.load.duration.as_secs(),
        o.load.concurrency
    );
    let (mut off_status, mut off_latest, mut on_status, mut on_latest) = (None, None, None, None);
    let (mut failed, mut refused) = (0, 0);
    for round in 1..=o.rounds {
        let order = if round % 2 == 1 {
            [false, true]
        } else {
            [true, false]
        };
        for on in order {
            let mode = if on { "on" } else { "off" };
            let config = if on {
                Some(limited_config.as_path())
            } else {
                o.config.as_deref()
            };
            let depot = start_depot(
                &o.hab_depot,
                data,
                config,
                &scratch.join(format!("limits-{mode}-{round}.log")),
                o.rust_log.as_deref(),
            )?;
            let api = depot.url.clone();
            let (status, latest) = status_and_latest(
                o,
                &client,
                depot.pid(),
                &api,
                &format!("round {round} limits {mode}"),
            )
            .await?;
            failed += status.failed + latest.failed;
            if on {
                let root = api.strip_suffix("/v1").unwrap_or(&api);
                let text = expect(
                    client.get(format!("{root}/metrics")).send().await?,
                    StatusCode::OK,
                    "metrics",
                )
                .await?;
                let counted: Vec<u64> = text
                    .lines()
                    .filter(|l| l.starts_with("hab_depot_requests_limited_total{"))
                    .filter_map(|l| l.rsplit_once(' ')?.1.parse().ok())
                    .collect();
                ensure!(
                    !counted.is_empty(),
                    "the depot with [rate_limit] shows no hab_depot_requests_limited_total: are \
                     the limits on?"
                );
                refused += counted.iter().sum::<u64>();
                keep_best(&mut on_status, status);
                keep_best(&mut on_latest, latest);
            } else {
                keep_best(&mut off_status, status);
                keep_best(&mut off_latest, latest);
            }
            depot.stop().map_err(anyhow::Error::msg)?;
        }
    }
    Ok(LimitsReport {
        off_status: off_status.context("no round ran")?,
        off_latest: off_latest.context("no round ran")?,
        on_status: on_status.context("no round ran")?,
        on_latest: on_latest.context("no round ran")?,
        failed,
        refused,
    })
}
