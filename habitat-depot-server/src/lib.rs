//! The Habitat depot server as a library: [`router`] builds the HTTP API of docs/api.md over an
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

pub mod audit;
pub mod auth;
pub mod authz;
pub mod backup;
pub mod crypto;
pub mod error;
pub mod fsck;
pub mod identity;
pub mod ingest;
pub mod json;
pub mod metrics;
pub mod migrate;
pub mod rate_limit;
mod routes;
pub mod serve;
pub mod settings;
pub mod store;
pub mod sync;
pub mod tuf;
pub mod web;

pub use routes::router;

use crypto::ServerKey;
use settings::{Settings, SettingsError};
use store::files::FileArtifacts;
use store::sqlite::SqliteStore;
use store::{ArtifactStore, MetadataStore, StoreError};

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
    /// The identity providers browsers sign in with, ready.
    pub providers: Arc<identity::Providers>,
    /// The pull-through cache: its upstreams and the fetches in flight (docs/mirroring.md).
    pub pull: Arc<sync::pull::PullThrough>,
    /// The metrics `GET /metrics` answers (docs/operations.md, "Metrics").
    pub metrics: Arc<metrics::Metrics>,
    /// The rate limits and the upload cap of `[rate_limit]` (docs/operations.md, "Rate limits").
    pub limits: Arc<rate_limit::Limits>,
    /// Publishes TUF metadata of the changes the outbox records (docs/security.md).
    pub tuf: Arc<tuf::publish::Publisher>,
}

/// Why the stores could not be opened: the message names the directory and what failed; the
/// error's source is what that failure was caused by (a database's or a file system's own
/// error), so a chain printer shows each cause once.
#[derive(Debug)]
pub struct OpenError {
    /// The data directory.
    pub dir: PathBuf,
    /// What failed.
    pub reason: OpenFailure,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot open the data directory `{}`: {}",
            self.dir.display(),
            self.reason
        )
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The reason is part of the message; its own cause comes next.
        std::error::Error::source(&self.reason)
    }
}

