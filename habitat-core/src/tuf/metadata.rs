//! The metadata documents of The Update Framework (specification 1.0.31): root, targets (and
//! the delegated bins, which are targets documents too), snapshot and timestamp, each wrapped
//! in [`Signed`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::Digest;
use time::OffsetDateTime;

use super::TufError;

/// The specification version the depot writes.
pub const SPEC_VERSION: &str = "1.0.31";

/// A role document: its `_type` and the fields every role has.
pub trait Role: Serialize + for<'de> Deserialize<'de> {
    /// The `_type` value (`root`, `targets`, `snapshot`, `timestamp`).
    const TYPE: &'static str;
    /// The document's `_type` as read.
    fn type_name(&self) -> &str;
    /// Its version.
    fn version(&self) -> u64;
    /// When it stops being valid.
    fn expires(&self) -> OffsetDateTime;
}

/// A signed document: the signatures over the canonical JSON of `signed`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Signed<T> {
    /// One per key that signed.
    pub signatures: Vec<Signature>,
    /// The document.
    pub signed: T,
}

/// One signature: the key's id and the Ed25519 signature, in hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signing key's id.
    pub keyid: String,
    /// The signature, hex.
    pub sig: String,
}

/// A public key as metadata lists it. Only `ed25519` keys can verify; others are kept as read
/// and never count towards a threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// `ed25519`.
    pub keytype: String,
    /// `ed25519`.
    pub scheme: String,
    /// The public value.
    pub keyval: KeyValue,
}

/// The public part of a [`Key`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// 32 bytes, hex.
    pub public: String,
}

impl Key {
    /// The metadata form of an Ed25519 public key.
    pub fn ed25519(public: &ed25519_dalek::VerifyingKey) -> Self {
        Self {
            keytype: "ed25519".into(),
            scheme: "ed25519".into(),
            keyval: KeyValue {
                public: crate::hash::hex(public.as_bytes()),
            },
        }
    }

    /// The key id: the SHA-256 of the key's canonical JSON, hex.
    pub fn id(&self) -> String {
        // A key is strings only: canonical JSON cannot fail on it.
        let bytes = super::canonical_json(self).unwrap_or_default();
        crate::hash::hex(&sha2::Sha256::digest(&bytes))
    }

    /// The Ed25519 key, if this is one.
    pub fn verifying_key(&self) -> Option<ed25519_dalek::VerifyingKey> {
        if self.keytype != "ed25519" || self.scheme != "ed25519" {
            return None;
        }
        let bytes = crate::hash::from_hex::<32>(&self.keyval.public)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
    }
}

/// The keys of one role and how many of them must sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleKeys {
    /// The ids of the role's keys.
    pub keyids: Vec<String>,
    /// How many distinct keys must sign.
    pub threshold: u32,
}

/// The root document: every top-level role's keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Root {
    /// `root`.
    #[serde(rename = "_type")]
    pub type_name: String,
    /// The specification version.
    pub spec_version: String,
    /// Starts at 1; each new root is one more.
    pub version: u64,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// Whether metadata and targets are published under versioned and hashed names.
    pub consistent_snapshot: bool,
    /// Every key any role uses, by id.
    pub keys: BTreeMap<String, Key>,
    /// `root`, `targets`, `snapshot`, `timestamp`.
    pub roles: BTreeMap<String, RoleKeys>,
}

/// A targets document: the top-level `targets` role or a delegated one (a bin).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Targets {
    /// `targets`.
    #[serde(rename = "_type")]
    pub type_name: String,
    /// The specification version.
    pub spec_version: String,
    /// Version.
    pub version: u64,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// Target files by path.
    pub targets: BTreeMap<String, TargetFile>,
    /// Roles this one hands parts of the target paths to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegations: Option<Delegations>,
}

/// A target file's length and hashes (`sha256` and, from the depot, `blake2b-256`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetFile {
    /// Bytes.
    pub length: u64,
    /// Hex digests by algorithm name.
    pub hashes: BTreeMap<String, String>,
}

/// The delegations of a targets role.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delegations {
    /// The delegated roles' keys, by id.
    pub keys: BTreeMap<String, Key>,
    /// The delegated roles, in the order they are searched.
    pub roles: Vec<DelegatedRole>,
}

/// One delegated role.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DelegatedRole {
    /// The role's name (its file is `{version}.{name}.json`).
    pub name: String,
    /// Its keys' ids.
    pub keyids: Vec<String>,
    /// How many of them must sign.
    pub threshold: u32,
    /// Whether a search that reaches this role ends here.
    pub terminating: bool,
    /// Path patterns it is trusted for (unused by the depot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// Prefixes of the SHA-256 of the target paths it is trusted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hash_prefixes: Option<Vec<String>>,
}

