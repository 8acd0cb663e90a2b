//! `--strategy at-once`: every interval, ask the depot for the latest release in the channel
//! and, when it is newer than the one running, install it (with its missing dependencies and
//! keys, verified) and hand it to the supervisor. A failed check is tried again at the next
//! interval and never touches the running service; it is reported in one short line when the
//! failure starts (or changes), and once more when a check succeeds again.

use std::cmp::Ordering;
use std::convert::Infallible;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use habitat_core::install_set::Outcome;
use habitat_core::{
    ChannelName, FsRoot, FullyQualifiedIdent, KeyCache, PackageIdent, PackageTarget,
};
use habitat_depot_client::tuf::TufClient;
use habitat_depot_client::{Client, Error as DepotError};
use std::sync::Arc;
use tokio::sync::mpsc;

use crate::say;

/// What to follow, and where.
pub(super) struct Follow {
    /// The depot.
    pub client: Client,
    /// Its verifier, when its channels are verified: each check refreshes the metadata and
    /// reads the channel's verified index.
    pub verifier: Option<Arc<TufClient>>,
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
    // The kind of failure last reported, so that a depot that stays away (or keeps refusing)
    // is reported once, and its return once.
    let mut failing: Option<String> = None;
    loop {
        ticks.tick().await;
        let checked = check(&follow, &current).await;
        match &checked {
            Ok(_) => {
                if failing.take().is_some() {
                    say!(
                        "hab-sup(MR): the depot answers again; following channel `{}`",
                        follow.channel
                    );
                }
            }
            Err(err) => {
                let (kind, line) = short_failure(err);
                if failing.as_ref() != Some(&kind) {
                    say!(
                        "hab-sup(MR): {line}; checking again every {} s",
                        follow.interval.as_secs()
                    );
                    failing = Some(kind);
                }
            }
        }
        if let Ok(Some(newer)) = checked {
            if sender.send(newer.clone()).await.is_err() {
                break;
            }
            current = newer;
        }
    }
    std::future::pending().await
}

/// A failed check as one short line, with what decides whether it is news: an unreachable
/// depot (its base URL and the innermost cause, which varies from one attempt to the next),
/// a refusal (the depot's own message), anything else (its whole chain).
fn short_failure(err: &anyhow::Error) -> (String, String) {
    for cause in err.chain() {
        match cause.downcast_ref::<DepotError>() {
            Some(DepotError::Connection { url, source, .. }) => {
                let base = url.split("/v1").next().unwrap_or(url);
                let mut innermost: &(dyn std::error::Error + 'static) = source.as_ref();
                while let Some(next) = innermost.source() {
                    innermost = next;
                }
                return (
                    format!("unreachable {base}"),
                    format!("cannot reach the depot at `{base}`: {innermost}"),
                );
            }
            Some(DepotError::Http {
                status, message, ..
            }) => {
                let line = format!("the depot refused the check ({status}): {message}");
                return (line.clone(), line);
            }
            _ => {}
        }
    }
    let line = format!("cannot check for a newer release: {err:#}");
    (line.clone(), line)
}

/// The newest release in the channel when it is newer than `current`, installed.
async fn check(
    follow: &Follow,
    current: &FullyQualifiedIdent,
) -> Result<Option<FullyQualifiedIdent>> {
    let latest = match &follow.verifier {
        Some(verifier) => {
            verifier
                .refresh()
                .await
                .context("cannot verify the depot's channels")?;
            let found =
                super::super::tuf::resolve(verifier, &follow.query, follow.target, &follow.channel)
                    .await?;
            let private = match found {
                Some(_) => None,
                // A private release is in no signed index: with a token, the depot's answer.
                None => {
                    super::super::install::private_latest(
                        &follow.client,
                        &follow.query,
                        follow.target,
                        &follow.channel,
                    )
                    .await
                }
            };
            match (found, private) {
                (Some((ident, _)), _) => ident,
                (None, Some(package)) => package.ident,
                (None, None) => bail!(
                    "no release satisfies `{}` in the verified index of channel `{}`",
                    follow.query,
                    follow.channel
                ),
            }
        }
        None => {
            let latest = follow
                .client
                .latest(&follow.query, follow.target, Some(&follow.channel))
                .await
                .context("cannot ask the depot")?;
            if !follow.query.satisfied_by(&latest.ident) || latest.target != follow.target {
                bail!("the depot answered `{}` ({})", latest.ident, latest.target);
            }
            latest.ident
        }
    };
    if latest.cmp_release(current) != Ordering::Greater {
        return Ok(None);
    }
    let newer = latest;
    say!(
        "hab-sup(MR): {newer} is newer than {current} in channel `{}`",
        follow.channel
    );
    if !follow.root.is_installed(&newer) {
        let outcomes = super::super::install::install_from_depot(
            &follow.client,
            follow.verifier.as_deref(),
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
