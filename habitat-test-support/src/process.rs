//! A `hab-depot start` child process on 127.0.0.1 with a free port, and the `hab-depot user
//! create` step, for the binaries' tests and the depot benchmark. The binary's path is the
//! caller's (`env!("CARGO_BIN_EXE_hab-depot")` in a test of the binaries).

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Settings the depot reads from the environment: removed, so that the arguments decide.
const DEPOT_VARIABLES: [&str; 5] = [
    "HAB_DEPOT_CONFIG",
    "HAB_DEPOT_LISTEN",
    "HAB_DEPOT_MAX_UPLOAD_BYTES",
    "HAB_DEPOT_REQUEST_TIMEOUT_SECS",
    "HAB_DEPOT_IDLE_TIMEOUT_SECS",
];

/// A running `hab-depot start`, killed (SIGKILL) when dropped so that a failed test or an
/// error anywhere leaves no server behind.
pub struct DepotProcess {
    child: Child,
    /// The API root, `http://127.0.0.1:PORT/v1`.
    pub url: String,
    /// Its stderr (the log).
    pub log: PathBuf,
    /// The temp directory holding the log when the caller named no file.
    _log_dir: Option<tempfile::TempDir>,
}

impl DepotProcess {
    /// `bin start --listen 127.0.0.1:0 ARGS` with `RUST_LOG` set to `rust_log` (`None`: the
    /// depot's default) and stderr going to `log` (`None`: a temp file, printed when the test
    /// fails). Waits up to `timeout` for it to announce its address.
    ///
    /// Fails when it cannot start, exits first, or says nothing in time: the message carries
    /// its log.
    pub fn start(
        bin: &Path,
        args: &[&OsStr],
        rust_log: Option<&str>,
        log: Option<&Path>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let (log, log_dir) = match log {
            Some(log) => (log.to_owned(), None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("hab-depot-log-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a temp dir: {e}"))?;
                (dir.path().join("hab-depot.log"), Some(dir))
            }
        };
        let stderr =
            fs::File::create(&log).map_err(|e| format!("create `{}`: {e}", log.display()))?;
        let mut command = Command::new(bin);
        command
            .args(["start", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .env_remove("RUST_LOG");
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        for variable in DEPOT_VARIABLES {
            command.env_remove(variable);
        }
        let child = command
            .spawn()
            .map_err(|e| format!("start `{}`: {e}", bin.display()))?;
        let mut process = Self {
            child,
            url: String::new(),
            log,
            _log_dir: log_dir,
        };
        let deadline = Instant::now() + timeout;
        loop {
            let text = process.log_text();
            if let Some(url) = text
                .lines()
                .find_map(|l| l.split("listening on ").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
            {
                process.url = format!("{url}/v1");
                return Ok(process);
            }
            let exited = process.child.try_wait().map_err(|e| e.to_string())?;
            if let Some(status) = exited {
                return Err(format!(
                    "hab-depot exited ({status}) before listening:\n{text}"
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "hab-depot did not announce its address within {timeout:?}:\n{text}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills it (SIGKILL, no goodbye) and reaps it; a failure to do so fails the test.
    pub fn kill(mut self) {
        self.halt()
            .unwrap_or_else(|e| panic!("kill hab-depot: {e}"));
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn stop(mut self) -> Result<(), String> {
        self.halt()
    }

    fn halt(&mut self) -> Result<(), String> {
        if self.child.try_wait().map_err(|e| e.to_string())?.is_none() {
            self.child.kill().map_err(|e| e.to_string())?;
            self.child.wait().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

impl Drop for DepotProcess {
    fn drop(&mut self) {
        let _ = self.halt();
        // The log of a test's own server is in a temp file: show it when the test fails (the
        // harness shows what a failed test printed).
        if self._log_dir.is_some() && std::thread::panicking() {
            for line in self.log_text().lines() {
                eprintln!("hab-depot: {line}");
            }
        }
    }
}

/// `bin user create NAME --data-dir DATA [--config FILE]`: the new account's token.
pub fn user_create(
    bin: &Path,
    data: &Path,
    config: Option<&Path>,
    name: &str,
) -> Result<String, String> {
    let out = Command::new(bin)
        .args(["user", "create", name, "--data-dir"])
        .arg(data)
        .args(config.iter().flat_map(|c| [Path::new("--config"), c]))
        .env_remove("HAB_DEPOT_CONFIG")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run `{}`: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "hab-depot user create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let token = String::from_utf8(out.stdout)
        .map_err(|e| format!("hab-depot user create printed no text: {e}"))?
        .trim()
        .to_owned();
    if token.is_empty() {
        return Err("hab-depot user create printed no token".to_owned());
    }
    Ok(token)
}
