//! The depot's settings: one typed struct, filled from flags, `HAB_DEPOT_*` variables and a TOML
//! file (the binary merges them; this module defines the struct and reads the file).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use habitat_core::{ChannelName, OriginName, PackageTarget};
use serde::Deserialize;

/// Why settings cannot be read or used. The messages name the file or value; an I/O error is
/// part of the message (not a separate source), as the binaries print these on one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A file cannot be read.
    #[error("cannot read `{}`: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// A file that must hold a secret holds nothing.
    #[error("`{}` is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A settings file is not TOML of the settings (an unknown key, a wrong type...).
    #[error("`{}`: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, as the TOML parser says it.
        message: String,
    },
    /// The metadata URL is not a PostgreSQL one (the URL is not repeated: it may hold a
    /// password).
    #[error("the metadata URL must start with `postgres://`")]
    NotPostgres,
    /// The artifacts URL is not an S3 one.
    #[error("`{url}` is not an `s3://BUCKET/PREFIX` URL")]
    NotS3 {
        /// The URL.
        url: String,
    },
    /// The artifacts URL names no bucket.
    #[error("`{url}` names no bucket")]
    NoBucket {
        /// The URL.
        url: String,
    },
    /// An `[[upstream]]` entry is unusable.
    #[error("the `[[upstream]]` with url `{url}`: {problem}")]
    Upstream {
        /// Its `url`.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A `[rate_limit]` setting is unusable (a rate that is not positive, a bad proxy address).
    #[error("`[rate_limit]` `{setting}`: {problem}")]
    RateLimit {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

/// Everything the depot can be told.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where `GET /metrics` is served when it has a port of its own; unset, it is served on
    /// the main port (docs/operations.md, "Metrics").
    pub metrics_listen: Option<SocketAddr>,
    /// Where the embedded store keeps everything.
    pub data_dir: PathBuf,
    /// The largest artifact accepted on upload, in bytes (413 past it).
    pub max_upload_bytes: u64,
    /// The largest size an artifact's payload may unpack to (its decompressed tar stream), in
    /// bytes: an upload, mirrored or imported artifact unpacking to more is refused as soon as
    /// its decompression passes it (422 `unpacked_too_large`).
    pub max_unpacked_bytes: u64,
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
    /// How browsers reach the depot (`https://depot.example.com`): sign-in redirect URIs derive
    /// from it, session cookies are `Secure` when it is https, and posted forms must come from
    /// it. Unset, the depot takes the request's `Host` (fine on one machine, not behind a proxy).
    pub public_url: Option<String>,
    /// Sign-in: identity providers and sessions (`[auth]`).
    pub auth: AuthSettings,
    /// Public key files (`NAME-REVISION.pub`) pinned for `hab-depot sync`: when any are given,
    /// a key fetched from an upstream is accepted only if it is one of them.
    pub trusted_keys: Vec<PathBuf>,
    /// Transfer key files (`NAME-REVISION.pub`) that `hab-depot bundle import` accepts bundles
    /// signed with, besides its `--trust-key` (docs/bundles.md).
    pub trusted_bundle_keys: Vec<PathBuf>,
    /// `[[mirror]]`: channels this depot mirrors from an upstream with `hab-depot sync`
    /// (docs/mirroring.md). A mirrored (origin, channel) is read-only through the API.
    #[serde(rename = "mirror")]
    pub mirrors: Vec<MirrorSettings>,
    /// `[[upstream]]`: origins this depot serves as a pull-through cache of another depot
    /// (docs/mirroring.md, "Pull-through cache").
    #[serde(rename = "upstream")]
    pub upstreams: Vec<UpstreamSettings>,
    /// `[rate_limit]`: requests per second per token or client address, and the per-account
    /// cap on concurrent uploads (docs/operations.md, "Rate limits"). Absent: no limits.
    pub rate_limit: Option<RateLimitSettings>,
}

/// `[rate_limit]`: how many requests a client may make. A client is a token when the request
/// carries one, else its address. Checked at start by [`RateLimitSettings::check`].
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Requests per second each client may sustain, on every route (fractions allowed).
    pub requests_per_second: f64,
    /// Requests a client may make at once after a quiet spell; by default one second's worth
    /// (`requests_per_second` rounded up).
    #[serde(default)]
    pub burst: Option<i64>,
    /// A tighter rate for artifact downloads (the `…/download` routes), on top of the general
    /// one; its burst is one second's worth, at most `burst`.
    #[serde(default)]
    pub downloads_per_second: Option<f64>,
    /// A tighter rate for writes (any method but `GET`, `HEAD` and `OPTIONS`), on top of the
    /// general one; its burst is one second's worth, at most `burst`.
    #[serde(default)]
    pub writes_per_second: Option<f64>,
    /// Addresses or networks (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`) of proxies whose
    /// `X-Forwarded-For` is believed; a request from any other peer is keyed by the peer's
    /// own address.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Uploads one account may have in progress at once (the next is refused with 429
    /// `too_many_uploads`); none: no cap.
    #[serde(default)]
    pub max_concurrent_uploads: Option<i64>,
}

