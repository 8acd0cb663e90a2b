//! What a mirror run reports: the events it tells its [`Observer`] as they happen, and the
//! [`Summary`] it returns.

use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};

use super::Failure;

/// What a run tells its [`Observer`], as it happens.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The upstream's channels are read and the set is known: how many packages are to be
    /// downloaded, and how many are here already.
    Planned {
        /// Packages to download and store.
        downloads: u64,
        /// Packages here with the upstream's checksum.
        up_to_date: u64,
    },
    /// An origin was created here.
    OriginCreated {
        /// The origin.
        origin: &'a OriginName,
        /// Its owner here.
        owner: &'a str,
    },
    /// A public key was fetched from the upstream and added here.
    KeyAdded {
        /// The key's origin.
        origin: &'a OriginName,
        /// Its revision.
        revision: &'a str,
    },
    /// A package was downloaded, checked and stored.
    Stored {
        /// The package.
        ident: &'a FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
    },
    /// Something failed; the run goes on without it.
    Failed(&'a Failure),
    /// A package was added to a channel here.
    MembershipAdded {
        /// The package.
        ident: &'a FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
        /// The channel.
        channel: &'a ChannelName,
    },
    /// A package left a channel here (`exact` mode).
    MembershipRemoved {
        /// The package.
        ident: &'a FullyQualifiedIdent,
        /// Its target.
        target: PackageTarget,
        /// The channel.
        channel: &'a ChannelName,
    },
    /// `exact` mode removed nothing, since the run did not fully succeed.
    NothingRemoved,
}

/// Told what a run does, as it happens (each event once, from one task at a time).
pub trait Observer: Send {
    /// One event.
    fn event(&mut self, event: Event<'_>);
}

/// An observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn event(&mut self, _event: Event<'_>) {}
}

/// What happened in a run.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Summary {
    /// Packages downloaded and stored.
    pub stored: u64,
    /// Packages here already, with the upstream's checksum.
    pub up_to_date: u64,
    /// Channel memberships added here.
    pub promoted: u64,
    /// Channel memberships removed here (`exact`).
    pub demoted: u64,
    /// What failed, in order.
    pub failures: Vec<Failure>,
    /// The same for each channel read (or not), in the order they were asked.
    pub channels: Vec<ChannelSummary>,
}

/// What a run did for one channel: its members and their dependencies (a package two
/// channels need counts in both), and its memberships.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSummary {
    /// The origin.
    pub origin: OriginName,
    /// The channel.
    pub channel: ChannelName,
    /// The target.
    pub target: PackageTarget,
    /// Packages downloaded and stored.
    pub stored: u64,
    /// Packages here already.
    pub up_to_date: u64,
    /// Memberships added.
    pub added: u64,
    /// Memberships removed (`exact`).
    pub removed: u64,
    /// Packages that failed (conflicts included), or 1 when the channel could not be read.
    pub failed: u64,
}

impl Summary {
    /// Whether nothing failed.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty()
    }

    /// `N new, M up to date, K channel memberships added, R removed, F failed`.
    pub fn line(&self) -> String {
        format!(
            "{} new, {} up to date, {} channel membership{} added, {} removed, {} failed",
            self.stored,
            self.up_to_date,
            self.promoted,
            if self.promoted == 1 { "" } else { "s" },
            self.demoted,
            self.failures.len()
        )
    }
}
