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
use habitat_depot_server::sync::mirror::{self, ChannelSummary, Event, Failure, Observer, Request};

use crate::progress::Steps;
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

/// Prints each event of a run on stderr, with a bar of the packages downloaded (on a terminal).
#[derive(Default)]
struct Printer {
    bar: Option<Steps>,
}

impl Printer {
    /// One more package of the bar done.
    fn step(&mut self, message: String) {
        if let Some(bar) = &self.bar {
            bar.step(message);
        }
    }
}

impl Observer for Printer {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Planned { downloads, .. } if downloads > 0 => {
                self.bar = Some(Steps::start("mirroring", downloads));
            }
            Event::OriginCreated { origin, owner } => {
                say!("created origin `{origin}`, owned by `{owner}`");
            }
            Event::KeyAdded { origin, revision } => {
                say!("added public key `{origin}-{revision}`");
            }
            Event::Stored { ident, target } => {
                say!("stored {ident} for `{target}`");
                self.step(ident.to_string());
            }
            Event::Failed(failure) => {
                say!("failed: {}", Chain(failure));
                if let Failure::Package { ident, .. } = failure {
                    self.step(ident.to_string());
                }
            }
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
    let mut printer = Printer::default();
    let summary = mirror::run(state, &request, &mut printer).await?;
    if let Some(bar) = printer.bar.take() {
        bar.finish();
    }
    for line in table(&summary.channels) {
        say!("{line}");
    }
    say!("{}", summary.line());
    Ok(if summary.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The summary table: a row per channel (origin, channel, target, then the counts), columns
/// aligned; nothing when no channel was asked.
fn table(channels: &[ChannelSummary]) -> Vec<String> {
    if channels.is_empty() {
        return Vec::new();
    }
    let header = [
        "origin",
        "channel",
        "target",
        "new",
        "up to date",
        "added",
        "removed",
        "failed",
    ];
    let rows: Vec<[String; 8]> = channels
        .iter()
        .map(|c| {
            [
                c.origin.to_string(),
                c.channel.to_string(),
                c.target.to_string(),
                c.stored.to_string(),
                c.up_to_date.to_string(),
                c.added.to_string(),
                c.removed.to_string(),
                c.failed.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: [&str; 8]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            // Names to the left, counts to the right.
            if i < 3 {
                text.push_str(&format!("{cell:<width$}"));
            } else {
                text.push_str(&format!("{cell:>width$}"));
            }
        }
        text.trim_end().to_owned()
    };
    let mut lines = vec![line(header)];
    for row in &rows {
        lines.push(line(row.each_ref().map(String::as_str)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_names_left_and_counts_right() {
        let row = |channel: &str, stored, failed| ChannelSummary {
            origin: "acme".parse().unwrap(),
            channel: channel.parse().unwrap(),
            target: PackageTarget::default(),
            stored,
            up_to_date: 12,
            added: 1,
            removed: 0,
            failed,
        };
        assert_eq!(
            table(&[row("stable", 4, 0), row("beta", 0, 2)]),
            [
                "origin  channel  target        new  up to date  added  removed  failed",
                "acme    stable   x86_64-linux    4          12      1        0       0",
                "acme    beta     x86_64-linux    0          12      1        0       2",
            ]
        );
        assert!(table(&[]).is_empty());
    }
}