// The rates are checked finite at start (`check`), so equality is reflexive where it is used.
impl Eq for RateLimitSettings {}

impl RateLimitSettings {
    /// Checks every value: positive finite rates, a burst and an upload cap of at least 1,
    /// proxy addresses that parse. The error names the setting.
    pub fn check(&self) -> Result<(), SettingsError> {
        let problem = |setting, problem: String| SettingsError::RateLimit { setting, problem };
        let rate = |setting, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(problem(
                    setting,
                    format!("`{value}` is not a positive number of requests per second"),
                ))
            }
        };
        rate("requests_per_second", self.requests_per_second)?;
        if let Some(value) = self.downloads_per_second {
            rate("downloads_per_second", value)?;
        }
        if let Some(value) = self.writes_per_second {
            rate("writes_per_second", value)?;
        }
        let at_least_one = |setting, value: Option<i64>| match value {
            Some(value) if !(1..=i64::from(u32::MAX)).contains(&value) => Err(problem(
                setting,
                format!("`{value}` must be a whole number from 1 to {}", u32::MAX),
            )),
            _ => Ok(()),
        };
        at_least_one("burst", self.burst)?;
        at_least_one("max_concurrent_uploads", self.max_concurrent_uploads)?;
        for proxy in &self.trusted_proxies {
            parse_network(proxy).map_err(|e| problem("trusted_proxies", e))?;
        }
        Ok(())
    }

    /// The trusted proxies as networks (a bare address is a network of one).
    pub fn proxy_networks(&self) -> Result<Vec<ipnet::IpNet>, SettingsError> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                parse_network(p).map_err(|problem| SettingsError::RateLimit {
                    setting: "trusted_proxies",
                    problem,
                })
            })
            .collect()
    }
}

/// `10.0.0.0/8` or `10.0.0.5` as a network.
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is not an address or a network (`10.0.0.0/8`)"))
}

/// `[[upstream]]`: an upstream depot this depot caches on demand. A request for a package of
/// one of its origins that this depot lacks is fetched from it, checked as an upload, stored,
/// and only then answered.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    /// The upstream depot's URL (`http://host:port` or `…/v1`).
    pub url: String,
    /// The origins served from it (at least one). An origin that exists here and was not
    /// created by the cache is never fetched from it.
    pub origins: Vec<OriginName>,
    /// The channels whose `latest` is asked of it (empty: every channel).
    #[serde(default)]
    pub channels: Vec<ChannelName>,
    /// Seconds a `latest` answer is served from here before it is asked again upstream.
    #[serde(default = "default_metadata_max_age")]
    pub metadata_max_age: u64,
    /// Seconds an upstream 404 is remembered: no request for the same thing in that time.
    #[serde(default = "default_negative_ttl")]
    pub negative_ttl: u64,
    /// A file holding a token for the upstream.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

fn default_metadata_max_age() -> u64 {
    300
}

fn default_negative_ttl() -> u64 {
    60
}

impl UpstreamSettings {
    /// Whether this upstream serves `channel` (every channel when `channels` is empty).
    pub fn serves_channel(&self, channel: &ChannelName) -> bool {
        self.channels.is_empty() || self.channels.contains(channel)
    }

    /// How long a `latest` answer is served from here.
    pub fn metadata_max_age(&self) -> Duration {
        Duration::from_secs(self.metadata_max_age)
    }

    /// How long an upstream 404 is remembered.
    pub fn negative_ttl(&self) -> Duration {
        Duration::from_secs(self.negative_ttl)
    }

    /// The token for the upstream, from `token_file` (trimmed); `None` without one.
    pub fn token(&self) -> Result<Option<String>, SettingsError> {
        self.token_file.as_deref().map(read_secret_file).transpose()
    }

    fn problem(&self, problem: impl Into<String>) -> SettingsError {
        SettingsError::Upstream {
            url: self.url.clone(),
            problem: problem.into(),
        }
    }
}

