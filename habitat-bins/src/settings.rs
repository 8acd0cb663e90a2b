//! Settings resolved once, before any work (docs/commands.md, "Settings").
//!
//! Every setting comes from, in order: a command-line flag, an environment variable, the CLI
//! settings file (`cli.toml`), a default. Empty environment values count as unset.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use habitat_core::{FsRoot, KeyCache, OriginName, PackageTarget};

/// An environment variable, with empty values counting as unset.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Is this process running as root (which changes the default key cache and cli.toml)?
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The filesystem root: `FS_ROOT`, default `/`.
pub fn fs_root() -> FsRoot {
    FsRoot::new(env("FS_ROOT").unwrap_or_else(|| "/".into()))
}

fn home() -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

/// The key cache: `--cache-key-path`, `HAB_CACHE_KEY_PATH`, then `$FS_ROOT/hab/cache/keys` for
/// root and `$HOME/.hab/cache/keys` for everyone else.
pub fn key_cache(flag: Option<&Path>) -> Result<KeyCache> {
    if let Some(dir) = flag {
        return Ok(KeyCache::new(dir));
    }
    if let Some(dir) = env("HAB_CACHE_KEY_PATH") {
        return Ok(KeyCache::new(dir));
    }
    if is_root() {
        return Ok(KeyCache::new(fs_root().key_cache()));
    }
    let home = home().context("HOME is not set: set HAB_CACHE_KEY_PATH or --cache-key-path")?;
    Ok(KeyCache::new(home.join(".hab/cache/keys")))
}

/// The CLI settings file: `$FS_ROOT/hab/etc/cli.toml` for root, `~/.hab/etc/cli.toml` otherwise.
pub fn cli_toml_path() -> Option<PathBuf> {
    if is_root() {
        Some(fs_root().path().join("hab/etc/cli.toml"))
    } else {
        home().map(|h| h.join(".hab/etc/cli.toml"))
    }
}

/// A string value from cli.toml, if the file and the key exist. A file that exists but does not
/// parse is an error, so a typo there is not silently ignored.
pub fn cli_toml_value(key: &str) -> Result<Option<String>> {
    let Some(path) = cli_toml_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("`{}` is not valid TOML", path.display()))?;
    Ok(table
        .get(key)
        .and_then(|v| v.as_str())
        .filter(|v| !v.is_empty())
        .map(str::to_owned))
}

/// The origin: the argument, `HAB_ORIGIN`, cli.toml `origin`.
pub fn origin(arg: Option<&OriginName>) -> Result<OriginName> {
    if let Some(origin) = arg {
        return Ok(origin.clone());
    }
    let from_env = env("HAB_ORIGIN").map(|o| (o, "HAB_ORIGIN"));
    let found = match from_env {
        Some(found) => Some(found),
        None => cli_toml_value("origin")?.map(|o| (o, "cli.toml")),
    };
    match found {
        Some((value, source)) => value
            .parse()
            .with_context(|| format!("origin from {source}")),
        None => bail!(
            "no origin given: pass it (ORIGIN or --origin), set HAB_ORIGIN, or set `origin` in cli.toml"
        ),
    }
}

/// The package target: `-t/--target`, `HAB_PACKAGE_TARGET`, this machine's.
pub fn target(flag: Option<PackageTarget>) -> Result<PackageTarget> {
    if let Some(target) = flag {
        return Ok(target);
    }
    if let Some(value) = env("HAB_PACKAGE_TARGET") {
        return value.parse().context("HAB_PACKAGE_TARGET");
    }
    PackageTarget::active().context("this machine has no Habitat target: set HAB_PACKAGE_TARGET")
}

/// The depot when nothing else names one.
const DEFAULT_DEPOT_URL: &str = "http://localhost:9636";

