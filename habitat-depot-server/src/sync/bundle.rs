//! Air-gap bundles (docs/bundles.md): one uncompressed tar that carries a channel's packages,
//! their dependencies and their origin keys from one depot to another with no network between.
//!
//! A bundle holds `MANIFEST.json` first, its detached signature `MANIFEST.json.sig` second,
//! then `artifacts/*.hart` and `keys/*.pub` in the layout of a `hab pkg download` directory.
//! [`create`] writes one from the local stores; [`import`] checks every part of one against a
//! pinned transfer key and this depot before it writes anything, then stores its packages
//! through [`crate::ingest`], dependencies first, and applies its channel memberships. It
//! also imports a `hab pkg download` directory ([`Trust::Unsigned`]), with every check that
//! does not need a manifest.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::StreamExt;
use habitat_core::archive::UnpackLimits;
use habitat_core::artifact::{self, Artifact};
use habitat_core::hash::HashingWriter;
use habitat_core::metadata::verify_and_read;
use habitat_core::{
    Blake2bHash, ChannelName, FullyQualifiedIdent, NamedRevision, OriginName, PackageIdent,
    PackageTarget, PublicKey, SecretKey,
};
use habitat_depot_client::{Client, ManifestAnswer, Package as RemotePackage, PackageListing};
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;
use time::OffsetDateTime;

use crate::AppState;
use crate::ingest::{self, Claim, IngestError, Ingested, Received, Source};
use crate::store::{Account, BundleImport, Package, PackageFilter, Page, StoreError, Visibility};

/// The manifest's name in the tar: always its first entry.
pub const MANIFEST: &str = "MANIFEST.json";
/// The detached signature's name in the tar: always its second entry.
pub const SIGNATURE: &str = "MANIFEST.json.sig";
/// The first line of a signature file.
pub const SIGNATURE_KIND: &str = "BUNDLE-SIG-1";
/// The manifest format this code writes and reads.
pub const FORMAT: u32 = 1;
/// The file under the data directory where earlier versions kept the last bundle imported from
/// each signer: read once into the metadata store, then renamed to [`SEQUENCE_FILE_MOVED`].
pub const SEQUENCE_FILE: &str = "bundle-imports.json";
/// What [`SEQUENCE_FILE`] is renamed to once the metadata store holds its sequences.
pub const SEQUENCE_FILE_MOVED: &str = "bundle-imports.json.moved";

/// How many artifacts `create` downloads at once from a remote depot.
const PARALLEL_DOWNLOADS: usize = 4;

/// The largest manifest or signature read from a bundle.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// What a bundle holds and what it asks of the importing depot; signed as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format ([`FORMAT`]).
    pub format: u32,
    /// The transfer key that signs it.
    pub signer: NamedRevision,
    /// When it was made.
    #[serde(with = "habitat_core::timestamp::rfc3339")]
    pub created: OffsetDateTime,
    /// After this time it is refused.
    #[serde(with = "habitat_core::timestamp::rfc3339")]
    pub expires: OffsetDateTime,
    /// Grows with every bundle of a signer (the creation time in milliseconds): an importer
    /// refuses one older than the last it imported from that signer.
    pub sequence: u64,
    /// Every other file of the tar, with its size and BLAKE2b-256.
    pub files: Vec<FileEntry>,
    /// The packages, dependencies first, each naming its file.
    pub packages: Vec<PackageEntry>,
    /// The origins' public keys, each naming its file.
    pub keys: Vec<KeyEntry>,
    /// The channel memberships to apply.
    pub channels: Vec<Membership>,
}

/// A file of the tar other than the manifest and its signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its path in the tar: `artifacts/NAME.hart` or `keys/NAME.pub`.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its BLAKE2b-256, 64 lowercase hex digits.
    pub blake2b: String,
}

/// A package of the bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageEntry {
    /// Its identifier.
    #[serde(with = "ident_text")]
    pub ident: FullyQualifiedIdent,
    /// Its target.
    pub target: PackageTarget,
    /// Its artifact's path in the tar.
    pub path: String,
}

/// A public origin key of the bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The key's named revision (the name is the origin).
    pub name: NamedRevision,
    /// Its file's path in the tar.
    pub path: String,
}

/// A package's membership of a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    /// The channel (of the package's origin).
    pub channel: ChannelName,
    /// The package.
    #[serde(with = "ident_text")]
    pub ident: FullyQualifiedIdent,
    /// Its target.
    pub target: PackageTarget,
}

