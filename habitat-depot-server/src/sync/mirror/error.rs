//! What goes wrong in a mirror run: a run that cannot be made at all ([`MirrorError`]), or one
//! channel, package or membership that fails while the run goes on ([`Failure`]).

use std::path::PathBuf;

use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};

use crate::store::StoreError;
use crate::sync::fetch::FetchError;

/// Why a run could not be made at all (a failure of one package or channel is a [`Failure`]
/// in the [`Summary`](super::Summary) instead, and the run goes on).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MirrorError {
    /// The upstream's URL does not parse.
    #[error("invalid upstream URL `{url}`")]
    Url {
        /// The URL as given.
        url: String,
        /// Why it is not one.
        #[source]
        source: habitat_depot_client::Error,
    },
    /// The token file cannot be read.
    #[error("cannot read the token file `{}`", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The client for the upstream cannot be made (an invalid token, say).
    #[error("cannot make a client for the upstream")]
    Client(#[source] habitat_depot_client::Error),
    /// The upstream's channels of an origin cannot be listed.
    #[error("cannot list the channels of origin `{origin}`")]
    Channels {
        /// The origin.
        origin: OriginName,
        /// The client's error.
        #[source]
        source: habitat_depot_client::Error,
    },
    /// A pinned key (`trusted_keys`) cannot be read.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// This depot's stores failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why one channel, package or membership of a run failed; the run goes on without it. The
/// message names it; its causes are in [`std::error::Error::source`] (print the whole chain,
/// e.g. with [`crate::error::Chain`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The members of a channel upstream cannot be read.
    #[error("channel `{channel}` of origin `{origin}` for `{target}`")]
    Channel {
        /// The origin.
        origin: OriginName,
        /// The channel.
        channel: ChannelName,
        /// The target.
        target: PackageTarget,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The upstream answered `304` to a request that gave no `ETag`.
    #[error("the upstream answered 304 to a request without an ETag")]
    UnaskedNotModified,
    /// A member is here with another checksum than the upstream's.
    #[error(
        "{ident} for `{target}` exists here with another checksum (`{here}`); a conflict, left \
         as it is"
    )]
    Conflict {
        /// The package.
        ident: FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
        /// The checksum of the one here.
        here: Blake2bHash,
    },
    /// A dependency's package JSON cannot be read upstream.
    #[error("dependency {ident} for `{target}`")]
    Dependency {
        /// The dependency.
        ident: FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
        /// The client's error.
        #[source]
        source: habitat_depot_client::Error,
    },
    /// An origin is not here and cannot be created.
    #[error("origin `{origin}`")]
    Origin {
        /// The origin.
        origin: OriginName,
        /// Why.
        #[source]
        source: OriginProblem,
    },
    /// A package was not stored.
    #[error("{ident} for `{target}`")]
    Package {
        /// The package.
        ident: FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
        /// Why.
        #[source]
        source: PackageProblem,
    },
    /// A package could not be added to a channel here.
    #[error("{ident} for `{target}` into channel `{channel}`")]
    Membership {
        /// The package.
        ident: FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
        /// The channel.
        channel: ChannelName,
        /// Why.
        #[source]
        source: PackageProblem,
    },
    /// What left a channel upstream could not be removed from it here.
    #[error("removing from channel `{channel}` of origin `{origin}`")]
    Removing {
        /// The origin.
        origin: OriginName,
        /// The channel.
        channel: ChannelName,
        /// Why.
        #[source]
        source: StoreError,
    },
}

/// Why an origin a run needs is not here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OriginProblem {
    /// It does not exist here and no owner was given.
    #[error("it does not exist here; create it, or pass `--owner ACCOUNT` to create it")]
    NoOwner,
    /// The owner given is not an account here.
    #[error("no account `{owner}` here")]
    NoAccount {
        /// The account name.
        owner: String,
    },
    /// The upstream's origin cannot be read.
    #[error(transparent)]
    Upstream(#[from] habitat_depot_client::Error),
    /// The stores failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a package was not stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageProblem {
    /// Its origin is not here (see the origin's failure).
    #[error("its origin is not here")]
    NoOrigin,
    /// A dependency of it was not stored.
    #[error("its dependency {dependency} was not stored")]
    Dependency {
        /// The dependency.
        dependency: FullyQualifiedIdent,
    },
    /// The download failed.
    #[error("download")]
    Download(#[source] habitat_depot_client::Error),
    /// Its key or the ingest path refused it, or storing it failed.
    #[error(transparent)]
    Refused(#[from] FetchError),
    /// A check of its key failed earlier in this run (the same message as then).
    #[error("{0}")]
    Key(String),
    /// The package is not here (to add to a channel).
    #[error("it is not here")]
    NotHere,
    /// This depot's stores failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
