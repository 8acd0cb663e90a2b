//! A real PostgreSQL and a real S3-compatible server (`s3s-fs`) for the scale-out tests, started
//! once per test process on 127.0.0.1, each test getting its own database and bucket. The same
//! approach as `habitat-depot-server/tests/it/backends/`, without a database or S3 client:
//! databases are made with PostgreSQL's `createdb`, buckets as directories of `s3s-fs`'s root.
//!
//! PostgreSQL comes from `HAB_TEST_PG_BINDIR`, else `pg_config --bindir`, else the newest
//! `/usr/lib/postgresql/*/bin` (as the `postgres` user when run as root); `s3s-fs` from
//! `HAB_TEST_S3_SERVER`, else `PATH`, else `~/.cargo/bin` (`.ci/s3-server` installs it).
//! Without either, [`ScaleOut::get`] says so once on stderr and the tests pass without checking
//! anything, unless `HAB_TEST_SCALE_OUT_REQUIRED=1`, which makes them fail instead.
//!
//! Both servers die with the test process: each runs under a shell whose stdin is a pipe only
//! this process holds, and which stops the server and removes its files when the pipe closes.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The superuser `initdb` creates.
const SUPERUSER: &str = "hab";
const S3_ACCESS_KEY: &str = "hab-test-access";
const S3_SECRET_KEY: &str = "hab-test-secret-key";

/// The running servers.
pub struct ScaleOut {
    bindir: PathBuf,
    pg_port: u16,
    s3_port: u16,
    s3_root: PathBuf,
    _lifelines: Mutex<Vec<(Child, ChildStdin)>>,
}

/// One test's database and bucket, and a settings file naming them.
pub struct Deployment {
    /// `postgres://hab@127.0.0.1:PORT/DB`.
    pub postgres_url: String,
    /// The bucket's name.
    pub bucket: String,
    /// Where the bucket's objects are on disk.
    pub bucket_dir: PathBuf,
    /// The settings file (`[metadata]`, `[artifacts]`, `server_key_file`).
    pub config: PathBuf,
    /// The server key file the settings name (not created).
    pub server_key: PathBuf,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl ScaleOut {
    /// The servers, started on first use; `None` (said once on stderr) when either is missing.
    pub fn get() -> Option<&'static Self> {
        static SERVERS: OnceLock<Option<ScaleOut>> = OnceLock::new();
        SERVERS
            .get_or_init(|| match start() {
                Ok(servers) => Some(servers),
                Err(why) => {
                    assert!(
                        std::env::var_os("HAB_TEST_SCALE_OUT_REQUIRED").is_none_or(|v| v != "1"),
                        "HAB_TEST_SCALE_OUT_REQUIRED=1 but {why}"
                    );
                    // Past the harness's capture, so that a passing run still shows it.
                    let _ = writeln!(std::io::stderr(), "skipped: scale-out tests: {why}");
                    None
                }
            })
            .as_ref()
    }

    /// A new database and bucket, and a settings file for them in `dir` (the S3 secret in a
    /// file beside it, the key id in the settings).
    pub fn deployment(&self, dir: &Path) -> Deployment {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let database = format!("scale_{}_{n}", std::process::id());
        let out = Command::new(self.bindir.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.pg_port.to_string()])
            .args(["-U", SUPERUSER, "-E", "UTF8", "-T", "template0", &database])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bucket = format!("hab-scale-{}-{n}", std::process::id());
        let bucket_dir = self.s3_root.join("data").join(&bucket);
        std::fs::create_dir_all(&bucket_dir).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let secret = dir.join("s3-secret");
        std::fs::write(&secret, format!("{S3_SECRET_KEY}\n")).unwrap();
        let server_key = dir.join("server.key");
        let postgres_url = format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{database}",
            self.pg_port
        );
        let config = dir.join("scale.toml");
        std::fs::write(
            &config,
            format!(
                "server_key_file = {key:?}\n\n[metadata]\nurl = {postgres_url:?}\npool_size = \
                 8\n\n[artifacts]\nurl = \"s3://{bucket}/depot\"\nendpoint = \
                 \"http://127.0.0.1:{port}\"\naccess_key_id = {S3_ACCESS_KEY:?}\n\
                 secret_access_key_file = {secret:?}\npart_size_mib = 5\n",
                key = server_key.display().to_string(),
                secret = secret.display().to_string(),
                port = self.s3_port,
            ),
        )
        .unwrap();
        Deployment {
            postgres_url,
            bucket,
            bucket_dir,
            config,
            server_key,
        }
    }
}