/// Checks the `[[upstream]]` entries: each has a depot URL and at least one origin, and no
/// origin is served by two of them or also mirrored by a `[[mirror]]` (whose channels only
/// `hab-depot sync` fills).
pub fn check_upstreams(settings: &Settings) -> Result<(), SettingsError> {
    let mut seen: Vec<&OriginName> = Vec::new();
    for upstream in &settings.upstreams {
        upstream
            .url
            .parse::<habitat_depot_client::DepotUrl>()
            .map_err(|e| upstream.problem(format!("not a depot URL: {e}")))?;
        if upstream.origins.is_empty() {
            return Err(upstream.problem("it names no origin in `origins`"));
        }
        for origin in &upstream.origins {
            if seen.contains(&origin) {
                return Err(upstream.problem(format!(
                    "origin `{origin}` is served by another `[[upstream]]` already"
                )));
            }
            if settings.mirrors.iter().any(|m| m.origins.contains(origin)) {
                return Err(upstream.problem(format!(
                    "origin `{origin}` is mirrored by a `[[mirror]]` too; name it in one of them"
                )));
            }
            seen.push(origin);
        }
    }
    Ok(())
}

/// `[[mirror]]`: what `hab-depot sync` copies from one upstream. The channels it names are
/// read-only here: uploads and promotions into them are refused.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MirrorSettings {
    /// The upstream depot's URL.
    pub from: String,
    /// The origins mirrored.
    pub origins: Vec<OriginName>,
    /// The channels mirrored (empty: every channel of those origins).
    #[serde(default)]
    pub channels: Vec<ChannelName>,
    /// The targets mirrored (empty: the default target).
    #[serde(default)]
    pub targets: Vec<PackageTarget>,
    /// `additive` (the default) or `exact`.
    #[serde(default)]
    pub mode: MirrorMode,
    /// A file holding a token for the upstream.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// How often the serving process runs this mirror: a number of seconds, or a string of
    /// a number and a unit (`"30s"`, `"15m"`, `"6h"`, `"1d"`). None: only `hab-depot sync`
    /// runs it.
    #[serde(default, deserialize_with = "interval")]
    pub interval: Option<Duration>,
    /// The local account that owns the origins this mirror has to create here (none: a
    /// missing origin is a failure). `hab-depot sync --owner` overrides it.
    #[serde(default)]
    pub owner: Option<String>,
}

/// `interval`: seconds as a number, or a string `<number><unit>` with the unit `s`, `m`, `h`
/// or `d` (a bare number in a string is seconds too); at least one second.
fn interval<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Seconds(i64),
        Text(String),
    }
    let seconds = match Given::deserialize(d)? {
        Given::Seconds(seconds) => u64::try_from(seconds).ok(),
        Given::Text(text) => parse_interval(&text),
    };
    match seconds {
        Some(seconds) if seconds > 0 => Ok(Some(Duration::from_secs(seconds))),
        _ => Err(serde::de::Error::custom(
            "an interval is a positive number of seconds, or a number with a unit `s`, `m`, \
             `h` or `d` (`\"15m\"`)",
        )),
    }
}

/// `"15m"` as seconds; `None` when it is not a number with an optional unit.
fn parse_interval(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (at, unit) if unit.is_ascii_alphabetic() => (&text[..at], unit),
        _ => (text, 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 60 * 60,
        'd' => 24 * 60 * 60,
        _ => return None,
    };
    number.trim().parse::<u64>().ok()?.checked_mul(scale)
}

/// How a mirror follows its upstream's channel state.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MirrorMode {
    /// Only adds packages and memberships.
    #[default]
    Additive,
    /// Also removes what left a channel upstream, after a run without failures.
    Exact,
}

impl MirrorSettings {
    /// Whether this mirror covers `channel` of `origin`.
    pub fn covers(&self, origin: &OriginName, channel: &ChannelName) -> bool {
        self.origins.contains(origin)
            && (self.channels.is_empty() || self.channels.contains(channel))
    }
}

/// `[auth]`: the identity providers browsers sign in with, and how long sessions last.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// `[[auth.providers]]`, any number, each with its own `id`.
    pub providers: Vec<crate::identity::ProviderSettings>,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u64,
    /// A session ends this many hours after sign-in, whatever its use.
    pub session_max_hours: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            session_idle_minutes: 8 * 60,
            session_max_hours: 7 * 24,
        }
    }
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

