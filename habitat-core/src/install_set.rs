//! Installing several artifacts as one: every artifact is verified and staged before any is
//! made visible, every TDEPS entry must be installed already or be part of the set, and
//! packages are committed dependencies first.

use std::path::PathBuf;

use crate::archive::UnpackLimits;
use crate::error::{Error, Result};
use crate::ident::FullyQualifiedIdent;
use crate::install::{FsRoot, StagedPackage};
use crate::keys::KeyCache;
use crate::target::PackageTarget;

/// What happened to one package of the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Newly installed.
    Installed(FullyQualifiedIdent),
    /// It was installed already; the artifact was verified and left alone.
    AlreadyInstalled(FullyQualifiedIdent),
}

/// One artifact to install, and the package it must hold when the caller knows (a package
/// resolved on a depot): checked while staging, so no extra pass over the artifact.
#[derive(Clone, Debug)]
pub struct Request {
    /// The `.hart` file.
    pub path: PathBuf,
    /// The identifier its IDENT must equal, if any.
    pub expected: Option<FullyQualifiedIdent>,
}

impl From<PathBuf> for Request {
    fn from(path: PathBuf) -> Self {
        Self {
            path,
            expected: None,
        }
    }
}

/// Verifies and installs `artifacts` under `root` for `target`, all or nothing: if any
/// artifact fails verification, is signed by a key of another origin, is for another target,
/// holds another package than expected, or needs a dependency that is neither installed nor in
/// the set, nothing is installed.
pub fn install_all(
    root: &FsRoot,
    artifacts: &[Request],
    keys: &KeyCache,
    limits: &UnpackLimits,
    target: PackageTarget,
) -> Result<Vec<Outcome>> {
    install_all_reporting(root, artifacts, keys, limits, target, |_| {})
}

/// [`install_all`], calling `staged` with each artifact's package once it is verified and
/// unpacked beside its destination (the long part), before anything is installed.
pub fn install_all_reporting(
    root: &FsRoot,
    artifacts: &[Request],
    keys: &KeyCache,
    limits: &UnpackLimits,
    target: PackageTarget,
    mut staged_one: impl FnMut(&FullyQualifiedIdent),
) -> Result<Vec<Outcome>> {
    let mut staged: Vec<StagedPackage> = Vec::with_capacity(artifacts.len());
    for Request { path, expected } in artifacts {
        let in_artifact = |error| Error::InArtifact {
            path: path.clone(),
            error: Box::new(error),
        };
        let package = root.stage(path, keys, limits).map_err(in_artifact)?;
        let metadata = package.metadata();
        let signer = package.artifact().signer();
        if signer.name() != metadata.ident.origin().as_str() {
            return Err(Error::ForeignSigner {
                ident: metadata.ident.clone(),
                signer: signer.clone(),
            });
        }
        if let Some(expected) = expected.as_ref().filter(|e| **e != metadata.ident) {
            return Err(in_artifact(Error::Metadata {
                file: "IDENT".into(),
                reason: format!("says `{}`, but `{expected}` was asked for", metadata.ident),
            }));
        }
        if metadata.target != target {
            return Err(Error::WrongTarget {
                ident: metadata.ident.clone(),
                found: metadata.target,
                expected: target,
            });
        }
        staged_one(&metadata.ident);
        if !staged.iter().any(|s| s.metadata().ident == metadata.ident) {
            staged.push(package);
        }
    }

    for package in &staged {
        let metadata = package.metadata();
        let missing: Vec<FullyQualifiedIdent> = metadata
            .tdeps
            .iter()
            .filter(|dep| {
                !root.is_installed(dep) && !staged.iter().any(|s| &s.metadata().ident == *dep)
            })
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingDependencies {
                ident: metadata.ident.clone(),
                missing,
            });
        }
    }

    // TDEPS is a transitive closure, so a dependency always has fewer entries than its
    // dependents: committing by TDEPS length installs dependencies first.
    staged.sort_by_key(|s| s.metadata().tdeps.len());
    let mut outcomes = Vec::with_capacity(staged.len());
    for package in staged {
        let ident = package.metadata().ident.clone();
        if root.is_installed(&ident) {
            outcomes.push(Outcome::AlreadyInstalled(ident));
        } else {
            outcomes.push(Outcome::Installed(package.commit()?));
        }
    }
    Ok(outcomes)
}