fn start() -> Result<ScaleOut, String> {
    let bindir = find_bindir()
        .ok_or("PostgreSQL not found (install Debian's postgresql or set HAB_TEST_PG_BINDIR)")?;
    let s3s =
        find_s3s().ok_or("`s3s-fs` not found (run .ci/s3-server, or set HAB_TEST_S3_SERVER)")?;
    let mut lifelines = Vec::new();

    // PostgreSQL: a cluster in a temp dir, fsync off.
    let pg_dir = tempfile::Builder::new()
        .prefix("hab-scale-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let user = unprivileged_user();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&pg_dir, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
    }
    let as_user = |command: &mut Command| {
        if let Some((uid, gid)) = user {
            command.uid(uid).gid(gid);
        }
    };
    let mut initdb = Command::new(bindir.join("initdb"));
    initdb.arg("-D").arg(pg_dir.join("data"));
    initdb.args([
        "-U",
        SUPERUSER,
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-locale",
        "--no-sync",
    ]);
    initdb.current_dir(&pg_dir);
    as_user(&mut initdb);
    let output = initdb.output().map_err(|e| format!("initdb: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let pg_port = free_port();
    let script = r#""$1" -D "$2/data" -k "$2" -h 127.0.0.1 -p "$3" -c fsync=off \
    -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 >"$2/log" 2>&1 &
pid=$!
read _
kill -INT "$pid"
wait "$pid"
rm -rf "$2""#;
    let mut postgres = Command::new("sh");
    postgres
        .args(["-c", script, "sh"])
        .arg(bindir.join("postgres"))
        .arg(&pg_dir)
        .arg(pg_port.to_string())
        .current_dir(&pg_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    as_user(&mut postgres);
    let mut child = postgres.spawn().map_err(|e| e.to_string())?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    lifelines.push((child, stdin));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = std::fs::read_to_string(pg_dir.join("log")).unwrap_or_default();
        if log.contains("ready to accept connections") {
            break;
        }
        if Instant::now() > deadline || log.contains("FATAL") {
            return Err(format!("the test PostgreSQL did not start:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // s3s-fs: a root whose directories are the buckets.
    let s3_root = tempfile::Builder::new()
        .prefix("hab-scale-s3-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    std::fs::create_dir_all(s3_root.join("data")).map_err(|e| e.to_string())?;
    let s3_port = free_port();
    let script = r#""$1" --host 127.0.0.1 --port "$3" --access-key "$4" --secret-key "$5" \
    "$2/data" >"$2/server.log" 2>&1 &
pid=$!
read -r _
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -rf "$2""#;
    let mut child = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&s3s)
        .arg(&s3_root)
        .arg(s3_port.to_string())
        .args([S3_ACCESS_KEY, S3_SECRET_KEY])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", s3s.display()))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    lifelines.push((child, stdin));
    let address = SocketAddr::from(([127, 0, 0, 1], s3_port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("`{}` did not answer on {address}", s3s.display()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(ScaleOut {
        bindir,
        pg_port,
        s3_port,
        s3_root,
        _lifelines: Mutex::new(lifelines),
    })
}

fn find_bindir() -> Option<PathBuf> {
    let usable = |dir: &Path| {
        ["initdb", "postgres", "createdb"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
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

fn find_s3s() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HAB_TEST_S3_SERVER") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("s3s-fs"));
    let in_cargo = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .map(|dir| dir.join("bin/s3s-fs"));
    on_path.chain(in_cargo).find(|path| path.is_file())
}

/// As root, the user to run PostgreSQL as (`postgres`, else `nobody`).
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
    lookup("postgres").or_else(|| lookup("nobody"))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
