//! Version ordering: which release is "latest" (docs/formats.md, "Version ordering").
//!
//! Habitat parses a version with the first match of `([0-9.]+)(.+)?`, compares the numeric parts
//! as `u64` (the shorter padded with zeros), then prefers no extension over an extension, and
//! compares two extensions as byte strings. When a version does not parse, Habitat compares the
//! raw strings; doing that for a pair where only one side parses would not be transitive, so
//! here every unparseable version sorts below every parseable one, and unparseable versions
//! compare as raw strings among themselves. Wherever both sides parse, the result is Habitat's.

use std::cmp::Ordering;

/// A version string ordered by Habitat's rule. Two versions are equal when the rule says so
/// (`1.2` == `1.2.0`), which keeps `Eq` and `Ord` consistent.
#[derive(Clone, Debug)]
pub struct Version<'a> {
    raw: &'a str,
    key: Key<'a>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key<'a> {
    /// Declared first: sorts below every parsed version.
    Unparsed(&'a [u8]),
    Parsed {
        /// Numeric parts with trailing zeros removed, so that padding is implicit.
        numbers: Vec<u64>,
        extension: Extension<'a>,
    },
}

/// No extension beats any extension.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Extension<'a> {
    Some(&'a [u8]),
    None,
}

impl<'a> Version<'a> {
    /// Wraps a version string.
    pub fn new(raw: &'a str) -> Self {
        let key = parse(raw).unwrap_or(Key::Unparsed(raw.as_bytes()));
        Self { raw, key }
    }

    /// The version as given.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// `true` when Habitat's rule parses this version (otherwise it sorts by raw string).
    pub fn is_parsed(&self) -> bool {
        matches!(self.key, Key::Parsed { .. })
    }
}

fn parse(raw: &str) -> Option<Key<'_>> {
    // Leftmost-longest match of `[0-9.]+`; everything before it is ignored (`v1.2` == `1.2`).
    let start = raw.find(|c: char| c.is_ascii_digit() || c == '.')?;
    let rest = &raw[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (numeric, tail) = rest.split_at(end);

    let mut numbers = numeric
        .split('.')
        .map(|part| part.parse::<u64>().ok().filter(|_| !part.is_empty()))
        .collect::<Option<Vec<u64>>>()?;
    while numbers.last() == Some(&0) {
        numbers.pop();
    }

    // `(.+)?` does not cross a newline, as in the regex Habitat uses.
    let tail = tail.split('\n').next().unwrap_or_default();
    let extension = match tail {
        "" => Extension::None,
        t if t.len() > 1 && t.starts_with('-') => Extension::Some(&t.as_bytes()[1..]),
        t => Extension::Some(t.as_bytes()),
    };
    Some(Key::Parsed { numbers, extension })
}

impl PartialEq for Version<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Version<'_> {}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl Version<'_> {
    /// A byte string whose lexicographic (`memcmp`) order is this order, so that a database
    /// index can answer "latest" without loading every release: equal versions get equal keys.
    pub fn sort_key(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.raw.len() + 16);
        match &self.key {
            Key::Unparsed(raw) => {
                out.push(0);
                escape_into(&mut out, raw);
            }
            Key::Parsed { numbers, extension } => {
                out.push(1);
                for n in numbers {
                    // A marker above the terminator, so a shorter list sorts first.
                    out.push(1);
                    out.extend_from_slice(&n.to_be_bytes());
                }
                out.push(0);
                match extension {
                    Extension::Some(bytes) => {
                        out.push(0);
                        escape_into(&mut out, bytes);
                    }
                    Extension::None => out.push(1),
                }
            }
        }
        out
    }
}

