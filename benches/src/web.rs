//! The web pages' benchmark's pieces (`web-bench`): a depot of many packages spread over
//! several origins, names, versions, releases and channels, some of them private, stored
//! through the library; the depot served inside this process on 127.0.0.1; and a page's weight
//! with the static files it links.
//!
//! Linux only (CPU time comes from `/proc`), loopback only.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use habitat_core::tuf::sha256_hex;
use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use habitat_depot_server::AppState;
use habitat_depot_server::settings::Settings;
use habitat_depot_server::store::{ChannelAction, Package, Visibility};
use tokio::sync::oneshot;

/// The name of every thread of the in-process server's runtime (workers and blocking pool), so
/// their CPU time can be told from the client's.
pub const SERVER_THREADS: &str = "web-depot";

/// The origins of the catalog, in the order names are dealt to them; the last one is private.
pub const ORIGINS: [&str; 5] = ["core", "acme", "tools", "labs", "vault"];

/// The account that owns every origin (and may see every private package).
pub const OWNER: &str = "bench";

/// The package every other one depends on: the catalog's heavy name, with many releases, whose
/// reverse dependencies are every name of the depot.
pub const HEAVY: (&str, &str) = ("core", "glibc");

/// Words package names are made of; a search for one finds the names built from it.
pub const WORDS: [&str; 33] = [
    "redis",
    "nginx",
    "postgresql",
    "openssl",
    "curl",
    "python",
    "ruby",
    "node",
    "java",
    "go",
    "rust",
    "perl",
    "zlib",
    "bzip2",
    "xz",
    "sqlite",
    "libxml2",
    "libyaml",
    "ncurses",
    "readline",
    "bash",
    "coreutils",
    "grep",
    "sed",
    "gawk",
    "make",
    "cmake",
    "git",
    "vim",
    "busybox",
    "haproxy",
    "consul",
    "vault-agent",
];

/// Versions × releases of each ordinary name, by name number: every layout has the same count.
const LAYOUTS: [(usize, usize); 6] = [(1, 50), (2, 25), (5, 10), (10, 5), (25, 2), (50, 1)];

/// How many packages to store, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebCatalogSpec {
    /// Ordinary names, dealt round-robin to the [`ORIGINS`]; each has 50 releases.
    pub names: usize,
    /// Versions of the heavy name ([`HEAVY`]); 50 releases each.
    pub heavy_versions: usize,
    /// Whether rows carry an artifact's SHA-256 and signer, as rows stored by an upload do (a
    /// made-up hash and the origin's key `{origin}-20240101000000`), so that a TUF repository
    /// lists them in its channel indexes (`tuf-bench`); without them the pages are the same.
    pub release_facts: bool,
}

impl Default for WebCatalogSpec {
    /// The issue's 100,000 packages: 1,980 names of 50 releases and `core/glibc` with 1,000.
    fn default() -> Self {
        Self {
            names: 1980,
            heavy_versions: 20,
            release_facts: false,
        }
    }
}

/// The revision of the origin key named as the signer of every row when
/// [`WebCatalogSpec::release_facts`] is set.
pub const FACTS_KEY_REVISION: &str = "20240101000000";

/// Releases of each ordinary name (and of each version of the heavy one).
pub const RELEASES_PER_NAME: usize = 50;

/// One package of the catalog, as the pages show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Origin.
    pub origin: &'static str,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Whether it is private.
    pub private: bool,
}

impl CatalogEntry {
    /// `origin/name/version/release`.
    pub fn ident(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.origin, self.name, self.version, self.release
        )
    }
}

impl WebCatalogSpec {
    /// Packages in all.
    pub fn packages(&self) -> usize {
        self.names * RELEASES_PER_NAME + self.heavy_versions * RELEASES_PER_NAME
    }

