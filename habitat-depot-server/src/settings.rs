//! The depot's settings: one typed struct, filled from flags, `HAB_DEPOT_*` variables and a TOML
//! file (the binary merges them; this module defines the struct and reads the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use habitat_core::PackageTarget;
use serde::Deserialize;

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
}
