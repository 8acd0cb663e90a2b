//! `hab start IDENT|HART` (docs/commands.md, "`hab start`"): install the package when it is not,
//! then run it as a supervised service in the foreground, as Habitat's supervisor does for one
//! service.
//!
//! [`package`] reads what the installed package says about running it, [`template`] renders
//! its hooks and configuration into the service directory, [`service`] starts and stops
//! processes, [`supervisor`] ties them together with signals, restarts and updates, which
//! [`update`] finds with `--strategy at-once`.

pub(super) mod package;
mod service;
mod supervisor;
mod template;
mod update;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use habitat_core::install_set::{Outcome, Request};

use super::install::{PackageArg, install_with_progress, report};
use habitat_core::{
    ChannelName, FsRoot, FullyQualifiedIdent, KeyCache, PackageIdent, PackageTarget,
};
use tokio::sync::mpsc;

use super::remote::{block_on, client};
use super::{DepotArgs, KeyCacheArg, TufArgs};
use crate::output::Hinted;
use crate::{say, settings};
use habitat_depot_client::Client;
use habitat_depot_client::tuf::TufClient;
use std::sync::Arc;

/// `hab start`'s arguments.
#[derive(Args, Debug)]
pub(super) struct StartArgs {
    /// ORIGIN/NAME[/VERSION[/RELEASE]] (the newest installed release that satisfies it, else
    /// the channel's latest, installed first), or a .hart file to install and start.
    #[arg(value_name = "IDENT|HART")]
    package: String,
    /// The channel to install from and, with --strategy at-once, to follow [default:
    /// HAB_BLDR_CHANNEL, else stable; a view URL's channel wins]
    #[arg(short = 'c', long)]
    channel: Option<ChannelName>,
    /// How the service follows new releases: none, or at-once (restart on the channel's newer
    /// release as soon as it is seen).
    #[arg(long, value_enum, default_value_t = Strategy::None)]
    strategy: Strategy,
    /// Seconds between two checks of the channel, with --strategy at-once.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    update_interval: u64,
    #[command(flatten)]
    cache: KeyCacheArg,
    #[command(flatten)]
    depot: DepotArgs,
    #[command(flatten)]
    tuf: TufArgs,
}

/// The depot, and its verifier when its channels are verified: made once per command, so the
/// notice about unverified channels shows once.
struct Depot {
    client: Client,
    verifier: Option<Arc<TufClient>>,
}

/// How a running service follows new releases (Habitat's update strategies, minus `rolling`,
/// which needs a ring of supervisors).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Strategy {
    /// Never looks for new releases.
    None,
    /// Checks the channel every --update-interval seconds and restarts the service on a newer
    /// release as soon as one is installed.
    AtOnce,
}

/// `hab start IDENT|HART`.
pub(super) fn run(args: StartArgs) -> Result<ExitCode> {
    let wanted = PackageArg::parse(&args.package)?;
    if args.strategy == Strategy::AtOnce {
        let exact = match &wanted {
            PackageArg::Artifact(path) => Some(path.display().to_string()),
            PackageArg::Ident(ident) if ident.is_fully_qualified() => Some(ident.to_string()),
            PackageArg::Ident(_) => None,
        };
        if let Some(exact) = exact {
            return Err(anyhow::Error::msg(Hinted {
                what: format!(
                    "`{exact}` names one release: there is nothing for --strategy at-once to \
                     follow"
                ),
                hint: "give ORIGIN/NAME or ORIGIN/NAME/VERSION to follow the channel's \
                       latest, or drop --strategy"
                    .into(),
            }));
        }
    }
    let root = settings::fs_root();
    let keys = settings::key_cache(args.cache.cache_key_path.as_deref())?;
    let target = settings::target(None)?;
    let needs_depot = match &wanted {
        PackageArg::Artifact(_) => false,
        PackageArg::Ident(query) => {
            args.strategy == Strategy::AtOnce || root.latest_installed(query)?.is_none()
        }
    };
    block_on(async move {
        // Made in the runtime that uses it, as every depot command does.
        let depot = if needs_depot {
            let client = client(&args.depot)?;
            let verifier = super::tuf::verifier(&client, &args.tuf, &keys)?;
            Some(Depot { client, verifier })
        } else {
            None
        };
        let (ident, query) = match wanted {
            PackageArg::Artifact(path) => {
                (install_artifact(&root, &keys, target, path).await?, None)
            }
            PackageArg::Ident(query) => {
                let ident = match root.latest_installed(&query)? {
                    Some(found) => {
                        say!("{found} is already installed");
                        found
                    }
                    None => {
                        let depot = depot.as_ref().context("no depot to install from")?;
                        install_ident(&args, depot, &root, &keys, target, &query).await?
                    }
                };
                (ident, Some(query))
            }
        };
        let (updates, follow) = match query {
            Some(query) if args.strategy == Strategy::AtOnce => {
                let verifier = depot.context("no depot to follow the channel of")?.verifier;
                // A client of its own, whose connections the installs did not open.
                let client = client(&args.depot)?;
                let channel = client
                    .channel_or(&settings::channel(args.channel.clone())?)
                    .clone();
                say!(
                    "hab-sup(MR): Following channel `{channel}` for releases of {query} every {} s",
                    args.update_interval
                );
                let follow = update::Follow {
                    client,
                    verifier,
                    channel,
                    query,
                    target,
                    root: root.clone(),
                    keys: keys.clone(),
                    interval: Duration::from_secs(args.update_interval),
                };
                let (sender, receiver) = mpsc::channel(1);
                (
                    Some(receiver),
                    Some(update::follow(follow, ident.clone(), sender)),
                )
            }
            _ => (None, None),
        };
        // The updater is polled beside the supervisor on this one thread rather than spawned,
        // and never ends: the supervisor's end is the command's.
        let follow = async move {
            match follow {
                Some(follow) => follow.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = supervisor::run(&root, &ident, updates) => result,
            never = follow => match never {},
        }
    })
}

/// Installs a `.hart` (its dependencies must be installed already) and returns its package.
async fn install_artifact(
    root: &FsRoot,
    keys: &KeyCache,
    target: PackageTarget,
    path: std::path::PathBuf,
) -> Result<FullyQualifiedIdent> {
    let (root, keys) = (root.clone(), keys.clone());
    let outcomes = tokio::task::spawn_blocking(move || {
        install_with_progress(&root, &[Request::from(path)], &keys, target)
    })
    .await
    .context("the install task failed")??;
    report(&outcomes);
    match outcomes.into_iter().next() {
        Some(Outcome::Installed(ident) | Outcome::AlreadyInstalled(ident)) => Ok(ident),
        None => bail!("the artifact installed nothing"),
    }
}

/// Installs the channel's latest release satisfying `query` from the depot, as
/// `hab pkg install` does, and returns it.
async fn install_ident(
    args: &StartArgs,
    depot: &Depot,
    root: &FsRoot,
    keys: &KeyCache,
    target: PackageTarget,
    query: &PackageIdent,
) -> Result<FullyQualifiedIdent> {
    let channel = settings::channel(args.channel.clone())?;
    let outcomes = super::install::install_from_depot(
        &depot.client,
        depot.verifier.as_deref(),
        &channel,
        std::slice::from_ref(query),
        Vec::new(),
        super::install::Place { root, keys, target },
        super::install::Local::Use,
    )
    .await?;
    report(&outcomes);
    outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Installed(ident) | Outcome::AlreadyInstalled(ident) => ident,
        })
        .find(|ident| query.satisfied_by(ident))
        .with_context(|| format!("installing `{query}` installed no package that satisfies it"))
}
