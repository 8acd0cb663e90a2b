//! The one way a package gets into the depot: given a file already on local disk and what is
//! claimed about it (a [`Claim`]), [`ingest`] runs every check of docs/api.md ("Upload", steps 3
//! and 5 to 8), then stores the artifact and commits the row with its `unstable` membership, or
//! answers a typed [`IngestError`] and leaves nothing behind.
//!
//! Nothing here knows about HTTP: the upload route calls [`precheck`] before it receives the
//! body into a temp file and [`ingest`] (with the precheck's answer) after, and turns an
//! [`IngestError`] into its answer. Any other way in (a mirror, a bundle import) calls the same
//! two functions, so a check added here protects every one of them.
//!
//! ```no_run
//! # async fn run(state: habitat_depot_server::AppState, account: habitat_depot_server::store::Account,
//! #     received: habitat_depot_server::ingest::Received) -> Result<(), habitat_depot_server::ingest::IngestError> {
//! use habitat_depot_server::ingest::{self, Claim, Ingested, Source};
//!
//! let claim = Claim {
//!     ident: "acme/hello/1.0.0/20240101000000".parse().expect("a valid identifier"),
//!     target: Default::default(),
//!     checksum: None,
//!     forced: false,
//!     source: Source::Upload { account },
//! };
//! // Before the file is even received: is the package there already?
//! let prechecked = ingest::precheck(&state, &claim).await?;
//! match ingest::ingest(&state, received, &claim, prechecked).await? {
//!     Ingested::Stored(package) => println!("stored {} in unstable", package.ident),
//!     Ingested::Unchanged(package) => println!("{} was there already", package.ident),
//! }
//! # Ok(()) }
//! ```

use std::path::Path;

use habitat_core::archive::UnpackLimits;
use habitat_core::artifact::{self, Artifact};
use habitat_core::keys::PublicKey;
use habitat_core::metadata::verify_and_read;
use habitat_core::{
    Blake2bHash, FullyQualifiedIdent, NamedRevision, OriginName, PackageMetadata, PackageTarget,
    VerifiedArtifact,
};
use tempfile::NamedTempFile;

use crate::AppState;
use crate::store::{Account, Package, StoreError};

/// What is claimed about a file before it is checked: which package it is, for which target,
/// and who brings it.
#[derive(Clone, Debug)]
pub struct Claim {
    /// The package the file must hold (its IDENT).
    pub ident: FullyQualifiedIdent,
    /// The target it must be built for (its TARGET).
    pub target: PackageTarget,
    /// The BLAKE2b-256 the file is announced to have, if any.
    pub checksum: Option<Blake2bHash>,
    /// Whether a package already stored may be given again; only the identical file is
    /// accepted then, and nothing changes.
    pub forced: bool,
    /// Where the file comes from, which decides who is recorded as its owner.
    pub source: Source,
}

/// Where a file comes from, which decides the owner recorded on its row. Each way into the
/// depot adds its variant when it is built, with the owner it records: a mirror of another
/// depot keeps the owner the upstream reports, a bundle import records the account that runs
/// it, and a migration between depots (today `hab-depot migrate` copies rows and artifacts
/// between stores without coming through here) keeps the source row's owner.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Source {
    /// Uploaded through the API by `account`, whose right to upload into the origin is checked
    /// before (by the route); the account becomes the package's owner.
    Upload {
        /// The uploading account.
        account: Account,
    },
    /// Copied from another depot by `hab-depot sync`; the owner is the one the upstream
    /// reports (an account name there, recorded as is).
    Mirror {
        /// The owner the upstream reports.
        owner: String,
    },
    /// Imported from an air-gap bundle (docs/bundles.md) by `account`, the administrator's
    /// choice of owner; the bundle's signature was checked against the pinned transfer key.
    Bundle {
        /// The account recorded as owner.
        account: Account,
        /// The transfer key that signed the bundle; `None` for an unsigned download
        /// directory (whose artifacts' signatures are still checked).
        signer: Option<NamedRevision>,
    },
}

impl Source {
    /// The account name recorded as the package's owner.
    pub fn owner(&self) -> String {
        match self {
            Self::Upload { account } | Self::Bundle { account, .. } => account.name.clone(),
            Self::Mirror { owner } => owner.clone(),
        }
    }
}

