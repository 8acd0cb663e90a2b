//! The depot's settings: one typed struct, filled from flags, `HAB_DEPOT_*` variables and a TOML
//! file (the binary merges them; this module defines the struct and reads the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use habitat_core::PackageTarget;
use serde::Deserialize;

use crate::store::s3::S3Settings;

/// Everything the depot can be told.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the embedded store keeps everything.
    pub data_dir: PathBuf,
    /// The largest artifact accepted on upload, in bytes (413 past it).
    pub max_upload_bytes: u64,
    /// Longest time a whole request may take, in seconds (uploads included).
    pub request_timeout_secs: u64,
    /// Seconds a connection may stay open without sending a request head.
    pub idle_timeout_secs: u64,
    /// Targets accepted on upload (501 for others).
    pub targets: Vec<PackageTarget>,
    /// The server key's file: `<data_dir>/server.key` when unset. Every process sharing one
    /// metadata store must use the same key (it encrypts secret origin keys).
    pub server_key_file: Option<PathBuf>,
    /// Where the metadata lives: embedded SQLite by default, or PostgreSQL (`[metadata]`).
    pub metadata: MetadataSettings,
    /// Where the artifacts live: files in the data directory by default, or S3 (`[artifacts]`).
    pub artifacts: ArtifactSettings,
}

/// `[metadata]`: no `url` (nor `url_file`) means the embedded SQLite store in the data
/// directory; `url = "postgres://USER@HOST/DB"` means PostgreSQL.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataSettings {
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (never printed: it may hold a
    /// password). `HAB_DEPOT_METADATA_URL` overrides it.
    pub url: Option<String>,
    /// A file whose content (trimmed) is the URL, so a password need not be in the settings.
    pub url_file: Option<PathBuf>,
    /// Connections each process keeps at most.
    pub pool_size: usize,
}

impl Default for MetadataSettings {
    fn default() -> Self {
        Self {
            url: None,
            url_file: None,
            pool_size: 16,
        }
    }
}

impl std::fmt::Debug for MetadataSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataSettings")
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("url_file", &self.url_file)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl MetadataSettings {
    /// Whether this is the embedded store.
    pub fn is_embedded(&self) -> bool {
        self.url.as_deref().is_none_or(str::is_empty) && self.url_file.is_none()
    }

    /// The PostgreSQL URL: `url`, else the content of `url_file`; `None` for the embedded
    /// store. Fails when the file cannot be read, is empty, or the URL is not `postgres://`
    /// (the message never repeats the URL).
    pub fn postgres_url(&self) -> Result<Option<String>, String> {
        let url = match (
            self.url.as_deref().filter(|u| !u.is_empty()),
            &self.url_file,
        ) {
            (Some(url), _) => url.to_owned(),
            (None, Some(path)) => read_secret_file(path)?,
            (None, None) => return Ok(None),
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("the metadata URL must start with `postgres://`".to_owned());
        }
        Ok(Some(url))
    }
}

/// The content of a file holding a secret (a URL with a password, a key), trimmed; fails
/// naming the file when it cannot be read or holds nothing.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("`{}` is empty", path.display()));
    }
    Ok(text.to_owned())
}

/// `[artifacts]`: no `url` means files under `<data_dir>/artifacts`; `url =
/// "s3://BUCKET/PREFIX"` means an S3-compatible bucket, reached with the other fields (those of
/// [`S3Settings`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArtifactSettings {
    /// `s3://BUCKET/PREFIX`. `HAB_DEPOT_ARTIFACTS_URL` overrides it.
    pub url: Option<String>,
    /// The S3 service's URL; none means AWS S3 in `region`.
    pub endpoint: Option<String>,
    /// The region requests are signed for (`us-east-1` when unset).
    pub region: Option<String>,
    /// Path-style requests (default: with an endpoint).
    pub path_style: Option<bool>,
    /// Multipart part size in MiB (default 8).
    pub part_size_mib: Option<u64>,
    /// The access key id (not a secret on its own).
    pub access_key_id: Option<String>,
    /// A file holding the access key id.
    pub access_key_id_file: Option<PathBuf>,
    /// A file holding the secret access key; else `AWS_SECRET_ACCESS_KEY`. The secret itself
    /// is never a setting, so it is never in a settings file or on a command line.
    pub secret_access_key_file: Option<PathBuf>,
}

impl ArtifactSettings {
    /// Whether this is the embedded file store.
    pub fn is_embedded(&self) -> bool {
        self.url.as_deref().is_none_or(str::is_empty)
    }

