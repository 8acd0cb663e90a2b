//! The Habitat depot server as a library: [`router`] builds the HTTP API of API.md over an
//! [`AppState`] holding the two stores. `hab-depot` is a thin binary around it.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use habitat_depot_server::{AppState, router, settings::Settings};
//!
//! let settings = Settings { data_dir: "/tmp/depot".into(), ..Settings::default() };
//! let state = AppState::open_embedded(settings)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9636").await?;
//! axum::serve(listener, router(state)).await?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

pub mod auth;
pub mod crypto;
pub mod error;
pub mod fsck;
pub mod json;
mod routes;
pub mod serve;
pub mod settings;
pub mod store;

pub use routes::router;

use crypto::ServerKey;
use settings::Settings;
use store::files::FileArtifacts;
use store::sqlite::SqliteStore;
use store::{ArtifactStore, MetadataStore};

/// The embedded metadata store's file in the data directory.
const DATABASE: &str = "depot.sqlite";

/// What every handler shares: the stores, the server key and the settings.
#[derive(Clone)]
pub struct AppState {
    /// Accounts, origins, packages, channels...
    pub metadata: Arc<dyn MetadataStore>,
    /// The `.hart` files.
    pub artifacts: Arc<dyn ArtifactStore>,
    /// Encrypts secret origin keys at rest.
    pub server_key: Arc<ServerKey>,
    /// The settings.
    pub settings: Arc<Settings>,
    /// Where uploads are streamed before they are checked (same file system as the artifacts).
    pub tmp_dir: PathBuf,
    /// Whether the server key was created by this start (first start).
    pub first_start: bool,
}

/// Why the embedded store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the data directory `{dir}`: {reason}")]
pub struct OpenError {
    /// The data directory.
    pub dir: PathBuf,
    /// What failed.
    pub reason: String,
}

impl AppState {
    /// Removes temp files of uploads interrupted by a crash. Only the serving process may do
    /// this, at start, before it accepts requests: admin commands run beside a live server.
    pub fn clean_interrupted_uploads(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.tmp_dir)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?
            } else {
                std::fs::remove_file(&path)?
            }
            removed += 1;
        }
        Ok(removed)
    }

    /// Opens the embedded store in `settings.data_dir` (SQLite + artifact files), creating the
    /// directory, the server key and the schema as needed.
    pub fn open_embedded(settings: Settings) -> Result<Self, OpenError> {
        let dir = settings.data_dir.clone();
        let fail = |reason: String| OpenError {
            dir: dir.clone(),
            reason,
        };
        let existing = dir.join(DATABASE).exists();
        prepare_data_dir(&dir).map_err(fail)?;
        if existing && !dir.join(crypto::KEY_FILE).exists() {
            return Err(fail(format!(
                "`{}` is missing but the data directory has a database: restore it from a backup \
                 (uploaded secret origin keys cannot be decrypted without it)",
                crypto::KEY_FILE
            )));
        }
        let metadata = SqliteStore::open(&dir.join(DATABASE)).map_err(|e| fail(e.to_string()))?;
        let artifacts =
            FileArtifacts::open(dir.join("artifacts")).map_err(|e| fail(e.to_string()))?;
        Self::with_stores(settings, Arc::new(metadata), Arc::new(artifacts))
    }

    /// A state over stores opened by the caller (PostgreSQL, S3...): the data directory still
    /// holds the server key and the temp files of uploads in progress.
    pub fn with_stores(
        settings: Settings,
        metadata: Arc<dyn MetadataStore>,
        artifacts: Arc<dyn ArtifactStore>,
    ) -> Result<Self, OpenError> {
        let dir = settings.data_dir.clone();
        let fail = |reason: String| OpenError {
            dir: dir.clone(),
            reason,
        };
        prepare_data_dir(&dir).map_err(fail)?;
        let (server_key, first_start) =
            ServerKey::load_or_create(&dir).map_err(|e| fail(format!("server key: {e}")))?;
        let tmp_dir = dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir).map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            metadata,
            artifacts,
            server_key: Arc::new(server_key),
            settings: Arc::new(settings),
            tmp_dir,
            first_start,
        })
    }
}

/// Creates the data directory when missing, readable by the depot's user only (private
/// packages and secrets live there).
fn prepare_data_dir(dir: &std::path::Path) -> Result<(), String> {
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
