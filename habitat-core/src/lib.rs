//! Habitat's formats, byte for byte: package identifiers and version ordering, targets, origin
//! signing keys and the key cache, `.hart` artifacts (sign, verify, inspect, pack) and the safe,
//! atomic install of packages under a filesystem root. No network, no async.
//!
//! ```
//! use habitat_core::{FullyQualifiedIdent, version::compare_versions};
//! use std::cmp::Ordering;
//!
//! let ident: FullyQualifiedIdent = "core/redis/4.0.14/20190319155852".parse()?;
//! assert_eq!(ident.name().as_str(), "redis");
//! assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
//! # Ok::<(), habitat_core::Error>(())
//! ```

pub mod access;
pub mod archive;
pub mod artifact;
mod error;
pub mod fs;
pub mod hash;
pub mod ident;
pub mod install;
pub mod install_set;
pub mod keys;
pub mod metadata;
mod metadata_files;
pub mod pack;
pub mod target;
pub mod timestamp;
pub mod tuf;
pub mod version;
mod xz;

#[cfg(test)]
mod test_support;

pub use access::{AccountName, Role, Visibility};
pub use archive::UnpackLimits;
pub use artifact::{Artifact, ArtifactHeader, VerifiedArtifact};
pub use error::{Error, Result};
pub use hash::Blake2bHash;
pub use ident::{ChannelName, FullyQualifiedIdent, OriginName, PackageIdent, PackageName};
pub use install::FsRoot;
pub use keys::{KeyCache, NamedRevision, PublicKey, SecretKey};
pub use metadata::{Bind, PackageMetadata};
pub use target::PackageTarget;
