//! One service in the foreground (docs/commands.md, "`hab start`", steps 1 to 4): render, `init`
//! once, then `run`, restarted with back-off when it ends unexpectedly, switched to a newer release
//! when the updater finds one, and stopped on SIGINT, SIGTERM or SIGHUP.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use habitat_core::{FsRoot, FullyQualifiedIdent};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::package::ServicePackage;
use super::service::{Backoff, Launch, Process, describe, exit_code};
use super::template::{self, Rendered, ServiceDir};
use crate::say;

/// How long a stopped hook may take to end after SIGTERM before it is killed (Habitat's
/// default shutdown timeout).
const GRACE: Duration = Duration::from_secs(8);

/// A release ready to run: read and rendered, nothing written yet.
struct Prepared {
    package: ServicePackage,
    rendered: Rendered,
    env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
}

impl Prepared {
    /// Reads the installed package `ident` and renders its templates; refuses a package that
    /// has no `run` hook.
    fn new(root: &FsRoot, ident: &FullyQualifiedIdent) -> Result<Self> {
        let package = ServicePackage::load(root, ident)?;
        let config = package.config(root)?;
        let service = ServiceDir::new(root, package.name());
        let rendered = template::render(&package, &service, &config)?;
        if !rendered.has_hook("run") {
            if package.has_programs() {
                bail!(
                    "`{ident}` is not a service: it has no run hook (hooks/run); its programs are \
                     in `{}`",
                    package.dir.join("bin").display()
                );
            }
            bail!("`{ident}` has no run hook (hooks/run): it cannot be started as a service");
        }
        let env = package.hook_environment()?;
        Ok(Self {
            package,
            rendered,
            env,
        })
    }

    /// How to start one of the rendered hooks; `kind` tags its output (`O` for run, `HK` for
    /// the other hooks, as Habitat's supervisor does).
    fn launch(&self, service: &ServiceDir, hook: &str, kind: &str) -> Launch {
        Launch {
            program: service.sub("hooks").join(hook),
            dir: service.path().to_owned(),
            env: self.env.clone(),
            tag: format!("{}.default({kind})", self.package.name()),
        }
    }
}

/// The signals that stop the service.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        let listen = |kind: SignalKind| {
            signal(kind).map_err(|e| anyhow::Error::new(e).context("cannot listen for signals"))
        };
        Ok(Self {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
            hangup: listen(SignalKind::hangup())?,
        })
    }

    /// The next stop signal's name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }
}

/// Runs the installed package `ident` as a service until a signal stops it; releases that
/// arrive on `updates` replace it. Returns the exit status of `hab start`.
pub(super) async fn run(
    root: &FsRoot,
    ident: &FullyQualifiedIdent,
    mut updates: Option<mpsc::Receiver<FullyQualifiedIdent>>,
) -> Result<ExitCode> {
    let mut current = Prepared::new(root, ident)?;
    let name = current.package.name().to_owned();
    let service = ServiceDir::new(root, &name);
    let mut signals = Signals::new()?;
    say!(
        "hab-sup(MR): Starting {ident} as service {name} in `{}`",
        service.path().display()
    );
    if let Some(code) = begin(&current, &service, &mut signals).await? {
        return Ok(code);
    }
    let mut process = Some(start_run(&current, &service)?);
    let mut backoff = Backoff::default();
    let mut restart_at: Option<Instant> = None;
    loop {
        tokio::select! {
            signal = signals.recv() => {
                say!("hab-sup(MR): {signal} received: stopping {name}");
                let status = match process.as_mut() {
                    Some(running) => {
                        // A run hook that ended by itself just before the signal crashed, as
                        // one seen ending between restarts did: the stop is still a clean one.
                        let crashed = running.has_ended();
                        let status = stop(running, &service).await?;
                        (!crashed).then_some(status)
                    }
                    None => None,
                };
                say!("hab-sup(MR): {name} stopped");
                return Ok(exit_code(status));
            }
            status = wait(&mut process) => {
                let status = status?;
                let uptime = process.take().map(|p| p.uptime()).unwrap_or_default();
                let _ = std::fs::remove_file(service.pid_file());
                let delay = backoff.after(uptime);
                say!(
                    "hab-sup(MR): {name} exited unexpectedly with {}; restarting in {} s",
                    describe(status),
                    delay.as_secs()
                );
                restart_at = Some(Instant::now() + delay);
            }
            () = sleep_until(restart_at) => {
                restart_at = None;
                process = Some(start_run(&current, &service)?);
            }
            Some(newer) = next_update(&mut updates) => {
                let next = match Prepared::new(root, &newer) {
                    Ok(next) => next,
                    Err(err) => {
                        say!(
                            "hab-sup(MR): cannot switch {name} to {newer}: {err:#}; {} keeps running",
                            current.package.ident
                        );
                        continue;
                    }
                };
                say!("hab-sup(MR): Updating {name} from {} to {newer}", current.package.ident);
                if let Some(mut running) = process.take() {
                    stop(&mut running, &service).await?;
                }
                restart_at = None;
                backoff.reset();
                current = next;
                if let Some(code) = begin(&current, &service, &mut signals).await? {
                    return Ok(code);
                }
                process = Some(start_run(&current, &service)?);
            }
        }
    }
}

/// Creates the service directory, writes the rendered files and runs `init` when there is
/// one. `Some` exit status when a signal stopped `init`.
async fn begin(
    current: &Prepared,
    service: &ServiceDir,
    signals: &mut Signals,
) -> Result<Option<ExitCode>> {
    service.create()?;
    current.rendered.write(service)?;
    if !current.rendered.has_hook("init") {
        return Ok(None);
    }
    let mut init = Process::spawn(&current.launch(service, "init", "HK"))?;
    tokio::select! {
        status = init.wait() => {
            let status = status?;
            if !status.success() {
                bail!(
                    "the init hook of {} failed with {}: the service does not start",
                    current.package.ident,
                    describe(status)
                );
            }
            Ok(None)
        }
        signal = signals.recv() => {
            say!("hab-sup(MR): {signal} received during init: stopping");
            let status = init.stop(GRACE).await?;
            Ok(Some(exit_code(Some(status))))
        }
    }
}

/// Starts the `run` hook and records its process id in `hab/svc/<name>/PID`.
fn start_run(current: &Prepared, service: &ServiceDir) -> Result<Process> {
    let process = Process::spawn(&current.launch(service, "run", "O"))?;
    let pid_file = service.pid_file();
    if let Err(err) = std::fs::write(&pid_file, format!("{}\n", process.id())) {
        say!("hab-sup(MR): cannot write `{}`: {err}", pid_file.display());
    }
    say!(
        "hab-sup(MR): {} is running {} (PID {})",
        current.package.name(),
        current.package.ident,
        process.id()
    );
    Ok(process)
}

/// Stops the `run` hook and removes its PID file.
async fn stop(process: &mut Process, service: &ServiceDir) -> Result<std::process::ExitStatus> {
    let status = process.stop(GRACE).await;
    let _ = std::fs::remove_file(service.pid_file());
    status
}

/// The end of the running process; never, when none runs.
async fn wait(process: &mut Option<Process>) -> Result<std::process::ExitStatus> {
    match process {
        Some(process) => process.wait().await,
        None => std::future::pending().await,
    }
}

/// The moment to restart; never, when no restart is due.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next release from the updater; never, without one.
async fn next_update(
    updates: &mut Option<mpsc::Receiver<FullyQualifiedIdent>>,
) -> Option<FullyQualifiedIdent> {
    match updates {
        Some(updates) => updates.recv().await,
        None => std::future::pending().await,
    }
}
