//! A whole scale-out deployment for the binaries' tests: one PostgreSQL database, one S3
//! bucket and a settings file naming them, on the servers of [`crate::postgres`] and
//! [`crate::s3`] (started once per test process on 127.0.0.1).
//!
//! Without either server, [`ScaleOut::get`] says so once on stderr and the tests pass without
//! checking anything, unless `HAB_TEST_SCALE_OUT_REQUIRED=1`, which makes them fail instead.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::postgres::PgServer;
use crate::s3::{HOW, S3Server};
use crate::stores::{flag, say};

/// The running servers.
pub struct ScaleOut {
    postgres: &'static PgServer,
    s3: &'static S3Server,
}

/// One test's database and bucket, and a settings file naming them.
pub struct Deployment {
    /// `postgres://…/DB`.
    pub postgres_url: String,
    /// The bucket's name.
    pub bucket: String,
    /// The prefix of the depot's objects in the bucket.
    pub prefix: String,
    /// The settings file (`[metadata]`, `[artifacts]`, `server_key_file`).
    pub config: PathBuf,
    /// The server key file the settings name (not created).
    pub server_key: PathBuf,
}

impl ScaleOut {
    /// The servers, started on first use; `None` (said once on stderr) when either is missing.
    pub fn get() -> Option<&'static Self> {
        static SERVERS: OnceLock<Option<ScaleOut>> = OnceLock::new();
        SERVERS
            .get_or_init(|| {
                // S3 first: without `s3s-fs` (the usual gap), no PostgreSQL is started in vain.
                let servers = S3Server::start_once()
                    .map_err(|why| format!("{why} ({HOW})"))
                    .and_then(|s3| {
                        let postgres = PgServer::get().map_err(|why| {
                            format!("{why} (install Debian's postgresql or set HAB_TEST_PG_BINDIR)")
                        })?;
                        Ok(ScaleOut { postgres, s3 })
                    });
                match servers {
                    Ok(servers) => Some(servers),
                    Err(why) => {
                        assert!(
                            !flag("HAB_TEST_SCALE_OUT_REQUIRED"),
                            "HAB_TEST_SCALE_OUT_REQUIRED=1 but {why}"
                        );
                        say(&format!("skipped: scale-out tests: {why}"));
                        None
                    }
                }
            })
            .as_ref()
    }

    /// A new database and bucket, and a settings file for them in `dir` (the S3 secret in a
    /// file beside it, the key id in the settings).
    pub async fn deployment(&self, dir: &Path) -> Deployment {
        let postgres_url = self.postgres.database().await;
        let bucket = self.s3.fresh_bucket().await;
        let prefix = "depot".to_owned();
        std::fs::create_dir_all(dir).unwrap();
        let secret = dir.join("s3-secret");
        std::fs::write(&secret, format!("{}\n", self.s3.secret_key)).unwrap();
        let server_key = dir.join("server.key");
        let config = dir.join("scale.toml");
        std::fs::write(
            &config,
            format!(
                "server_key_file = {key:?}\n\n[metadata]\nurl = {postgres_url:?}\npool_size = \
                 8\n\n[artifacts]\nurl = \"s3://{bucket}/{prefix}\"\nendpoint = {endpoint:?}\n\
                 access_key_id = {access:?}\nsecret_access_key_file = {secret:?}\n\
                 part_size_mib = 5\n",
                key = server_key.display().to_string(),
                secret = secret.display().to_string(),
                endpoint = self.s3.endpoint,
                access = self.s3.access_key,
            ),
        )
        .unwrap();
        Deployment {
            postgres_url,
            bucket,
            prefix,
            config,
            server_key,
        }
    }

    /// How many objects `deployment`'s bucket holds under its prefix.
    pub async fn object_count(&self, deployment: &Deployment) -> usize {
        self.s3
            .object_count(&deployment.bucket, &deployment.prefix)
            .await
    }
}