/// Identifiers in the manifest are written as `origin/name/version/release`.
mod ident_text {
    use habitat_core::FullyQualifiedIdent;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        ident: &FullyQualifiedIdent,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(ident)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<FullyQualifiedIdent, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Why a bundle was not made or not imported. Each names the check that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bundle file cannot be read or written.
    #[error("cannot {action} `{}`: {source}", .path.display())]
    Io {
        /// What was done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The tar's entries are not what a bundle holds.
    #[error("not a valid bundle: {0}")]
    Malformed(String),
    /// The signature file is signed by another key than the trusted one.
    #[error(
        "manifest signature check failed: the bundle is signed by `{found}`, not by a trusted key ({trusted})"
    )]
    UntrustedSigner {
        /// The key named in the signature file.
        found: String,
        /// The trusted keys, named in backticks.
        trusted: String,
    },
    /// No transfer key is trusted: neither `--trust-key` nor `trusted_bundle_keys` names one.
    #[error(
        "manifest signature check failed: no transfer key is trusted; give `--trust-key FILE` or `trusted_bundle_keys` in the settings"
    )]
    NoTrustedKey,
    /// A transfer key file of `trusted_bundle_keys` (or `--trust-key`) is unusable.
    #[error("the trusted transfer key `{}`: {problem}", .path.display())]
    TrustedKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The signature does not verify with the trusted key.
    #[error(
        "manifest signature check failed: the signature does not verify with `{trusted}`: the manifest was altered"
    )]
    BadSignature {
        /// The trusted key.
        trusted: NamedRevision,
    },
    /// The bundle's expiry time is past.
    #[error("expiry check failed: the bundle expired at `{}`", habitat_core::timestamp::format_rfc3339(*.expires))]
    Expired {
        /// Its expiry time.
        expires: OffsetDateTime,
    },
    /// The bundle is not newer than the last one imported from its signer.
    #[error(
        "sequence check failed: bundle sequence `{sequence}` of `{signer}` is not newer than `{last}`, the last imported: a replayed bundle"
    )]
    Replayed {
        /// The signer's name.
        signer: String,
        /// The bundle's sequence.
        sequence: u64,
        /// The last imported.
        last: u64,
    },
    /// A file differs from what the manifest says of it.
    #[error(
        "checksum check failed: `{path}` has size {size} and BLAKE2b `{found}`, the manifest says size {expected_size} and `{expected}`"
    )]
    FileMismatch {
        /// Its path in the tar.
        path: String,
        /// Its size.
        size: u64,
        /// Its BLAKE2b.
        found: Blake2bHash,
        /// The manifest's size.
        expected_size: u64,
        /// The manifest's BLAKE2b.
        expected: String,
    },
    /// A file listed in the manifest is missing from the tar, or one in the tar is not listed.
    #[error("file check failed: `{path}` is {problem}")]
    FileListing {
        /// Its path in the tar.
        path: String,
        /// "missing from the bundle" or "not listed in the manifest".
        problem: &'static str,
    },
    /// A key file does not parse or is not the key the manifest names.
    #[error("key check failed: `{path}`: {reason}")]
    BadKey {
        /// Its path in the tar.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A key of the bundle has the revision of a different key this depot has.
    #[error(
        "key check failed: key `{name}` of the bundle differs from the key of that name this depot has"
    )]
    KeyConflict {
        /// The key.
        name: NamedRevision,
    },
    /// An artifact fails its own checks or is not the package the manifest says.
    #[error("artifact check failed: `{path}`: {reason}")]
    BadArtifact {
        /// Its path in the tar.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// This depot has the package with another artifact.
    #[error(
        "conflict check failed: this depot has `{ident}` for `{target}` with checksum `{stored}`, the bundle another"
    )]
    Conflict {
        /// The package.
        ident: FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
        /// The stored checksum.
        stored: Blake2bHash,
    },
    /// A dependency is in neither the bundle nor this depot.
    #[error(
        "dependency check failed: `{ident}` needs `{dependency}` for `{target}`, which is in neither the bundle nor this depot"
    )]
    MissingDependency {
        /// The package.
        ident: FullyQualifiedIdent,
        /// The missing dependency.
        dependency: FullyQualifiedIdent,
        /// The target.
        target: PackageTarget,
    },
    /// A channel membership names a package in neither the bundle nor this depot.
    #[error(
        "channel check failed: `{ident}` for `{target}` (channel `{channel}`) is in neither the bundle nor this depot"
    )]
    UnknownMember {
        /// The channel.
        channel: ChannelName,
        /// The package.
        ident: FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
    },
    /// The remote depot a bundle is made from did not answer as asked.
    #[error("cannot read {what} from the upstream: {source}")]
    Upstream {
        /// What was asked.
        what: String,
        /// The client's error.
        #[source]
        source: habitat_depot_client::Error,
    },
    /// A package-set file (`--file`) is not what `hab pkg download --file` reads.
    #[error("not a valid package-set file: {0}")]
    PackageSetFile(String),
    /// A package of a package set is not in the source depot.
    #[error("`{ident}` for `{target}` is not in channel `{channel}` of the source depot")]
    NotFound {
        /// The package as the set names it.
        ident: PackageIdent,
        /// The set's target.
        target: PackageTarget,
        /// The set's channel.
        channel: ChannelName,
    },
    /// The sequence file cannot be read or written.
    #[error("cannot use the bundle sequence file `{}`: {reason}", .path.display())]
    SequenceFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A package could not be stored.
    #[error("cannot store `{ident}`: {source}")]
    Ingest {
        /// The package.
        ident: FullyQualifiedIdent,
        /// Why.
        #[source]
        source: IngestError,
    },
    /// A blocking step could not finish.
    #[error("a bundle step did not finish: {0}")]
    Interrupted(#[from] tokio::task::JoinError),
    /// The metadata or artifact store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shorthand.
pub type Result<T, E = BundleError> = std::result::Result<T, E>;

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + use<> {
    let path = path.to_owned();
    move |source| BundleError::Io {
        action,
        path,
        source,
    }
}

/// What goes into a bundle made by [`create`].
#[derive(Clone, Debug)]
pub struct Selection {
    /// The packages asked for; their transitive dependencies go in too.
    pub wanted: Wanted,
    /// Only packages for these targets; empty means every target (from a remote depot: the
    /// default target, `x86_64-linux`, for a channel; every set of a package-set file).
    pub targets: Vec<PackageTarget>,
    /// How long the bundle may be imported after it is made.
    pub valid_for: time::Duration,
    /// What the importing depot holds already (its [`inventory`]): those packages are left
    /// out, which makes a delta bundle.
    pub have: Option<Inventory>,
}

/// The packages a bundle is made of, before their dependencies are added.
#[derive(Clone, Debug)]
pub enum Wanted {
    /// Every member of one channel of an origin, each carried as a member of it.
    Channel {
        /// The origin.
        origin: OriginName,
        /// The channel.
        channel: ChannelName,
    },
    /// The sets of a package-set file (`--file SET.toml`, see [`package_sets`]).
    Sets(Vec<PackageSet>),
}

/// One set of a package-set file: for one target, packages named fully or partly, the partly
/// named ones resolved to the newest release in `channel`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageSet {
    /// The target of every package of the set.
    pub target: PackageTarget,
    /// The channel partial identifiers are resolved in; a package of the set that is a member
    /// of it is carried as a member.
    pub channel: ChannelName,
    /// The packages: `origin/name`, `origin/name/version` or fully qualified (then that very
    /// release, whatever its channels).
    pub idents: Vec<PackageIdent>,
}

/// Reads a package-set file, the TOML that `hab pkg download --file` takes: an optional
/// `format_version` (only `1`), an optional `file_descriptor` (a description, ignored), and for
/// each target an array of tables, each with a `channel` and its `packages`:
///
/// ```toml
/// format_version = 1
/// file_descriptor = "what the stable site runs"
///
/// [[x86_64-linux]]
/// channel = "stable"
/// packages = ["acme/app", "core/glibc/2.35.0/20240101000000"]
/// ```
pub fn package_sets(text: &str) -> Result<Vec<PackageSet>> {
    let bad = |reason: String| BundleError::PackageSetFile(reason);
    let table: toml::Table = toml::from_str(text).map_err(|e| bad(e.message().to_owned()))?;
    let mut sets = Vec::new();
    for (key, value) in &table {
        match key.as_str() {
            "format_version" => match value.as_integer() {
                Some(1) => {}
                _ => {
                    return Err(bad(format!(
                        "`format_version` is `{value}`; only `1` is known"
                    )));
                }
            },
            "file_descriptor" => {
                if !value.is_str() {
                    return Err(bad("`file_descriptor` is not a string".into()));
                }
            }
            target => {
                let target: PackageTarget = target.parse().map_err(|e: habitat_core::Error| {
                    bad(format!("`{target}` is not a target: {e}"))
                })?;
                let Some(array) = value.as_array() else {
                    return Err(bad(format!(
                        "`{target}` is not an array of tables (`[[{target}]]`)"
                    )));
                };
                for item in array {
                    sets.push(
                        package_set(target, item)
                            .map_err(|reason| bad(format!("a `[[{target}]]` table: {reason}")))?,
                    );
                }
            }
        }
    }
    Ok(sets)
}

/// One `[[TARGET]]` table of a package-set file.
fn package_set(target: PackageTarget, item: &toml::Value) -> Result<PackageSet, String> {
    let Some(table) = item.as_table() else {
        return Err("it is not a table".into());
    };
    if let Some(unknown) = table
        .keys()
        .find(|k| !matches!(k.as_str(), "channel" | "packages"))
    {
        return Err(format!(
            "`{unknown}` is not known (`channel` and `packages` are)"
        ));
    }
    let channel: ChannelName = table
        .get("channel")
        .and_then(toml::Value::as_str)
        .ok_or("its `channel` is missing or not a string")?
        .parse()
        .map_err(|e: habitat_core::Error| e.to_string())?;
    let idents = table
        .get("packages")
        .and_then(toml::Value::as_array)
        .ok_or("its `packages` is missing or not an array")?
        .iter()
        .map(|p| {
            let text = p.as_str().ok_or("a package is not a string")?;
            text.parse::<PackageIdent>()
                .map_err(|e| format!("`{text}`: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(PackageSet {
        target,
        channel,
        idents,
    })
}

/// What a depot holds, for a delta bundle: `hab-depot inventory` writes it on the importing
/// side, `hab-depot bundle create --have` reads it on the creating side.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The inventory format ([`FORMAT`]).
    pub format: u32,
    /// Every package of the depot.
    pub packages: Vec<Held>,
}

/// A package an inventory lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Held {
    /// Its identifier.
    #[serde(with = "ident_text")]
    pub ident: FullyQualifiedIdent,
    /// Its target.
    pub target: PackageTarget,
    /// Its artifact's BLAKE2b-256.
    pub blake2b: String,
}

