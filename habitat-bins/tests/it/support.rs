//! Running the built `hab` in an isolated temp directory, and the built `hab-depot` as a
//! server (see `habitat_test_support::process`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub use habitat_test_support::process::{self, DepotProcess};

/// `hab ARGS` against the depot at `url` as `token` (both in the environment).
pub fn remote(sandbox: &Sandbox, url: &str, token: &str, args: &[&str]) -> Output {
    sandbox
        .hab()
        .env("HAB_BLDR_URL", url)
        .env("HAB_AUTH_TOKEN", token)
        .args(args)
        .output()
        .unwrap()
}

/// Asserts that a command succeeded (saying `what` failed otherwise); its stderr.
#[track_caller]
pub fn succeeds(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that a command failed; its stderr.
#[track_caller]
pub fn fails(out: &Output, what: &str) -> String {
    assert!(!out.status.success(), "{what} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `demo/name/1.0.0/REL` from `demo-name-1.0.0-REL-x86_64-linux.hart`.
pub fn ident_of(hart: &Path) -> String {
    let name = hart.file_name().unwrap().to_str().unwrap();
    name.splitn(5, '-').take(4).collect::<Vec<_>>().join("/")
}

/// A temp directory with its own HOME, FS_ROOT and key cache.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn fs_root(&self) -> PathBuf {
        self.path().join("root")
    }

    pub fn keys(&self) -> PathBuf {
        self.path().join("keys")
    }

    /// `hab` with a clean environment pointing at this sandbox.
    pub fn hab(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hab"));
        cmd.current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path().join("home"))
            .env("FS_ROOT", self.fs_root())
            .env("HAB_CACHE_KEY_PATH", self.keys());
        cmd
    }

    /// Runs `hab ARGS` and returns its output, whatever the status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.hab().args(args).output().expect("hab runs")
    }

    /// Runs `hab ARGS`, which must succeed; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "hab {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs `hab ARGS`, which must fail; returns stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "hab {args:?} should have failed");
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }

    /// Writes a package source directory with one executable and returns its path.
    pub fn package_source(&self, name: &str) -> PathBuf {
        let dir = self.path().join(format!("src-{name}"));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let program = dir.join("bin").join(name);
        std::fs::write(&program, format!("#!/bin/sh\necho {name}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    /// Packs `origin/name/version` from a fresh source dir; returns the .hart path.
    pub fn pack(&self, ident: &str, deps: &[&str]) -> PathBuf {
        let name = ident.split('/').nth(1).unwrap();
        let src = self.package_source(name);
        let mut args = vec!["pkg", "pack", src.to_str().unwrap(), "--ident", ident];
        for dep in deps {
            args.extend(["--dep", dep]);
        }
        self.path().join(self.ok(&args).trim())
    }
}

/// The built `hab-depot`.
pub fn hab_depot_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hab-depot"))
}

/// `hab-depot start --listen 127.0.0.1:0 --data-dir DATA`.
pub fn start_depot(data: &Path) -> DepotProcess {
    start_depot_with(&["--data-dir".as_ref(), data.as_os_str()])
}

/// `hab-depot start --listen 127.0.0.1:0 ARGS` (a `--config`, a `--data-dir`...), logging
/// warnings; its log shows when the test fails.
pub fn start_depot_with(args: &[&std::ffi::OsStr]) -> DepotProcess {
    DepotProcess::start(
        hab_depot_bin(),
        args,
        Some("warn"),
        None,
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A depot (an upstream, in the mirroring tests) whose log has one line per request.
pub fn start_logged_depot(data: &Path) -> DepotProcess {
    DepotProcess::start(
        hab_depot_bin(),
        &["--data-dir".as_ref(), data.as_os_str()],
        Some("warn,hab_depot::request=info"),
        None,
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// `hab-depot sync --data-dir DATA ARGS`.
pub fn sync(data: &Path, args: &[&str]) -> Output {
    Command::new(hab_depot_bin())
        .arg("sync")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("HAB_DEPOT_CONFIG")
        .output()
        .unwrap()
}

/// What a command wrote on stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A client of the depot at `url`, as `token` if given.
pub fn client(url: &str, token: Option<&str>) -> habitat_depot_client::Client {
    habitat_depot_client::Client::builder(url.parse().unwrap())
        .token(token.map(|t| habitat_depot_client::Token::new(t.to_owned()).unwrap()))
        .no_proxy()
        .build()
        .unwrap()
}

/// Creates `origin` through `to` and uploads `key`'s public half.
pub async fn origin_with_key(
    to: &habitat_depot_client::Client,
    origin: &str,
    key: &habitat_core::SecretKey,
) {
    to.create_origin(&origin.parse().unwrap(), None)
        .await
        .unwrap();
    to.upload_public_key(&key.public_key()).await.unwrap();
}

/// A fully qualified ident written in a test.
pub fn fq(text: &str) -> habitat_core::FullyQualifiedIdent {
    text.parse().unwrap()
}

/// `hab-depot user create NAME`: the new account's token.
pub fn user_create(data: &Path, name: &str) -> String {
    process::user_create(hab_depot_bin(), data, None, name).unwrap_or_else(|e| panic!("{e}"))
}

/// Polls `check` every 50 ms until it holds; panics naming `what` after `timeout`.
#[track_caller]
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A long-running command (`hab start`) with its stdout and stderr in files. Dropping it sends
/// SIGTERM and waits (bounded), then SIGKILL, so a failed test leaves no process behind.
pub struct Background {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    status: Option<std::process::ExitStatus>,
}

impl Background {
    /// Spawns `command` with its output going to `DIR/NAME.stdout` and `DIR/NAME.stderr`.
    pub fn spawn(mut command: Command, dir: &Path, name: &str) -> Self {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let child = command
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            stdout,
            stderr,
            status: None,
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// Its exit status if it ended within `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while self.status.is_none() {
            self.status = self.child.try_wait().unwrap();
            if self.status.is_none() {
                if std::time::Instant::now() >= deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.status
    }

    /// Its exit status; panics (with its stderr) if it does not end within `timeout`.
    #[track_caller]
    pub fn exits_within(&mut self, timeout: Duration) -> std::process::ExitStatus {
        match self.wait_timeout(timeout) {
            Some(status) => status,
            None => panic!(
                "still running after {timeout:?}; stderr:\n{}",
                self.stderr()
            ),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.wait_timeout(Duration::ZERO).is_some() {
            return;
        }
        let _ = rustix::process::Pid::from_raw(self.id() as i32)
            .map(|pid| rustix::process::kill_process(pid, rustix::process::Signal::TERM));
        if self.wait_timeout(Duration::from_secs(15)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `hab-depot ARGS`, which must succeed; returns stdout.
#[track_caller]
pub fn hab_depot(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hab-depot"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hab-depot {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