/// The file to ingest, already complete on local disk, with its checksum and size measured
/// while it was written (so it is read again only to be checked).
///
/// It must live in the depot's temp directory ([`AppState::tmp_dir`], the artifact store's file
/// system): the artifact store moves it into place. Dropped without being stored, it is removed.
#[derive(Debug)]
pub struct Received {
    /// The temp file.
    pub file: NamedTempFile,
    /// BLAKE2b-256 of the whole file.
    pub checksum: Blake2bHash,
    /// Its size in bytes.
    pub size: u64,
}

/// What [`ingest`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ingested {
    /// The package is stored now, in channel `unstable`: its new row.
    Stored(Package),
    /// A forced ingest of the file already stored: nothing changed; the stored row.
    Unchanged(Package),
}

impl Ingested {
    /// The package's row, new or already stored.
    pub fn package(&self) -> &Package {
        match self {
            Self::Stored(package) | Self::Unchanged(package) => package,
        }
    }
}

/// Why a file was not stored. The messages are the ones the upload route answers, word for word.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The package is stored already and the ingest is not forced: published artifacts never
    /// change.
    #[error("package `{ident}` for `{target}` already exists; published artifacts are immutable")]
    Exists {
        /// The package.
        ident: FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
    },
    /// A forced ingest of another file than the one stored (announced or received).
    #[error(
        "package `{ident}` for `{target}` already exists with checksum `{stored}`; published \
         artifacts are immutable, a forced upload is accepted only for the identical file"
    )]
    NotIdentical {
        /// The package.
        ident: FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
        /// The checksum of the stored file.
        stored: Blake2bHash,
    },
    /// The file does not have the checksum it was announced with.
    #[error("the uploaded file has checksum `{received}`, not `{claimed}` as given in ?checksum=")]
    ChecksumMismatch {
        /// The announced checksum.
        claimed: Blake2bHash,
        /// The file's.
        received: Blake2bHash,
    },
    /// The artifact is signed by a key of another origin than the package's.
    #[error(
        "the artifact is signed by `{signer}`, which is not a key of origin `{origin}`: \
         packages of `{origin}` must be signed with a key of `{origin}`",
        origin = .ident.origin()
    )]
    ForeignSigner {
        /// The claimed package.
        ident: FullyQualifiedIdent,
        /// The key named in the artifact's header.
        signer: NamedRevision,
    },
    /// The signing key is of the right origin, but that revision was never uploaded to it.
    #[error(
        "key `{signer}` is not uploaded to origin `{origin}`: upload it first with `hab origin \
         key upload {origin}` (or `hab origin key upload --pubfile {signer}.pub`)"
    )]
    KeyNotUploaded {
        /// The package's origin.
        origin: OriginName,
        /// The key named in the artifact's header.
        signer: NamedRevision,
    },
    /// A public key in the store does not parse: the depot's fault, not the artifact's.
    #[error("stored public key `{signer}` does not parse: {error}")]
    StoredKey {
        /// The key.
        signer: NamedRevision,
        /// Why it does not parse.
        #[source]
        error: habitat_core::Error,
    },
    /// The artifact fails one of its own checks: header, signature, payload hash, archive
    /// safety, metadata files. The core error says which (see [`IngestError::artifact`]).
    #[error("{}", rejection_message(.0))]
    Rejected(habitat_core::Error),
    /// The file could not be read while checking it: the depot's fault, not the artifact's.
    #[error("cannot check the artifact: {0}")]
    Unreadable(#[source] habitat_core::Error),
    /// The artifact holds another package than claimed.
    #[error("the artifact's IDENT is `{found}`, but it is uploaded as `{claimed}`")]
    IdentMismatch {
        /// Its IDENT.
        found: FullyQualifiedIdent,
        /// The claimed identifier.
        claimed: FullyQualifiedIdent,
    },
    /// The artifact is built for another target than claimed.
    #[error(
        "the artifact's TARGET is `{found}`, but it is uploaded for target `{claimed}`: upload \
         it with ?target={found}"
    )]
    TargetMismatch {
        /// Its TARGET.
        found: PackageTarget,
        /// The claimed target.
        claimed: PackageTarget,
    },
    /// The depot is configured not to accept packages for this target.
    #[error(
        "this depot does not accept packages for `{target}` (it accepts: {})",
        accepted_list(.accepted)
    )]
    UnsupportedTarget {
        /// The artifact's target.
        target: PackageTarget,
        /// The targets the depot accepts (`settings.targets`).
        accepted: Vec<PackageTarget>,
    },
    /// The package's origin does not exist (any more).
    #[error("origin `{origin}` does not exist; create it first with `hab origin create {origin}`")]
    UnknownOrigin {
        /// The origin.
        origin: OriginName,
    },
    /// Another ingest of the same package committed first; the file just stored was removed
    /// unless it is the winner's.
    #[error(
        "package `{ident}` for `{target}` already exists (uploaded concurrently); published \
         artifacts are immutable"
    )]
    StoredConcurrently {
        /// The package.
        ident: FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
    },
    /// A blocking check could not run to its end (its thread panicked or was cancelled).
    #[error("an artifact check did not finish: {0}")]
    Interrupted(#[from] tokio::task::JoinError),
    /// The metadata or artifact store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    /// For [`IngestError::Rejected`], the artifact's own error, which tells the failed check.
    pub fn artifact(&self) -> Option<&habitat_core::Error> {
        match self {
            Self::Rejected(error) => Some(error),
            _ => None,
        }
    }
}

