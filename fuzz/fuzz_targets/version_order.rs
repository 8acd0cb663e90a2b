//! Version ordering (`Version`, `compare_versions`): never panics; a total order (reflexive,
//! antisymmetric, transitive, `==` exactly when `cmp` is `Equal`); where both versions parse
//! under docs/formats.md's rule the result is Habitat's, computed here by an independent model;
//! where neither parses it is the raw string order; an unparseable version sorts below a
//! parseable one (habitat-core's documented tie-break for mixed pairs). Input: up to three
//! versions separated by NUL bytes.

#![no_main]

use std::cmp::Ordering;

use habitat_core::version::{Version, compare_versions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let versions: Vec<&str> = text.splitn(3, '\0').collect();
    for &a in &versions {
        let v = Version::new(a);
        assert_eq!(v.as_str(), a);
        assert_eq!(v.is_parsed(), model(a).is_some(), "is_parsed({a:?})");
        assert_eq!(compare_versions(a, a), Ordering::Equal, "{a:?} vs itself");
        assert_eq!(v, Version::new(a));
        for &b in &versions {
            check_pair(a, b);
        }
    }
    if let [a, b, c] = versions[..] {
        check_transitive(a, b, c);
    }
});

fn check_pair(a: &str, b: &str) {
    let ab = compare_versions(a, b);
    assert_eq!(ab, compare_versions(b, a).reverse(), "{a:?} vs {b:?}");
    let (va, vb) = (Version::new(a), Version::new(b));
    assert_eq!(va.cmp(&vb), ab);
    assert_eq!(va.partial_cmp(&vb), Some(ab));
    assert_eq!(va == vb, ab == Ordering::Equal, "{a:?} vs {b:?}");
    let expected = match (model(a), model(b)) {
        (Some(ma), Some(mb)) => habitat_compare(&ma, &mb),
        (None, None) => a.cmp(b),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
    };
    assert_eq!(ab, expected, "{a:?} vs {b:?}");
}

fn check_transitive(a: &str, b: &str, c: &str) {
    let mut sorted = [Version::new(a), Version::new(b), Version::new(c)];
    sorted.sort();
    let [x, y, z] = &sorted;
    assert!(
        x <= y && y <= z && x <= z,
        "{a:?}, {b:?}, {c:?} sort to {sorted:?}"
    );
    if x == y && y == z {
        assert_eq!(x, z);
    }
    // The same through the free function, for every permutation.
    for (p, q, r) in [
        (a, b, c),
        (a, c, b),
        (b, a, c),
        (b, c, a),
        (c, a, b),
        (c, b, a),
    ] {
        if compare_versions(p, q).is_le() && compare_versions(q, r).is_le() {
            assert!(compare_versions(p, r).is_le(), "{p:?} <= {q:?} <= {r:?}");
        }
        if compare_versions(p, q).is_eq() && compare_versions(q, r).is_eq() {
            assert!(compare_versions(p, r).is_eq(), "{p:?} == {q:?} == {r:?}");
        }
    }
}

/// A version under docs/formats.md's rule: the numeric parts and the extension of the first match
/// of `([0-9.]+)(.+)?`, or `None` when a part is empty or overflows `u64`.
struct Model<'a> {
    numbers: Vec<u64>,
    extension: Option<&'a str>,
}

fn model(version: &str) -> Option<Model<'_>> {
    let is_numeric = |c: char| c.is_ascii_digit() || c == '.';
    let start = version.find(is_numeric)?;
    let rest = &version[start..];
    let end = rest.find(|c| !is_numeric(c)).unwrap_or(rest.len());
    let numbers = rest[..end]
        .split('.')
        .map(|part| part.parse::<u64>().ok())
        .collect::<Option<Vec<_>>>()?;
    // `.` in the regex does not match a newline, and `(.+)?` must start right after the digits.
    let tail = rest[end..].split('\n').next().unwrap_or_default();
    let extension = match tail {
        "" => None,
        t if t.len() > 1 && t.starts_with('-') => Some(&t[1..]),
        t => Some(t),
    };
    Some(Model { numbers, extension })
}

/// Habitat's `version_sort` for two parsed versions: numbers padded with zeros, then no
/// extension beats an extension, then extensions as byte strings.
fn habitat_compare(a: &Model<'_>, b: &Model<'_>) -> Ordering {
    let len = a.numbers.len().max(b.numbers.len());
    for i in 0..len {
        let x = a.numbers.get(i).copied().unwrap_or(0);
        let y = b.numbers.get(i).copied().unwrap_or(0);
        match x.cmp(&y) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    match (a.extension, b.extension) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
    }
}
