//! What the user sees: messages on stderr, errors with hints, the exit status.

use std::process::ExitCode;

use habitat_core::Error as CoreError;
use habitat_depot_client::Error as DepotError;

/// Context for an error whose next step is known where it happens (the origin whose key to
/// upload): shows as `what`, and [`report`] prints `hint` on the line after.
#[derive(Debug)]
pub struct Hinted {
    /// What failed, naming the value.
    pub what: String,
    /// The next step.
    pub hint: String,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

/// A line of progress or information, on stderr (stdout is for data), above any progress bars.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::progress::say_line(format_args!($($arg)*)) };
}

/// A line of data on stdout. A closed pipe (`hab pkg list | head -1`) ends the program quietly
/// with success, as other Unix tools do, instead of panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!($($arg)*)) };
}

/// The implementation of [`out!`].
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{args}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Prints an error (its whole chain on one line) and a hint where one helps, and returns the
/// failure exit status.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", one_line(err));
    if let Some(hint) = hint(err) {
        eprintln!("hint: {hint}");
    }
    ExitCode::FAILURE
}

/// The error chain joined with `: `, as `{:#}` does, except that a depot's answer shows as the
/// depot's own message (the request line is noise to a user), and an unreachable depot as the
/// URL tried and the innermost cause.
fn one_line(err: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in err.chain() {
        match cause.downcast_ref::<DepotError>() {
            Some(DepotError::Http { message, .. }) => {
                parts.push(message.clone());
                break;
            }
            Some(connection @ DepotError::Connection { source, .. }) => {
                parts.push(connection.to_string());
                let mut innermost: &(dyn std::error::Error + 'static) = source.as_ref();
                while let Some(next) = innermost.source() {
                    innermost = next;
                }
                parts.push(innermost.to_string());
                break;
            }
            _ => parts.push(cause.to_string()),
        }
    }
    parts.join(": ")
}

fn hint(err: &anyhow::Error) -> Option<String> {
    if let Some(hinted) = err.downcast_ref::<Hinted>() {
        return Some(hinted.hint.clone());
    }
    if let Some(depot) = err.chain().find_map(|e| e.downcast_ref::<DepotError>()) {
        match depot {
            DepotError::Http { status: 401, .. } => {
                return Some("check HAB_AUTH_TOKEN (or --auth)".into());
            }
            DepotError::Certificate { .. } => {
                return Some(
                    "trust the depot's certificate authority: point SSL_CERT_FILE or `ca_file` \
                     in cli.toml at its PEM file"
                        .into(),
                );
            }
            DepotError::Connection { url, .. } => {
                let base = url.split("/v1").next().unwrap_or(url);
                return Some(format!(
                    "is a depot running at `{base}`? Give its URL with --url or HAB_BLDR_URL"
                ));
            }
            _ => {}
        }
    }
    let core = err
        .chain()
        .find_map(|e| e.downcast_ref::<CoreError>())?
        .innermost();
    Some(match core {
        CoreError::KeyNotFound { name, .. } => format!(
            "import the public key `{name}` first: hab origin key import < {name}.pub \
             (or set HAB_CACHE_KEY_PATH to the key cache that has it)"
        ),
        CoreError::NoKeyForOrigin {
            kind: "secret",
            origin,
            ..
        } => {
            format!("generate a key pair first: hab origin key generate {origin}")
        }
        CoreError::NoKeyForOrigin { origin, .. } => {
            format!(
                "import the origin's public key first: hab origin key import < {origin}-REVISION.pub"
            )
        }
        CoreError::PayloadHashMismatch { .. } | CoreError::BadSignature { .. } => {
            "the artifact was altered or corrupted after signing: fetch it again from its source"
                .into()
        }
        CoreError::MissingDependencies { .. } => {
            "install the dependencies first, or give their .hart files in the same command".into()
        }
        CoreError::KeyConflict(path) => format!(
            "a different key with the same name and revision is already cached in `{}`; \
             compare the two before replacing anything",
            path.display()
        ),
        _ => return None,
    })
}
