//! `--strategy at-once`: every interval, ask the depot for the latest release in the channel
//! and, when it is newer than the one running, install it (with its missing dependencies and
//! keys, verified) and hand it to the supervisor. A failed check is reported and tried again at
//! the next interval; it never touches the running service.

use std::cmp::Ordering;
use std::convert::Infallible;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use habitat_core::install_set::Outcome;
use habitat_core::{
    ChannelName, FsRoot, FullyQualifiedIdent, KeyCache, PackageIdent, PackageTarget,
};
use habitat_depot_client::Client;
use tokio::sync::mpsc;

use crate::say;

/// What to follow, and where.
pub(super) struct Follow {
    /// The depot.
    pub client: Client,
    /// The channel (a view URL's, else the setting).
    pub channel: ChannelName,
    /// The identifier given to `hab start`, which every release must satisfy.
    pub query: PackageIdent,
    /// The target in effect.
    pub target: PackageTarget,
    /// Where packages are installed.
    pub root: FsRoot,
    /// Where keys are cached.
    pub keys: KeyCache,
    /// Time between checks.
    pub interval: Duration,
}

/// Checks for releases newer than `running` every interval, forever; each one installed is
/// sent to `sender`, and the next checks compare with it. Once nobody listens, it only waits.
pub(super) async fn follow(
    follow: Follow,
    running: FullyQualifiedIdent,
    sender: mpsc::Sender<FullyQualifiedIdent>,
) -> Infallible {
    let mut current = running;
    let start = tokio::time::Instant::now() + follow.interval;
    let mut ticks = tokio::time::interval_at(start, follow.interval);
    // A slow install must not be followed by a burst of checks.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match check(&follow, &current).await {
            Ok(Some(newer)) => {
                if sender.send(newer.clone()).await.is_err() {
                    break;
                }
                current = newer;
            }
            Ok(None) => {}
            Err(err) => say!(
                "hab-sup(MR): cannot check channel `{}` for a release of `{}` newer than \
                 {current}: {err:#}; trying again in {} s",
                follow.channel,
                follow.query,
                follow.interval.as_secs()
            ),
        }
    }
    std::future::pending().await
}

/// The newest release in the channel when it is newer than `current`, installed.
async fn check(
    follow: &Follow,
    current: &FullyQualifiedIdent,
) -> Result<Option<FullyQualifiedIdent>> {
    let latest = follow
        .client
        .latest(&follow.query, follow.target, Some(&follow.channel))
        .await
        .context("cannot ask the depot")?;
    if !follow.query.satisfied_by(&latest.ident) || latest.target != follow.target {
        bail!("the depot answered `{}` ({})", latest.ident, latest.target);
    }
    if latest.ident.cmp_release(current) != Ordering::Greater {
        return Ok(None);
    }
    let newer = latest.ident;
    say!(
        "hab-sup(MR): {newer} is newer than {current} in channel `{}`",
        follow.channel
    );
    if !follow.root.is_installed(&newer) {
        let outcomes = super::super::install::install_from_depot(
            &follow.client,
            &follow.channel,
            &[PackageIdent::from(newer.clone())],
            Vec::new(),
            super::super::install::Place {
                root: &follow.root,
                keys: &follow.keys,
                target: follow.target,
            },
            super::super::install::Local::Use,
        )
        .await
        .with_context(|| format!("cannot install `{newer}`"))?;
        for outcome in outcomes {
            if let Outcome::Installed(ident) = outcome {
                say!("hab-sup(MR): Installed {ident}");
            }
        }
    }
    Ok(Some(newer))
}