    /// The origin of ordinary name `n`.
    pub fn origin(n: usize) -> &'static str {
        ORIGINS[n % ORIGINS.len()]
    }

    /// Ordinary name `n`: a word and a number (`redis-0`, `nginx-0`, …, `redis-1`, …).
    pub fn name(n: usize) -> String {
        format!("{}-{}", WORDS[n % WORDS.len()], n / WORDS.len())
    }

    /// Whether ordinary name `n` is private as a whole (all of the private origin's, and one
    /// name in 50 of the others).
    pub fn name_is_private(n: usize) -> bool {
        Self::origin(n) == ORIGINS[ORIGINS.len() - 1] || n % 50 == 13
    }

    /// Whether release `j` (0..50, oldest first) of ordinary name `n` is private: a name in
    /// ten has its newest release private, which must not hide the older public ones.
    pub fn release_is_private(n: usize, j: usize) -> bool {
        Self::name_is_private(n) || (n % 10 == 3 && j == RELEASES_PER_NAME - 1)
    }

    /// Release `j` (0..50, oldest first) of ordinary name `n`: its version and release.
    pub fn version_release(n: usize, j: usize) -> (String, String) {
        let (versions, releases) = LAYOUTS[n % LAYOUTS.len()];
        debug_assert_eq!(versions * releases, RELEASES_PER_NAME);
        let v = j / releases;
        let mut version = format!("{}.{}.{}", 1 + v / 10, v % 10, n % 3);
        if v % 7 == 6 {
            version.push_str("-rc1");
        }
        (version, release_stamp(j, n))
    }

    /// Release `j` (0..) of the heavy name: versions `2.20`, `2.21`, … of 50 releases each.
    pub fn heavy_version_release(j: usize) -> (String, String) {
        (
            format!("2.{}", 20 + j / RELEASES_PER_NAME),
            release_stamp(j, 0),
        )
    }

    /// Every package of the catalog, ordinary names first (in name order, oldest release
    /// first), the heavy name last.
    pub fn entries(&self) -> impl Iterator<Item = CatalogEntry> + '_ {
        let ordinary = (0..self.names).flat_map(|n| {
            (0..RELEASES_PER_NAME).map(move |j| {
                let (version, release) = Self::version_release(n, j);
                CatalogEntry {
                    origin: Self::origin(n),
                    name: Self::name(n),
                    version,
                    release,
                    private: Self::release_is_private(n, j),
                }
            })
        });
        let heavy = (0..self.heavy_releases()).map(|j| {
            let (version, release) = Self::heavy_version_release(j);
            CatalogEntry {
                origin: HEAVY.0,
                name: HEAVY.1.to_owned(),
                version,
                release,
                private: false,
            }
        });
        heavy.chain(ordinary)
    }

    /// Releases of the heavy name.
    pub fn heavy_releases(&self) -> usize {
        self.heavy_versions * RELEASES_PER_NAME
    }

    /// The heavy name's oldest release, which every other package depends on.
    pub fn heavy_dependency(&self) -> String {
        let (version, release) = Self::heavy_version_release(0);
        format!("{}/{}/{version}/{release}", HEAVY.0, HEAVY.1)
    }
}

/// A release timestamp: 2024-01-01 plus `j` hours plus `n % 3600` seconds, so distinct for
/// every `j` of one name.
fn release_stamp(j: usize, n: usize) -> String {
    // 2024-01-01T00:00:00Z.
    let base = time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_704_067_200);
    let at = base + time::Duration::hours(j as i64) + time::Duration::seconds((n % 3600) as i64);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A plausible MANIFEST of about 1 KiB, so rows and release pages are the size of real ones.
fn manifest(ident: &FullyQualifiedIdent, deps: &[FullyQualifiedIdent]) -> String {
    let deps: Vec<String> = deps.iter().map(ToString::to_string).collect();
    format!(
        "# {origin} / {name}\n\nBenchmark package {name}, one of many.\n\n\
         * __Maintainer__: Bench <bench@example.invalid>\n* __Version__: {version}\n\
         * __Release__: {release}\n* __License__: Apache-2.0\n\
         * __Source__: [https://example.invalid/{name}-{version}.tar.gz](https://example.invalid/{name}-{version}.tar.gz)\n\
         * __SHA__: `{sha}`\n* __Path__: `/hab/pkgs/{ident}`\n\
         * __Build Dependencies__: `core/gcc core/make`\n\
         * __Dependencies__: `{deps}`\n\
         * __Interpreters__: no interpreters or no binaries\n\n\
         # Plan\n\n## Build Flags\n\n```bash\nCFLAGS: -O2 -pipe\nLDFLAGS: -Wl,--as-needed\n```\n\n\
         ## Plan Source\n\n```bash\npkg_name={name}\npkg_origin={origin}\npkg_version={version}\n\
         pkg_deps=(core/glibc)\npkg_exports=([port]=port)\npkg_exposes=(port)\n```\n",
        origin = ident.origin(),
        name = ident.name(),
        version = ident.version(),
        release = ident.release(),
        sha = Blake2bHash::digest(ident.to_string().as_bytes()),
        deps = deps.join(" "),
    )
}