/// Every package of this depot, with its artifact's checksum.
pub async fn inventory(state: &AppState) -> Result<Inventory> {
    let mut packages: Vec<Held> = state
        .metadata
        .package_checksums()
        .await?
        .into_iter()
        .map(|(_, ident, target, checksum, _)| Held {
            ident,
            target,
            blake2b: checksum.to_string(),
        })
        .collect();
    packages.sort_by(|a, b| {
        (a.ident.to_string(), a.target.as_str()).cmp(&(b.ident.to_string(), b.target.as_str()))
    });
    Ok(Inventory {
        format: FORMAT,
        packages,
    })
}

/// What [`create`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// Packages carried (members and dependencies).
    pub packages: usize,
    /// Packages left out because the importing depot has them (`--have`).
    pub left_out: usize,
    /// Channel memberships carried.
    pub memberships: usize,
    /// Keys carried.
    pub keys: usize,
    /// Bytes of the tar.
    pub bytes: u64,
    /// Its sequence number.
    pub sequence: u64,
}

/// Every package of `origin` in `channel` for `target` (any when `None`), full rows.
async fn channel_members(
    state: &AppState,
    origin: &OriginName,
    channel: &ChannelName,
    target: Option<PackageTarget>,
) -> Result<Vec<Package>> {
    let filter = PackageFilter {
        origin: Some(origin.clone()),
        channel: Some(channel.clone()),
        target,
        // An administrator's bundle carries private packages too.
        private_origins: vec![origin.clone()],
        ..PackageFilter::default()
    };
    let mut out = Vec::new();
    loop {
        let page = Page {
            offset: out.len() as u64,
            limit: 100,
        };
        let found = state.metadata.packages(&filter, page).await?;
        let done =
            found.items.is_empty() || out.len() as u64 + found.items.len() as u64 >= found.total;
        out.extend(found.items);
        if done {
            return Ok(out);
        }
    }
}

/// Where [`create`] reads packages and keys from.
#[derive(Clone, Copy)]
pub enum SourceDepot<'a> {
    /// This depot's stores (`--data-dir`/`--config`): each artifact is read back from the
    /// artifact store and checked against its row's size and checksum.
    Local(&'a AppState),
    /// Another depot through its API (`--from URL`): the channel manifest route where it has
    /// it, else the listing and each package's JSON. Each artifact is downloaded and checked
    /// (the checksum the upstream lists, the signature against the origin key the upstream
    /// serves, the package and target it holds) before it goes into the bundle.
    Remote(&'a Client),
}

/// A package to carry, as the source depot describes it.
#[derive(Clone, Debug)]
struct Item {
    ident: FullyQualifiedIdent,
    target: PackageTarget,
    checksum: Blake2bHash,
    /// The artifact's size (from a remote depot: known once it is downloaded).
    size: u64,
    tdeps: Vec<FullyQualifiedIdent>,
}

impl From<Package> for Item {
    fn from(p: Package) -> Self {
        Self {
            ident: p.ident,
            target: p.target,
            checksum: p.checksum,
            size: p.size,
            tdeps: p.tdeps,
        }
    }
}

impl From<RemotePackage> for Item {
    fn from(p: RemotePackage) -> Self {
        Self {
            ident: p.ident,
            target: p.target,
            checksum: p.checksum,
            size: p.size,
            tdeps: p.tdeps,
        }
    }
}

fn upstream(what: String) -> impl FnOnce(habitat_depot_client::Error) -> BundleError {
    move |source| BundleError::Upstream { what, source }
}

/// `Ok(None)` for an upstream's 404.
fn found<T>(
    answer: habitat_depot_client::Result<T>,
    what: impl FnOnce() -> String,
) -> Result<Option<T>> {
    match answer {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(upstream(what())(e)),
    }
}

impl SourceDepot<'_> {
    /// Every package of `origin` in `channel` for `target` (locally, any when `None`).
    async fn members(
        &self,
        origin: &OriginName,
        channel: &ChannelName,
        target: Option<PackageTarget>,
    ) -> Result<Vec<Item>> {
        let client = match self {
            Self::Local(state) => {
                let members = channel_members(state, origin, channel, target).await?;
                return Ok(members.into_iter().map(Item::from).collect());
            }
            Self::Remote(client) => client,
        };
        let target = target.unwrap_or_default();
        let what = || format!("channel `{channel}` of origin `{origin}` for `{target}`");
        let answer = client.channel_manifest(origin, channel, target, None).await;
        if let Some(answer) = found(answer, what)? {
            return match answer {
                ManifestAnswer::Changed { manifest, .. } => Ok(manifest
                    .packages
                    .into_iter()
                    .map(|m| Item {
                        ident: m.ident,
                        target: m.target,
                        checksum: m.checksum,
                        size: m.size,
                        tdeps: m.tdeps,
                    })
                    .collect()),
                ManifestAnswer::Unchanged => Err(BundleError::Malformed(format!(
                    "the upstream answered 304 for {} to a request without an ETag",
                    what()
                ))),
            };
        }
        // A depot without the manifest route: the listing, then each package's JSON.
        let listing = PackageListing::origin(origin.clone())
            .in_channel(channel.clone())
            .for_target(target);
        let listed = client
            .all_packages(&listing)
            .await
            .map_err(upstream(what()))?;
        let mut out = Vec::with_capacity(listed.len());
        for listed in listed {
            let package = client
                .package(&listed.ident, target)
                .await
                .map_err(upstream(format!("package {} for `{target}`", listed.ident)))?;
            out.push(Item::from(package));
        }
        Ok(out)
    }

    /// One package, if the source has it.
    async fn package(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
    ) -> Result<Option<Item>> {
        match self {
            Self::Local(state) => Ok(state.metadata.package(ident, target).await?.map(Item::from)),
            Self::Remote(client) => Ok(found(client.package(ident, target).await, || {
                format!("package {ident} for `{target}`")
            })?
            .map(Item::from)),
        }
    }

    /// A package of a package set: a fully qualified one as it is, else the newest in
    /// `channel`; with whether it is a member of `channel`.
    async fn resolve(
        &self,
        ident: &PackageIdent,
        target: PackageTarget,
        channel: &ChannelName,
    ) -> Result<Option<(Item, bool)>> {
        let exact = FullyQualifiedIdent::try_from(ident.clone()).ok();
        match self {
            Self::Local(state) => {
                let package = match &exact {
                    Some(exact) => state.metadata.package(exact, target).await?,
                    None => {
                        let filter = PackageFilter {
                            origin: Some(ident.origin().clone()),
                            name: Some(ident.name().to_string()),
                            version: ident.version().map(str::to_owned),
                            target: Some(target),
                            channel: Some(channel.clone()),
                            private_origins: vec![ident.origin().clone()],
                        };
                        state.metadata.latest(&filter).await?
                    }
                };
                let Some(package) = package else {
                    return Ok(None);
                };
                let member = exact.is_none()
                    || state
                        .metadata
                        .package_channels(package.id)
                        .await?
                        .iter()
                        .any(|m| m.name == *channel);
                Ok(Some((Item::from(package), member)))
            }
            Self::Remote(client) => {
                let answer = match &exact {
                    Some(exact) => client.package(exact, target).await,
                    None => client.latest(ident, target, Some(channel)).await,
                };
                let what = || format!("package {ident} for `{target}` in channel `{channel}`");
                Ok(found(answer, what)?.map(|package| {
                    let member = exact.is_none() || package.channels.contains(channel);
                    (Item::from(package), member)
                }))
            }
        }
    }

    /// Every public key of `origin`: its named revision and its file's text.
    async fn keys(&self, origin: &OriginName) -> Result<Vec<PublicKey>> {
        let mut keys = Vec::new();
        match self {
            Self::Local(state) => {
                for stored in state.metadata.public_keys(origin).await? {
                    let public =
                        PublicKey::parse(&stored.body).map_err(|e| BundleError::BadKey {
                            path: format!("{origin}-{}", stored.revision),
                            reason: format!("the stored key does not parse: {e}"),
                        })?;
                    keys.push(public);
                }
            }
            Self::Remote(client) => {
                let what = || format!("the public keys of origin `{origin}`");
                for info in client.public_keys(origin).await.map_err(upstream(what()))? {
                    let name = format!("{origin}-{}", info.revision);
                    let key = client
                        .public_key(origin, Some(&info.revision))
                        .await
                        .map_err(upstream(format!("public key `{name}`")))?;
                    if key.name().to_string() != name {
                        return Err(BundleError::BadKey {
                            path: name,
                            reason: format!("the upstream served key `{}`", key.name()),
                        });
                    }
                    keys.push(key);
                }
            }
        }
        Ok(keys)
    }
}

