//! Identifier parsing (`PackageIdent`, `FullyQualifiedIdent`, `OriginName`, `PackageName`,
//! `ChannelName`): never panics; accepts exactly what docs/formats.md's rules accept; `Display`
//! round-trips (`parse(display(x)) == x` and `display(parse(s)) == s`); a fully qualified ident
//! installs to exactly `hab/pkgs/O/N/V/R` and satisfies its own partial forms; `cmp_release` is
//! antisymmetric and only `Equal` for equal version and release. Input: one ident, or two
//! separated by a newline.

#![no_main]

use std::cmp::Ordering;
use std::fmt::Debug;
use std::path::{Component, Path};
use std::str::FromStr;

use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName, PackageIdent, PackageName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    if let Some((a, b)) = text.split_once('\n') {
        check(a);
        check(b);
        if let (Ok(a), Ok(b)) = (
            a.parse::<FullyQualifiedIdent>(),
            b.parse::<FullyQualifiedIdent>(),
        ) {
            check_pair(&a, &b);
        }
    }
});

fn check(s: &str) {
    let origin = round_trip::<OriginName>(s);
    assert_eq!(origin.is_some(), valid_origin(s), "OriginName `{s:?}`");
    let name = round_trip::<PackageName>(s);
    assert_eq!(name.is_some(), valid_name(s), "PackageName `{s:?}`");
    let channel = round_trip::<ChannelName>(s);
    assert_eq!(channel.is_some(), valid_channel(s), "ChannelName `{s:?}`");

    let parts: Vec<&str> = s.split('/').collect();
    let expected = (2..=4).contains(&parts.len())
        && valid_origin(parts[0])
        && valid_name(parts[1])
        && parts[2..].iter().all(|p| valid_segment(p));
    let ident = round_trip::<PackageIdent>(s);
    assert_eq!(ident.is_some(), expected, "PackageIdent `{s:?}`");
    let fq = round_trip::<FullyQualifiedIdent>(s);
    assert_eq!(
        fq.is_some(),
        expected && parts.len() == 4,
        "FullyQualifiedIdent `{s:?}`"
    );

    if let Some(ident) = &ident {
        assert_eq!(ident.origin().as_str(), parts[0]);
        assert_eq!(ident.name().as_str(), parts[1]);
        assert_eq!(ident.version(), parts.get(2).copied());
        assert_eq!(ident.release(), parts.get(3).copied());
        assert_eq!(ident.is_fully_qualified(), parts.len() == 4);
    }
    if let Some(fq) = &fq {
        check_fully_qualified(fq, &parts);
    }
}

/// Parses `s`; on success checks both directions of the `Display` round trip.
fn round_trip<T>(s: &str) -> Option<T>
where
    T: FromStr + ToString + PartialEq + Debug,
{
    let value = s.parse::<T>().ok()?;
    let shown = value.to_string();
    assert_eq!(shown, s, "display of a parsed value differs from its input");
    let again = shown
        .parse::<T>()
        .unwrap_or_else(|_| panic!("`{shown}` does not re-parse"));
    assert_eq!(again, value, "parse(display(x)) != x");
    Some(value)
}

fn check_fully_qualified(fq: &FullyQualifiedIdent, parts: &[&str]) {
    // The install path is a path on disk: exactly six plain components, nothing that climbs.
    let path = fq.install_path();
    let components: Vec<_> = path.components().collect();
    assert_eq!(components.len(), 6, "install path {}", path.display());
    assert!(
        components.iter().all(|c| matches!(c, Component::Normal(_))),
        "install path {} has a non-plain component",
        path.display()
    );
    let expected: std::path::PathBuf = ["hab", "pkgs"].iter().chain(parts).collect();
    assert_eq!(path, expected);
    assert!(!Path::new(&fq.archive_name(habitat_core::PackageTarget::X86_64Linux)).has_root());
    assert!(
        !fq.archive_name(habitat_core::PackageTarget::X86_64Linux)
            .contains('/')
    );

    // Every prefix of a fully qualified ident satisfies it.
    for n in 2..=4 {
        let partial: PackageIdent = parts[..n]
            .join("/")
            .parse()
            .expect("a prefix of a valid ident is valid");
        assert!(partial.satisfied_by(fq), "{partial} does not satisfy {fq}");
    }
    assert_eq!(fq.cmp_release(fq), Ordering::Equal);
}

fn check_pair(a: &FullyQualifiedIdent, b: &FullyQualifiedIdent) {
    let ab = a.cmp_release(b);
    assert_eq!(ab, b.cmp_release(a).reverse(), "{a} vs {b}");
    let same = a.version() == b.version() && a.release() == b.release();
    assert_eq!(ab == Ordering::Equal, same, "{a} vs {b}: {ab:?}");
    let query: PackageIdent = a.clone().into();
    assert_eq!(query.satisfied_by(b), a == b, "{a} satisfied by {b}");
}

// docs/formats.md, "Package identifiers", written out independently of the parser.

fn valid_origin(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() <= 255
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_channel(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() <= 255
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Versions and releases: not empty, no `/`, whitespace or control characters, and not `.` or
/// `..` (they become path segments).
fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && !s
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
}
