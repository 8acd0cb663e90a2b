//! Artifact headers (`ArtifactHeader::read`): never panics; reads at most five lines of at most
//! 1 KiB each; on success `len()` is exactly the number of bytes consumed, the header ends with
//! a newline, and reading just those bytes gives the same header; the result does not depend on
//! how the reader buffers (slice vs `BufReader` of 1, 7 and 64 bytes). Input: the start of a
//! `.hart` file.

#![no_main]

use std::io::BufReader;

use habitat_core::{ArtifactHeader, NamedRevision};
use libfuzzer_sys::fuzz_target;

/// Five lines of at most 1 KiB (artifact.rs `MAX_HEADER_LINE`).
const MAX_HEADER: usize = 5 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    let result = ArtifactHeader::read(&mut reader);
    let consumed = data.len() - reader.len();
    assert!(consumed <= MAX_HEADER, "read {consumed} bytes of header");

    for capacity in [1, 7, 64] {
        let mut buffered = BufReader::with_capacity(capacity, data);
        let other = ArtifactHeader::read(&mut buffered);
        match (&result, &other) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("capacity {capacity}: {result:?} vs {other:?}"),
        }
    }

    let Ok(header) = result else {
        return;
    };
    assert_eq!(header.len(), consumed as u64);
    assert!(!header.is_empty());
    assert_eq!(data[consumed - 1], b'\n');
    let mut exact = &data[..consumed];
    assert_eq!(
        ArtifactHeader::read(&mut exact).ok().as_ref(),
        Some(&header)
    );
    assert!(exact.is_empty());
    let signer = header.signer().to_string();
    assert_eq!(
        signer.parse::<NamedRevision>().ok().as_ref(),
        Some(header.signer())
    );
});
