//! The processes of a service: a hook started in its own process group with its output
//! streamed line by line under a prefix, stopped with SIGTERM to the whole group and SIGKILL
//! after a grace period, and the back-off between restarts.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// A line longer than this is cut into pieces of this size.
const MAX_LINE: u64 = 64 * 1024;

/// How long the output of a process that ended may still be drained.
const DRAIN: Duration = Duration::from_millis(500);

/// How to start one hook.
#[derive(Clone, Debug)]
pub(super) struct Launch {
    /// The rendered hook.
    pub program: PathBuf,
    /// The working directory: the service directory.
    pub dir: PathBuf,
    /// Variables set over the inherited environment.
    pub env: Vec<(OsString, OsString)>,
    /// What each line of output starts with, `NAME.default(O)`.
    pub tag: String,
}

/// A hook running in its own process group (whose id is its process id).
#[derive(Debug)]
pub(super) struct Process {
    child: Child,
    /// The process (and group) id.
    id: u32,
    started: Instant,
    output: Vec<tokio::task::JoinHandle<()>>,
}

impl Process {
    /// Starts `launch`, with stdin from /dev/null and stdout and stderr streamed to ours.
    pub fn spawn(launch: &Launch) -> Result<Self> {
        let mut command = Command::new(&launch.program);
        command
            .current_dir(&launch.dir)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: a terminal's Ctrl-C reaches only us, and stopping reaches every
            // process the hook started.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            let hint = if e.raw_os_error() == Some(rustix::io::Errno::NOEXEC.raw_os_error()) {
                " (does it start with a #! line?)"
            } else {
                ""
            };
            anyhow::Error::new(e)
                .context(format!("cannot run `{}`{hint}", launch.program.display()))
        })?;
        let id = child
            .id()
            .context("the process ended before its id was known")?;
        let mut output = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            output.push(forward(stdout, launch.tag.clone(), Stream::Stdout));
        }
        if let Some(stderr) = child.stderr.take() {
            output.push(forward(stderr, launch.tag.clone(), Stream::Stderr));
        }
        Ok(Self {
            child,
            id,
            started: Instant::now(),
            output,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// How long it has been running.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits for the process to end (cancel-safe), then kills whatever it left in its process
    /// group and lets its output drain for a moment.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        let status = self
            .child
            .wait()
            .await
            .context("cannot wait for the service's process")?;
        self.signal_group(Signal::KILL);
        for task in self.output.drain(..) {
            // Output still open after this belongs to a process that escaped the group.
            let _ = tokio::time::timeout(DRAIN, task).await;
        }
        Ok(status)
    }

    /// Whether the process has ended already (its status not yet collected by [`Self::wait`]).
    pub fn has_ended(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Sends SIGTERM to the process group, waits up to `grace` for the process to end, then
    /// sends SIGKILL.
    pub async fn stop(&mut self, grace: Duration) -> Result<ExitStatus> {
        self.signal_group(Signal::TERM);
        if let Ok(status) = tokio::time::timeout(grace, self.wait()).await {
            return status;
        }
        crate::say!(
            "hab-sup(MR): process {} did not stop within {} s: killing it",
            self.id,
            grace.as_secs()
        );
        self.signal_group(Signal::KILL);
        self.wait().await
    }

    fn signal_group(&self, signal: Signal) {
        if let Some(pid) = i32::try_from(self.id).ok().and_then(Pid::from_raw) {
            // ESRCH: the group is gone already, which is what was wanted.
            let _ = kill_process_group(pid, signal);
        }
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Copies `reader` line by line to our stdout or stderr, each line prefixed with `TAG: `.
/// Write errors (a closed stdout) are ignored: the service keeps running.
fn forward(
    reader: impl AsyncRead + Unpin + Send + 'static,
    tag: String,
    stream: Stream,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut line)
                .await
            {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            let text = String::from_utf8_lossy(&line);
            let _ = match stream {
                Stream::Stdout => writeln!(std::io::stdout().lock(), "{tag}: {text}"),
                Stream::Stderr => writeln!(std::io::stderr().lock(), "{tag}: {text}"),
            };
        }
    })
}

/// A process's end, as a person reads it.
pub(super) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("status {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => status.to_string(),
    }
}

/// The exit status of `hab start` after it stopped the service: the service's own status, and
/// success when it ended on the SIGTERM it was sent.
pub(super) fn exit_code(status: Option<ExitStatus>) -> std::process::ExitCode {
    let code = match status {
        None => 0,
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => code,
            (None, Some(signal)) if signal == Signal::TERM.as_raw() => 0,
            (None, Some(signal)) => 128 + signal,
            _ => 1,
        },
    };
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The delay before restarting a service that ended unexpectedly: 1 s, doubled at each
/// consecutive failure up to a minute, and back to 1 s once the service stayed up for a
/// while.
#[derive(Debug)]
pub(super) struct Backoff {
    next: Duration,
}

impl Backoff {
    /// The first delay.
    pub const FIRST: Duration = Duration::from_secs(1);
    /// The longest delay.
    pub const MAX: Duration = Duration::from_secs(60);
    /// A service up this long counts as healthy: its next failure waits [`Self::FIRST`].
    pub const STABLE: Duration = Duration::from_secs(30);

    /// The delay after a process that ran for `uptime`.
    pub fn after(&mut self, uptime: Duration) -> Duration {
        if uptime >= Self::STABLE {
            self.next = Self::FIRST;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }

    /// Starts over (a new release).
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute_and_resets_after_a_stable_run() {
        let mut backoff = Backoff::default();
        let quick = Duration::from_millis(10);
        let delays: Vec<u64> = (0..9).map(|_| backoff.after(quick).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff.after(Backoff::STABLE).as_secs(), 1);
        assert_eq!(backoff.after(quick).as_secs(), 2);
        backoff.reset();
        assert_eq!(backoff.after(quick).as_secs(), 1);
    }

    #[test]
    fn exit_codes_follow_the_service() {
        let code = |raw: i32| format!("{:?}", exit_code(Some(ExitStatus::from_raw(raw))));
        let expected = |c: u8| format!("{:?}", std::process::ExitCode::from(c));
        assert_eq!(code(0), expected(0));
        assert_eq!(code(3 << 8), expected(3));
        assert_eq!(code(Signal::TERM.as_raw()), expected(0));
        assert_eq!(code(Signal::KILL.as_raw()), expected(128 + 9));
        assert_eq!(format!("{:?}", exit_code(None)), expected(0));
    }
}
