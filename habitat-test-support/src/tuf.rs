//! The reference TUF client for the verifier tests: python-tuf's `ngclient`, run by the
//! interpreter that `HAB_TEST_PYTHON` names (`.ci/run` makes a virtual environment with
//! `tuf` and `cryptography` and exports it), through the script `tuf/verify.py` of this crate.
//! Without the interpreter the tests that need it say so and skip; with
//! `HAB_TEST_TUF_REQUIRED=1` or `CI=true` they fail instead.
//!
//! Also a stand-in repository in the depot's layout written by python-tuf's own metadata API
//! (`tuf/make_repo.py`, [`StandIn`]) and a static file server for it ([`StaticFiles`]), so that
//! the harness and the attacks are tested on their own as well.
//!
//! ```no_run
//! # async fn run(depot_url: &str, root: &std::path::Path) {
//! use habitat_test_support::tuf::ReferenceClient;
//!
//! let Some(client) = ReferenceClient::find() else { return };
//! let work = tempfile::tempdir().unwrap();
//! let base = format!("{depot_url}/v1/tuf");
//! let verified = client
//!     .verify(&base, root, work.path(), &["keys/core/core-20190101000000.pub"])
//!     .await
//!     .unwrap();
//! assert_eq!(verified[0].path, "keys/core/core-20190101000000.pub");
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Once;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::stores::{flag, say};

/// The folder of the Python scripts.
fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tuf")
}

/// The interpreter with python-tuf, found once.
#[derive(Clone, Debug)]
pub struct ReferenceClient {
    python: PathBuf,
}

/// One target the reference client verified and downloaded.
#[derive(Clone, Debug, Deserialize)]
pub struct Verified {
    /// The target path.
    pub path: String,
    /// The length of the bytes downloaded.
    pub length: u64,
    /// The sha256 hex of the bytes downloaded.
    pub sha256: String,
    /// The downloaded copy.
    pub file: PathBuf,
}

impl Verified {
    /// The downloaded bytes.
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.file).unwrap()
    }

    /// The downloaded bytes as JSON (a channel index).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes()).unwrap()
    }
}

/// Why the reference client refused: python-tuf's error class and message.
#[derive(Clone, Debug, Deserialize)]
pub struct Refused {
    /// The class, e.g. `BadVersionNumberError`, `ExpiredMetadataError`,
    /// `LengthOrHashMismatchError`, `UnsignedMetadataError`, `TargetNotFound`.
    pub error: String,
    /// Its message.
    pub message: String,
}

/// Whether the tests must have the reference client rather than skip.
fn required() -> bool {
    flag("HAB_TEST_TUF_REQUIRED") || std::env::var_os("CI").is_some_and(|v| v == "true")
}

impl ReferenceClient {
    /// The interpreter of `HAB_TEST_PYTHON` when it imports `tuf`; `None` (after saying why,
    /// once) otherwise, a failed test instead with `HAB_TEST_TUF_REQUIRED=1` or `CI=true`.
    pub fn find() -> Option<Self> {
        let why = match std::env::var_os("HAB_TEST_PYTHON") {
            None => "HAB_TEST_PYTHON is not set (`.ci/run` makes the environment)".to_owned(),
            Some(python) => {
                let answer = std::process::Command::new(&python)
                    .args(["-c", "import tuf.ngclient, cryptography"])
                    .output();
                match answer {
                    Ok(out) if out.status.success() => {
                        return Some(Self {
                            python: python.into(),
                        });
                    }
                    Ok(out) => format!(
                        "`{}` cannot import python-tuf: {}",
                        PathBuf::from(&python).display(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                    Err(error) => format!(
                        "`{}` does not run: {error}",
                        PathBuf::from(&python).display()
                    ),
                }
            }
        };
        assert!(
            !required(),
            "the reference TUF client is required here (HAB_TEST_TUF_REQUIRED=1 or CI=true) \
             but {why}"
        );
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            say(&format!(
                "note: skipping the checks with the reference TUF client (python-tuf): {why}"
            ))
        });
        None
    }