    /// The S3 settings; `None` for the embedded store.
    pub fn s3(&self) -> Result<Option<S3Settings>, String> {
        let Some(url) = self.url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let mut s3 = S3Settings::from_url(url)?;
        s3.endpoint.clone_from(&self.endpoint);
        if let Some(region) = &self.region {
            s3.region.clone_from(region);
        }
        s3.path_style = self.path_style;
        if let Some(size) = self.part_size_mib {
            s3.part_size_mib = size;
        }
        s3.access_key_id.clone_from(&self.access_key_id);
        s3.access_key_id_file.clone_from(&self.access_key_id_file);
        s3.secret_access_key_file
            .clone_from(&self.secret_access_key_file);
        Ok(Some(s3))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9636)),
            data_dir: default_data_dir(),
            max_upload_bytes: 4 << 30,
            request_timeout_secs: 3600,
            idle_timeout_secs: 60,
            targets: PackageTarget::ALL.to_vec(),
            server_key_file: None,
            metadata: MetadataSettings::default(),
            artifacts: ArtifactSettings::default(),
        }
    }
}

impl Settings {
    /// Reads a TOML settings file; unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("`{}`: {}", path.display(), e.message()))
    }

    /// The server key's file: `server_key_file`, else `<data_dir>/server.key`.
    pub fn server_key_path(&self) -> PathBuf {
        self.server_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::crypto::KEY_FILE))
    }

    /// Whether both stores are the embedded ones.
    pub fn is_embedded(&self) -> bool {
        self.metadata.is_embedded() && self.artifacts.is_embedded()
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// `$HAB_DEPOT_DATA_DIR`, else `/hab/svc/hab-depot/data` for root, else
/// `$HOME/.hab/depot`, else `./hab-depot-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HAB_DEPOT_DATA_DIR").filter(|v| !v.is_empty()) {
        return dir.into();
    }
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/hab/svc/hab-depot/data");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".hab/depot"),
        None => PathBuf::from("hab-depot-data"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_settings_refuse_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("depot.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1234\"\nmax_upload_bytes = 10\n",
        )
        .unwrap();
        let settings = Settings::from_file(&path).unwrap();
        assert_eq!(settings.listen.port(), 1234);
        assert_eq!(settings.max_upload_bytes, 10);
        std::fs::write(&path, "listne = \"127.0.0.1:1234\"\n").unwrap();
        let err = Settings::from_file(&path).unwrap_err();
        assert!(err.contains("unknown field `listne`"), "{err}");
    }

    #[test]
    fn stores_are_chosen_independently() {
        let parse = |text: &str| toml::from_str::<Settings>(text).map_err(|e| e.to_string());
        let embedded = parse("").unwrap();
        assert!(embedded.is_embedded());
        assert_eq!(embedded.metadata.postgres_url(), Ok(None));
        assert_eq!(embedded.artifacts.s3(), Ok(None));

        let scale = parse(
            "server_key_file = \"/etc/hab-depot/server.key\"\n\
             [metadata]\nurl = \"postgres://depot@db/depot\"\npool_size = 4\n\
             [artifacts]\nurl = \"s3://hab/depot\"\nendpoint = \"http://s3:9000\"\n\
             secret_access_key_file = \"/run/secrets/s3\"\n",
        )
        .unwrap();
        assert!(!scale.metadata.is_embedded());
        assert_eq!(scale.metadata.pool_size, 4);
        assert_eq!(
            scale.server_key_path(),
            PathBuf::from("/etc/hab-depot/server.key")
        );
        let s3 = scale.artifacts.s3().unwrap().unwrap();
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_deref()),
            ("hab", Some("depot"))
        );
        assert!(s3.is_path_style());
        assert!(!format!("{:?}", scale.metadata).contains("depot@db"));

        // Only one side moved: PostgreSQL with files, or SQLite with S3.
        let mixed = parse("[artifacts]\nurl = \"s3://hab\"\n").unwrap();
        assert!(mixed.metadata.is_embedded() && !mixed.artifacts.is_embedded());

        // A secret is never a plain setting.
        assert!(parse("[artifacts]\nsecret_access_key = \"x\"\n").is_err());
        assert!(
            parse("[metadata]\nurl = \"mysql://x\"\n")
                .unwrap()
                .metadata
                .postgres_url()
                .is_err()
        );
    }

    #[test]
    fn the_metadata_url_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, "postgres://depot:pw@db/depot\n").unwrap();
        let settings = MetadataSettings {
            url_file: Some(file),
            ..MetadataSettings::default()
        };
        assert!(!settings.is_embedded());
        assert_eq!(
            settings.postgres_url().unwrap().as_deref(),
            Some("postgres://depot:pw@db/depot")
        );
    }
}