/// What [`populate`] stored and how long it took.
#[derive(Clone, Debug)]
pub struct Populated {
    /// Packages stored.
    pub packages: usize,
    /// Time the package inserts took.
    pub import: Duration,
    /// Promotions to `stable` and to each origin's `beta` channel.
    pub promotions: usize,
    /// Time the promotions took.
    pub promote: Duration,
    /// The `Cookie` header value of a signed-in session of [`OWNER`].
    pub owner_cookie: String,
}

/// Fills the empty data directory `data_dir` through the library (embedded store): account
/// [`OWNER`], the [`ORIGINS`] (the last one private), and the packages of `spec` without
/// artifacts (pages read rows only), inserted with `import_packages` in transactions of `batch`.
/// Each package depends on the heavy name's oldest release and, past the first few names, on
/// the name dealt five places earlier (so every name but the first has a dependency that links
/// to another page). The newest release of every name is promoted to `stable`, and of every
/// fourth name the one before it to its origin's `beta` channel. A session is started for
/// [`OWNER`], to view the pages signed in.
pub async fn populate(data_dir: &Path, spec: &WebCatalogSpec, batch: usize) -> Result<Populated> {
    let settings = Settings {
        data_dir: data_dir.to_owned(),
        ..Settings::default()
    };
    let state = AppState::open_embedded(settings)?;
    let owner = state.metadata.create_account(OWNER, None).await?;
    let private_origin = ORIGINS[ORIGINS.len() - 1];
    let beta: ChannelName = "beta".parse()?;
    for origin in ORIGINS {
        let name: OriginName = origin.parse()?;
        let visibility = if origin == private_origin {
            Visibility::Private
        } else {
            Visibility::Public
        };
        state
            .metadata
            .create_origin(&name, owner.id, visibility)
            .await?;
        state.metadata.create_channel(&name, &beta).await?;
    }
    let heavy: FullyQualifiedIdent = spec.heavy_dependency().parse()?;
    let build_deps: Vec<FullyQualifiedIdent> = vec![heavy.clone()];
    // Upload times a second apart, ending now: the newest rows are the "recent" ones.
    let total = spec.packages();
    let now = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let mut rows = Vec::with_capacity(batch);
    for (k, entry) in spec.entries().enumerate() {
        let ident: FullyQualifiedIdent = entry.ident().parse()?;
        let mut deps = Vec::with_capacity(2);
        if entry.name != HEAVY.1 {
            deps.push(heavy.clone());
        }
        if let Some(n) = ordinary_number(&entry.name)
            && n >= ORIGINS.len()
        {
            let earlier = n - ORIGINS.len();
            let (version, release) = WebCatalogSpec::version_release(earlier, 0);
            deps.push(
                format!(
                    "{}/{}/{version}/{release}",
                    WebCatalogSpec::origin(earlier),
                    WebCatalogSpec::name(earlier)
                )
                .parse()?,
            );
        }
        rows.push(Package {
            id: 0,
            checksum: Blake2bHash::digest(ident.to_string().as_bytes()),
            size: 4096 + (k as u64 % 97) * 65_536,
            visibility: if entry.private {
                Visibility::Private
            } else {
                Visibility::Public
            },
            manifest: manifest(&ident, &deps),
            config: "port = 8080\n[log]\nlevel = \"info\"\n".to_owned(),
            tdeps: deps.clone(),
            deps,
            build_deps: build_deps.clone(),
            build_tdeps: build_deps.clone(),
            exposes: vec![8080],
            binds: Vec::new(),
            binds_optional: Vec::new(),
            is_a_service: true,
            owner: OWNER.to_owned(),
            created_at: now - time::Duration::seconds((total - k) as i64),
            target: PackageTarget::X86_64Linux,
            sha256: spec
                .release_facts
                .then(|| sha256_hex(ident.to_string().as_bytes())),
            signer: spec
                .release_facts
                .then(|| format!("{}-{FACTS_KEY_REVISION}", entry.origin)),
            ident,
        });
        if rows.len() == batch {
            state.metadata.import_packages(&rows).await?;
            rows.clear();
        }
    }
    if !rows.is_empty() {
        state.metadata.import_packages(&rows).await?;
    }
    let import = started.elapsed();

    let started = Instant::now();
    let stable = ChannelName::stable();
    let mut promotions = 0;
    let newest = RELEASES_PER_NAME - 1;
    let heavy_newest = spec.heavy_releases() - 1;
    let mut promote = Vec::new();
    let (version, release) = WebCatalogSpec::heavy_version_release(heavy_newest);
    promote.push((
        format!("{}/{}/{version}/{release}", HEAVY.0, HEAVY.1),
        &stable,
    ));
    for n in 0..spec.names {
        let (origin, name) = (WebCatalogSpec::origin(n), WebCatalogSpec::name(n));
        let (version, release) = WebCatalogSpec::version_release(n, newest);
        promote.push((format!("{origin}/{name}/{version}/{release}"), &stable));
        if n % 4 == 0 {
            let (version, release) = WebCatalogSpec::version_release(n, newest - 1);
            promote.push((format!("{origin}/{name}/{version}/{release}"), &beta));
        }
    }
    for (ident, channel) in promote {
        let ident: FullyQualifiedIdent = ident.parse()?;
        let package = state
            .metadata
            .package(&ident, PackageTarget::X86_64Linux)
            .await?
            .with_context(|| format!("`{ident}` was not stored"))?;
        let origin = ident.origin().clone();
        state
            .metadata
            .change_channel(package.id, &origin, channel, ChannelAction::Promote, OWNER)
            .await?;
        promotions += 1;
    }
    let promote = started.elapsed();

    let cookie = habitat_depot_server::identity::session::start(&state, &owner).await?;
    let owner_cookie = cookie
        .to_str()
        .context("the session cookie is not text")?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok(Populated {
        packages: total,
        import,
        promotions,
        promote,
        owner_cookie,
    })
}

