//! `web-bench`: the web pages' benchmark (see benches/README.md, "Web pages").
//!
//! Stores 100,000 packages (several origins, many names, versions and releases, some private,
//! some in channels) through the library, serves the depot inside this process on 127.0.0.1,
//! and at concurrency 32 measures the home page, a package page, a version page, a release
//! page, a search, an origin's page, a channel's page and the two heaviest pages of the catalog, with `/v1/status` for comparison:
//! requests per second, p50/p95/p99 latency, and each page's weight with its CSS. Targets
//! (issue): p99 under 50 ms, at least a third of `/v1/status`'s rate, under 100 KiB. Then it
//! times the store queries behind the pages one at a time, to tell which one a slow page waits
//! for.
//!
//! Usage: `cargo run --release -p habitat-benches --bin web-bench --locked -- [options]`
//! (`--help` lists them).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use habitat_benches::data::XorShift64;
use habitat_benches::default_data_dir;
use habitat_benches::depot::{
    LoadReport, LoadSpec, ServerCpu, load_average, load_text, number, run_load, verdict,
};
use habitat_benches::web::{
    HEAVY, InProcessDepot, ORIGINS, QueryTiming, RELEASES_PER_NAME, SERVER_THREADS, WORDS,
    WebCatalogSpec, Weight, populate, time_store_queries, weigh,
};
use reqwest::header::{CACHE_CONTROL, COOKIE, HeaderMap, HeaderValue, SET_COOKIE};

/// Slowest acceptable 99th percentile (issue).
const P99_TARGET_MS: f64 = 50.0;
/// Smallest acceptable page / `status` rate ratio (issue).
const RATIO_TARGET: f64 = 1.0 / 3.0;
/// Heaviest acceptable page with its CSS (issue).
const WEIGHT_TARGET_KIB: f64 = 100.0;
/// Requests sent one at a time per page for the unloaded latency.
const SERIAL_REQUESTS: usize = 30;
/// Runs of each store query timed alone.
const QUERY_RUNS: usize = 20;
/// A store query slower than this (median, alone) is named as slow.
const SLOW_QUERY_MS: f64 = 10.0;