/// Writes a bundle of `selection`, read from `source`, to `out`, signed with `key`: the
/// packages asked for, their transitive dependencies (any origin), and every public key of the
/// origins involved. The tar is written beside `out` and renamed into place when complete.
pub async fn create(
    source: SourceDepot<'_>,
    selection: &Selection,
    key: &SecretKey,
    out: &Path,
) -> Result<Created> {
    let (members, memberships) = wanted(source, selection).await?;

    // The closure: members plus their TDEPS, each read once.
    let mut set: BTreeMap<(String, PackageTarget), Item> = BTreeMap::new();
    let mut queue: Vec<Item> = members;
    while let Some(package) = queue.pop() {
        let id = (package.ident.to_string(), package.target);
        if set.contains_key(&id) {
            continue;
        }
        for dependency in &package.tdeps {
            if set.contains_key(&(dependency.to_string(), package.target)) {
                continue;
            }
            match source.package(dependency, package.target).await? {
                Some(row) => queue.push(row),
                None => {
                    return Err(BundleError::MissingDependency {
                        ident: package.ident.clone(),
                        dependency: dependency.clone(),
                        target: package.target,
                    });
                }
            }
        }
        set.insert(id, package);
    }
    let mut packages: Vec<Item> = set.into_values().collect();
    super::dependencies_first(&mut packages, |p| p.tdeps.len(), |p| p.ident.to_string());
    let before = packages.len();
    if let Some(have) = &selection.have {
        // Left out only when the far side has the identical artifact: another one is carried,
        // so that its import reports the conflict.
        let held: BTreeSet<(String, PackageTarget, String)> = have
            .packages
            .iter()
            .map(|h| {
                (
                    h.ident.to_string(),
                    h.target,
                    h.blake2b.to_ascii_lowercase(),
                )
            })
            .collect();
        packages
            .retain(|p| !held.contains(&(p.ident.to_string(), p.target, p.checksum.to_string())));
    }
    let left_out = before - packages.len();

    let origins: BTreeSet<OriginName> = packages.iter().map(|p| p.ident.origin().clone()).collect();
    let mut public_keys: Vec<PublicKey> = Vec::new();
    for origin in &origins {
        public_keys.extend(source.keys(origin).await?);
    }
    let mut keys: Vec<(NamedRevision, String)> = public_keys
        .iter()
        .map(|k| (k.name().clone(), k.to_file_string()))
        .collect();
    keys.sort();

    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    // From a remote depot, every artifact is downloaded and checked first: the manifest,
    // which comes first in the tar, gives each one's size.
    let downloads = match source {
        SourceDepot::Local(_) => None,
        SourceDepot::Remote(client) => {
            let temp = tempfile::Builder::new()
                .prefix(".bundle-downloads-")
                .tempdir_in(&dir)
                .map_err(io("create a directory in", &dir))?;
            download_all(client, &mut packages, &public_keys, temp.path()).await?;
            Some(temp)
        }
    };

    let created = habitat_core::timestamp::now();
    let mut manifest = Manifest {
        format: FORMAT,
        signer: key.name().clone(),
        created,
        expires: created + selection.valid_for,
        sequence: u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
            .unwrap_or_default(),
        files: Vec::new(),
        packages: Vec::new(),
        keys: Vec::new(),
        channels: memberships,
    };
    for package in &packages {
        let path = format!("artifacts/{}", package.ident.archive_name(package.target));
        manifest.files.push(FileEntry {
            path: path.clone(),
            size: package.size,
            blake2b: package.checksum.to_string(),
        });
        manifest.packages.push(PackageEntry {
            ident: package.ident.clone(),
            target: package.target,
            path,
        });
    }
    for (name, text) in &keys {
        let path = format!("keys/{name}.pub");
        manifest.files.push(FileEntry {
            path: path.clone(),
            size: text.len() as u64,
            blake2b: Blake2bHash::digest(text.as_bytes()).to_string(),
        });
        manifest.keys.push(KeyEntry {
            name: name.clone(),
            path,
        });
    }
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BundleError::Malformed(format!("cannot write the manifest: {e}")))?;
    let signature = signature_file(key, &manifest_bytes);

    let partial = NamedTempFile::new_in(&dir).map_err(io("create a file beside", out))?;
    let mtime = u64::try_from(created.unix_timestamp()).unwrap_or_default();
    let mut tar = tar::Builder::new(std::io::BufWriter::new(
        partial.reopen().map_err(io("write", partial.path()))?,
    ));
    append(&mut tar, MANIFEST, &manifest_bytes, mtime, out)?;
    append(&mut tar, SIGNATURE, signature.as_bytes(), mtime, out)?;
    for package in &packages {
        let name = package.ident.archive_name(package.target);
        let copy = match (&source, &downloads) {
            (SourceDepot::Local(state), _) => {
                fetch_artifact(state, package).await?.into_temp_path()
            }
            (SourceDepot::Remote(_), Some(downloads)) => {
                tempfile::TempPath::try_from_path(downloads.path().join(&name))
                    .map_err(io("read", &downloads.path().join(&name)))?
            }
            (SourceDepot::Remote(_), None) => {
                return Err(BundleError::Malformed(format!(
                    "`{name}` was not downloaded"
                )));
            }
        };
        let path = format!("artifacts/{name}");
        let mut header = file_header(package.size, mtime);
        let file = std::fs::File::open(&copy).map_err(io("read", &copy))?;
        tar.append_data(&mut header, &path, file)
            .map_err(io("write", out))?;
    }
    for (name, text) in &keys {
        append(
            &mut tar,
            &format!("keys/{name}.pub"),
            text.as_bytes(),
            mtime,
            out,
        )?;
    }
    let mut writer = tar.into_inner().map_err(io("write", out))?;
    writer.flush().map_err(io("write", out))?;
    drop(writer);
    partial.as_file().sync_all().map_err(io("write", out))?;
    partial.persist(out).map_err(|e| BundleError::Io {
        action: "write",
        path: out.to_owned(),
        source: e.error,
    })?;
    drop(downloads);
    let bytes = std::fs::metadata(out).map_err(io("read", out))?.len();
    Ok(Created {
        packages: packages.len(),
        left_out,
        memberships: manifest.channels.len(),
        keys: keys.len(),
        bytes,
        sequence: manifest.sequence,
    })
}

/// The packages `selection` asks for (before their dependencies), and the channel
/// memberships to carry.
async fn wanted(
    source: SourceDepot<'_>,
    selection: &Selection,
) -> Result<(Vec<Item>, Vec<Membership>)> {
    let mut members = Vec::new();
    let mut memberships = Vec::new();
    match &selection.wanted {
        Wanted::Channel { origin, channel } => {
            let targets: Vec<Option<PackageTarget>> = match (&source, selection.targets.is_empty())
            {
                (SourceDepot::Local(_), true) => vec![None],
                (SourceDepot::Remote(_), true) => vec![Some(PackageTarget::default())],
                (_, false) => selection.targets.iter().copied().map(Some).collect(),
            };
            for target in targets {
                members.extend(source.members(origin, channel, target).await?);
            }
            memberships = members
                .iter()
                .map(|p| Membership {
                    channel: channel.clone(),
                    ident: p.ident.clone(),
                    target: p.target,
                })
                .collect();
        }
        Wanted::Sets(sets) => {
            let mut seen = BTreeSet::new();
            for set in sets {
                if !selection.targets.is_empty() && !selection.targets.contains(&set.target) {
                    continue;
                }
                for ident in &set.idents {
                    let Some((item, member)) =
                        source.resolve(ident, set.target, &set.channel).await?
                    else {
                        return Err(BundleError::NotFound {
                            ident: ident.clone(),
                            target: set.target,
                            channel: set.channel.clone(),
                        });
                    };
                    let id = (set.channel.to_string(), item.ident.to_string(), item.target);
                    if member && seen.insert(id) {
                        memberships.push(Membership {
                            channel: set.channel.clone(),
                            ident: item.ident.clone(),
                            target: item.target,
                        });
                    }
                    members.push(item);
                }
            }
        }
    }
    Ok((members, memberships))
}