/// Appends `bytes` so that the result sorts like `bytes` and a shorter string sorts first:
/// `0x00` becomes `0x00 0xff`, and `0x00 0x00` terminates.
fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// Compares two version strings by Habitat's rule.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    Version::new(a).cmp(&Version::new(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};
    use proptest::prelude::*;

    #[track_caller]
    fn check(a: &str, expected: Ordering, b: &str) {
        assert_eq!(compare_versions(a, b), expected, "{a} vs {b}");
        assert_eq!(compare_versions(b, a), expected.reverse(), "{b} vs {a}");
    }

    /// Every worked result of docs/formats.md.
    #[test]
    fn worked_results() {
        check("1.10", Greater, "1.9");
        check("1.2", Equal, "1.2.0");
        check("1.2.3", Greater, "1.2.3-rc1");
        check("1.2.3-rc10", Less, "1.2.3-rc9");
        check("1.0.0-beta1", Greater, "1.0.0-alpha1000");
        check("1.2.3+build5", Greater, "1.2.3+build10");
        check("1.2.3~beta", Less, "1.2.3");
        check("v1.2", Equal, "1.2");
        check("20150521131347", Greater, "20150521131346");
    }

    #[test]
    fn more_of_habitats_rule() {
        check("1.02", Equal, "1.2");
        check("1.0.0-2", Greater, "1.0.0-10");
        check("1.0", Greater, "1.0-");
        check("18446744073709551615", Greater, "1");
    }

    #[test]
    fn unparseable_versions_sort_below_and_by_raw_string() {
        for bad in [
            "master",
            "1..2",
            "1.2.",
            ".5",
            "18446744073709551616",
            "",
            "beta.1",
        ] {
            assert!(!Version::new(bad).is_parsed(), "{bad}");
            check(bad, Less, "0");
        }
        check("1..2", Less, "1.2.");
        check("master", Greater, "main");
    }

    /// A regression the transitivity property found in the first draft: falling back to raw
    /// strings for a mixed pair made `1.2` < `1.2.` < `1.2.0` while `1.2` == `1.2.0`.
    #[test]
    fn sort_keys_of_worked_results() {
        let key = |v: &str| Version::new(v).sort_key();
        assert!(key("1.10") > key("1.9"));
        assert_eq!(key("1.2"), key("1.2.0"));
        assert!(key("1.2.3") > key("1.2.3-rc1"));
        assert!(key("1.2.3-rc10") < key("1.2.3-rc9"));
        assert!(key("a\0b") > key("a"));
        assert!(key("master") < key("0"));
    }

    #[test]
    fn mixed_pairs_stay_transitive() {
        check("1.2", Greater, "1.2.");
        check("1.2.0", Greater, "1.2.");
        check("1.2", Equal, "1.2.0");
    }

    fn version_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}",
            "v?[0-9]{1,2}(\\.[0-9]{1,2}){0,2}(-?(rc|beta|alpha)?[0-9]{0,2})?",
            "[0-9.]{0,6}[a-z~+-]{0,3}",
            "\\PC{0,8}",
            "[\\x00-\\x7f]{0,6}",
        ]
    }

    proptest! {
        #[test]
        fn antisymmetric(a in version_strategy(), b in version_strategy()) {
            prop_assert_eq!(compare_versions(&a, &b), compare_versions(&b, &a).reverse());
        }

        #[test]
        fn transitive(
            a in version_strategy(),
            b in version_strategy(),
            c in version_strategy(),
        ) {
            let mut v = [Version::new(&a), Version::new(&b), Version::new(&c)];
            v.sort();
            prop_assert!(v[0] <= v[1] && v[1] <= v[2] && v[0] <= v[2]);
            if v[0] == v[1] && v[1] == v[2] {
                prop_assert_eq!(&v[0], &v[2]);
            }
        }

        #[test]
        fn consistent_with_equality(a in version_strategy(), b in version_strategy()) {
            let (va, vb) = (Version::new(&a), Version::new(&b));
            prop_assert_eq!(va == vb, va.cmp(&vb) == Equal);
            prop_assert_eq!(Version::new(&a), Version::new(&a));
        }

        #[test]
        fn sort_key_orders_like_versions(a in version_strategy(), b in version_strategy()) {
            let (va, vb) = (Version::new(&a), Version::new(&b));
            prop_assert_eq!(va.sort_key().cmp(&vb.sort_key()), va.cmp(&vb));
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = Version::new(&s).cmp(&Version::new("1.0"));
        }
    }
}