const USAGE: &str = "\
usage: web-bench [options]
  --data-dir DIR       where the scratch directory is made [default: benches/data]
  --names N            ordinary package names, 50 releases each [default: 1980]
  --heavy-versions N   versions of core/glibc, 50 releases each [default: 20]
  --batch N            packages per import transaction [default: 10000]
  --concurrency N      requests in flight [default: 32]
  --warmup-secs N      warm-up before each measurement [default: 2]
  --duration-secs N    length of each measurement [default: 10]
  --rounds N           rounds over every page, the best of each is kept [default: 2]
  --workers N          the server's worker threads [default: the CPU count, as hab-depot]
  --signed-in          also measure every page signed in as the owner of every origin
  --uncached           also measure every page as an anonymous viewer that bypasses the pages'
                       cache (`Cache-Control: no-cache`, as a browser's forced reload)
  --only LIST          measure only these pages (comma-separated labels of the table:
                       home,package,version,release,search,origin,channel,heavy-package,
                       heavy-release); /v1/status is always measured
  --max-load X         wait for a 1-minute load average at most X before measuring [default: 1.5]
  --max-wait-secs N    ... but not longer than N seconds [default: 600; 0: do not wait]
  --keep               keep the scratch directory (the data directory)";

struct Options {
    data_dir: PathBuf,
    catalog: WebCatalogSpec,
    batch: usize,
    load: LoadSpec,
    rounds: usize,
    workers: usize,
    signed_in: bool,
    uncached: bool,
    only: Option<Vec<String>>,
    max_load: f64,
    max_wait: Duration,
    keep: bool,
}

fn parse_args() -> Result<Option<Options>> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut o = Options {
        data_dir: default_data_dir(),
        catalog: WebCatalogSpec::default(),
        batch: 10_000,
        load: LoadSpec {
            concurrency: 32,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
        },
        rounds: 2,
        workers: cpus,
        signed_in: false,
        uncached: false,
        only: None,
        max_load: 1.5,
        max_wait: Duration::from_secs(600),
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--data-dir" => o.data_dir = value(&arg)?.into(),
            "--names" => o.catalog.names = number(&arg, value(&arg)?)?,
            "--heavy-versions" => o.catalog.heavy_versions = number(&arg, value(&arg)?)?,
            "--batch" => o.batch = number(&arg, value(&arg)?)?,
            "--concurrency" => o.load.concurrency = number(&arg, value(&arg)?)?,
            "--warmup-secs" => o.load.warmup = Duration::from_secs(number(&arg, value(&arg)?)?),
            "--duration-secs" => {
                o.load.duration = Duration::from_secs(number(&arg, value(&arg)?)?);
            }
            "--rounds" => o.rounds = number(&arg, value(&arg)?)?,
            "--workers" => o.workers = number(&arg, value(&arg)?)?,
            "--signed-in" => o.signed_in = true,
            "--uncached" => o.uncached = true,
            "--only" => {
                o.only = Some(
                    value(&arg)?
                        .split(',')
                        .map(|label| label.trim().replace('-', " "))
                        .filter(|label| !label.is_empty())
                        .collect(),
                );
            }
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
    ensure!(
        o.catalog.names >= 2 * WORDS.len() && o.catalog.heavy_versions > 0,
        "--names must be at least {} and --heavy-versions positive",
        2 * WORDS.len()
    );
    ensure!(
        o.batch > 0 && o.load.concurrency > 0 && o.rounds > 0 && o.workers > 0,
        "--batch, --concurrency, --rounds and --workers must be positive"
    );
    ensure!(
        o.load.duration > Duration::ZERO,
        "--duration-secs must be positive"
    );
    Ok(Some(o))
}

fn main() -> Result<ExitCode> {
    let Some(options) = parse_args()? else {
        return Ok(ExitCode::SUCCESS);
    };
    // The client's runtime: two workers, like depot-bench; the server has its own runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("web-bench-client")
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}

/// One page measured: where its URLs come from and what each answer must contain.
struct Target {
    /// Short name in the table.
    label: String,
    /// The path's shape, for the table.
    shape: String,
    /// Paths (with query) to pick from at random, and a text each answer must contain.
    paths: Arc<Vec<(String, String)>>,
    /// Whether the targets apply (not to `/v1/status`, the yardstick).
    judged: bool,
}

/// What was measured of one [`Target`] for one viewer.
struct Measured {
    label: String,
    shape: String,
    viewer: &'static str,
    judged: bool,
    /// `Err`: the probe's answer when it was not 200 (a page not served yet, say).
    outcome: Result<PageFigures, String>,
}

struct PageFigures {
    weight: Weight,
    /// Latencies of requests sent one at a time, milliseconds, sorted.
    serial_ms: Vec<f64>,
    best: LoadReport,
    failed: u64,
}

fn catalog_targets(spec: &WebCatalogSpec) -> Vec<Target> {
    let visible: Vec<_> = spec.entries().filter(|e| !e.private).collect();
    let mut names: Vec<(String, String)> = visible
        .iter()
        .map(|e| (format!("/pkgs/{}/{}", e.origin, e.name), e.name.clone()))
        .collect();
    names.dedup();
    names.retain(|(path, _)| path != &format!("/pkgs/{}/{}", HEAVY.0, HEAVY.1));
    let mut versions: Vec<(String, String)> = visible
        .iter()
        .filter(|e| e.name != HEAVY.1)
        .map(|e| {
            (
                format!("/pkgs/{}/{}/{}", e.origin, e.name, e.version),
                e.version.clone(),
            )
        })
        .collect();
    versions.dedup();
    let releases: Vec<(String, String)> = visible
        .iter()
        .filter(|e| e.name != HEAVY.1)
        .map(|e| {
            (
                format!("/pkgs/{}/{}/{}/{}", e.origin, e.name, e.version, e.release),
                e.release.clone(),
            )
        })
        .collect();
    let searches: Vec<(String, String)> = WORDS
        .iter()
        .map(|w| (format!("/search?q={w}"), (*w).to_owned()))
        .collect();
    let public_origins = &ORIGINS[..ORIGINS.len() - 1];
    let origins: Vec<(String, String)> = public_origins
        .iter()
        .map(|o| (format!("/origins/{o}"), (*o).to_owned()))
        .collect();
    let channels: Vec<(String, String)> = public_origins
        .iter()
        .map(|o| (format!("/channels/{o}/stable"), "stable".to_owned()))
        .collect();
    let (version, release) = WebCatalogSpec::heavy_version_release(spec.heavy_releases() - 1);
    let heavy_name = format!("/pkgs/{}/{}", HEAVY.0, HEAVY.1);
    let heavy_release = format!("{heavy_name}/{version}/{release}");
    let target = |label: &str, shape: &str, paths: Vec<(String, String)>, judged: bool| Target {
        label: label.to_owned(),
        shape: shape.to_owned(),
        paths: Arc::new(paths),
        judged,
    };
    vec![
        target(
            "status",
            "/v1/status",
            vec![("/v1/status".to_owned(), String::new())],
            false,
        ),
        target(
            "home",
            "/",
            vec![("/".to_owned(), "Habitat depot".to_owned())],
            true,
        ),
        target("package", "/pkgs/{o}/{n}", names, true),
        target("version", "/pkgs/{o}/{n}/{v}", versions, true),
        target("release", "/pkgs/{o}/{n}/{v}/{r}", releases, true),
        target("search", "/search?q={word}", searches, true),
        target("origin", "/origins/{o}", origins, true),
        target("channel", "/channels/{o}/stable", channels, true),
        target(
            "heavy package",
            &format!(
                "{heavy_name} ({} releases)",
                spec.heavy_versions * RELEASES_PER_NAME
            ),
            vec![(heavy_name, HEAVY.1.to_owned())],
            true,
        ),
        target(
            "heavy release",
            &format!(
                "/pkgs/{}/{}/{{v}}/{{r}} (every name depends on it)",
                HEAVY.0, HEAVY.1
            ),
            vec![(heavy_release, release)],
            true,
        ),
    ]
}

fn client(cookie: Option<&str>, uncached: bool) -> Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    if let Some(cookie) = cookie {
        headers.insert(COOKIE, HeaderValue::from_str(cookie)?);
    }
    if uncached {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(60))
        .default_headers(headers)
        .build()?)
}