/// Downloads every package from the upstream into `dir`, four at a time, and checks each
/// before it may go into a bundle: the checksum the upstream listed, the signer is a key of
/// the package's origin among `keys`, the signature and payload hash, and the package and
/// target it holds. Records each one's size.
async fn download_all(
    client: &Client,
    packages: &mut [Item],
    keys: &[PublicKey],
    dir: &Path,
) -> Result<()> {
    let keys: HashMap<NamedRevision, PublicKey> =
        keys.iter().map(|k| (k.name().clone(), k.clone())).collect();
    let mut sizes: Vec<u64> = Vec::with_capacity(packages.len());
    {
        let mut downloads = futures_util::stream::iter(packages.iter())
            .map(|package| async move {
                let answer = client
                    .download(&package.ident, package.target, None, dir, |_| {})
                    .await;
                (package, answer)
            })
            .buffered(PARALLEL_DOWNLOADS);
        while let Some((package, answer)) = downloads.next().await {
            let name = package.ident.archive_name(package.target);
            let downloaded = answer.map_err(upstream(format!(
                "the artifact of {} for `{}`",
                package.ident, package.target
            )))?;
            let expected = dir.join(&name);
            if downloaded.path != expected {
                // Named as this depot names it, where the tar writer finds it.
                std::fs::rename(&downloaded.path, &expected)
                    .map_err(io("rename the download to", &expected))?;
            }
            if downloaded.checksum != package.checksum {
                return Err(BundleError::BadArtifact {
                    path: format!("artifacts/{name}"),
                    reason: format!(
                        "the downloaded file has checksum `{}`, the upstream lists `{}`",
                        downloaded.checksum, package.checksum
                    ),
                });
            }
            check_download(&expected, package, &keys).await?;
            sizes.push(downloaded.size);
        }
    }
    for (package, size) in packages.iter_mut().zip(sizes) {
        package.size = size;
    }
    Ok(())
}

/// A downloaded artifact is signed by a key of its origin among `keys`, verifies with it, and
/// holds the package and target listed.
async fn check_download(
    path: &Path,
    package: &Item,
    keys: &HashMap<NamedRevision, PublicKey>,
) -> Result<()> {
    let bad = |reason: String| BundleError::BadArtifact {
        path: format!("artifacts/{}", package.ident.archive_name(package.target)),
        reason,
    };
    let owned = path.to_owned();
    let signer = tokio::task::spawn_blocking(move || {
        Artifact::open(&owned).map(|a| a.header().signer().clone())
    })
    .await?
    .map_err(|e| bad(e.to_string()))?;
    artifact::check_signer(&package.ident, &signer).map_err(|e| bad(e.to_string()))?;
    let key = keys
        .get(&signer)
        .ok_or_else(|| {
            bad(format!(
                "its signing key `{signer}` is not a key the upstream has for its origin"
            ))
        })?
        .clone();
    let owned = path.to_owned();
    let (_, metadata) = tokio::task::spawn_blocking(move || {
        verify_and_read(&owned, &key, &UnpackLimits::default())
    })
    .await?
    .map_err(|e| bad(e.to_string()))?;
    if metadata.ident != package.ident || metadata.target != package.target {
        return Err(bad(format!(
            "it holds `{}` for `{}`, the upstream lists `{}` for `{}`",
            metadata.ident, metadata.target, package.ident, package.target
        )));
    }
    Ok(())
}

fn file_header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
    mtime: u64,
    out: &Path,
) -> Result<()> {
    let mut header = file_header(bytes.len() as u64, mtime);
    tar.append_data(&mut header, path, bytes)
        .map_err(io("write", out))
}

/// A package's artifact copied from the artifact store to a temp file, its size and checksum
/// checked against the row.
async fn fetch_artifact(state: &AppState, package: &Item) -> Result<NamedTempFile> {
    let opened = state
        .artifacts
        .open(&package.checksum, 0)
        .await?
        .ok_or_else(|| BundleError::BadArtifact {
            path: package.ident.archive_name(package.target),
            reason: "its artifact is missing from the artifact store (run `hab-depot fsck`)".into(),
        })?;
    let temp =
        NamedTempFile::new_in(&state.tmp_dir).map_err(io("create a file in", &state.tmp_dir))?;
    let mut file = tokio::fs::File::from_std(temp.reopen().map_err(io("write", temp.path()))?);
    let mut reader = opened.reader;
    tokio::io::copy(&mut reader, &mut file)
        .await
        .map_err(io("copy the artifact into", temp.path()))?;
    drop(file);
    let path = temp.path().to_owned();
    let (checksum, size) = tokio::task::spawn_blocking(move || {
        let size = std::fs::metadata(&path)?.len();
        Blake2bHash::of_reader(std::fs::File::open(&path)?).map(|h| (h, size))
    })
    .await?
    .map_err(io("read", temp.path()))?;
    if checksum != package.checksum || size != package.size {
        return Err(BundleError::FileMismatch {
            path: package.ident.archive_name(package.target),
            size,
            found: checksum,
            expected_size: package.size,
            expected: package.checksum.to_string(),
        });
    }
    Ok(temp)
}

/// The signature file of `manifest`: `BUNDLE-SIG-1`, the signer's named revision, a blank line,
/// and the base64 of the 64-byte Ed25519 signature of the manifest's bytes.
pub fn signature_file(key: &SecretKey, manifest: &[u8]) -> String {
    let combined = key.sign_combined(manifest);
    let signature = &combined[..combined.len() - manifest.len()];
    format!(
        "{SIGNATURE_KIND}\n{}\n\n{}\n",
        key.name(),
        BASE64.encode(signature)
    )
}

/// The transfer keys of `trusted_bundle_keys` in the settings, read and parsed.
pub fn trusted_bundle_keys(state: &AppState) -> Result<Vec<PublicKey>> {
    state
        .settings
        .trusted_bundle_keys
        .iter()
        .map(|path| read_transfer_key(path))
        .collect()
}