impl fmt::Debug for MetadataSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
    pub fn postgres_url(&self) -> Result<Option<String>, SettingsError> {
        let url = match (
            self.url.as_deref().filter(|u| !u.is_empty()),
            &self.url_file,
        ) {
            (Some(url), _) => url.to_owned(),
            (None, Some(path)) => read_secret_file(path)?,
            (None, None) => return Ok(None),
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(SettingsError::NotPostgres);
        }
        Ok(Some(url))
    }
}

/// The content of a file holding a secret (a URL with a password, a key), trimmed; fails
/// naming the file when it cannot be read or holds nothing.
pub fn read_secret_file(path: &Path) -> Result<String, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|error| SettingsError::Read {
        path: path.to_owned(),
        error,
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(SettingsError::Empty {
            path: path.to_owned(),
        });
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
    /// PEM certificates trusted for an `https` endpoint besides the system's (a private CA).
    pub ca_file: Option<PathBuf>,
}

impl ArtifactSettings {
    /// Whether this is the embedded file store.
    pub fn is_embedded(&self) -> bool {
        self.url.as_deref().is_none_or(str::is_empty)
    }

    /// The S3 settings; `None` for the embedded store.
    pub fn s3(&self) -> Result<Option<S3Settings>, SettingsError> {
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
        s3.ca_file.clone_from(&self.ca_file);
        Ok(Some(s3))
    }
}

/// Where the bucket is and how to reach it: the `[s3]` settings of a scale-out depot.
///
/// Credentials come from `access_key_id`/`secret_access_key`, else from the files named by
/// `access_key_id_file`/`secret_access_key_file` (so secrets need not be on a command line or
/// in the settings file), else from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (with
/// `AWS_SESSION_TOKEN` if set). With none of these, the standard AWS providers are asked (web
/// identity, container and instance credentials), as on EC2 or EKS with an IAM role.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The bucket; it must exist (the depot never creates buckets).
    pub bucket: String,
    /// A key prefix inside the bucket (`depot/artifacts`); none stores keys at the top.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The service's URL (`http://127.0.0.1:9000` for a local MinIO); none means AWS S3 in
    /// `region`. An `http://` endpoint allows plain HTTP.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The region to sign requests for.
    #[serde(default = "default_region")]
    pub region: String,
    /// The access key id.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The secret access key (never printed, see the `Debug` impl).
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// A file whose content (trimmed) is the access key id.
    #[serde(default)]
    pub access_key_id_file: Option<PathBuf>,
    /// A file whose content (trimmed) is the secret access key.
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    /// Path-style requests (`ENDPOINT/BUCKET/KEY`) rather than virtual-hosted ones
    /// (`BUCKET.ENDPOINT/KEY`); by default path-style when an endpoint is given, virtual-hosted
    /// for AWS.
    #[serde(default)]
    pub path_style: Option<bool>,
    /// Size of the parts of a multipart upload in MiB, 5 to 5120 (S3's limits); artifacts no
    /// larger than one part are sent in a single PUT. Raised for an artifact that would need
    /// more than 10,000 parts.
    #[serde(default = "default_part_size_mib")]
    pub part_size_mib: u64,
    /// PEM certificates trusted for an `https` endpoint besides the system's (a private
    /// certificate authority).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

fn default_part_size_mib() -> u64 {
    8
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("access_key_id_file", &self.access_key_id_file)
            .field("secret_access_key_file", &self.secret_access_key_file)
            .field("path_style", &self.path_style)
            .field("part_size_mib", &self.part_size_mib)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl S3Settings {
    /// Settings for `s3://BUCKET` or `s3://BUCKET/PREFIX`, everything else at its default.
    pub fn from_url(url: &str) -> Result<Self, SettingsError> {
        let not_s3 = || SettingsError::NotS3 {
            url: url.to_owned(),
        };
        let rest = url.strip_prefix("s3://").ok_or_else(not_s3)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(SettingsError::NoBucket {
                url: url.to_owned(),
            });
        }
        let prefix = prefix.trim_matches('/');
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
            endpoint: None,
            region: default_region(),
            access_key_id: None,
            secret_access_key: None,
            access_key_id_file: None,
            secret_access_key_file: None,
            path_style: None,
            part_size_mib: default_part_size_mib(),
            ca_file: None,
        })
    }

    /// Whether requests are path-style.
    pub fn is_path_style(&self) -> bool {
        self.path_style.unwrap_or(self.endpoint.is_some())
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9636)),
            metrics_listen: None,
            data_dir: default_data_dir(),
            max_upload_bytes: 4 << 30,
            max_unpacked_bytes: 16 << 30,
            request_timeout_secs: 3600,
            idle_timeout_secs: 60,
            targets: PackageTarget::ALL.to_vec(),
            server_key_file: None,
            metadata: MetadataSettings::default(),
            artifacts: ArtifactSettings::default(),
            public_url: None,
            auth: AuthSettings::default(),
            trusted_keys: Vec::new(),
            trusted_bundle_keys: Vec::new(),
            mirrors: Vec::new(),
            upstreams: Vec::new(),
            rate_limit: None,
        }
    }
}

