//! Scheduled mirrors (docs/mirroring.md, "Mirrors in the settings"): the serving process runs
//! each `[[mirror]]` that has an `interval` when it starts and then every interval, logging
//! through `tracing`. Processes sharing a metadata store (a scale-out depot) take a lock in it
//! for each run ([`crate::store::MetadataStore::try_lock`]), so one process at a time runs a
//! given mirror; the others skip that turn.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::AppState;
use crate::error::Chain;
use crate::settings::MirrorSettings;
use crate::sync::mirror::{self, Event, Observer, Request};

/// The scheduled mirrors of a serving process; dropping it (or [`Scheduled::stop`]) stops
/// them, a run in progress included (its downloads resume at the next run).
#[derive(Debug, Default)]
pub struct Scheduled {
    tasks: Vec<JoinHandle<()>>,
}

impl Scheduled {
    /// How many mirrors run on a schedule.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether none does.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Stops every scheduled mirror.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Scheduled {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts a task for each `[[mirror]]` of `state`'s settings that has an `interval`: a run
/// now, then one every interval (a run that takes longer delays the next one).
pub fn start(state: &AppState) -> Scheduled {
    let mut tasks = Vec::new();
    for mirror in &state.settings.mirrors {
        let Some(interval) = mirror.interval else {
            continue;
        };
        let (state, request, name) = (
            state.clone(),
            Request::from_settings(mirror, None),
            lock_name(mirror),
        );
        tracing::info!(
            upstream = %mirror.from,
            interval_secs = interval.as_secs(),
            "mirror scheduled"
        );
        tasks.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                run_once(&state, &request, &name).await;
            }
        }));
    }
    Scheduled { tasks }
}

/// The lock a run of `mirror` holds: what it mirrors from where.
fn lock_name(mirror: &MirrorSettings) -> String {
    let list = |items: Vec<String>| items.join(",");
    format!(
        "mirror {} origins={} channels={} targets={}",
        mirror.from,
        list(mirror.origins.iter().map(ToString::to_string).collect()),
        list(mirror.channels.iter().map(ToString::to_string).collect()),
        list(mirror.targets.iter().map(ToString::to_string).collect()),
    )
}

/// One run, if no other process is running this mirror.
async fn run_once(state: &AppState, request: &Request, name: &str) {
    let lock = match state.metadata.try_lock(name).await {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            tracing::debug!(
                upstream = %request.from,
                "mirror run skipped: another process is running it"
            );
            return;
        }
        Err(e) => {
            tracing::warn!(upstream = %request.from, error = %Chain(&e), "mirror run not started");
            return;
        }
    };
    let started = std::time::Instant::now();
    let mut logger = Logger {
        upstream: &request.from,
    };
    match mirror::run(state, request, &mut logger).await {
        Ok(summary) if summary.succeeded() => tracing::info!(
            upstream = %request.from,
            elapsed_ms = millis(started.elapsed()),
            "mirror run: {}",
            summary.line()
        ),
        Ok(summary) => tracing::warn!(
            upstream = %request.from,
            elapsed_ms = millis(started.elapsed()),
            "mirror run: {}",
            summary.line()
        ),
        Err(e) => tracing::warn!(
            upstream = %request.from,
            error = %Chain(&e),
            "mirror run failed"
        ),
    }
    drop(lock);
}

fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// Logs each event of a scheduled run.
struct Logger<'a> {
    upstream: &'a str,
}

impl Observer for Logger<'_> {
    fn event(&mut self, event: Event<'_>) {
        let upstream = self.upstream;
        match event {
            Event::Planned {
                downloads,
                up_to_date,
            } if downloads > 0 => {
                tracing::info!(upstream, downloads, up_to_date, "mirror: downloading");
            }
            Event::OriginCreated { origin, owner } => {
                tracing::info!(upstream, %origin, owner, "mirror: created origin");
            }
            Event::KeyAdded { origin, revision } => {
                tracing::info!(upstream, key = %format!("{origin}-{revision}"), "mirror: added public key");
            }
            Event::Stored { ident, target } => {
                tracing::info!(upstream, %ident, %target, "mirror: stored");
            }
            Event::Failed(failure) => {
                tracing::warn!(upstream, problem = %Chain(failure), "mirror: failed");
            }
            Event::MembershipAdded {
                ident,
                target,
                channel,
            } => tracing::info!(upstream, %ident, %target, %channel, "mirror: added to channel"),
            Event::MembershipRemoved {
                ident,
                target,
                channel,
            } => {
                tracing::info!(upstream, %ident, %target, %channel, "mirror: removed from channel");
            }
            Event::NothingRemoved => tracing::warn!(
                upstream,
                "mirror: exact mode removed nothing, since the run did not fully succeed"
            ),
            _ => {}
        }
    }
}
