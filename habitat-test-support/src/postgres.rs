//! A PostgreSQL server for tests: one per test process, a fresh database per test.
//!
//! The server is found, in order:
//! 1. `HAB_TEST_POSTGRES_URL`: an existing server's admin URL (`postgres://USER[:PW]@HOST:PORT/DB`,
//!    a role that may `CREATE DATABASE`); nothing is started.
//! 2. The binaries in `HAB_TEST_PG_BINDIR`, else `pg_config --bindir`, else the newest
//!    `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package): `initdb` makes a cluster in a
//!    temp dir and `postgres` serves it on 127.0.0.1 and a free port, with fsync off. PostgreSQL
//!    refuses to run as root, so as root both run as the `postgres` user (or `nobody`), which
//!    then owns the temp dir.
//!
//! The server dies with the test process, however that ends: it runs under
//! `sh -c 'postgres … & read _; kill …'` whose stdin is a pipe only this process holds, so the
//! pipe closing (at exit, or when the process is killed) stops the server and removes its
//! files.
//!
//! [`PgServer::get`] only finds or starts the server; what a missing one means is the caller's
//! rule. For the depot's own tests that rule is [`database`] and [`migrated_database`]: without
//! binaries they say so once on stderr and return `None`, and the PostgreSQL tests pass without
//! checking anything; unless the run asked for the scale-out stores
//! (`HAB_TEST_STORES=scale-out`), in which case every test needing PostgreSQL fails.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use habitat_depot_server::store::postgres::PostgresStore;
use tokio_postgres::NoTls;

use crate::stores::{Stores, say};

/// The superuser `initdb` creates in a cluster started here.
const SUPERUSER: &str = "hab";

/// Starts the server in the background, stops it when stdin closes, then removes its files.
/// `$1` is the `postgres` binary, `$2` the temp dir, `$3` the port.
const SUPERVISOR: &str = r#"
"$1" -D "$2/data" -k "$2" -h 127.0.0.1 -p "$3" -c fsync=off -c synchronous_commit=off \
    -c full_page_writes=off -c max_connections=200 >"$2/log" 2>&1 &
pid=$!
read _
kill -INT "$pid"
wait "$pid"
rm -rf "$2"
"#;

/// The test PostgreSQL server of this process.
pub enum PgServer {
    /// A server this process started (kept alive by holding the supervisor's stdin).
    Local {
        /// Its port on 127.0.0.1.
        port: u16,
        /// The supervising shell.
        _supervisor: Child,
        /// Its stdin: closing it stops the server.
        _stdin: ChildStdin,
    },
    /// An existing server, by its admin URL.
    External {
        /// `HAB_TEST_POSTGRES_URL`.
        admin: String,
    },
}

static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

impl PgServer {
    /// The server, found or started on first use; `Err` says why there is none (no binaries).
    /// A server that is there but fails to start fails the test.
    pub fn get() -> Result<&'static Self, &'static str> {
        static SERVER: OnceLock<Result<PgServer, &'static str>> = OnceLock::new();
        SERVER.get_or_init(start).as_ref().map_err(|why| *why)
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        match self {
            Self::Local { port, .. } => format!("postgres://{SUPERUSER}@127.0.0.1:{port}/{name}"),
            Self::External { admin } => with_database(admin, name),
        }
    }

    /// The URL to create databases through.
    fn admin_url(&self) -> String {
        match self {
            Self::Local { .. } => self.url("postgres"),
            Self::External { admin } => admin.clone(),
        }
    }

    /// A new empty database, as a URL.
    ///
    /// Its default collation is ICU `en-US` where the server has ICU, so a query that forgot
    /// the store's bytewise (`"C"`) collation answers differently from SQLite and a comparison
    /// test catches it.
    pub async fn database(&self) -> String {
        let name = next_name();
        create_database(self, &name, "template0").await;
        self.url(&name)
    }

    /// A new database with the depot's schema already applied, as a URL. Copied from a
    /// template migrated once per test process, which is much faster than creating an empty
    /// database and migrating it for each depot; otherwise like [`PgServer::database`].
    pub async fn migrated_database(&self) -> String {
        static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let template = TEMPLATE
            .get_or_init(|| async {
                let name = format!("t_{}_template", std::process::id());
                create_database(self, &name, "template0").await;
                // Connecting migrates; the pool's connections end when it is dropped (a copy
                // waits a few seconds for the last ones to go).
                let store = PostgresStore::connect(&self.url(&name), 1)
                    .await
                    .unwrap_or_else(|e| panic!("migrate the template database {name}: {e}"));
                drop(store);
                name
            })
            .await;
        let name = next_name();
        create_database(self, &name, template).await;
        self.url(&name)
    }
}

/// The server under the depot tests' rule: `None` (said once on stderr) when there is none,
/// and a failed test instead when the run asked for the scale-out stores.
fn for_depot_tests() -> Option<&'static PgServer> {
    match PgServer::get() {
        Ok(server) => Some(server),
        Err(why) => {
            assert!(
                Stores::from_env() != Stores::ScaleOut,
                "HAB_TEST_STORES=scale-out but {why}: install Debian's postgresql, set \
                 HAB_TEST_PG_BINDIR to the directory of `initdb` and `postgres`, or set \
                 HAB_TEST_POSTGRES_URL to an existing server"
            );
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                say(&format!(
                    "skipped: {why} (install Debian's postgresql or set HAB_TEST_PG_BINDIR)"
                ));
            });
            None
        }
    }
}