    /// Refreshes from `base` (`{depot}/v1/tuf`: its `metadata/` and `targets/`) trusting
    /// `root` (read only when `work` holds no trusted metadata yet, so that a later call with
    /// the same `work` is a later run of the same client), then finds and downloads `paths`.
    pub async fn verify(
        &self,
        base: &str,
        root: &Path,
        work: &Path,
        paths: &[&str],
    ) -> Result<Vec<Verified>, Refused> {
        let base = base.trim_end_matches('/');
        let out = tokio::process::Command::new(&self.python)
            .arg(scripts().join("verify.py"))
            .arg(format!("{base}/metadata/"))
            .arg(format!("{base}/targets/"))
            .arg(root)
            .arg(work)
            .args(paths)
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        if out.status.success() {
            return Ok(lines
                .iter()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect());
        }
        let last = lines.last().copied().unwrap_or_default();
        match serde_json::from_str::<Refused>(last) {
            Ok(refused) => Err(refused),
            Err(_) => panic!(
                "verify.py failed without saying why ({}): {stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// Runs `make_repo.py` on `dir` with `args` (see [`StandIn`]).
    fn make_repo(&self, dir: &Path, args: &[String]) {
        let out = std::process::Command::new(&self.python)
            .arg(scripts().join("make_repo.py"))
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "make_repo.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A stand-in TUF repository in the depot's layout, written by python-tuf's metadata API:
/// `{dir}/metadata/` and `{dir}/targets/` as the depot serves them under `/v1/tuf/`, and
/// `{dir}/1.root.json` to pin.
pub struct StandIn {
    /// Where it is.
    pub dir: tempfile::TempDir,
    client: ReferenceClient,
}

impl StandIn {
    /// Makes the keys and version 1 of every role, with `targets` (path and body) listed.
    pub fn new(client: &ReferenceClient, targets: &[(&str, &[u8])]) -> Self {
        let repo = Self {
            dir: tempfile::tempdir().unwrap(),
            client: client.clone(),
        };
        repo.publish(targets, None);
        repo
    }

    /// The root to pin.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("1.root.json")
    }

    /// Publishes as the depot does: `targets` (path and body; an empty body removes it) in new
    /// versions of their bins, then a new snapshot and timestamp; the timestamp expires
    /// after `timestamp_expires` seconds (a day when `None`; negative: expired already).
    pub fn publish(&self, targets: &[(&str, &[u8])], timestamp_expires: Option<i64>) {
        let bodies = tempfile::tempdir().unwrap();
        let mut args = Vec::new();
        if let Some(seconds) = timestamp_expires {
            args.push(format!("--timestamp-expires={seconds}"));
        }
        for (n, (path, body)) in targets.iter().enumerate() {
            let file = bodies.path().join(n.to_string());
            std::fs::write(&file, body).unwrap();
            args.push(format!("{path}={}", file.display()));
        }
        self.client.make_repo(self.dir.path(), &args);
    }
}

/// A static file server on 127.0.0.1 for a folder, as `{url}/v1/tuf/…` (the depot's paths):
/// 404 for a missing file.
pub struct StaticFiles {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl StaticFiles {
    /// Serves `dir` under `/v1/tuf/`.
    pub async fn start(dir: &Path) -> Self {
        let app = axum::Router::new()
            .fallback(serve_file)
            .with_state(dir.to_owned());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{address}"),
        }
    }
}

/// The file under the folder for a `/v1/tuf/…` path, or 404.
async fn serve_file(State(dir): State<PathBuf>, request: axum::extract::Request) -> Response {
    let path = request.uri().path();
    let Some(relative) = path.strip_prefix("/v1/tuf/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if relative
        .split('/')
        .any(|part| part == ".." || part.is_empty())
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(dir.join(relative)).await {
        Ok(body) => {
            let kind = if relative.ends_with(".json") {
                "application/json"
            } else {
                "text/plain"
            };
            (StatusCode::OK, [(CONTENT_TYPE, kind)], body).into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