/// The message of a rejected artifact: the core error, with a hint for the two that a client
/// meets most (a file that is no artifact, a file cut short or altered).
fn rejection_message(error: &habitat_core::Error) -> String {
    use habitat_core::Error as E;
    match error {
        E::MalformedHeader { .. } => format!("not a valid .hart artifact: {error}"),
        E::PayloadHashMismatch { .. } => {
            format!("{error}: the artifact was altered or truncated")
        }
        E::ArchiveLimit { what, .. } if *what == habitat_core::archive::UNPACKED_BYTES => {
            format!("{error}: its payload unpacks to more than this depot accepts")
        }
        _ => error.to_string(),
    }
}

fn accepted_list(accepted: &[PackageTarget]) -> String {
    if accepted.is_empty() {
        "none".to_owned()
    } else {
        let names: Vec<&str> = accepted.iter().map(|t| t.as_str()).collect();
        names.join(", ")
    }
}

/// What [`precheck`] found, which [`ingest`] takes: only `precheck` makes one, so no file is
/// ingested without it, and the row it read is not read twice.
#[derive(Debug)]
pub struct Prechecked {
    /// The stored row of a forced ingest of a package already there.
    existing: Option<Package>,
}

/// The checks that need no file: a package already stored is refused unless the ingest is
/// forced, and a forced ingest announcing another checksum than the stored one is refused
/// before the file is even received. A caller runs it first (before receiving anything) and
/// hands its answer to [`ingest`]. A rival ingest that commits in between loses nothing: the
/// store's unique row refuses the later insert ([`IngestError::StoredConcurrently`]).
pub async fn precheck(state: &AppState, claim: &Claim) -> Result<Prechecked, IngestError> {
    let (ident, target) = (&claim.ident, claim.target);
    let existing = state.metadata.package(ident, target).await?;
    if let Some(existing) = &existing {
        if !claim.forced {
            return Err(IngestError::Exists {
                ident: ident.clone(),
                target,
            });
        }
        if claim.checksum.is_some_and(|c| c != existing.checksum) {
            return Err(not_identical(claim, existing));
        }
    }
    Ok(Prechecked { existing })
}