/// The number `n` of an ordinary name ([`WebCatalogSpec::name`]), or `None` for the heavy one.
pub fn ordinary_number(name: &str) -> Option<usize> {
    let (word, number) = name.rsplit_once('-')?;
    let w = WORDS.iter().position(|candidate| *candidate == word)?;
    let number: usize = number.parse().ok()?;
    Some(number * WORDS.len() + w)
}

/// A depot served by this process on 127.0.0.1, on a runtime of its own whose threads are
/// named [`SERVER_THREADS`]. Dropping it stops the server.
pub struct InProcessDepot {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcessDepot {
    /// Opens the embedded store in `data_dir` and serves the whole router (API and pages) on a
    /// free port of 127.0.0.1, with `workers` worker threads, as `hab-depot` serves it (keep-
    /// alive, the settings' idle timeout). Blocking threads stay alive for an hour, so that their
    /// CPU time is still counted at the end of a measurement.
    pub fn start(data_dir: &Path, workers: usize) -> Result<Self> {
        let settings = Settings {
            data_dir: data_dir.to_owned(),
            ..Settings::default()
        };
        // The runtime is made, used and dropped on a thread of its own: the caller may be
        // inside another runtime, where neither may happen.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<SocketAddr>>();
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(SERVER_THREADS.to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name(SERVER_THREADS)
                    .thread_keep_alive(Duration::from_secs(3600))
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(
                            anyhow::Error::new(e).context("start the server's runtime")
                        ));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let opened = async {
                        let state = AppState::open_embedded(settings)?;
                        let listener =
                            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                                .await
                                .context("listen on 127.0.0.1")?;
                        Ok::<_, anyhow::Error>((listener.local_addr()?, listener, state))
                    };
                    let (listener, state) = match opened.await {
                        Ok((addr, listener, state)) => {
                            let _ = ready_tx.send(Ok(addr));
                            (listener, state)
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let idle = state.settings.idle_timeout();
                    habitat_depot_server::serve::serve(
                        listener,
                        habitat_depot_server::router(state),
                        idle,
                        async {
                            let _ = rx.await;
                        },
                    )
                    .await;
                });
            })
            .context("start the server's thread")?;
        let addr = ready_rx
            .recv()
            .context("the server's thread ended before it listened")??;
        Ok(Self {
            url: format!("http://{addr}"),
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server's thread.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for InProcessDepot {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// How long one store query took, run again and again one at a time.
#[derive(Clone, Debug)]
pub struct QueryTiming {
    /// The query: the store method and its arguments.
    pub what: String,
    /// The page that asks it.
    pub page: &'static str,
    /// Rows (or the total) it answered.
    pub rows: u64,
    /// Median time.
    pub median: Duration,
    /// Slowest time.
    pub max: Duration,
}

/// Runs `query` `runs` times one after the other and times it; it answers a row count.
async fn time_query<F, Fut>(
    page: &'static str,
    what: String,
    runs: usize,
    mut query: F,
) -> Result<QueryTiming>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        rows = query().await.with_context(|| what.clone())?;
        times.push(started.elapsed());
    }
    times.sort_unstable();
    Ok(QueryTiming {
        what,
        page,
        rows,
        median: times[times.len() / 2],
        max: times[times.len() - 1],
    })
}

/// Times, as an anonymous viewer asks them, the store queries the pages are built from, each
/// `runs` times with nothing else running: a page that misses its latency target waits for
/// the slowest of its queries. Opens the store in `data_dir` on its own.
pub async fn time_store_queries(
    data_dir: &Path,
    spec: &WebCatalogSpec,
    runs: usize,
) -> Result<Vec<QueryTiming>> {
    use habitat_depot_server::store::{PackageFilter, Page};

    let settings = Settings {
        data_dir: data_dir.to_owned(),
        ..Settings::default()
    };
    let state = AppState::open_embedded(settings)?;
    let store = state.metadata.clone();
    let target = PackageTarget::X86_64Linux;
    let core: OriginName = HEAVY.0.parse()?;
    let first = Page {
        offset: 0,
        limit: 50,
    };
    let ordinary = (
        WebCatalogSpec::origin(0).parse::<OriginName>()?,
        WebCatalogSpec::name(0),
    );
    let filter = |origin: &OriginName, name: &str| PackageFilter {
        origin: Some(origin.clone()),
        name: Some(name.to_owned()),
        ..PackageFilter::default()
    };
    let (version, release) = WebCatalogSpec::heavy_version_release(spec.heavy_releases() - 1);
    let heavy_ident: FullyQualifiedIdent =
        format!("{}/{}/{version}/{release}", HEAVY.0, HEAVY.1).parse()?;
    let heavy_id = store
        .package(&heavy_ident, target)
        .await?
        .context("the heavy name's newest release is not stored")?
        .id;
    let word = WORDS[0];
    let mut timings = vec![
        time_query("home", "recent_packages(15)".to_owned(), runs, || async {
            Ok(store.recent_packages(&[], 15).await?.len() as u64)
        })
        .await?,
        time_query("home", "origin_count()".to_owned(), runs, || async {
            store.origin_count().await.map_err(Into::into)
        })
        .await?,
        time_query(
            "home",
            "package_names(every origin) (search too; cached 5 s)".to_owned(),
            runs,
            || async { Ok(store.package_names(None, &[]).await?.len() as u64) },
        )
        .await?,
        time_query(
            "search",
            format!("origins_matching(`{word}`, first 50)"),
            runs,
            || async { Ok(store.origins_matching(word, first).await?.total) },
        )
        .await?,
        time_query("origin", format!("package_names({core})"), runs, || async {
            Ok(store.package_names(Some(&core), &[]).await?.len() as u64)
        })
        .await?,
    ];
    let core_names: Vec<(OriginName, String)> = store
        .package_names(Some(&core), &[])
        .await?
        .into_iter()
        .take(50)
        .collect();
    timings.push(
        time_query(
            "origin",
            format!("newest_releases({} names of {core})", core_names.len()),
            runs,
            || async { Ok(store.newest_releases(&core_names, &[]).await?.len() as u64) },
        )
        .await?,
    );
    for distinct in [true, false] {
        timings.push(
            time_query(
                "API",
                format!("search(`{word}`, distinct: {distinct}, first 50)"),
                runs,
                || async { Ok(store.search(word, distinct, &[], first).await?.total) },
            )
            .await?,
        );
    }
    for (origin, name) in [(&core, HEAVY.1), (&ordinary.0, ordinary.1.as_str())] {
        timings.push(
            time_query(
                "package",
                format!("packages({origin}/{name}, first 50)"),
                runs,
                || async { Ok(store.packages(&filter(origin, name), first).await?.total) },
            )
            .await?,
        );
        timings.push(
            time_query(
                "package",
                format!("latest({origin}/{name})"),
                runs,
                || async {
                    Ok(u64::from(
                        store.latest(&filter(origin, name)).await?.is_some(),
                    ))
                },
            )
            .await?,
        );
        timings.push(
            time_query(
                "release",
                format!("rdeps({origin}/{name})"),
                runs,
                || async { Ok(store.rdeps(origin, name, target).await?.len() as u64) },
            )
            .await?,
        );
    }
    timings.push(
        time_query(
            "release",
            format!("package({heavy_ident})"),
            runs,
            || async {
                Ok(u64::from(
                    store.package(&heavy_ident, target).await?.is_some(),
                ))
            },
        )
        .await?,
    );
    timings.push(
        time_query(
            "release",
            format!("package_channels({heavy_ident})"),
            runs,
            || async { Ok(store.package_channels(heavy_id).await?.len() as u64) },
        )
        .await?,
    );
    Ok(timings)
}

/// A page's weight: its HTML and the static files it links, as served (bytes on the wire
/// without headers; the depot does not compress).
#[derive(Clone, Debug, Default)]
pub struct Weight {
    /// The page's HTML.
    pub html: u64,
    /// Each linked static file (`/static/…` in an `href` or `src`) and its size.
    pub assets: Vec<(String, u64)>,
}

impl Weight {
    /// HTML and static files together.
    pub fn total(&self) -> u64 {
        self.html + self.assets.iter().map(|(_, size)| size).sum::<u64>()
    }
}

/// The local static files a page links (`href="/static/…"` or `src="/static/…"`), each once.
pub fn linked_assets(html: &str) -> Vec<String> {
    let mut found = BTreeSet::new();
    for attribute in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            let Some(end) = rest.find('"') else { break };
            let value = &rest[..end];
            if value.starts_with("/static/") {
                found.insert(value.to_owned());
            }
            rest = &rest[end..];
        }
    }
    found.into_iter().collect()
}

