//! What the user sees: messages on stderr, errors with hints, the exit status.

use std::process::ExitCode;

use habitat_core::Error as CoreError;

/// A line of progress or information, on stderr (stdout is for data).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { eprintln!($($arg)*) };
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
    let core = err.chain().find_map(|e| e.downcast_ref::<CoreError>())?;
    Some(match core {
        CoreError::KeyNotFound { name, .. } => format!(
            "import the public key `{name}` first: hab origin key import < {name}.pub \
             (or set HAB_CACHE_KEY_PATH to the key cache that has it)"
        ),
        CoreError::NoKeyForOrigin { kind: "secret", origin, .. } => {
            format!("generate a key pair first: hab origin key generate {origin}")
        }
        CoreError::NoKeyForOrigin { origin, .. } => {
            format!("import the origin's public key first: hab origin key import < {origin}-REVISION.pub")
        }
        CoreError::PayloadHashMismatch { .. } | CoreError::BadSignature { .. } => {
            "the artifact was altered or corrupted after signing: fetch it again from its source".into()
        }
        CoreError::MissingDependencies { missing, .. } => format!(
            "install the dependencies first, or name their .hart files in the same command: hab pkg install {}",
            missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
        ),
        CoreError::KeyConflict(_) => {
            "a different key with the same name and revision is already cached; remove it if it is wrong".into()
        }
        _ => return None,
    })
}