/// Checks `received` against `claim` and stores it, in the order of docs/api.md ("Upload"): (after
/// [`precheck`]) the announced checksum; for a forced ingest of a stored package, nothing more (the
/// identical file changes nothing, another is refused); the header; the signer is a key of the
/// package's origin, uploaded to it; signature and payload hash; the payload is a safe archive
/// (walked once, writing nothing) whose metadata files parse; its IDENT and TARGET are the claimed
/// ones, and the depot accepts that target. Only then is the file moved into the artifact store,
/// and the row committed with its `unstable` membership; a crash between the two leaves an orphan
/// artifact (which `hab-depot fsck` reports), never a row without its artifact.
///
/// On any error the file is dropped (hence removed) and nothing is stored.
pub async fn ingest(
    state: &AppState,
    received: Received,
    claim: &Claim,
    prechecked: Prechecked,
) -> Result<Ingested, IngestError> {
    let Prechecked { existing } = prechecked;
    if let Some(claimed) = claim.checksum
        && claimed != received.checksum
    {
        return Err(IngestError::ChecksumMismatch {
            claimed,
            received: received.checksum,
        });
    }
    if let Some(existing) = existing {
        return if existing.checksum == received.checksum {
            Ok(Ingested::Unchanged(existing))
        } else {
            Err(not_identical(claim, &existing))
        };
    }

    let (verified, metadata, sha256) = check_artifact(state, claim, received.file.path()).await?;
    let signer = verified.signer().to_string();
    let Some(origin) = state.metadata.origin(claim.ident.origin()).await? else {
        return Err(IngestError::UnknownOrigin {
            origin: claim.ident.origin().clone(),
        });
    };
    state
        .artifacts
        .put(&received.checksum, verified.path())
        .await?;
    // `check_artifact` proved the metadata's IDENT and TARGET are the claimed ones.
    let package = Package {
        sha256: Some(sha256),
        signer: Some(signer),
        ..Package::new(
            metadata,
            received.checksum,
            received.size,
            origin.default_package_visibility,
            claim.source.owner(),
        )
    };
    match state.metadata.insert_package(&package).await {
        Ok(stored) => Ok(Ingested::Stored(stored)),
        Err(StoreError::Conflict(_)) => {
            discard_loser(state, claim, &received.checksum).await;
            Err(IngestError::StoredConcurrently {
                ident: claim.ident.clone(),
                target: claim.target,
            })
        }
        Err(other) => Err(other.into()),
    }
}

fn not_identical(claim: &Claim, existing: &Package) -> IngestError {
    IngestError::NotIdentical {
        ident: claim.ident.clone(),
        target: claim.target,
        stored: existing.checksum,
    }
}

/// The limits of an artifact checked here: the unpacked size of the settings
/// (`max_unpacked_bytes`, refused while decompressing), the core's entry count, on one decoder
/// thread (each extra thread holds a whole 24 MiB xz block): many uploads may be checked at
/// once, and the server's memory must not grow with them.
// An upload refused past `max_unpacked_bytes` is counted in
// `hab_depot_uploads_refused_total{reason="unpacked_too_large"}`, like every refusal by its code
// (docs/operations.md, "Metrics").
fn check_limits(state: &AppState) -> UnpackLimits {
    UnpackLimits {
        max_unpacked_bytes: state.settings.max_unpacked_bytes,
        decoder_threading_memory: 32 << 20,
        ..UnpackLimits::default()
    }
}

/// The artifact's own checks, in order: the header parses; its signer is a key of the package's
/// origin that was uploaded to it; the signature and payload hash verify; the payload is a safe
/// archive whose IDENT and TARGET are the claimed ones, for a target the depot accepts. With the
/// verified artifact and its metadata, the SHA-256 of the whole file (lowercase hex, what TUF
/// clients check), measured once the artifact verified.
async fn check_artifact(
    state: &AppState,
    claim: &Claim,
    path: &Path,
) -> Result<(VerifiedArtifact, PackageMetadata, String), IngestError> {
    let (ident, target) = (&claim.ident, claim.target);
    let owned = path.to_owned();
    let header = blocking(move || Artifact::open(&owned).map(|a| a.header().clone())).await?;
    let signer = header.signer();
    artifact::check_signer(ident, signer).map_err(|_| IngestError::ForeignSigner {
        ident: ident.clone(),
        signer: signer.clone(),
    })?;
    let origin = ident.origin();
    let stored = state
        .metadata
        .public_key(origin, signer.revision())
        .await?
        .ok_or_else(|| IngestError::KeyNotUploaded {
            origin: origin.clone(),
            signer: signer.clone(),
        })?;
    let key = PublicKey::parse(&stored.body).map_err(|error| IngestError::StoredKey {
        signer: signer.clone(),
        error,
    })?;

    let owned = path.to_owned();
    let limits = check_limits(state);
    let (verified, metadata, sha256) = blocking(move || {
        let (verified, metadata) = verify_and_read(&owned, &key, &limits)?;
        let sha256 = sha256_of_file(&owned)?;
        Ok((verified, metadata, sha256))
    })
    .await?;

    if metadata.ident != *ident {
        return Err(IngestError::IdentMismatch {
            found: metadata.ident,
            claimed: ident.clone(),
        });
    }
    if metadata.target != target {
        return Err(IngestError::TargetMismatch {
            found: metadata.target,
            claimed: target,
        });
    }
    if !state.settings.targets.contains(&target) {
        return Err(IngestError::UnsupportedTarget {
            target,
            accepted: state.settings.targets.to_vec(),
        });
    }
    Ok((verified, metadata, sha256))
}