impl Settings {
    /// Reads a TOML settings file; unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|error| SettingsError::Read {
            path: path.to_owned(),
            error,
        })?;
        toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })
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
        assert!(err.to_string().contains("unknown field `listne`"), "{err}");
    }

    #[test]
    fn stores_are_chosen_independently() {
        let parse = |text: &str| toml::from_str::<Settings>(text).map_err(|e| e.to_string());
        let embedded = parse("").unwrap();
        assert!(embedded.is_embedded());
        assert!(matches!(embedded.metadata.postgres_url(), Ok(None)));
        assert!(matches!(embedded.artifacts.s3(), Ok(None)));

        let scale = parse(
            "server_key_file = \"/etc/hab-depot/server.key\"\n\
             [metadata]\nurl = \"postgres://depot@db/depot\"\npool_size = 4\n\
             [artifacts]\nurl = \"s3://hab/depot\"\nendpoint = \"http://s3:9000\"\n\
             secret_access_key_file = \"/run/secrets/s3\"\nca_file = \"/etc/ssl/s3-ca.pem\"\n",
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
        assert_eq!(s3.ca_file, Some(PathBuf::from("/etc/ssl/s3-ca.pem")));
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
    fn a_mirror_interval_is_seconds_or_a_number_with_a_unit() {
        let parse = |value: &str| {
            toml::from_str::<Settings>(&format!(
                "[[mirror]]\nfrom = \"http://up\"\norigins = [\"core\"]\ninterval = {value}\n"
            ))
            .map(|s| s.mirrors[0].interval)
            .map_err(|e| e.to_string())
        };
        for (value, seconds) in [
            ("90", 90),
            ("\"90\"", 90),
            ("\"30s\"", 30),
            ("\"15m\"", 15 * 60),
            ("\"6h\"", 6 * 3600),
            ("\"1d\"", 86400),
        ] {
            assert_eq!(
                parse(value),
                Ok(Some(Duration::from_secs(seconds))),
                "{value}"
            );
        }
        for bad in ["0", "\"0m\"", "\"15x\"", "\"m\"", "\"\"", "-5", "\"1.5h\""] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("an interval is"), "{bad}: {err}");
        }
        let none = toml::from_str::<Settings>("[[mirror]]\nfrom = \"u\"\norigins = []\n").unwrap();
        assert_eq!(none.mirrors[0].interval, None);
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

    #[test]
    fn upstreams_have_defaults_and_are_checked() {
        let parse = |text: &str| toml::from_str::<Settings>(text).map_err(|e| e.to_string());
        let settings =
            parse("[[upstream]]\nurl = \"http://depot.example.com\"\norigins = [\"core\"]\n")
                .unwrap();
        let upstream = &settings.upstreams[0];
        assert!(upstream.channels.is_empty());
        assert!(upstream.serves_channel(&"beta".parse().unwrap()));
        assert_eq!(upstream.metadata_max_age(), Duration::from_secs(300));
        assert_eq!(upstream.negative_ttl(), Duration::from_secs(60));
        assert!(matches!(upstream.token(), Ok(None)));
        check_upstreams(&settings).unwrap();
        assert!(
            parse("[[upstream]]\nurl = \"http://x\"\norigins = [\"core\"]\nttl = 1\n").is_err()
        );

        let refused = |text: &str| {
            check_upstreams(&parse(text).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert!(
            refused("[[upstream]]\nurl = \"http://x\"\norigins = []\n").contains("names no origin")
        );
        assert!(
            refused("[[upstream]]\nurl = \"ftp://x\"\norigins = [\"core\"]\n")
                .contains("`ftp://x`")
        );
        let twice = "[[upstream]]\nurl = \"http://x\"\norigins = [\"core\"]\n\
                     [[upstream]]\nurl = \"http://y\"\norigins = [\"core\"]\n";
        assert!(refused(twice).contains("origin `core` is served by another"));
        let mirrored = "[[upstream]]\nurl = \"http://x\"\norigins = [\"core\"]\n\
                        [[mirror]]\nfrom = \"http://y\"\norigins = [\"core\"]\n";
        assert!(refused(mirrored).contains("mirrored by a `[[mirror]]`"));
    }
}