/// The browser cookie a first visit to `/` sets (`name=value`), which a returning browser sends
/// on every later request.
async fn browser_cookie(base: &str) -> Result<String> {
    let response = client(None, false)?.get(format!("{base}/")).send().await?;
    let cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.contains("browser"))
        .map(str::to_owned);
    cookie.context("the home page set no browser cookie")
}

async fn run(o: Options) -> Result<ExitCode> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("== web-bench ({cpus} CPUs, load {})", load_text());
    let mut targets = catalog_targets(&o.catalog);
    if let Some(only) = &o.only {
        for label in only {
            ensure!(
                targets.iter().any(|t| &t.label == label),
                "--only: no page `{label}` (try --help)"
            );
        }
        targets.retain(|t| !t.judged || only.contains(&t.label));
    }
    std::fs::create_dir_all(&o.data_dir)
        .with_context(|| format!("create `{}`", o.data_dir.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("web-run.")
        .tempdir_in(&o.data_dir)
        .with_context(|| format!("create a scratch directory in `{}`", o.data_dir.display()))?;
    let data = scratch.path().join("depot");
    eprintln!(
        "== storing {} packages ({} names of {RELEASES_PER_NAME} releases, and {}/{} with {}) \
         through the library",
        o.catalog.packages(),
        o.catalog.names,
        HEAVY.0,
        HEAVY.1,
        o.catalog.heavy_releases()
    );
    let populated = populate(&data, &o.catalog, o.batch).await?;
    eprintln!(
        "   imported in {:.1} s; {} promotions in {:.1} s",
        populated.import.as_secs_f64(),
        populated.promotions,
        populated.promote.as_secs_f64()
    );

    let depot = InProcessDepot::start(&data, o.workers)?;
    let base = depot.url.clone();
    eprintln!(
        "== serving in this process at {base} ({} worker threads named `{SERVER_THREADS}`)",
        o.workers
    );
    let anonymous = browser_cookie(&base).await?;
    let mut viewers = vec![("anonymous", client(Some(&anonymous), false)?)];
    if o.uncached {
        viewers.push(("uncached", client(Some(&anonymous), true)?));
    }
    if o.signed_in {
        let cookie = format!("{anonymous}; {}", populated.owner_cookie);
        viewers.push(("owner", client(Some(&cookie), false)?));
    }

    let wait_started = Instant::now();
    let (max_load, max_wait) = (o.max_load, o.max_wait);
    let load_before = tokio::task::spawn_blocking(move || {
        habitat_benches::depot::wait_for_quiet(max_load, max_wait)
    })
    .await??;
    eprintln!(
        "== measuring (waited {:.0} s; load {:.2} {:.2} {:.2})",
        wait_started.elapsed().as_secs_f64(),
        load_before[0],
        load_before[1],
        load_before[2]
    );

    let mut measured = Vec::new();
    for (viewer, client) in &viewers {
        for target in &targets {
            if target.label == "status" && *viewer != "anonymous" {
                continue;
            }
            measured.push(probe(client, &base, target, viewer).await?);
        }
    }
    for round in 1..=o.rounds {
        for m in &mut measured {
            let Ok(figures) = &mut m.outcome else {
                continue;
            };
            let Some(target) = targets.iter().find(|t| t.label == m.label) else {
                continue;
            };
            let Some((_, client)) = viewers.iter().find(|(v, _)| *v == m.viewer) else {
                continue;
            };
            let report = load(client, &base, target, &o.load).await?;
            eprintln!(
                "   round {round} {:<14} {:<9}: {:>7.0} req/s  p50 {:.2} ms  p99 {:.2} ms  \
                 server CPU {:.0} us/req  load {}",
                m.label,
                m.viewer,
                report.rate(),
                report.percentile_ms(50.0),
                report.percentile_ms(99.0),
                report.server_cpu_us_per_request(),
                load_text()
            );
            if let Some(what) = &report.first_failure {
                eprintln!("   {} failures, the first: {what}", report.failed);
            }
            figures.failed += report.failed;
            if report.rate() > figures.best.rate() {
                figures.best = report;
            }
        }
    }
    let load_after = load_average()?;
    depot.stop();

    eprintln!("== timing the pages' store queries one at a time ({QUERY_RUNS} runs each)");
    let queries = time_store_queries(&data, &o.catalog, QUERY_RUNS).await?;

    let ok = print_table(&o, &measured, load_before, load_after);
    print_queries(&queries);
    let failures: u64 = measured
        .iter()
        .filter_map(|m| m.outcome.as_ref().ok())
        .map(|f| f.failed)
        .sum();
    Ok(habitat_benches::depot::finish(
        scratch,
        o.keep,
        failures,
        ok,
        "some targets missed, or pages are not served yet",
    ))
}

/// The first path of `target`: its weight, and latencies one request at a time; `Err` inside
/// when it does not answer 200.
async fn probe(
    client: &reqwest::Client,
    base: &str,
    target: &Target,
    viewer: &'static str,
) -> Result<Measured> {
    let (path, needle) = &target.paths[0];
    let url = format!("{base}{path}");
    let response = client.get(&url).send().await?;
    let status = response.status();
    let body = response.text().await?;
    let mut measured = Measured {
        label: target.label.clone(),
        shape: target.shape.clone(),
        viewer,
        judged: target.judged,
        outcome: Err(status.to_string()),
    };
    if status != reqwest::StatusCode::OK {
        eprintln!(
            "   {} ({viewer}): GET {path} answered {status}: not measured",
            target.label
        );
        return Ok(measured);
    }
    ensure!(
        body.contains(needle.as_str()),
        "GET {path} ({viewer}): the page does not contain `{needle}`"
    );
    let weight = weigh(client, base, &body).await?;
    let mut serial_ms = Vec::with_capacity(SERIAL_REQUESTS);
    let mut rng = XorShift64::new(7);
    for _ in 0..SERIAL_REQUESTS {
        let (path, _) = &target.paths[rng.below(target.paths.len() as u64) as usize];
        let sent = Instant::now();
        let response = client.get(format!("{base}{path}")).send().await?;
        let status = response.status();
        response.bytes().await?;
        serial_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
        ensure!(status == reqwest::StatusCode::OK, "GET {path}: {status}");
    }
    serial_ms.sort_by(f64::total_cmp);
    measured.outcome = Ok(PageFigures {
        weight,
        serial_ms,
        best: LoadReport::default(),
        failed: 0,
    });
    Ok(measured)
}

/// One load over `target`'s paths at random; each task's first answer must contain its text.
async fn load(
    client: &reqwest::Client,
    base: &str,
    target: &Target,
    spec: &LoadSpec,
) -> Result<LoadReport> {
    let (paths, check_paths) = (target.paths.clone(), target.paths.clone());
    let base = base.to_owned();
    let count = paths.len() as u64;
    run_load(
        client,
        ServerCpu::Threads(SERVER_THREADS),
        spec,
        move |rng| {
            let i = rng.below(count) as usize;
            (format!("{base}{}", paths[i].0), i)
        },
        move |i, body| {
            let needle = &check_paths[i].1;
            ensure!(
                String::from_utf8_lossy(body).contains(needle.as_str()),
                "the page does not contain `{needle}`"
            );
            Ok(())
        },
    )
    .await
}

/// Prints the results; whether every judged page met every target.
fn print_table(o: &Options, measured: &[Measured], before: [f64; 3], after: [f64; 3]) -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let status_rate = measured
        .iter()
        .find(|m| m.label == "status")
        .and_then(|m| m.outcome.as_ref().ok())
        .map_or(f64::NAN, |f| f.best.rate());
    println!();
    println!(
        "== web-bench results: {} packages, c={}, best of {} x {} s ({cpus} CPUs, server {} \
         workers; 1-minute load {:.2} before, {:.2} after)",
        o.catalog.packages(),
        o.load.concurrency,
        o.rounds,
        o.load.duration.as_secs(),
        o.workers,
        before[0],
        after[0]
    );
    println!(
        "targets: p99 < {P99_TARGET_MS:.0} ms, rate >= {RATIO_TARGET:.2} x /v1/status, weight \
         with CSS < {WEIGHT_TARGET_KIB:.0} KiB"
    );
    println!(
        "{:<14} {:<9} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9} {:>10}  verdict",
        "page",
        "viewer",
        "req/s",
        "/status",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "c=1 ms",
        "server us",
        "client us",
        "KiB (CSS)"
    );
    let mut ok = true;
    for m in measured {
        let figures = match &m.outcome {
            Ok(figures) => figures,
            Err(status) => {
                ok &= !m.judged;
                println!(
                    "{:<14} {:<9} not served yet ({status})  {}",
                    m.label, m.viewer, m.shape
                );
                continue;
            }
        };
        let r = &figures.best;
        let ratio = r.rate() / status_rate;
        let kib = figures.weight.total() as f64 / 1024.0;
        let css = figures
            .weight
            .assets
            .iter()
            .map(|(_, size)| size)
            .sum::<u64>() as f64
            / 1024.0;
        let serial = figures
            .serial_ms
            .get(figures.serial_ms.len() / 2)
            .copied()
            .unwrap_or(f64::NAN);
        let verdicts = if m.judged {
            let misses: Vec<&str> = [
                (r.percentile_ms(99.0) < P99_TARGET_MS, "p99"),
                (ratio >= RATIO_TARGET, "rate"),
                (kib < WEIGHT_TARGET_KIB, "weight"),
            ]
            .into_iter()
            .filter(|(pass, _)| !pass)
            .map(|(_, what)| what)
            .collect();
            ok &= misses.is_empty();
            if misses.is_empty() {
                verdict(true).to_owned()
            } else {
                format!("{} ({})", verdict(false), misses.join(", "))
            }
        } else {
            "yardstick".to_owned()
        };
        println!(
            "{:<14} {:<9} {:>8.0} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>9.0} {:>9.0} {:>5.1} \
             ({:>4.1})  {verdicts}",
            m.label,
            m.viewer,
            r.rate(),
            ratio,
            r.percentile_ms(50.0),
            r.percentile_ms(95.0),
            r.percentile_ms(99.0),
            serial,
            r.server_cpu_us_per_request(),
            r.client_cpu_secs * 1e6 / r.ok.max(1) as f64,
            kib,
            css,
        );
    }
    println!(
        "(server us, client us: CPU time per request of the server's threads and of the rest of \
         this process)"
    );
    println!("\npaths:");
    let mut shown = std::collections::BTreeSet::new();
    for m in measured {
        if shown.insert(&m.label) {
            println!("  {:<14} {}", m.label, m.shape);
        }
    }
    ok
}

/// Prints the store queries' timings, the slow ones marked.
fn print_queries(queries: &[QueryTiming]) {
    println!("\nstore queries alone (anonymous viewer; slow: median over {SLOW_QUERY_MS:.0} ms):");
    println!(
        "{:<10} {:<62} {:>7} {:>9} {:>9}",
        "page", "query", "rows", "median ms", "max ms"
    );
    for q in queries {
        let median = q.median.as_secs_f64() * 1000.0;
        println!(
            "{:<10} {:<62} {:>7} {:>9.2} {:>9.2}{}",
            q.page,
            q.what,
            q.rows,
            median,
            q.max.as_secs_f64() * 1000.0,
            if median > SLOW_QUERY_MS { "  SLOW" } else { "" }
        );
    }
}
