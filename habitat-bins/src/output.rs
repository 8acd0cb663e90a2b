//! What the user sees: messages on stderr, errors with hints, the exit status.

use std::process::ExitCode;

use habitat_core::Error as CoreError;

/// A line of progress or information, on stderr (stdout is for data).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { eprintln!($($arg)*) };
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
    eprintln!("error: {err:#}");
    if let Some(hint) = hint(err) {
        eprintln!("hint: {hint}");
    }
    ExitCode::FAILURE
}

fn hint(err: &anyhow::Error) -> Option<String> {
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