/// A new empty database on the test server, as a URL; `None` when there is no PostgreSQL (see
/// [`PgServer::database`]).
pub async fn database() -> Option<String> {
    Some(for_depot_tests()?.database().await)
}

/// A new database with the depot's schema applied, as a URL; `None` when there is no
/// PostgreSQL (see [`PgServer::migrated_database`]).
pub async fn migrated_database() -> Option<String> {
    Some(for_depot_tests()?.migrated_database().await)
}

fn next_name() -> String {
    format!(
        "t_{}_{}",
        std::process::id(),
        NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates database `name` as a copy of `template` (`template0`: with an ICU collation where
/// the server has one; another template: with that template's encoding and collation).
async fn create_database(server: &PgServer, name: &str, template: &str) {
    let admin = connect(&server.admin_url()).await;
    if template == "template0" {
        let icu = format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' \
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        );
        if admin.batch_execute(&icu).await.is_ok() {
            return;
        }
        // No ICU (or PostgreSQL before 15): the server's default collation, still UTF8.
    }
    let encoding = if template == "template0" {
        " ENCODING 'UTF8'"
    } else {
        ""
    };
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE {template}{encoding}"
        ))
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e:?}"));
}

/// A plain connection to `url` (retried while the server starts up).
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio_postgres::connect(url, NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                return client;
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("connect to the test PostgreSQL: {e:?}"),
        }
    }
}

fn start() -> Result<PgServer, &'static str> {
    if let Ok(admin) = std::env::var("HAB_TEST_POSTGRES_URL") {
        return Ok(PgServer::External { admin });
    }
    let bindir = find_bindir().ok_or("PostgreSQL not found")?;
    let dir = tempfile::Builder::new()
        .prefix("hab-pg-")
        .tempdir()
        .unwrap()
        // The supervisor removes it when the server stops.
        .keep();
    let user = unprivileged_user();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    }
    let as_user = |command: &mut Command| {
        if let Some((uid, gid)) = user {
            command.uid(uid).gid(gid);
        }
    };

    let mut initdb = Command::new(bindir.join("initdb"));
    initdb
        .arg("-D")
        .arg(dir.join("data"))
        .args([
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ])
        .current_dir(&dir);
    as_user(&mut initdb);
    let output = initdb.output().unwrap();
    assert!(
        output.status.success(),
        "initdb failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let port = free_port();
    let mut supervisor = Command::new("sh");
    supervisor
        .args(["-c", SUPERVISOR, "sh"])
        .arg(bindir.join("postgres"))
        .arg(&dir)
        .arg(port.to_string())
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    as_user(&mut supervisor);
    let mut child = supervisor.spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    wait_until_ready(&dir.join("log"), &mut child);
    Ok(PgServer::Local {
        port,
        _supervisor: child,
        _stdin: stdin,
    })
}

/// The directory holding `initdb` and `postgres`.
fn find_bindir() -> Option<PathBuf> {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("HAB_TEST_PG_BINDIR") {
        return Some(PathBuf::from(dir)).filter(|d| usable(d));
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|d| usable(d)) {
        return Some(dir);
    }
    // Debian: /usr/lib/postgresql/<major>/bin; the newest major version.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .filter(|(_, dir)| usable(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// As root, the user to run PostgreSQL as (`postgres`, else `nobody`): its uid and gid.
fn unprivileged_user() -> Option<(u32, u32)> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let lookup = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                [user, _, uid, gid, ..] if *user == name => {
                    Some((uid.parse().ok()?, gid.parse().ok()?))
                }
                _ => None,
            }
        })
    };
    Some(
        lookup("postgres")
            .or_else(|| lookup("nobody"))
            .expect("running as root, with neither a `postgres` nor a `nobody` user"),
    )
}

/// A port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits for the server's log to say it accepts connections.
fn wait_until_ready(log: &Path, supervisor: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("ready to accept connections") {
            return;
        }
        let exited = supervisor.try_wait().unwrap();
        if exited.is_some() || Instant::now() > deadline || text.contains("FATAL") {
            panic!("the test PostgreSQL did not start ({exited:?}):\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `admin` (a `postgres://` URL) naming database `name` instead.
fn with_database(admin: &str, name: &str) -> String {
    let (scheme, rest) = admin
        .split_once("://")
        .expect("HAB_TEST_POSTGRES_URL is a postgres:// URL");
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, format!("?{query}")),
        None => (rest, String::new()),
    };
    let authority = location.split('/').next().unwrap_or(location);
    format!("{scheme}://{authority}/{name}{query}")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn an_admin_url_names_another_database_keeping_its_query() {
        for (admin, expected) in [
            ("postgres://u@h:5/postgres", "postgres://u@h:5/t_1"),
            ("postgres://u:p@h:5", "postgres://u:p@h:5/t_1"),
            (
                "postgres://u@h:5/postgres?sslmode=disable",
                "postgres://u@h:5/t_1?sslmode=disable",
            ),
        ] {
            assert_eq!(with_database(admin, "t_1"), expected, "{admin}");
        }
    }
}
