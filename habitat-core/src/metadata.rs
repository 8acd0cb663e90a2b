//! A package's metadata read out of its artifact (docs/formats.md, "Metadata files"): one
//! checked pass over the payload, with or without verifying the signature first.

use std::path::Path;

use crate::archive::{self, UnpackLimits};
use crate::artifact::Artifact;
use crate::error::Result;

pub use crate::metadata_files::{Bind, PackageMetadata};

/// Reads an artifact's metadata in one pass over its payload, checking every member against
/// the safety rules. The signature is **not** checked: this is for inspection (`hab pkg info`)
/// and for the depot after it has verified the artifact.
pub fn read_metadata(path: &Path, limits: &UnpackLimits) -> Result<PackageMetadata> {
    let mut payload = Artifact::open(path)?.into_payload();
    archive::read_metadata(&mut payload, limits)
}

/// Verifies an artifact with `key`, then reads its metadata, checking every member against
/// the safety rules and writing nothing: what the depot runs on upload.
///
/// Two passes on purpose: the signature and payload hash are checked first (a cheap read), so a
/// payload nobody signed is never decompressed. A one-pass check would let anyone holding a
/// genuine header make the depot decompress a bomb before the hash comparison fails.
pub fn verify_and_read(
    path: &Path,
    key: &crate::PublicKey,
    limits: &UnpackLimits,
) -> Result<(crate::VerifiedArtifact, PackageMetadata)> {
    let verified = Artifact::open(path)?.verify(key)?;
    let metadata = read_metadata(path, limits)?;
    Ok((verified, metadata))
}
