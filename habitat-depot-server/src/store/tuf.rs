//! What the metadata store keeps of the depot's TUF repository (docs/security.md): the outbox of
//! changes still to publish, the published metadata versions, the target documents (channel
//! indexes and origin keys) with what the bins list now, and the online key.
//!
//! The store only keeps rows: building, signing and publishing metadata is the publisher's job.
//! Both SQL stores write an outbox row ([`TufChange`]) in the same transaction as each change
//! of which public release is in which channel, or of an origin's public keys, but only once
//! the repository is initialized (some metadata is stored).

use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use time::OffsetDateTime;

/// What an outbox row says changed, so which targets the publisher must build again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TufScope {
    /// The releases or channels of one package name of the origin (its channel indexes).
    Package(String),
    /// The origin's public keys (its `keys/` targets).
    Keys,
    /// Anything of the origin: a channel deleted, the origin deleted (every target of it).
    Origin,
}

impl TufScope {
    /// The scope's name as the outbox stores it: `package`, `keys` or `origin`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Package(_) => "package",
            Self::Keys => "keys",
            Self::Origin => "origin",
        }
    }

    /// The package name of [`TufScope::Package`].
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Package(name) => Some(name),
            Self::Keys | Self::Origin => None,
        }
    }

    /// The scope of an outbox row: its `scope` column and `name` (set for `package` only);
    /// `None` for a row this build does not know.
    pub fn from_row(scope: &str, name: Option<String>) -> Option<Self> {
        match (scope, name) {
            ("package", Some(name)) => Some(Self::Package(name)),
            ("keys", _) => Some(Self::Keys),
            ("origin", _) => Some(Self::Origin),
            _ => None,
        }
    }
}

/// One outbox row: something of `origin` changed and is not published yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TufChange {
    /// The row's id; a publish that covered it names it in [`TufPublish::consumed`].
    pub id: i64,
    /// The origin.
    pub origin: OriginName,
    /// What changed.
    pub scope: TufScope,
}

/// One public release in one channel, as a channel index lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TufIndexRow {
    /// The channel.
    pub channel: ChannelName,
    /// The release.
    pub ident: FullyQualifiedIdent,
    /// Its target.
    pub target: PackageTarget,
    /// BLAKE2b-256 of the `.hart` (the depot's `checksum`).
    pub checksum: Blake2bHash,
    /// SHA-256 of the `.hart`, lowercase hex; `None` until the backfill measured it.
    pub sha256: Option<String>,
    /// Size of the `.hart` in bytes.
    pub size: u64,
    /// The signing key's name (`origin-revision`); `None` until the backfill read it.
    pub signer: Option<String>,
}

/// A target the bins list now: its path and what its entry says of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TufCurrent {
    /// The target path (`channels/{origin}/{channel}/{name}/{target}.json`,
    /// `keys/{origin}/{origin}-{revision}.pub`).
    pub path: String,
    /// The bin role that lists it (`bin-00` … `bin-ff`).
    pub bin: String,
    /// SHA-256 of the body, lowercase hex.
    pub sha256: String,
    /// BLAKE2b-256 of the body, lowercase hex.
    pub blake2b: String,
    /// The body's length in bytes.
    pub length: u64,
}

/// A target to list in a bin: its entry and its body (kept, under its hashes, for the targets
/// route).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TufTargetUpsert {
    /// Path, bin, hashes and length.
    pub current: TufCurrent,
    /// The document.
    pub body: Vec<u8>,
}

/// One version of one role's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TufMetadataRow {
    /// The role: `root`, `targets`, `snapshot`, `timestamp`, or a bin `bin-00` … `bin-ff`.
    pub role: String,
    /// The version.
    pub version: u64,
    /// The signed metadata file, as served.
    pub body: Vec<u8>,
    /// When it expires.
    pub expires_at: OffsetDateTime,
}

/// A key of the repository the depot keeps (the online key, name `online`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TufKey {
    /// Its name.
    pub name: String,
    /// The Ed25519 public key, 64 lowercase hex digits.
    pub public: String,
    /// The secret key, encrypted with the server key (nonce followed by ciphertext).
    pub secret_encrypted: Vec<u8>,
}

/// One publish, applied by [`MetadataStore::tuf_publish`](super::MetadataStore::tuf_publish)
/// in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TufPublish {
    /// Outbox rows this publish covers: deleted.
    pub consumed: Vec<i64>,
    /// Targets listed from now on (a path listed already gets the new entry and bin); their
    /// bodies are kept.
    pub upserts: Vec<TufTargetUpsert>,
    /// Paths no bin lists any more.
    pub removals: Vec<String>,
    /// New metadata versions; a (role, version) that exists already fails the whole publish
    /// with [`StoreError::Conflict`](super::StoreError::Conflict).
    pub metadata: Vec<TufMetadataRow>,
}

/// What [`MetadataStore::tuf_collect`](super::MetadataStore::tuf_collect) deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TufCollected {
    /// Metadata versions.
    pub metadata: u64,
    /// Target bodies.
    pub targets: u64,
}

/// The `origin/name` of a channel index path (`channels/{origin}/{channel}/{name}/{file}`), as
/// `tuf_current` keeps it to find a package's indexes in every channel; `None` for any other
/// target.
pub(crate) fn index_package(path: &str) -> Option<String> {
    let mut parts = path.strip_prefix("channels/")?.split('/');
    let (origin, _channel, name, _file) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(format!("{origin}/{name}"))
}

/// The first path after every path that starts with `prefix` (bytewise): the end of the range
/// `[prefix, end)` of an index scan. `None` when no such string exists (a prefix of only
/// `char::MAX`), or for an empty prefix, which has no end.
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next character in code point order, skipping the surrogate gap.
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_index_names_its_package() {
        assert_eq!(
            index_package("channels/core/stable/redis/x86_64-linux.json").as_deref(),
            Some("core/redis")
        );
        assert_eq!(index_package("keys/core/core-20200101000000.pub"), None);
        assert_eq!(index_package("channels/core/stable/redis"), None);
        assert_eq!(index_package("channels/core/stable/redis/x/y.json"), None);
    }

    #[test]
    fn a_prefix_range_ends_after_every_path_under_it() {
        assert_eq!(
            prefix_end("channels/core/").as_deref(),
            Some("channels/core0")
        );
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end(""), None);
        let end = prefix_end("channels/core/").unwrap();
        for path in [
            "channels/core/stable/redis/x86_64-linux.json",
            "channels/core/~",
        ] {
            assert!(path >= "channels/core/" && path < end.as_str(), "{path}");
        }
        assert!("channels/core0" >= end.as_str());
    }
}