impl DelegatedRole {
    /// Whether this role is trusted for `path`: its hash prefixes (the only delegation the
    /// depot writes) or its path patterns, where a `*` matches within one path segment.
    pub fn is_trusted_for(&self, path: &str) -> bool {
        if let Some(prefixes) = &self.path_hash_prefixes {
            let digest = path_hash(path);
            return prefixes.iter().any(|prefix| digest.starts_with(prefix));
        }
        self.paths
            .iter()
            .flatten()
            .any(|pattern| glob_matches(pattern, path))
    }
}

/// The SHA-256 of a target path, hex: what `path_hash_prefixes` are prefixes of.
pub fn path_hash(path: &str) -> String {
    crate::hash::hex(&sha2::Sha256::digest(path.as_bytes()))
}

/// A shell-style match of `pattern` against `path`, segment by segment (`*` never crosses `/`).
fn glob_matches(pattern: &str, path: &str) -> bool {
    let patterns: Vec<&str> = pattern.split('/').collect();
    let segments: Vec<&str> = path.split('/').collect();
    patterns.len() == segments.len()
        && patterns
            .iter()
            .zip(&segments)
            .all(|(pattern, segment)| segment_matches(pattern.as_bytes(), segment.as_bytes()))
}

fn segment_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| segment_matches(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && segment_matches(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && segment_matches(rest, &text[1..]),
    }
}

/// The snapshot document: the version of the top-level targets and of every delegated role.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// `snapshot`.
    #[serde(rename = "_type")]
    pub type_name: String,
    /// The specification version.
    pub spec_version: String,
    /// Version.
    pub version: u64,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// `{role}.json` → its version.
    pub meta: BTreeMap<String, MetaFile>,
}

/// The timestamp document: the current snapshot's version, length and hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Timestamp {
    /// `timestamp`.
    #[serde(rename = "_type")]
    pub type_name: String,
    /// The specification version.
    pub spec_version: String,
    /// Version.
    pub version: u64,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// `snapshot.json` → its version, length and hashes.
    pub meta: BTreeMap<String, MetaFile>,
}

/// What snapshot and timestamp say about another metadata file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaFile {
    /// Its version.
    pub version: u64,
    /// Its length in bytes, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// Its hex digests by algorithm, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<BTreeMap<String, String>>,
}

impl Timestamp {
    /// What it says of `snapshot.json`.
    pub fn snapshot_meta(&self) -> Result<&MetaFile, TufError> {
        self.meta
            .get("snapshot.json")
            .ok_or_else(|| TufError::Invalid("timestamp lists no `snapshot.json`".into()))
    }
}

macro_rules! role {
    ($type:ty, $name:literal) => {
        impl Role for $type {
            const TYPE: &'static str = $name;
            fn type_name(&self) -> &str {
                &self.type_name
            }
            fn version(&self) -> u64 {
                self.version
            }
            fn expires(&self) -> OffsetDateTime {
                self.expires
            }
        }
    };
}
role!(Root, "root");
role!(Targets, "targets");
role!(Snapshot, "snapshot");
role!(Timestamp, "timestamp");

/// A new document's expiry: `days` from `now`, to the whole second (metadata writes no
/// fractions).
pub fn expiry(now: OffsetDateTime, days: i64) -> OffsetDateTime {
    let at = now + time::Duration::days(days);
    at.replace_nanosecond(0).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_stay_within_a_segment() {
        assert!(glob_matches(
            "channels/*/stable/*",
            "channels/core/stable/redis"
        ));
        assert!(!glob_matches("channels/*", "channels/core/stable"));
        assert!(glob_matches(
            "keys/core/core-*.pub",
            "keys/core/core-2018.pub"
        ));
        assert!(!glob_matches(
            "keys/core/core-?.pub",
            "keys/core/core-12.pub"
        ));
    }

    #[test]
    fn hash_prefixes_pick_the_bin_of_a_path() {
        let path = "channels/core/stable/redis/x86_64-linux.json";
        let prefix = path_hash(path)[..2].to_string();
        let role = DelegatedRole {
            name: format!("bin-{prefix}"),
            keyids: vec![],
            threshold: 1,
            terminating: true,
            paths: None,
            path_hash_prefixes: Some(vec![prefix]),
        };
        assert!(role.is_trusted_for(path));
        assert!(!role.is_trusted_for("channels/core/stable/redis/aarch64-linux.json"));
    }
}
