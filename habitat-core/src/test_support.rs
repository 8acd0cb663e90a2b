//! Helpers shared by this crate's unit tests.

use std::path::PathBuf;

/// `../shared/fixtures/habitat/` relative to the repository root.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/habitat")
}

/// The bytes of a real Habitat fixture, or `None` (said on stderr) when the fixtures folder is
/// absent, as in a clone outside this workplace. Under CI the folder must be there.
pub fn fixture(name: &str) -> Option<Vec<u8>> {
    let path = fixtures_dir().join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: fixture `{}` not readable ({e})", path.display());
            None
        }
        Err(e) => panic!("fixture `{}` must exist under CI: {e}", path.display()),
    }
}