/// What failed while opening the stores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenFailure {
    /// A directory cannot be created.
    #[error("cannot create `{}`", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The data directory has a database but its server key is gone.
    #[error(
        "the server key `{}` is missing but the data directory has a database: restore it \
         from a backup (uploaded secret origin keys cannot be decrypted without it)",
        key.display()
    )]
    DatabaseWithoutKey {
        /// The server key's file.
        key: PathBuf,
    },
    /// A shared metadata store, and no server key file.
    #[error(
        "the server key `{path}` is missing: every process sharing a metadata database needs \
         the same key; copy it from another process, or create it once with \
         `hab-depot server-key create --to {path}`",
        path = key.display()
    )]
    SharedKeyMissing {
        /// The server key's file.
        key: PathBuf,
    },
    /// The server key cannot be read or created.
    #[error("server key `{}`", key.display())]
    ServerKey {
        /// The server key's file.
        key: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The settings of the stores are unusable.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// An embedded store (the SQLite database or the artifact files) cannot be opened.
    #[error(transparent)]
    Embedded(StoreError),
    /// The configured metadata store (PostgreSQL) cannot be reached or used.
    #[error("metadata store")]
    Metadata(#[source] StoreError),
    /// The configured artifact store (S3) cannot be configured.
    #[error("artifact store")]
    Artifacts(#[source] StoreError),
    /// The configured artifact store (S3) does not answer a listing of its bucket: a wrong
    /// bucket, endpoint or credentials, or the service is down.
    #[error("the artifact store (bucket `{bucket}` at `{endpoint}`) does not answer")]
    ArtifactsUnreachable {
        /// The bucket.
        bucket: String,
        /// The endpoint, or AWS S3 and its region.
        endpoint: String,
        /// What it answered.
        #[source]
        source: StoreError,
    },
    /// An identity provider's settings are unusable.
    #[error("sign-in providers: {0}")]
    Provider(#[from] identity::ProviderError),
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
        let fail = |reason: OpenFailure| OpenError {
            dir: dir.clone(),
            reason,
        };
        // The providers first: a bad provider setting must not leave a database behind.
        let providers = open_providers(&settings)?;
        prepare_data_dir(&dir).map_err(fail)?;
        let metadata = open_sqlite(&dir, &settings.server_key_path()).map_err(fail)?;
        let artifacts = open_files(&dir).map_err(fail)?;
        Self::with_ready(
            settings,
            Arc::new(metadata),
            Arc::new(artifacts),
            providers,
            true,
        )
    }

    /// Opens the stores the settings choose (`[metadata]`, `[artifacts]`): both embedded by
    /// default, as [`AppState::open_embedded`].
    ///
    /// With a PostgreSQL metadata store the server key file must exist already: processes
    /// sharing one database must share one key, so none of them may make its own
    /// (`hab-depot server-key create` makes it once).
    pub async fn open(settings: Settings) -> Result<Self, OpenError> {
        Self::open_for(settings, true).await
    }

    /// [`AppState::open`] for a command that stores nothing through the temp directory
    /// (`hab-depot user`, `fsck`): the data directory is created only when an embedded store
    /// lives in it, so a command against PostgreSQL + S3 leaves the disk alone. Its
    /// [`AppState::tmp_dir`] is named but not created: nothing may be uploaded through it.
    pub async fn open_without_tmp(settings: Settings) -> Result<Self, OpenError> {
        Self::open_for(settings, false).await
    }

    async fn open_for(settings: Settings, tmp: bool) -> Result<Self, OpenError> {
        if settings.is_embedded() {
            return Self::open_embedded(settings);
        }
        let providers = open_providers(&settings)?;
        let (metadata, artifacts) = open_stores(&settings).await?;
        Self::with_ready(settings, metadata, artifacts, providers, tmp)
    }

    /// A state over stores opened by the caller (PostgreSQL, S3...): the data directory still
    /// holds the temp files of uploads in progress. The server key is loaded from
    /// `settings.server_key_path()`; it is created there only when the metadata store is the
    /// embedded one (a shared database needs every process to use the same key).
    pub fn with_stores(
        settings: Settings,
        metadata: Arc<dyn MetadataStore>,
        artifacts: Arc<dyn ArtifactStore>,
    ) -> Result<Self, OpenError> {
        let providers = open_providers(&settings)?;
        Self::with_ready(settings, metadata, artifacts, providers, true)
    }

    /// [`AppState::with_stores`] with the providers made ready already; the data directory and
    /// its `tmp` are created when `tmp` says so.
    fn with_ready(
        settings: Settings,
        metadata: Arc<dyn MetadataStore>,
        artifacts: Arc<dyn ArtifactStore>,
        providers: identity::Providers,
        tmp: bool,
    ) -> Result<Self, OpenError> {
        let dir = settings.data_dir.clone();
        let fail = |reason: OpenFailure| OpenError {
            dir: dir.clone(),
            reason,
        };
        let pull = sync::pull::PullThrough::from_settings(&settings)
            .map_err(|e| fail(OpenFailure::Settings(e)))?;
        if tmp {
            prepare_data_dir(&dir).map_err(fail)?;
        }
        let key_path = settings.server_key_path();
        let (server_key, first_start) = if settings.metadata.is_embedded() {
            ServerKey::load_or_create_file(&key_path)
        } else {
            ServerKey::load_file(&key_path).map(|key| (key, false))
        }
        .map_err(|source| {
            let key = key_path.clone();
            fail(if source.kind() == std::io::ErrorKind::NotFound {
                OpenFailure::SharedKeyMissing { key }
            } else {
                OpenFailure::ServerKey { key, source }
            })
        })?;
        let tmp_dir = dir.join("tmp");
        if tmp {
            std::fs::create_dir_all(&tmp_dir).map_err(|source| {
                fail(OpenFailure::Create {
                    path: tmp_dir.clone(),
                    source,
                })
            })?;
        }
        let metrics = Arc::new(metrics::Metrics::new());
        let limits = rate_limit::Limits::from_settings(settings.rate_limit.as_ref(), &metrics)
            .map_err(|e| fail(OpenFailure::Settings(e)))?;
        let artifacts: Arc<dyn ArtifactStore> =
            Arc::new(metrics::TimedArtifacts::new(artifacts, &metrics));
        let metadata: Arc<dyn MetadataStore> =
            Arc::new(metrics::TimedMetadata::new(metadata, &metrics));
        let server_key = Arc::new(server_key);
        let tuf = Arc::new(tuf::publish::Publisher::new(
            metadata.clone(),
            artifacts.clone(),
            server_key.clone(),
        ));
        Ok(Self {
            metadata,
            artifacts,
            server_key,
            tuf,
            settings: Arc::new(settings),
            tmp_dir,
            first_start,
            providers: Arc::new(providers),
            pull: Arc::new(pull),
            metrics,
            limits: Arc::new(limits),
        })
    }
}

/// The identity providers of the settings, checked and ready (nothing is fetched). The
/// `[rate_limit]` settings are checked here too: like a bad provider, a bad limit must stop
/// the depot before anything is written.
fn open_providers(settings: &Settings) -> Result<identity::Providers, OpenError> {
    if let Some(limits) = &settings.rate_limit {
        limits.check().map_err(|e| OpenError {
            dir: settings.data_dir.clone(),
            reason: e.into(),
        })?;
    }
    identity::Providers::from_settings(&settings.auth.providers).map_err(|e| OpenError {
        dir: settings.data_dir.clone(),
        reason: e.into(),
    })
}

/// The metadata and artifact stores the settings choose, opened (a PostgreSQL store is
/// connected and migrated; an S3 store must answer a listing of one key in its bucket).
/// Embedded stores live in the data directory, which is created when missing (and only then: PostgreSQL + S3 need none).
pub async fn open_stores(
    settings: &Settings,
) -> Result<(Arc<dyn MetadataStore>, Arc<dyn ArtifactStore>), OpenError> {
    let dir = settings.data_dir.clone();
    let fail = |reason: OpenFailure| OpenError {
        dir: dir.clone(),
        reason,
    };
    let postgres_url = settings
        .metadata
        .postgres_url()
        .map_err(|e| fail(e.into()))?;
    let metadata: Arc<dyn MetadataStore> = match postgres_url {
        Some(url) => Arc::new(
            store::postgres::PostgresStore::connect(&url, settings.metadata.pool_size)
                .await
                .map_err(|e| fail(OpenFailure::Metadata(e)))?,
        ),
        None => {
            prepare_data_dir(&dir).map_err(fail)?;
            Arc::new(open_sqlite(&dir, &settings.server_key_path()).map_err(fail)?)
        }
    };
    let s3 = settings.artifacts.s3().map_err(|e| fail(e.into()))?;
    let artifacts: Arc<dyn ArtifactStore> = match s3 {
        Some(s3) => {
            let store =
                store::s3::S3Artifacts::open(&s3).map_err(|e| fail(OpenFailure::Artifacts(e)))?;
            // A wrong bucket, endpoint or credentials shows now, not at the first download.
            store.ping().await.map_err(|source| {
                fail(OpenFailure::ArtifactsUnreachable {
                    bucket: s3.bucket.clone(),
                    endpoint: s3
                        .endpoint
                        .clone()
                        .unwrap_or_else(|| format!("AWS S3 in `{}`", s3.region)),
                    source,
                })
            })?;
            Arc::new(store)
        }
        None => {
            prepare_data_dir(&dir).map_err(fail)?;
            Arc::new(open_files(&dir).map_err(fail)?)
        }
    };
    Ok((metadata, artifacts))
}

/// The embedded metadata store in `dir`. A database whose server key is missing is refused
/// (whatever the artifact store), before a new key could be made that cannot decrypt it.
fn open_sqlite(
    dir: &std::path::Path,
    key_path: &std::path::Path,
) -> Result<SqliteStore, OpenFailure> {
    let database = dir.join(DATABASE);
    if database.exists() && !key_path.exists() {
        return Err(OpenFailure::DatabaseWithoutKey {
            key: key_path.to_owned(),
        });
    }
    SqliteStore::open(&database).map_err(OpenFailure::Embedded)
}

/// The embedded artifact store, under `<dir>/artifacts`.
fn open_files(dir: &std::path::Path) -> Result<FileArtifacts, OpenFailure> {
    FileArtifacts::open(dir.join("artifacts")).map_err(OpenFailure::Embedded)
}

/// Creates the data directory when missing, readable by the depot's user only (private
/// packages and secrets live there).
fn prepare_data_dir(dir: &std::path::Path) -> Result<(), OpenFailure> {
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| OpenFailure::Create {
                path: dir.to_owned(),
                source,
            })?;
    }
    Ok(())
}