/// SHA-256 of the file at `path`, lowercase hex.
fn sha256_of_file(path: &Path) -> habitat_core::Result<String> {
    use sha2::{Digest, Sha256};
    let unreadable = |error| habitat_core::Error::Io {
        action: "read",
        path: path.to_owned(),
        error,
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(unreadable)?;
    Ok(habitat_core::hash::hex(&hasher.finalize()))
}

/// Runs blocking artifact work (file reads, hashing, decompression) off the async threads.
/// Read errors are ours ([`IngestError::Unreadable`]); any other error is the artifact's.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> habitat_core::Result<T> + Send + 'static,
) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(work).await?.map_err(|error| {
        use habitat_core::Error as E;
        let error = match error {
            E::InArtifact { error, .. } => *error,
            other => other,
        };
        match error {
            E::Io { .. } | E::KeyNotFound { .. } | E::NoKeyForOrigin { .. } => {
                IngestError::Unreadable(error)
            }
            other => IngestError::Rejected(other),
        }
    })
}

/// After losing the insert race: the artifact just stored is removed unless it is the winner's
/// (same checksum). No other row can refer to it, since the checksum covers IDENT and TARGET.
async fn discard_loser(state: &AppState, claim: &Claim, checksum: &Blake2bHash) {
    let ident = &claim.ident;
    match state.metadata.package(ident, claim.target).await {
        Ok(Some(winner)) if winner.checksum == *checksum => {}
        Ok(_) => {
            if let Err(e) = state.artifacts.delete(checksum).await {
                tracing::warn!(%ident, %checksum, error = %crate::error::Chain(&e), "cannot remove the artifact of a lost upload race; fsck will report it");
            }
        }
        Err(e) => {
            tracing::warn!(%ident, %checksum, error = %crate::error::Chain(&e), "cannot check the winner of an upload race; fsck will report an orphan if any");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use habitat_core::SecretKey;
    use habitat_core::pack::{PackSpec, pack};

    use super::*;
    use crate::settings::Settings;
    use crate::store::Visibility;

    const HELLO: &str = "acme/hello/1.0.0/20240101000000";

    /// An embedded depot with origin `acme` (private by default) owned by `alice`, acme's key
    /// uploaded to it, and a work directory for artifacts.
    struct Depot {
        state: AppState,
        alice: Account,
        key: SecretKey,
        work: tempfile::TempDir,
    }

    impl Depot {
        async fn new() -> Self {
            let work = tempfile::tempdir().unwrap();
            let settings = Settings {
                data_dir: work.path().join("data"),
                ..Settings::default()
            };
            let state = AppState::open_embedded(settings).unwrap();
            let alice = state.metadata.create_account("alice", None).await.unwrap();
            let acme: OriginName = "acme".parse().unwrap();
            state
                .metadata
                .create_origin(&acme, alice.id, Visibility::Private)
                .await
                .unwrap();
            let key = SecretKey::generate(&acme).unwrap();
            let public = key.public_key().to_file_string();
            state
                .metadata
                .add_public_key(&acme, key.name().revision(), &public)
                .await
                .unwrap();
            Self {
                state,
                alice,
                key,
                work,
            }
        }

        /// `ident` packed for x86_64-linux and signed with acme's key.
        fn artifact(&self, ident: &str) -> PathBuf {
            self.artifact_saying(ident, "hello", "out")
        }

        /// `ident` packed into `out` with a program that echoes `words`.
        fn artifact_saying(&self, ident: &str, words: &str, out: &str) -> PathBuf {
            let ident: FullyQualifiedIdent = ident.parse().unwrap();
            let src = self.work.path().join(format!("src-{}-{out}", ident.name()));
            std::fs::create_dir_all(src.join("bin")).unwrap();
            std::fs::write(src.join("bin/run"), format!("#!/bin/sh\necho {words}\n")).unwrap();
            let out = self.work.path().join(out);
            std::fs::create_dir_all(&out).unwrap();
            let spec = PackSpec {
                ident,
                target: PackageTarget::X86_64Linux,
                deps: Vec::new(),
                tdeps: Vec::new(),
            };
            pack(&src, &out, &spec, &self.key).unwrap()
        }

        /// A copy of `hart` in the depot's temp directory, as the upload route receives it.
        fn received(&self, hart: &Path) -> Received {
            let file = NamedTempFile::new_in(&self.state.tmp_dir).unwrap();
            std::fs::copy(hart, file.path()).unwrap();
            Received {
                checksum: artifact::checksum(hart).unwrap(),
                size: std::fs::metadata(hart).unwrap().len(),
                file,
            }
        }

        /// An upload of `ident` by alice.
        fn claim(&self, ident: &str) -> Claim {
            Claim {
                ident: ident.parse().unwrap(),
                target: PackageTarget::X86_64Linux,
                checksum: None,
                forced: false,
                source: Source::Upload {
                    account: self.alice.clone(),
                },
            }
        }

        async fn ingest(&self, hart: &Path, claim: &Claim) -> Result<Ingested, IngestError> {
            let prechecked = precheck(&self.state, claim).await?;
            ingest(&self.state, self.received(hart), claim, prechecked).await
        }

        /// Fails unless the depot holds no package, no artifact and no temp file.
        async fn assert_empty(&self) {
            let ident: FullyQualifiedIdent = HELLO.parse().unwrap();
            let row = self
                .state
                .metadata
                .package(&ident, PackageTarget::X86_64Linux);
            assert_eq!(row.await.unwrap(), None);
            assert_eq!(self.state.artifacts.list().await.unwrap(), Vec::new());
            assert_eq!(self.temp_files(), 0, "temp files left");
        }

        /// How many files the temp directory holds.
        fn temp_files(&self) -> usize {
            std::fs::read_dir(&self.state.tmp_dir).unwrap().count()
        }
    }

    #[tokio::test]
    async fn a_good_artifact_is_stored_in_unstable_owned_by_its_uploader() {
        let depot = Depot::new().await;
        let hart = depot.artifact(HELLO);
        let mut claim = depot.claim(HELLO);
        claim.checksum = Some(artifact::checksum(&hart).unwrap());
        let Ingested::Stored(stored) = depot.ingest(&hart, &claim).await.unwrap() else {
            panic!("not stored");
        };
        assert_eq!(stored.ident.to_string(), HELLO);
        assert_eq!(stored.owner, "alice");
        assert_eq!(
            stored.visibility,
            Visibility::Private,
            "the origin's default"
        );
        assert_eq!(stored.checksum, artifact::checksum(&hart).unwrap());
        let channels = depot.state.metadata.package_channels(stored.id).await;
        let names: Vec<String> = channels
            .unwrap()
            .iter()
            .map(|c| c.name.to_string())
            .collect();
        assert_eq!(names, ["unstable"]);
        let artifacts = depot.state.artifacts.list().await.unwrap();
        assert_eq!(artifacts, [(stored.checksum, stored.size)]);
        assert_eq!(
            depot.temp_files(),
            0,
            "the temp file was moved into the store"
        );
    }

    #[tokio::test]
    async fn a_stored_package_is_immutable_and_forced_accepts_only_the_identical_file() {
        let depot = Depot::new().await;
        let hart = depot.artifact(HELLO);
        let first = depot.ingest(&hart, &depot.claim(HELLO)).await.unwrap();

        let err = depot.ingest(&hart, &depot.claim(HELLO)).await.unwrap_err();
        assert!(matches!(err, IngestError::Exists { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "package `{HELLO}` for `x86_64-linux` already exists; published artifacts are \
                 immutable"
            )
        );

        let mut forced = depot.claim(HELLO);
        forced.forced = true;
        let again = depot.ingest(&hart, &forced).await.unwrap();
        let stored = depot.state.metadata.package(&forced.ident, forced.target);
        assert_eq!(again, Ingested::Unchanged(stored.await.unwrap().unwrap()));
        assert_eq!(again.package().id, first.package().id);

        // The same package packed with other contents is another file.
        let other = depot.artifact_saying(HELLO, "hello again", "again");
        assert_ne!(
            artifact::checksum(&other).unwrap(),
            first.package().checksum
        );
        let err = depot.ingest(&other, &forced).await.unwrap_err();
        let IngestError::NotIdentical { stored, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(*stored, first.package().checksum);
        let artifacts = depot.state.artifacts.list().await.unwrap();
        assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    }

    #[tokio::test]
    async fn a_tampered_artifact_is_rejected_and_leaves_nothing() {
        let depot = Depot::new().await;
        let hart = depot.artifact(HELLO);
        let mut bytes = std::fs::read(&hart).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let tampered = depot.work.path().join("tampered.hart");
        std::fs::write(&tampered, bytes).unwrap();

        let err = depot
            .ingest(&tampered, &depot.claim(HELLO))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.artifact(),
                Some(habitat_core::Error::PayloadHashMismatch { .. })
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("the artifact was altered or truncated")
        );
        depot.assert_empty().await;
    }

    #[tokio::test]
    async fn a_signer_of_another_origin_is_refused_before_its_key_is_looked_up() {
        let depot = Depot::new().await;
        let hart = depot.artifact(HELLO);
        // The same payload, genuinely signed by a key of `other`.
        let offset = Artifact::open(&hart).unwrap().header().len() as usize;
        let payload = depot.work.path().join("payload.tar.xz");
        std::fs::write(&payload, &std::fs::read(&hart).unwrap()[offset..]).unwrap();
        let other = SecretKey::generate(&"other".parse().unwrap()).unwrap();
        let foreign = depot.work.path().join("foreign.hart");
        artifact::sign(&payload, &foreign, &other).unwrap();
        Artifact::open(&foreign)
            .unwrap()
            .verify(&other.public_key())
            .unwrap();

        let err = depot
            .ingest(&foreign, &depot.claim(HELLO))
            .await
            .unwrap_err();
        let IngestError::ForeignSigner { signer, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(signer, other.name());
        assert_eq!(
            err.to_string(),
            format!(
                "the artifact is signed by `{}`, which is not a key of origin `acme`: packages \
                 of `acme` must be signed with a key of `acme`",
                other.name()
            )
        );
        depot.assert_empty().await;
    }

    #[tokio::test]
    async fn the_artifact_must_hold_the_claimed_package_and_a_checksum_must_match() {
        let depot = Depot::new().await;
        let hart = depot.artifact(HELLO);

        let err = depot
            .ingest(&hart, &depot.claim("acme/hello/1.0.0/20240202000000"))
            .await
            .unwrap_err();
        assert!(matches!(err, IngestError::IdentMismatch { .. }), "{err}");

        let mut claim = depot.claim(HELLO);
        claim.checksum = Some(Blake2bHash::digest(b"another file"));
        let err = depot.ingest(&hart, &claim).await.unwrap_err();
        assert!(matches!(err, IngestError::ChecksumMismatch { .. }), "{err}");

        let mut settings = (*depot.state.settings).clone();
        settings.targets = Vec::new();
        let state = AppState {
            settings: std::sync::Arc::new(settings),
            ..depot.state.clone()
        };
        let claim = depot.claim(HELLO);
        let prechecked = precheck(&state, &claim).await.unwrap();
        let err = ingest(&state, depot.received(&hart), &claim, prechecked)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "this depot does not accept packages for `x86_64-linux` (it accepts: none)"
        );
        depot.assert_empty().await;
    }
}
