//! A mirrored channel's members as the upstream has them, read at the least cost: the manifest
//! route of a `hab-depot` asked with the `ETag` of the manifest kept from the last clean run
//! (an unchanged channel answers `304`, and its members and their dependencies come from what
//! was kept), else the manifest whole, else (a Builder, without the route) the channel listing
//! and each member's package JSON.
//!
//! What is kept (a row of the metadata store per upstream, origin, channel and target, shared
//! by the processes of a scale-out depot) is the manifest's `ETag`, its members and their
//! dependencies, each with its checksum, TDEPS and owner.

use std::collections::{BTreeMap, HashMap};

use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use habitat_depot_client::{Client, ManifestAnswer, PackageListing};
use serde::{Deserialize, Serialize};

use super::Failure;
use crate::AppState;
use crate::store::{MirroredManifest, StoreError};
use crate::sync::fetch::Remote;

/// A package by ident (as text) and target.
pub(super) type Key = (String, PackageTarget);

/// What upstream says of packages, by [`Key`].
pub(super) type Known = HashMap<Key, Remote>;

/// The key of a package.
pub(super) fn key_of(remote: &Remote) -> Key {
    (remote.ident.to_string(), remote.target)
}

/// A channel read upstream in this run.
pub(super) struct Channel {
    /// The origin.
    pub origin: OriginName,
    /// The channel.
    pub channel: ChannelName,
    /// The target.
    pub target: PackageTarget,
    /// Its members.
    pub members: Vec<Remote>,
    /// The `ETag` of a manifest read whole in this run: kept, with the members, after a run
    /// without failures. None when the channel was unchanged (what is kept stays) or read
    /// without the manifest route.
    pub etag: Option<String>,
}

/// Why a channel could not be read.
pub(super) type ReadError = Box<dyn std::error::Error + Send + Sync>;

/// Reads `origin`'s `channel` for `target` from `upstream`; what it knows of dependencies from
/// the kept manifest goes into `known`. Only a failure of this depot's store is an `Err` of the
/// outer result.
pub(super) async fn read(
    state: &AppState,
    client: &Client,
    upstream: &str,
    (origin, channel, target): (&OriginName, &ChannelName, PackageTarget),
    known: &mut Known,
) -> Result<Result<Channel, ReadError>, StoreError> {
    let kept = state
        .metadata
        .mirrored_manifest(upstream, origin, channel, target)
        .await?
        // A row this version cannot read is as good as none: the channel is read whole.
        .and_then(|row| Some((serde_json::from_str::<Kept>(&row.packages).ok()?, row.etag)));
    let etag = kept.as_ref().map(|(_, etag)| etag.as_str());
    let channel_read = |members, etag| Channel {
        origin: origin.clone(),
        channel: channel.clone(),
        target,
        members,
        etag,
    };
    let answer = client.channel_manifest(origin, channel, target, etag).await;
    if let Some((kept, _)) = &kept {
        // What the upstream said of the dependencies before, when they were checked: their
        // checksums do not change under one ident.
        for dependency in &kept.dependencies {
            let remote = dependency.to_remote();
            known.insert(key_of(&remote), remote);
        }
    }
    match answer {
        Ok(ManifestAnswer::Unchanged) => match kept {
            Some((kept, _)) => {
                let members = kept.members.iter().map(KeptPackage::to_remote).collect();
                return Ok(Ok(channel_read(members, None)));
            }
            None => return Ok(Err(Box::new(Failure::UnaskedNotModified))),
        },
        Ok(ManifestAnswer::Changed { manifest, etag }) => {
            let members = manifest
                .packages
                .into_iter()
                .map(|p| Remote {
                    ident: p.ident,
                    target: p.target,
                    checksum: p.checksum,
                    tdeps: p.tdeps,
                    owner: p.owner,
                })
                .collect();
            return Ok(Ok(channel_read(members, etag)));
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Ok(Err(Box::new(e))),
    }
    let listing = PackageListing::origin(origin.clone())
        .in_channel(channel.clone())
        .for_target(target);
    let listed = match client.all_packages(&listing).await {
        Ok(listed) => listed,
        Err(e) => return Ok(Err(Box::new(e))),
    };
    let mut members = Vec::new();
    for listed in listed {
        match client.package(&listed.ident, target).await {
            Ok(package) => members.push(Remote {
                ident: package.ident,
                target: package.target,
                checksum: package.checksum,
                tdeps: package.tdeps,
                owner: package.owner,
            }),
            Err(e) => return Ok(Err(Box::new(e))),
        }
    }
    Ok(Ok(channel_read(members, None)))
}

/// Keeps `read`'s manifest (when it was read whole with an `ETag`) with its members and, from
/// `known`, their dependencies; a dependency not in `known` leaves the manifest unkept (the
/// next run reads it whole again).
pub(super) async fn keep(
    state: &AppState,
    upstream: &str,
    read: &Channel,
    known: &Known,
) -> Result<(), StoreError> {
    let Some(etag) = &read.etag else {
        return Ok(());
    };
    let mut dependencies: BTreeMap<Key, KeptPackage> = BTreeMap::new();
    for member in &read.members {
        for dependency in &member.tdeps {
            let key = (dependency.to_string(), member.target);
            match known.get(&key) {
                Some(remote) => {
                    dependencies.insert(key, KeptPackage::of(remote));
                }
                None => return Ok(()),
            }
        }
    }
    let kept = Kept {
        members: read.members.iter().map(KeptPackage::of).collect(),
        dependencies: dependencies.into_values().collect(),
    };
    let packages = serde_json::to_string(&kept)
        .map_err(|e| StoreError::Invalid(format!("cannot write a mirrored manifest: {e}")))?;
    state
        .metadata
        .put_mirrored_manifest(&MirroredManifest {
            upstream: upstream.to_owned(),
            origin: read.origin.clone(),
            channel: read.channel.clone(),
            target: read.target,
            etag: etag.clone(),
            packages,
        })
        .await
}

/// What is kept of a manifest.
#[derive(Serialize, Deserialize)]
struct Kept {
    members: Vec<KeptPackage>,
    dependencies: Vec<KeptPackage>,
}

/// What is kept of a package.
#[derive(Serialize, Deserialize)]
struct KeptPackage {
    ident: FullyQualifiedIdent,
    target: PackageTarget,
    #[serde(with = "checksum")]
    checksum: Blake2bHash,
    tdeps: Vec<FullyQualifiedIdent>,
    owner: Option<String>,
}

impl KeptPackage {
    fn of(remote: &Remote) -> Self {
        Self {
            ident: remote.ident.clone(),
            target: remote.target,
            checksum: remote.checksum,
            tdeps: remote.tdeps.clone(),
            owner: remote.owner.clone(),
        }
    }

    fn to_remote(&self) -> Remote {
        Remote {
            ident: self.ident.clone(),
            target: self.target,
            checksum: self.checksum,
            tdeps: self.tdeps.clone(),
            owner: self.owner.clone(),
        }
    }
}

/// A checksum as its hex text.
mod checksum {
    use habitat_core::Blake2bHash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(hash: &Blake2bHash, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(hash)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Blake2bHash, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