/// A transfer key's public file (`NAME-REVISION.pub`).
pub fn read_transfer_key(path: &Path) -> Result<PublicKey> {
    let problem = |problem: String| BundleError::TrustedKeyFile {
        path: path.to_owned(),
        problem,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
    PublicKey::parse(&text).map_err(|e| problem(format!("not a public signing key: {e}")))
}

/// The trusted keys' names, for a message.
fn names(trusted: &[PublicKey]) -> String {
    trusted
        .iter()
        .map(|k| format!("`{}`", k.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a signature file against `manifest` and the trusted keys: the signer it names picks
/// its key among them. The key that verified.
pub fn verify_signature<'k>(
    trusted: &'k [PublicKey],
    manifest: &[u8],
    signature: &str,
) -> Result<&'k PublicKey> {
    let malformed = |reason: &str| BundleError::Malformed(format!("`{SIGNATURE}`: {reason}"));
    let mut lines = signature.lines();
    if lines.next() != Some(SIGNATURE_KIND) {
        return Err(malformed("its first line is not `BUNDLE-SIG-1`"));
    }
    let signer = lines.next().unwrap_or_default();
    let Some(key) = trusted.iter().find(|k| k.name().to_string() == signer) else {
        if trusted.is_empty() {
            return Err(BundleError::NoTrustedKey);
        }
        return Err(BundleError::UntrustedSigner {
            found: signer.chars().take(200).collect(),
            trusted: names(trusted),
        });
    };
    if lines.next() != Some("") {
        return Err(malformed("line 3 must be blank"));
    }
    let bytes = BASE64
        .decode(lines.next().unwrap_or_default().trim())
        .map_err(|_| malformed("line 4 is not base64"))?;
    if bytes.len() != 64 {
        return Err(malformed("the signature is not 64 bytes"));
    }
    let mut combined = bytes;
    combined.extend_from_slice(manifest);
    key.open(&combined).map_err(|_| BundleError::BadSignature {
        trusted: key.name().clone(),
    })?;
    Ok(key)
}

/// What an import trusts.
#[derive(Clone, Debug)]
pub enum Trust {
    /// A signed bundle (a tar): its manifest must be signed with one of these pinned transfer
    /// keys (`--trust-key` and `trusted_bundle_keys`), the one its signature file names.
    Keys(Vec<PublicKey>),
    /// A directory written by `hab pkg download` (`artifacts/*.hart`, `keys/*.pub`), with no
    /// manifest: the artifacts' signatures and the keys are still checked; every package is
    /// added to these channels of its origin.
    Unsigned {
        /// The channels to add every package to.
        channels: Vec<ChannelName>,
    },
}

/// How an import runs.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// What the bundle is checked against.
    pub trust: Trust,
    /// The account recorded as the owner of new packages and of origins the import creates.
    pub account: Account,
    /// Check everything, write nothing.
    pub dry_run: bool,
}

/// What [`import`] did (or, for a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Packages stored now.
    pub new: usize,
    /// Packages this depot had already (the identical artifact).
    pub present: usize,
    /// Origins created.
    pub origins: usize,
    /// Keys added.
    pub keys: usize,
    /// Channel memberships applied.
    pub memberships: usize,
    /// An import of this very bundle began before and did not end (it was interrupted): this
    /// one finished it.
    pub resumed: bool,
}

/// The last bundle imported from each signer, as [`SEQUENCE_FILE`] kept it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Sequences {
    signers: BTreeMap<String, LastImport>,
}

#[derive(Debug, Serialize, Deserialize)]
struct LastImport {
    sequence: u64,
    /// BLAKE2b of its manifest: the same bundle may be imported again (changing nothing).
    manifest: String,
}

