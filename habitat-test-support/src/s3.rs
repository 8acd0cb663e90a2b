//! A real S3-compatible server for the tests: `s3s-fs` started once per test process on
//! 127.0.0.1 with a temp root, or an existing server named by `HAB_TEST_S3_ENDPOINT`.
//!
//! - `HAB_TEST_S3_SERVER`: path of the `s3s-fs` binary (else `s3s-fs` on `PATH`, else
//!   `~/.cargo/bin/s3s-fs`; `.ci/s3-server` installs it).
//! - `HAB_TEST_S3_ENDPOINT` with `HAB_TEST_S3_ACCESS_KEY` and `HAB_TEST_S3_SECRET_KEY`: use that
//!   server instead (a bucket is created for each test, by a presigned PUT).
//! - For the depot's own tests ([`S3Server::get`]): `HAB_TEST_S3_REQUIRED=1`, or
//!   `HAB_TEST_STORES=scale-out`, fail instead of skipping when there is no server.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use habitat_depot_server::store::s3::S3Settings;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::signer::Signer;

use crate::stores::{Stores, flag, say};

/// How to get a server.
pub const HOW: &str = "run: cargo install --locked s3s-fs --features binary --version 0.14.1, \
                       or .ci/s3-server, or set HAB_TEST_S3_ENDPOINT";

/// A running S3-compatible server.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The access key id it accepts.
    pub access_key: String,
    /// The secret access key it accepts.
    pub secret_key: String,
    /// Kept open while the test process lives: its end tells the server's shell to stop it.
    _lifeline: Option<Mutex<Child>>,
}

impl S3Server {
    /// The server, found or started on first use; `Err` says why there is none.
    pub fn start_once() -> Result<&'static Self, &'static str> {
        static SERVER: OnceLock<Result<S3Server, String>> = OnceLock::new();
        SERVER.get_or_init(start).as_ref().map_err(String::as_str)
    }

    /// The server under the depot tests' rule: `None` (after saying so once) when there is
    /// none, and a failed test instead with `HAB_TEST_S3_REQUIRED=1` or
    /// `HAB_TEST_STORES=scale-out`.
    pub fn get() -> Option<&'static Self> {
        match Self::start_once() {
            Ok(server) => Some(server),
            Err(why) => {
                assert!(
                    !flag("HAB_TEST_S3_REQUIRED"),
                    "HAB_TEST_S3_REQUIRED=1 but {why}"
                );
                assert!(
                    Stores::from_env() != Stores::ScaleOut,
                    "HAB_TEST_STORES=scale-out but there is no S3 server: {why} ({HOW})"
                );
                static SAID: Once = Once::new();
                SAID.call_once(|| say(&format!("skipped: no S3 server ({HOW}): {why}")));
                None
            }
        }
    }

    /// Settings for `bucket` on this server.
    pub fn settings(&self, bucket: &str, prefix: Option<&str>) -> S3Settings {
        S3Settings {
            endpoint: Some(self.endpoint.clone()),
            access_key_id: Some(self.access_key.clone()),
            secret_access_key: Some(self.secret_key.clone()),
            prefix: prefix.map(str::to_owned),
            ..S3Settings::from_url(&format!("s3://{bucket}")).unwrap()
        }
    }

    /// A plain object_store client for `bucket`, to look at what the depot's store wrote.
    pub fn client(&self, bucket: &str) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id(&self.access_key)
            .with_secret_access_key(&self.secret_key)
            .build()
            .unwrap()
    }

    /// Creates a bucket no other test uses and returns its name.
    pub async fn fresh_bucket(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let bucket = format!(
            "hab-test-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        // object_store has no CreateBucket; a presigned PUT of the bucket's URL is one.
        let url = self
            .client(&bucket)
            .signed_url(
                reqwest::Method::PUT,
                &Key::default(),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        let response = reqwest::Client::new().put(url).send().await.unwrap();
        let status = response.status();
        assert!(
            status.is_success(),
            "cannot create bucket `{bucket}`: {status} {}",
            response.text().await.unwrap_or_default()
        );
        bucket
    }

    /// Deletes `bucket`, which must be empty.
    pub async fn delete_bucket(&self, bucket: &str) {
        let url = self
            .client(bucket)
            .signed_url(
                reqwest::Method::DELETE,
                &Key::default(),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        let response = reqwest::Client::new().delete(url).send().await.unwrap();
        let status = response.status();
        assert!(
            status.is_success(),
            "cannot delete bucket `{bucket}`: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// How many objects `bucket` holds under `prefix`.
    pub async fn object_count(&self, bucket: &str, prefix: &str) -> usize {
        let client = self.client(bucket);
        let objects: Vec<_> = client
            .list(Some(&Key::from(prefix)))
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("list `{bucket}/{prefix}`: {e}"));
        objects.len()
    }
}

fn start() -> Result<S3Server, String> {
    if let Ok(endpoint) = std::env::var("HAB_TEST_S3_ENDPOINT") {
        let variable = |name: &str| {
            std::env::var(name)
                .map_err(|_| format!("HAB_TEST_S3_ENDPOINT is set but {name} is not"))
        };
        return Ok(S3Server {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            access_key: variable("HAB_TEST_S3_ACCESS_KEY")?,
            secret_key: variable("HAB_TEST_S3_SECRET_KEY")?,
            _lifeline: None,
        });
    }
    let binary = find_binary()?;
    let root = tempfile::Builder::new()
        .prefix("hab-test-s3-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?
        .keep();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let access_key = "hab-test-access".to_owned();
    let secret_key = "hab-test-secret-key".to_owned();
    // The shell stops the server and removes its root when its stdin closes, which happens
    // when this process exits, however it exits.
    let script = r#"server="$1"; root="$2"; port="$3"; key="$4"; secret="$5"
"$server" --host 127.0.0.1 --port "$port" --access-key "$key" --secret-key "$secret" \
    "$root/data" >"$root/server.log" 2>&1 &
pid=$!
read -r _
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -rf "$root""#;
    std::fs::create_dir_all(root.join("data"))
        .map_err(|e| format!("cannot create `{}`: {e}", root.display()))?;
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(&binary)
        .arg(&root)
        .arg(port.to_string())
        .arg(&access_key)
        .arg(&secret_key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", binary.display()))?;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
            return Err(format!(
                "`{}` did not answer on {address} within 20 s: {log}",
                binary.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(S3Server {
        endpoint: format!("http://{address}"),
        access_key,
        secret_key,
        _lifeline: Some(Mutex::new(child)),
    })
}

fn find_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("HAB_TEST_S3_SERVER") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "HAB_TEST_S3_SERVER names `{}`, which is not a file",
                path.display()
            ))
        };
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("s3s-fs"));
    let in_cargo = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .map(|dir| dir.join("bin/s3s-fs"));
    on_path
        .chain(in_cargo)
        .find(|path| path.is_file())
        .ok_or_else(|| "`s3s-fs` is not on PATH nor in ~/.cargo/bin".to_owned())
}
