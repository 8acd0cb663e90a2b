//! `hab-depot sync` (docs/mirroring.md): the command line of a mirror run. The engine is
//! `habitat_depot_server::sync::mirror`; this turns the flags (or the `[[mirror]]` entries of
//! the settings) into requests, runs them and prints what happens.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use habitat_core::{ChannelName, OriginName, PackageTarget};
use habitat_depot_server::AppState;
use habitat_depot_server::error::Chain;
use habitat_depot_server::settings::MirrorMode;
use habitat_depot_server::sync::mirror::{self, Event, Observer, Request};

use crate::say;

/// The flags of one run.
#[derive(Debug)]
pub(crate) struct Flags {
    /// The upstream depot's URL.
    pub from: String,
    /// The origins whose channels are mirrored.
    pub origins: Vec<OriginName>,
    /// The channels (none: every channel the upstream has for each origin).
    pub channels: Vec<ChannelName>,
    /// The targets (none: the default target).
    pub targets: Vec<PackageTarget>,
    /// A file holding a token for the upstream.
    pub token_file: Option<PathBuf>,
    /// The local account that owns an origin the sync has to create here.
    pub owner: Option<String>,
    /// Whether what left a channel upstream leaves it here too.
    pub mode: Mode,
}

/// How channel state is mirrored.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Only adds packages and memberships.
    #[default]
    Additive,
    /// Also removes from a channel here what is not in it upstream, after a run without any
    /// failure (never from `unstable`, where every stored package is).
    Exact,
}

impl From<Flags> for Request {
    fn from(flags: Flags) -> Self {
        Request {
            from: flags.from,
            origins: flags.origins,
            channels: flags.channels,
            targets: flags.targets,
            token_file: flags.token_file,
            owner: flags.owner,
            mode: match flags.mode {
                Mode::Additive => MirrorMode::Additive,
                Mode::Exact => MirrorMode::Exact,
            },
        }
    }
}

/// The `[[mirror]]` entries of the settings as requests; none is an error.
pub(crate) fn configured(state: &AppState, owner: Option<String>) -> Result<Vec<Request>> {
    let mirrors = &state.settings.mirrors;
    if mirrors.is_empty() {
        anyhow::bail!(
            "nothing to sync: give `--from URL --origin ORIGIN`, or `[[mirror]]` entries in the \
             settings"
        );
    }
    Ok(mirrors
        .iter()
        .map(|mirror| Request::from_settings(mirror, owner.clone()))
        .collect())
}

/// Prints each event of a run on stderr.
struct Printer;

impl Observer for Printer {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::OriginCreated { origin, owner } => {
                say!("created origin `{origin}`, owned by `{owner}`");
            }
            Event::KeyAdded { origin, revision } => {
                say!("added public key `{origin}-{revision}`");
            }
            Event::Stored { ident, target } => say!("stored {ident} for `{target}`"),
            Event::Failed(failure) => say!("failed: {}", Chain(failure)),
            Event::MembershipRemoved {
                ident,
                target,
                channel,
            } => say!("removed {ident} for `{target}` from channel `{channel}`"),
            Event::NothingRemoved => {
                say!(
                    "exact mode: nothing removed from a channel, since the run did not fully \
                     succeed"
                );
            }
            _ => {}
        }
    }
}

/// Runs one sync against `state`'s stores and prints what happens and a summary; the exit
/// status is a failure when anything failed.
pub(crate) async fn run(state: &AppState, request: Request) -> Result<ExitCode> {
    let summary = mirror::run(state, &request, &mut Printer).await?;
    say!("{}", summary.line());
    Ok(if summary.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