fn read_sequences(path: &Path) -> Result<Option<Sequences>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| BundleError::SequenceFile {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BundleError::SequenceFile {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// The last bundle imported from `signer`: from the metadata store, after moving the sequences
/// of an old [`SEQUENCE_FILE`] into it (once: the file is renamed then). A dry run writes
/// nothing and reads the file's sequence beside the store's.
async fn last_import(
    state: &AppState,
    signer: &str,
    dry_run: bool,
) -> Result<Option<BundleImport>> {
    let path = state.settings.data_dir.join(SEQUENCE_FILE);
    let legacy = read_sequences(&path)?;
    let mut from_file = None;
    if let Some(legacy) = legacy {
        for (name, last) in legacy.signers {
            let import = BundleImport {
                signer: name.clone(),
                sequence: last.sequence,
                manifest: last.manifest,
                completed: true,
            };
            if dry_run {
                if name == signer {
                    from_file = Some(import);
                }
                continue;
            }
            let newer = match state.metadata.bundle_import(&name).await? {
                Some(stored) => stored.sequence < import.sequence,
                None => true,
            };
            if newer {
                match state.metadata.record_bundle_import(&import).await {
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if !dry_run {
            let moved = state.settings.data_dir.join(SEQUENCE_FILE_MOVED);
            std::fs::rename(&path, &moved).map_err(|e| BundleError::SequenceFile {
                path: path.clone(),
                reason: format!("cannot rename it to `{}`: {e}", moved.display()),
            })?;
        }
    }
    let stored = state.metadata.bundle_import(signer).await?;
    Ok(match (stored, from_file) {
        (Some(stored), Some(file)) if file.sequence > stored.sequence => Some(file),
        (stored, file) => stored.or(file),
    })
}

/// A bundle's files, read and checked: each in a temp file of the depot's temp directory.
struct Unpacked {
    /// A signed bundle's manifest and its BLAKE2b; `None` for a download directory.
    signed: Option<(Manifest, Blake2bHash)>,
    keys: Vec<KeyEntry>,
    /// Each artifact's path, with the package and target the manifest says it holds.
    packages: Vec<(String, Option<(FullyQualifiedIdent, PackageTarget)>)>,
    files: HashMap<String, (NamedTempFile, Blake2bHash, u64)>,
}

/// Reads a `hab pkg download` directory: every `artifacts/*.hart` and `keys/*.pub` copied into
/// a temp file; the key names from the file names.
fn unpack_dir(dir: &Path, tmp_dir: &Path) -> Result<Unpacked> {
    let mut unpacked = Unpacked {
        signed: None,
        keys: Vec::new(),
        packages: Vec::new(),
        files: HashMap::new(),
    };
    for (sub, extension) in [("artifacts", ".hart"), ("keys", ".pub")] {
        let folder = dir.join(sub);
        let listing = match std::fs::read_dir(&folder) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && sub == "keys" => continue,
            Err(e) => return Err(io("read", &folder)(e)),
        };
        let mut names = Vec::new();
        for item in listing {
            let item = item.map_err(io("read", &folder))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name.ends_with(extension) && item.path().is_file() {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let path = format!("{sub}/{name}");
            let source = folder.join(&name);
            let temp = NamedTempFile::new_in(tmp_dir).map_err(io("create a file in", tmp_dir))?;
            let mut writer = HashingWriter::new(std::io::BufWriter::new(
                temp.reopen().map_err(io("write", temp.path()))?,
            ));
            let mut reader = std::fs::File::open(&source).map_err(io("read", &source))?;
            let size = std::io::copy(&mut reader, &mut writer).map_err(io("copy", &source))?;
            let (hash, mut inner) = writer.finish();
            inner.flush().map_err(io("write", temp.path()))?;
            if sub == "keys" {
                let stem = name.trim_end_matches(extension);
                let key_name: NamedRevision =
                    stem.parse()
                        .map_err(|e: habitat_core::Error| BundleError::BadKey {
                            path: path.clone(),
                            reason: e.to_string(),
                        })?;
                unpacked.keys.push(KeyEntry {
                    name: key_name,
                    path: path.clone(),
                });
            } else {
                unpacked.packages.push((path.clone(), None));
            }
            unpacked.files.insert(path, (temp, hash, size));
        }
    }
    if unpacked.packages.is_empty() {
        return Err(BundleError::Malformed(format!(
            "`{}` holds no `artifacts/*.hart`",
            dir.display()
        )));
    }
    Ok(unpacked)
}

/// Reads the tar: the manifest and its signature first (checked before anything else is
/// read), then every listed file into a temp file, checking size and checksum.
fn unpack(bundle: &Path, trusted: &[PublicKey], tmp_dir: &Path) -> Result<Unpacked> {
    let file = std::fs::File::open(bundle).map_err(io("open", bundle))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut entries = archive.entries().map_err(io("read", bundle))?;
    let mut small = |expected: &str| -> Result<Vec<u8>> {
        let mut entry = entries
            .next()
            .ok_or_else(|| BundleError::Malformed(format!("`{expected}` is missing")))?
            .map_err(io("read", bundle))?;
        let path = entry_path(&entry)?;
        if path != expected {
            return Err(BundleError::Malformed(format!(
                "the entry is `{path}` where `{expected}` must be"
            )));
        }
        if entry.size() > MAX_MANIFEST_BYTES {
            return Err(BundleError::Malformed(format!("`{expected}` is too large")));
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(io("read", bundle))?;
        Ok(bytes)
    };
    let manifest_bytes = small(MANIFEST)?;
    let signature = small(SIGNATURE)?;
    let signature = String::from_utf8(signature)
        .map_err(|_| BundleError::Malformed(format!("`{SIGNATURE}` is not text")))?;
    let trusted = verify_signature(trusted, &manifest_bytes, &signature)?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| BundleError::Malformed(format!("`{MANIFEST}`: {e}")))?;
    if manifest.format != FORMAT {
        return Err(BundleError::Malformed(format!(
            "manifest format `{}` is not supported (this depot reads `{FORMAT}`)",
            manifest.format
        )));
    }
    if manifest.signer != *trusted.name() {
        return Err(BundleError::UntrustedSigner {
            found: manifest.signer.to_string(),
            trusted: format!("`{}`", trusted.name()),
        });
    }
    let listed: HashMap<&str, &FileEntry> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    for entry in &manifest.files {
        check_listed_path(&entry.path)?;
    }
    let mut files = HashMap::new();
    for entry in entries {
        let mut entry = entry.map_err(io("read", bundle))?;
        let path = entry_path(&entry)?;
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let Some(listing) = listed.get(path.as_str()) else {
            return Err(BundleError::FileListing {
                path,
                problem: "not listed in the manifest",
            });
        };
        if files.contains_key(&path) {
            return Err(BundleError::Malformed(format!(
                "`{path}` is in the tar twice"
            )));
        }
        let temp = NamedTempFile::new_in(tmp_dir).map_err(io("create a file in", tmp_dir))?;
        let mut writer = HashingWriter::new(std::io::BufWriter::new(
            temp.reopen().map_err(io("write", temp.path()))?,
        ));
        let size = std::io::copy(&mut entry, &mut writer).map_err(io("read", bundle))?;
        let (hash, mut inner) = writer.finish();
        inner.flush().map_err(io("write", temp.path()))?;
        if size != listing.size || hash.to_string() != listing.blake2b.to_ascii_lowercase() {
            return Err(BundleError::FileMismatch {
                path,
                size,
                found: hash,
                expected_size: listing.size,
                expected: listing.blake2b.clone(),
            });
        }
        files.insert(path, (temp, hash, size));
    }
    for entry in &manifest.files {
        if !files.contains_key(&entry.path) {
            return Err(BundleError::FileListing {
                path: entry.path.clone(),
                problem: "missing from the bundle",
            });
        }
    }
    Ok(Unpacked {
        keys: manifest.keys.clone(),
        packages: manifest
            .packages
            .iter()
            .map(|p| (p.path.clone(), Some((p.ident.clone(), p.target))))
            .collect(),
        signed: Some((manifest, Blake2bHash::digest(&manifest_bytes))),
        files,
    })
}

fn entry_path<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String> {
    let path = entry
        .path()
        .map_err(|e| BundleError::Malformed(format!("an entry's path does not read: {e}")))?;
    Ok(path.to_string_lossy().into_owned())
}

/// A listed path is `artifacts/NAME.hart` or `keys/NAME.pub`, NAME one plain file name.
fn check_listed_path(path: &str) -> Result<()> {
    let plain =
        |name: &str| !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']);
    let ok = match path.split_once('/') {
        Some(("artifacts", name)) => plain(name) && name.ends_with(".hart"),
        Some(("keys", name)) => plain(name) && name.ends_with(".pub"),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(BundleError::Malformed(format!(
            "`{path}` is neither `artifacts/NAME.hart` nor `keys/NAME.pub`"
        )))
    }
}

/// A package of the bundle, checked.
struct Checked {
    entry: PackageEntry,
    tdeps: Vec<FullyQualifiedIdent>,
    /// Whether this depot has it already (the identical artifact).
    present: bool,
}

/// Imports a bundle: every check first (signature, expiry, sequence, each file's size and
/// checksum, each key against this depot's, each artifact's signature and identity, conflicts,
/// the dependency closure, the channel memberships), then, unless a dry run, the origins and
/// keys it lacks, the packages dependencies first (through [`ingest`]), the memberships, and
/// the signer's new sequence. A failed check writes nothing.
pub async fn import(state: &AppState, bundle: &Path, options: &ImportOptions) -> Result<Imported> {
    let (path, tmp_dir) = (bundle.to_owned(), state.tmp_dir.clone());
    let mut unpacked = match &options.trust {
        Trust::Keys(trusted) => {
            if trusted.is_empty() {
                return Err(BundleError::NoTrustedKey);
            }
            let trusted = trusted.clone();
            tokio::task::spawn_blocking(move || unpack(&path, &trusted, &tmp_dir)).await??
        }
        Trust::Unsigned { .. } => {
            tokio::task::spawn_blocking(move || unpack_dir(&path, &tmp_dir)).await??
        }
    };

    // Whether this very bundle's import began before and did not end: this one finishes it.
    let mut resumed = false;
    if let Some((manifest, hash)) = &unpacked.signed {
        let now = OffsetDateTime::now_utc();
        if now > manifest.expires {
            return Err(BundleError::Expired {
                expires: manifest.expires,
            });
        }
        let signer = manifest.signer.name().to_owned();
        if let Some(last) = last_import(state, &signer, options.dry_run).await? {
            let same = last.sequence == manifest.sequence && last.manifest == hash.to_string();
            if manifest.sequence < last.sequence || (manifest.sequence == last.sequence && !same) {
                return Err(BundleError::Replayed {
                    signer,
                    sequence: manifest.sequence,
                    last: last.sequence,
                });
            }
            resumed = same && !last.completed;
        }
    }

    // Keys: each parses, is the one named, and equals this depot's key of that name if any.
    let mut keys: HashMap<NamedRevision, PublicKey> = HashMap::new();
    let mut new_keys: Vec<(OriginName, PublicKey)> = Vec::new();
    for entry in &unpacked.keys {
        let (file, _, _) =
            unpacked
                .files
                .get(&entry.path)
                .ok_or_else(|| BundleError::FileListing {
                    path: entry.path.clone(),
                    problem: "missing from the bundle",
                })?;
        let bad = |reason: String| BundleError::BadKey {
            path: entry.path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(file.path()).map_err(|e| bad(e.to_string()))?;
        let key = PublicKey::parse(&text).map_err(|e| bad(e.to_string()))?;
        if *key.name() != entry.name {
            return Err(bad(format!(
                "it holds key `{}`, not `{}`",
                key.name(),
                entry.name
            )));
        }
        let origin: OriginName = key
            .name()
            .name()
            .parse()
            .map_err(|e: habitat_core::Error| bad(e.to_string()))?;
        match state
            .metadata
            .public_key(&origin, key.name().revision())
            .await?
        {
            Some(stored) => {
                let same =
                    PublicKey::parse(&stored.body).is_ok_and(|s| s.as_bytes() == key.as_bytes());
                if !same {
                    return Err(BundleError::KeyConflict {
                        name: key.name().clone(),
                    });
                }
            }
            None => new_keys.push((origin, key.clone())),
        }
        keys.insert(key.name().clone(), key);
    }

    // Artifacts: each verifies with its signer's key (the bundle's, else this depot's), holds
    // the package the manifest says, and is new or identical to this depot's.
    let mut checked: Vec<Checked> = Vec::new();
    for (entry_path, expected) in &unpacked.packages {
        let (file, checksum, _) =
            unpacked
                .files
                .get(entry_path)
                .ok_or_else(|| BundleError::FileListing {
                    path: entry_path.clone(),
                    problem: "missing from the bundle",
                })?;
        let bad = |reason: String| BundleError::BadArtifact {
            path: entry_path.clone(),
            reason,
        };
        let path = file.path().to_owned();
        let header = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || Artifact::open(&path).map(|a| a.header().clone()))
                .await?
                .map_err(|e| bad(e.to_string()))?
        };
        let signer = header.signer().clone();
        let accepted = |ident: &FullyQualifiedIdent, target: PackageTarget| {
            artifact::check_signer(ident, &signer).map_err(|e| bad(e.to_string()))?;
            if state.settings.targets.contains(&target) {
                Ok(())
            } else {
                Err(bad(format!(
                    "this depot does not accept packages for `{target}`"
                )))
            }
        };
        if let Some((ident, target)) = expected {
            accepted(ident, *target)?;
        }
        let key = match keys.get(&signer) {
            Some(key) => key.clone(),
            None => {
                let origin: OriginName = signer
                    .name()
                    .parse()
                    .map_err(|e: habitat_core::Error| bad(e.to_string()))?;
                let stored = state
                    .metadata
                    .public_key(&origin, signer.revision())
                    .await?
                    .ok_or_else(|| {
                        bad(format!(
                            "its signing key `{signer}` is in neither the bundle nor this depot"
                        ))
                    })?;
                PublicKey::parse(&stored.body).map_err(|e| bad(e.to_string()))?
            }
        };
        let (_, metadata) = tokio::task::spawn_blocking(move || {
            verify_and_read(&path, &key, &UnpackLimits::default())
        })
        .await?
        .map_err(|e| bad(e.to_string()))?;
        match expected {
            Some((ident, target)) if metadata.ident != *ident || metadata.target != *target => {
                return Err(bad(format!(
                    "it holds `{}` for `{}`, the manifest says `{ident}` for `{target}`",
                    metadata.ident, metadata.target
                )));
            }
            Some(_) => {}
            None => accepted(&metadata.ident, metadata.target)?,
        }
        let entry = PackageEntry {
            ident: metadata.ident.clone(),
            target: metadata.target,
            path: entry_path.clone(),
        };
        let present = match state.metadata.package(&entry.ident, entry.target).await? {
            Some(stored) if stored.checksum == *checksum => true,
            Some(stored) => {
                return Err(BundleError::Conflict {
                    ident: entry.ident.clone(),
                    target: entry.target,
                    stored: stored.checksum,
                });
            }
            None => false,
        };
        checked.push(Checked {
            entry: entry.clone(),
            tdeps: metadata.tdeps,
            present,
        });
    }

    // The dependency closure against the bundle plus this depot.
    let in_bundle: BTreeSet<(String, PackageTarget)> = checked
        .iter()
        .map(|c| (c.entry.ident.to_string(), c.entry.target))
        .collect();
    for package in &checked {
        for dependency in &package.tdeps {
            if in_bundle.contains(&(dependency.to_string(), package.entry.target)) {
                continue;
            }
            if state
                .metadata
                .package(dependency, package.entry.target)
                .await?
                .is_none()
            {
                return Err(BundleError::MissingDependency {
                    ident: package.entry.ident.clone(),
                    dependency: dependency.clone(),
                    target: package.entry.target,
                });
            }
        }
    }
    let channels: Vec<Membership> = match (&unpacked.signed, &options.trust) {
        (Some((manifest, _)), _) => manifest.channels.clone(),
        (None, Trust::Unsigned { channels }) => checked
            .iter()
            .flat_map(|c| {
                channels.iter().map(|channel| Membership {
                    channel: channel.clone(),
                    ident: c.entry.ident.clone(),
                    target: c.entry.target,
                })
            })
            .collect(),
        (None, Trust::Keys(_)) => Vec::new(),
    };
    for membership in &channels {
        if !in_bundle.contains(&(membership.ident.to_string(), membership.target))
            && state
                .metadata
                .package(&membership.ident, membership.target)
                .await?
                .is_none()
        {
            return Err(BundleError::UnknownMember {
                channel: membership.channel.clone(),
                ident: membership.ident.clone(),
                target: membership.target,
            });
        }
    }

    let origins: BTreeSet<OriginName> = checked
        .iter()
        .map(|c| c.entry.ident.origin().clone())
        .chain(new_keys.iter().map(|(o, _)| o.clone()))
        .collect();
    let mut missing_origins = Vec::new();
    for origin in origins {
        if state.metadata.origin(&origin).await?.is_none() {
            missing_origins.push(origin);
        }
    }
    let mut report = Imported {
        new: checked.iter().filter(|c| !c.present).count(),
        present: checked.iter().filter(|c| c.present).count(),
        origins: missing_origins.len(),
        keys: new_keys.len(),
        memberships: channels.len(),
        resumed,
    };
    if options.dry_run {
        // What would be added: memberships of packages this depot has count only when the
        // package is not in that channel yet.
        let mut memberships = 0;
        for membership in &channels {
            let held = state
                .metadata
                .package(&membership.ident, membership.target)
                .await?;
            let already = match held {
                Some(package) => state
                    .metadata
                    .package_channels(package.id)
                    .await?
                    .iter()
                    .any(|m| m.name == membership.channel),
                None => false,
            };
            if !already {
                memberships += 1;
            }
        }
        report.memberships = memberships;
        return Ok(report);
    }

    // Every check passed: write. The import is recorded first as begun, so that an older
    // bundle of the signer is refused from now on even if this one is interrupted, and only
    // this very bundle can finish it; then as completed at the end.
    let done = unpacked
        .signed
        .as_ref()
        .map(|(manifest, hash)| BundleImport {
            signer: manifest.signer.name().to_owned(),
            sequence: manifest.sequence,
            manifest: hash.to_string(),
            completed: true,
        });
    if let Some(done) = &done {
        let begun = BundleImport {
            completed: false,
            ..done.clone()
        };
        state.metadata.record_bundle_import(&begun).await?;
    }
    for origin in &missing_origins {
        match state
            .metadata
            .create_origin(origin, options.account.id, Visibility::Public)
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for (origin, key) in &new_keys {
        match state
            .metadata
            .add_public_key(origin, key.name().revision(), &key.to_file_string())
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    super::dependencies_first(
        &mut checked,
        |c| c.tdeps.len(),
        |c| c.entry.ident.to_string(),
    );
    let mut new = 0;
    for package in checked.iter().filter(|c| !c.present) {
        let Some((file, checksum, size)) = unpacked.files.remove(&package.entry.path) else {
            continue;
        };
        let claim = Claim {
            ident: package.entry.ident.clone(),
            target: package.entry.target,
            checksum: Some(checksum),
            forced: true,
            source: Source::Bundle {
                account: options.account.clone(),
                signer: unpacked.signed.as_ref().map(|(m, _)| m.signer.clone()),
            },
        };
        let failed = |source| BundleError::Ingest {
            ident: package.entry.ident.clone(),
            source,
        };
        let prechecked = ingest::precheck(state, &claim).await.map_err(failed)?;
        let received = Received {
            file,
            checksum,
            size,
        };
        if let Ingested::Stored(_) = ingest::ingest(state, received, &claim, prechecked)
            .await
            .map_err(failed)?
        {
            new += 1;
        }
    }
    report.new = new;
    // Every package is stored now (checked above: in the bundle or in this depot).
    let mut rows = Vec::with_capacity(channels.len());
    for membership in &channels {
        if let Some(package) = state
            .metadata
            .package(&membership.ident, membership.target)
            .await?
        {
            rows.push((
                package.id,
                membership.ident.origin().clone(),
                membership.channel.clone(),
            ));
        }
    }
    let applied = state
        .metadata
        .apply_memberships(&rows, &options.account.name)
        .await?;
    report.memberships = usize::try_from(applied).unwrap_or(usize::MAX);
    if let Some(done) = &done {
        state.metadata.record_bundle_import(done).await?;
    }
    Ok(report)
}
