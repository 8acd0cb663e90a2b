//! Installing several artifacts as one: every artifact is verified and staged before any is
//! made visible, every TDEPS entry must be installed already or be part of the set, and
//! packages are committed dependencies first.

use std::path::PathBuf;

use crate::archive::UnpackLimits;
use crate::artifact;
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

/// [`install_all`], calling `staged_one` with each artifact's package once it is verified and
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
    for package in stage_all(root, artifacts, keys, limits, target, &mut staged_one)? {
        if !staged
            .iter()
            .any(|s| s.metadata().ident == package.metadata().ident)
        {
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

/// At most this many artifacts are verified and unpacked at once (each may also decompress on
/// several threads when it has several xz blocks).
const MAX_STAGING_WORKERS: usize = 4;

/// Stages every artifact (verify, unpack beside its destination, check signer, identity and
/// target), several at once, and returns them in the order given. On a failure the others
/// stop being started, and the failure of the earliest artifact that failed is returned; the
/// staged ones are dropped, which removes their staging directories.
fn stage_all(
    root: &FsRoot,
    artifacts: &[Request],
    keys: &KeyCache,
    limits: &UnpackLimits,
    target: PackageTarget,
    staged_one: &mut impl FnMut(&FullyQualifiedIdent),
) -> Result<Vec<StagedPackage>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_STAGING_WORKERS)
        .min(artifacts.len());
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut slots: Vec<Option<Result<StagedPackage>>> = Vec::new();
    slots.resize_with(artifacts.len(), || None);
    std::thread::scope(|scope| {
        let (done, results) = std::sync::mpsc::channel();
        for _ in 0..workers {
            let done = done.clone();
            let (next, failed) = (&next, &failed);
            scope.spawn(move || {
                while !failed.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = artifacts.get(index) else {
                        break;
                    };
                    let result = stage_one(root, request, keys, limits, target);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if done.send((index, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done);
        // Reported here, on the caller's thread, as each one is ready.
        for (index, result) in results {
            if let Ok(package) = &result {
                staged_one(&package.metadata().ident);
            }
            slots[index] = Some(result);
        }
    });
    let mut staged = Vec::with_capacity(artifacts.len());
    let mut first_error = None;
    for slot in slots.into_iter().flatten() {
        match slot {
            Ok(package) => staged.push(package),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(staged),
    }
}

/// Verifies and unpacks one artifact beside its destination, and checks that its signer is of
/// the package's origin, that it holds the package expected and that it is for `target`.
fn stage_one(
    root: &FsRoot,
    request: &Request,
    keys: &KeyCache,
    limits: &UnpackLimits,
    target: PackageTarget,
) -> Result<StagedPackage> {
    let Request { path, expected } = request;
    let in_artifact = |error| Error::InArtifact {
        path: path.clone(),
        error: Box::new(error),
    };
    let package = root.stage(path, keys, limits).map_err(in_artifact)?;
    let metadata = package.metadata();
    artifact::check_signer(&metadata.ident, package.artifact().signer())?;
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
    Ok(package)
}
