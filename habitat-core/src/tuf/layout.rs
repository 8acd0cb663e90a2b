//! Where a depot's TUF repository puts things: the hashed bins, the target paths, the channel
//! index document, and how long each role's metadata stays valid (docs/security.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::metadata::{DelegatedRole, Delegations, Key, path_hash};
use crate::{FullyQualifiedIdent, OriginName};

/// Days a root stays valid.
pub const ROOT_DAYS: i64 = 365;
/// Days the top-level targets stays valid (it is signed offline, like root).
pub const TARGETS_DAYS: i64 = 365;
/// Days a bin or a snapshot stays valid.
pub const ONLINE_DAYS: i64 = 7;
/// Days a timestamp stays valid.
pub const TIMESTAMP_DAYS: i64 = 1;

/// Hex digits of a path's SHA-256 that choose its bin: two, so 256 bins.
pub const BIN_PREFIX_DIGITS: usize = 2;

/// The names of every bin, in order: `bin-00` … `bin-ff`.
pub fn bin_names() -> impl Iterator<Item = String> {
    (0..=0xffu32).map(|n| format!("bin-{n:02x}"))
}

/// The bin a target path belongs to.
pub fn bin_of(path: &str) -> String {
    format!("bin-{}", &path_hash(path)[..BIN_PREFIX_DIGITS])
}

/// The delegations of the top-level targets role: every bin, signed by `online`.
pub fn bin_delegations(online: &Key) -> Delegations {
    let keyid = online.id();
    Delegations {
        keys: BTreeMap::from([(keyid.clone(), online.clone())]),
        roles: bin_names()
            .map(|name| DelegatedRole {
                path_hash_prefixes: Some(vec![name["bin-".len()..].to_string()]),
                name,
                keyids: vec![keyid.clone()],
                threshold: 1,
                terminating: true,
                paths: None,
            })
            .collect(),
    }
}

/// The file name of a version of a role under consistent snapshots: `{version}.{role}.json`.
pub fn metadata_file(role: &str, version: u64) -> String {
    format!("{version}.{role}.json")
}

/// The target path of a channel's index of one package name and target:
/// `channels/{origin}/{channel}/{name}/{target}.json`.
pub fn channel_index_path(origin: &str, channel: &str, name: &str, target: &str) -> String {
    format!("channels/{origin}/{channel}/{name}/{target}.json")
}

/// The target path of an origin public key: `keys/{origin}/{origin}-{revision}.pub`.
pub fn origin_key_path(origin: &OriginName, revision: &str) -> String {
    format!("keys/{origin}/{origin}-{revision}.pub")
}

/// The releases of one package name and target in one channel, newest first: the target at
/// [`channel_index_path`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelIndex {
    /// The origin.
    pub origin: String,
    /// The channel.
    pub channel: String,
    /// The package name.
    pub name: String,
    /// The package target, e.g. `x86_64-linux`.
    pub target: String,
    /// Newest first, by the depot's version ordering.
    pub releases: Vec<IndexedRelease>,
}

/// One release in a [`ChannelIndex`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedRelease {
    /// `origin/name/version/release`.
    #[serde(with = "ident_text")]
    pub ident: FullyQualifiedIdent,
    /// BLAKE2b-256 of the `.hart`, hex (the depot's `checksum`).
    pub checksum: String,
    /// SHA-256 of the `.hart`, hex.
    pub sha256: String,
    /// Size of the `.hart` in bytes.
    pub size: u64,
    /// The key that signed it, `origin-revision`.
    pub signer: String,
}

/// A fully qualified ident written as its text.
mod ident_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::FullyQualifiedIdent;

    pub fn serialize<S: Serializer>(
        ident: &FullyQualifiedIdent,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(ident)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<FullyQualifiedIdent, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_has_exactly_one_bin() {
        let key = Key::ed25519(&ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key());
        let delegations = bin_delegations(&key);
        assert_eq!(delegations.roles.len(), 256);
        let path = channel_index_path("core", "stable", "redis", "x86_64-linux");
        let trusted: Vec<_> = delegations
            .roles
            .iter()
            .filter(|role| role.is_trusted_for(&path))
            .map(|role| role.name.clone())
            .collect();
        assert_eq!(trusted, vec![bin_of(&path)]);
    }

    #[test]
    fn an_index_writes_idents_as_text() {
        let index = ChannelIndex {
            origin: "core".into(),
            channel: "stable".into(),
            name: "redis".into(),
            target: "x86_64-linux".into(),
            releases: vec![IndexedRelease {
                ident: "core/redis/4.0.14/20190319155852".parse().expect("ident"),
                checksum: "ab".repeat(32),
                sha256: "cd".repeat(32),
                size: 5,
                signer: "core-20180119235000".into(),
            }],
        };
        let text = serde_json::to_string(&index).expect("json");
        assert!(
            text.contains(r#""ident":"core/redis/4.0.14/20190319155852""#),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<ChannelIndex>(&text).expect("back"),
            index
        );
    }
}
