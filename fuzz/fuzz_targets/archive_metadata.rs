//! Payload checks and metadata (`archive::check_tar`, `metadata::read_metadata`): never panic,
//! stay within the unpack limits, and agree: the same tar, checked directly and read from a
//! `.hart` (xz-compressed), gives the same metadata or the same error. Accepted metadata
//! names the package its members live in. Input: an uncompressed tar; header checksums are
//! repaired before use so mutations reach the member checks.

#![no_main]

use habitat_core::archive::check_tar;
use habitat_core::metadata::read_metadata;
use habitat_fuzz::{LIMITS, fix_tar_checksums, unsigned_hart};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut tar = data.to_vec();
    fix_tar_checksums(&mut tar);

    let direct = check_tar(&tar[..], &LIMITS);
    let hart = unsigned_hart(&tar);
    let from_file = read_metadata(&hart, &LIMITS);
    match (&direct, &from_file) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("check_tar: {direct:?}\nread_metadata: {from_file:?}"),
    }

    let Ok(metadata) = direct else {
        return;
    };
    let ident = &metadata.ident;
    let path = ident.install_path();
    assert_eq!(path.components().count(), 6, "{}", path.display());
    for dep in metadata.deps.iter().chain(&metadata.tdeps) {
        assert!(dep.as_ident().is_fully_qualified());
    }
});
