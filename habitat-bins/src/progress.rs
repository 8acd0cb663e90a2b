//! Progress bars for long transfers and multi-package installs (docs/commands.md, "Output
//! conventions"): drawn on stderr when it is a terminal, and absent otherwise, where the plain
//! lines that `say!` prints (one when a transfer starts, one when it ends) tell the same story.
//!
//! All bars share one [`MultiProgress`], so parallel downloads each get a line, and `say!`
//! prints above the bars instead of through them.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of this process (hidden when stderr is not a terminal).
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        MultiProgress::with_draw_target(target)
    })
}

/// Prints a line on stderr above any bars (the implementation of `say!`).
pub fn say_line(args: std::fmt::Arguments<'_>) {
    let line = args.to_string();
    bars().suspend(|| eprintln!("{line}"));
}

/// A transfer of bytes (an upload or a download) with a bar of bytes, rate and ETA.
pub struct Transfer {
    bar: ProgressBar,
    started: Instant,
}

impl Transfer {
    /// Starts a bar labelled `label` for `total` bytes (when known).
    pub fn start(label: &str, total: Option<u64>) -> Self {
        let bar = bars().add(ProgressBar::new(total.unwrap_or(0)));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_owned());
        Self {
            bar,
            started: Instant::now(),
        }
    }

    /// Records how far the transfer has come.
    pub fn update(&self, done: u64, total: Option<u64>) {
        if let Some(total) = total {
            self.bar.set_length(total);
        }
        self.bar.set_position(done);
    }

    /// Removes the bar; returns the bytes' rate as text for the closing line.
    pub fn finish(self, bytes: u64) -> String {
        self.bar.finish_and_clear();
        bars().remove(&self.bar);
        rate(bytes, self.started.elapsed().as_secs_f64())
    }
}

/// A count of steps (packages verified and unpacked), with a bar.
pub struct Steps {
    bar: ProgressBar,
}

impl Steps {
    /// Starts a bar labelled `label` for `total` steps.
    pub fn start(label: &str, total: u64) -> Self {
        let bar = bars().add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_owned());
        Self { bar }
    }

    /// One more step done; `message` names it.
    pub fn step(&self, message: String) {
        self.bar.set_message(message);
        self.bar.inc(1);
    }

    /// Removes the bar.
    pub fn finish(self) {
        self.bar.finish_and_clear();
        bars().remove(&self.bar);
    }
}

/// `12.3 MiB in 0.4 s, 30.1 MiB/s`.
fn rate(bytes: u64, seconds: f64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if seconds < 0.001 {
        return format!("{mib:.1} MiB");
    }
    format!("{mib:.1} MiB in {seconds:.1} s, {:.1} MiB/s", mib / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_names_size_time_and_speed() {
        assert_eq!(rate(10 * 1024 * 1024, 2.0), "10.0 MiB in 2.0 s, 5.0 MiB/s");
        assert_eq!(rate(512 * 1024, 0.0), "0.5 MiB");
    }
}