/// The depot URL: `-u/--url`, `HAB_BLDR_URL`, `HAB_DEPOT_URL` (seed era), cli.toml `bldr_url`,
/// default `http://localhost:9636`.
pub fn depot_url(flag: Option<&str>) -> Result<habitat_depot_client::DepotUrl> {
    let (value, source) = if let Some(url) = flag.filter(|u| !u.is_empty()) {
        (url.to_owned(), "--url")
    } else if let Some(url) = env("HAB_BLDR_URL") {
        (url, "HAB_BLDR_URL")
    } else if let Some(url) = env("HAB_DEPOT_URL") {
        (url, "HAB_DEPOT_URL")
    } else if let Some(url) = cli_toml_value("bldr_url")? {
        (url, "cli.toml `bldr_url`")
    } else {
        (DEFAULT_DEPOT_URL.to_owned(), "the default")
    };
    value
        .parse()
        .with_context(|| format!("depot URL from {source}"))
}

/// The auth token: `-z/--auth`, `HAB_AUTH_TOKEN`, cli.toml `auth_token`; none means anonymous.
/// Errors never show the token, only where it came from.
pub fn auth_token(flag: Option<&str>) -> Result<Option<habitat_depot_client::Token>> {
    let (value, source) = if let Some(token) = flag.filter(|t| !t.is_empty()) {
        (token.to_owned(), "--auth")
    } else if let Some(token) = env("HAB_AUTH_TOKEN") {
        (token, "HAB_AUTH_TOKEN")
    } else if let Some(token) = cli_toml_value("auth_token")? {
        (token, "cli.toml `auth_token`")
    } else {
        return Ok(None);
    };
    habitat_depot_client::Token::new(value.trim())
        .map(Some)
        .with_context(|| format!("auth token from {source}"))
}

/// Extra certificate authorities trusted for `https` depots, besides the platform's roots:
/// `SSL_CERT_FILE`, cli.toml `ca_file`, and the `.pem`/`.crt`/`.cer` files of the SSL cache
/// directory (`$FS_ROOT/hab/cache/ssl` for root, `~/.hab/cache/ssl` otherwise), all that are
/// there (docs/commands.md, "Settings").
pub fn ca_files() -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = env("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Some(path) = cli_toml_value("ca_file")? {
        files.push(PathBuf::from(path));
    }
    let ssl_cache = if is_root() {
        Some(fs_root().path().join("hab/cache/ssl"))
    } else {
        home().map(|h| h.join(".hab/cache/ssl"))
    };
    if let Some(dir) = ssl_cache {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", dir.display())),
        };
        let mut found = Vec::new();
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot read `{}`", dir.display()))?
                .path();
            let certificate = path
                .extension()
                .is_some_and(|e| e == "pem" || e == "crt" || e == "cer");
            if certificate && path.is_file() {
                found.push(path);
            }
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// The channel: `-c/--channel`, `HAB_BLDR_CHANNEL`, default `stable`.
pub fn channel(flag: Option<habitat_core::ChannelName>) -> Result<habitat_core::ChannelName> {
    if let Some(channel) = flag {
        return Ok(channel);
    }
    match env("HAB_BLDR_CHANNEL") {
        Some(value) => value.parse().context("channel from HAB_BLDR_CHANNEL"),
        None => Ok(habitat_core::ChannelName::stable()),
    }
}

/// Whether `hab` verifies a depot's channels with TUF: `HAB_TUF` (docs/commands.md,
/// "Verified channels").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TufMode {
    /// Unset: verify when a root is pinned, else go on with a notice.
    Auto,
    /// `required`: refuse to fetch from a depot without a pinned root.
    Required,
    /// `off`: never verify, even with a pinned root.
    Off,
}

/// `HAB_TUF`: `required`, `off`, or unset.
pub fn tuf_mode() -> Result<TufMode> {
    match env("HAB_TUF").as_deref() {
        None => Ok(TufMode::Auto),
        Some("required") => Ok(TufMode::Required),
        Some("off") => Ok(TufMode::Off),
        Some(other) => bail!("HAB_TUF must be `required` or `off`, not `{other}`"),
    }
}

/// The pinned TUF root file: `--tuf-root`, `HAB_TUF_ROOT`, cli.toml `tuf_root`; none means the
/// root pinned in the TUF cache (`hab depot trust`), if any.
pub fn tuf_root(flag: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(path) = flag {
        return Ok(Some(path.to_owned()));
    }
    if let Some(path) = env("HAB_TUF_ROOT") {
        return Ok(Some(PathBuf::from(path)));
    }
    Ok(cli_toml_value("tuf_root")?.map(PathBuf::from))
}
