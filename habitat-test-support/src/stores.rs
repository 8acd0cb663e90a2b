//! Which stores the in-process depots of a test run use, from `HAB_TEST_STORES`.

/// The stores the API tests run on, from `HAB_TEST_STORES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stores {
    /// Unset, empty or `embedded`: SQLite and artifact files in the data directory.
    Embedded,
    /// `scale-out`: a fresh PostgreSQL database and a fresh S3 bucket for each depot. Both
    /// servers are then required: a test fails, rather than skips, without them.
    ScaleOut,
}

/// How to run the depot's suite on the scale-out stores.
pub const SCALE_OUT_COMMAND: &str =
    "HAB_TEST_STORES=scale-out cargo test -p habitat-depot-server --locked";

impl Stores {
    /// The configuration this test run asked for; an unknown value fails the test.
    pub fn from_env() -> Self {
        match std::env::var("HAB_TEST_STORES").as_deref() {
            Err(_) | Ok("" | "embedded") => Self::Embedded,
            Ok("scale-out") => Self::ScaleOut,
            Ok(other) => panic!(
                "HAB_TEST_STORES=`{other}`: expected `embedded` (the default) or `scale-out`"
            ),
        }
    }
}

/// Whether environment variable `name` is set to `1`.
pub(crate) fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "1")
}

/// Writes `line` straight to stderr, past the test harness's capture, so that a passing run
/// still shows it.
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