/// Fetches `html`'s linked static files from `base` and returns the page's [`Weight`].
pub async fn weigh(client: &reqwest::Client, base: &str, html: &str) -> Result<Weight> {
    let mut weight = Weight {
        html: html.len() as u64,
        assets: Vec::new(),
    };
    for asset in linked_assets(html) {
        let url = format!("{base}{asset}");
        let response = client.get(&url).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        ensure!(status == reqwest::StatusCode::OK, "GET {url}: {status}");
        weight.assets.push((asset, body.len() as u64));
    }
    Ok(weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_catalog_has_100000_distinct_packages() {
        let spec = WebCatalogSpec::default();
        assert_eq!(spec.packages(), 100_000);
        let mut seen = std::collections::HashSet::new();
        let mut private = 0;
        for entry in spec.entries() {
            assert!(
                entry.ident().parse::<FullyQualifiedIdent>().is_ok(),
                "{entry:?}"
            );
            private += usize::from(entry.private);
            assert!(seen.insert(entry.ident()), "{} twice", entry.ident());
        }
        assert_eq!(seen.len(), 100_000);
        assert!(private > 20_000 && private < 30_000, "{private} private");
        let names: BTreeSet<String> = spec
            .entries()
            .map(|e| format!("{}/{}", e.origin, e.name))
            .collect();
        assert_eq!(names.len(), 1981);
    }

    #[test]
    fn names_map_back_to_their_numbers() {
        for n in [0, 1, 32, 33, 1979] {
            assert_eq!(ordinary_number(&WebCatalogSpec::name(n)), Some(n));
        }
        assert_eq!(ordinary_number(HEAVY.1), None);
    }

    #[test]
    fn linked_assets_are_the_static_ones() {
        let html = r#"<link rel="stylesheet" href="/static/site.css"><a href="/pkgs/x">x</a>
            <script src="/static/site.js" defer></script><link href="/static/site.css">"#;
        assert_eq!(
            linked_assets(html),
            vec!["/static/site.css".to_owned(), "/static/site.js".to_owned()]
        );
    }
}
