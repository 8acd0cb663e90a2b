//! Package identifiers: `origin/name[/version[/release]]` and their parts.
//!
//! Every type here can only be built through its parser, so an invalid value never exists.
//! Rules: docs/formats.md, "Package identifiers".

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::version::Version;

/// The longest origin, name or channel we accept.
const MAX_NAME_LEN: usize = 255;

fn invalid(what: &'static str, input: &str, reason: &'static str) -> Error {
    Error::InvalidValue {
        what,
        input: input.to_owned(),
        reason,
    }
}

/// Implements `Display`, `AsRef<str>`, `Deref`-like access and serde through `FromStr` for a
/// string newtype.
macro_rules! string_newtype {
    ($ty:ident) => {
        impl $ty {
            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::Error;
            fn try_from(value: String) -> $crate::Result<Self> {
                value.parse()
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $crate::Error;
            fn try_from(value: &str) -> $crate::Result<Self> {
                value.parse()
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let raw = <String as serde::Deserialize>::deserialize(deserializer)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_newtype;

/// An origin name: `^[a-z0-9][a-z0-9_-]*$`, at most 255 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OriginName(String);
string_newtype!(OriginName);

impl FromStr for OriginName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        const WHAT: &str = "origin name";
        let first = s
            .bytes()
            .next()
            .ok_or_else(|| invalid(WHAT, s, "it is empty"))?;
        if s.len() > MAX_NAME_LEN {
            return Err(invalid(WHAT, s, "it is longer than 255 characters"));
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err(invalid(
                WHAT,
                s,
                "it must start with a lowercase letter or a digit",
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                WHAT,
                s,
                "only lowercase letters, digits, `_` and `-` are allowed",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A package name: `^[A-Za-z0-9_-]+$`, at most 255 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageName(String);
string_newtype!(PackageName);

impl FromStr for PackageName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        const WHAT: &str = "package name";
        if s.is_empty() {
            return Err(invalid(WHAT, s, "it is empty"));
        }
        if s.len() > MAX_NAME_LEN {
            return Err(invalid(WHAT, s, "it is longer than 255 characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                WHAT,
                s,
                "only letters, digits, `_` and `-` are allowed",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A channel name: letters, digits, `_`, `-` and `.`, starting with a letter, digit or `_`;
/// at most 255 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(String);
string_newtype!(ChannelName);

impl ChannelName {
    /// The channel every upload lands in.
    pub fn unstable() -> Self {
        Self("unstable".to_owned())
    }

    /// The channel installs read by default.
    pub fn stable() -> Self {
        Self("stable".to_owned())
    }
}

impl FromStr for ChannelName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        const WHAT: &str = "channel name";
        let first = s
            .bytes()
            .next()
            .ok_or_else(|| invalid(WHAT, s, "it is empty"))?;
        if s.len() > MAX_NAME_LEN {
            return Err(invalid(WHAT, s, "it is longer than 255 characters"));
        }
        if !(first.is_ascii_alphanumeric() || first == b'_') {
            return Err(invalid(
                WHAT,
                s,
                "it must start with a letter, a digit or `_`",
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(invalid(
                WHAT,
                s,
                "only letters, digits, `_`, `-` and `.` are allowed",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

/// Checks a version or release: not empty, no `/`, no whitespace or control characters, and not
/// `.` or `..` (it becomes a path segment).
fn check_segment(what: &'static str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(invalid(what, s, "it is empty"));
    }
    if s == "." || s == ".." {
        return Err(invalid(what, s, "`.` and `..` are not allowed"));
    }
    if s.chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            what,
            s,
            "`/`, whitespace and control characters are not allowed",
        ));
    }
    Ok(())
}

/// A package identifier, `origin/name[/version[/release]]` (a release implies a version).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PackageIdent {
    origin: OriginName,
    name: PackageName,
    version: Option<String>,
    release: Option<String>,
}

impl PackageIdent {
    /// Builds an identifier from parts, checking the version and release.
    pub fn new(
        origin: OriginName,
        name: PackageName,
        version: Option<&str>,
        release: Option<&str>,
    ) -> Result<Self> {
        if let Some(version) = version {
            check_segment("version", version)?;
        }
        if let Some(release) = release {
            check_segment("release", release)?;
            if version.is_none() {
                return Err(invalid(
                    "package identifier",
                    release,
                    "a release needs a version",
                ));
            }
        }
        Ok(Self {
            origin,
            name,
            version: version.map(str::to_owned),
            release: release.map(str::to_owned),
        })
    }

    /// The origin.
    pub fn origin(&self) -> &OriginName {
        &self.origin
    }

    /// The package name.
    pub fn name(&self) -> &PackageName {
        &self.name
    }

    /// The version, if given.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The release, if given.
    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }

    /// `true` when all four parts are present.
    pub fn is_fully_qualified(&self) -> bool {
        self.release.is_some()
    }

    /// Does `candidate` satisfy this (possibly partial) identifier? Origin and name must be
    /// equal, and each part this identifier has must be string-equal (`1.2` does not satisfy
    /// `1.2.0`).
    pub fn satisfied_by(&self, candidate: &FullyQualifiedIdent) -> bool {
        let c = candidate.as_ident();
        self.origin == c.origin
            && self.name == c.name
            && self
                .version
                .as_ref()
                .is_none_or(|v| Some(v) == c.version.as_ref())
            && self
                .release
                .as_ref()
                .is_none_or(|r| Some(r) == c.release.as_ref())
    }
}

impl fmt::Display for PackageIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.origin, self.name)?;
        if let Some(version) = &self.version {
            write!(f, "/{version}")?;
        }
        if let Some(release) = &self.release {
            write!(f, "/{release}")?;
        }
        Ok(())
    }
}

impl FromStr for PackageIdent {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=4).contains(&parts.len()) {
            return Err(invalid(
                "package identifier",
                s,
                "expected origin/name, origin/name/version or origin/name/version/release",
            ));
        }
        Self::new(
            parts[0].parse()?,
            parts[1].parse()?,
            parts.get(2).copied(),
            parts.get(3).copied(),
        )
    }
}

/// The JSON form of the depot API: `{"origin","name","version","release"}`.
#[derive(Serialize, Deserialize)]
struct IdentObject {
    origin: String,
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    release: Option<String>,
}

impl Serialize for PackageIdent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        IdentObject {
            origin: self.origin.to_string(),
            name: self.name.to_string(),
            version: self.version.clone(),
            release: self.release.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PackageIdent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = IdentObject::deserialize(deserializer)?;
        let parse = || -> Result<Self> {
            Self::new(
                raw.origin.parse()?,
                raw.name.parse()?,
                raw.version.as_deref(),
                raw.release.as_deref(),
            )
        };
        parse().map_err(serde::de::Error::custom)
    }
}

/// A package identifier with all four parts: `origin/name/version/release`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FullyQualifiedIdent(PackageIdent);

impl FullyQualifiedIdent {
    /// The identifier as a (fully qualified) [`PackageIdent`].
    pub fn as_ident(&self) -> &PackageIdent {
        &self.0
    }

    /// The origin.
    pub fn origin(&self) -> &OriginName {
        &self.0.origin
    }

    /// The package name.
    pub fn name(&self) -> &PackageName {
        &self.0.name
    }

    /// The version.
    pub fn version(&self) -> &str {
        self.0.version.as_deref().unwrap_or_default()
    }

    /// The release.
    pub fn release(&self) -> &str {
        self.0.release.as_deref().unwrap_or_default()
    }

    /// The archive file name for a target: `{origin}-{name}-{version}-{release}-{target}.hart`.
    pub fn archive_name(&self, target: crate::PackageTarget) -> String {
        format!(
            "{}-{}-{}-{}-{}.hart",
            self.origin(),
            self.name(),
            self.version(),
            self.release(),
            target
        )
    }

    /// The package's directory relative to the filesystem root: `hab/pkgs/O/N/V/R`.
    pub fn install_path(&self) -> std::path::PathBuf {
        [
            "hab",
            "pkgs",
            self.origin().as_str(),
            self.name().as_str(),
            self.version(),
            self.release(),
        ]
        .iter()
        .collect()
    }

    /// Compares two releases of the same package: version ordering (docs/formats.md), then release
    /// string, then the raw version string so that distinct idents never compare equal.
    pub fn cmp_release(&self, other: &Self) -> Ordering {
        Version::new(self.version())
            .cmp(&Version::new(other.version()))
            .then_with(|| self.release().cmp(other.release()))
            .then_with(|| self.version().cmp(other.version()))
    }
}

impl TryFrom<PackageIdent> for FullyQualifiedIdent {
    type Error = Error;
    fn try_from(ident: PackageIdent) -> Result<Self> {
        if ident.is_fully_qualified() {
            Ok(Self(ident))
        } else {
            Err(Error::NotFullyQualified(ident.to_string()))
        }
    }
}

impl From<FullyQualifiedIdent> for PackageIdent {
    fn from(ident: FullyQualifiedIdent) -> Self {
        ident.0
    }
}

impl fmt::Display for FullyQualifiedIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for FullyQualifiedIdent {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        s.parse::<PackageIdent>()?.try_into()
    }
}

impl Serialize for FullyQualifiedIdent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for FullyQualifiedIdent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        PackageIdent::deserialize(deserializer)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

/// A release string for "now": the UTC time as `YYYYMMDDhhmmss`.
pub fn release_now() -> String {
    crate::timestamp::compact_now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn roundtrip(input: &str) {
        let ident: PackageIdent = input.parse().unwrap();
        assert_eq!(ident.to_string(), input);
        let again: PackageIdent = ident.to_string().parse().unwrap();
        assert_eq!(again, ident);
    }

    #[track_caller]
    fn refused(input: &str, reason_part: &str) {
        let err = input.parse::<PackageIdent>().unwrap_err().to_string();
        assert!(
            err.contains(reason_part),
            "`{input}` gave `{err}`, expected `{reason_part}`"
        );
    }

    #[test]
    fn idents_round_trip() {
        roundtrip("core/redis");
        roundtrip("core/redis/3.0.7");
        roundtrip("core/redis/3.0.7/20160427165340");
        roundtrip("0xdeadbeef/foo_bar");
        roundtrip("foo-bar/Name_1/1.0-rc1+build.5/20200101000000");
    }

    #[test]
    fn bad_idents_say_what_is_wrong() {
        refused("core", "expected origin/name");
        refused("a/b/c/d/e", "expected origin/name");
        refused("Core/redis", "origin name `Core`");
        refused("foo bar/redis", "origin name `foo bar`");
        refused(" foo/redis", "origin name ` foo`");
        refused("core/re dis", "package name `re dis`");
        refused("core/redis//1", "version ``");
        refused("core/redis/1.0/", "release ``");
        refused("core/redis/../1", "version `..`");
        refused("core/redis/1\t2", "version");
        refused("_core/redis", "must start with");
    }

    #[test]
    fn origin_names() {
        for ok in ["0xdeadbeef", "foo_bar", "foo-bar", "core", "a"] {
            ok.parse::<OriginName>().unwrap();
        }
        for bad in ["Core", "foo bar", " foo", "", "-x", &"a".repeat(256)] {
            bad.parse::<OriginName>().unwrap_err();
        }
    }

    #[test]
    fn fully_qualified() {
        let fq: FullyQualifiedIdent = "core/redis/3.0.7/20160427165340".parse().unwrap();
        assert_eq!(fq.version(), "3.0.7");
        assert_eq!(
            fq.archive_name(crate::PackageTarget::X86_64Linux),
            "core-redis-3.0.7-20160427165340-x86_64-linux.hart"
        );
        let err = "core/redis/3.0.7"
            .parse::<FullyQualifiedIdent>()
            .unwrap_err();
        assert!(err.to_string().contains("not fully qualified"));
    }

    #[test]
    fn satisfies_is_string_equality_of_given_parts() {
        let fq: FullyQualifiedIdent = "core/redis/1.2.0/20160427165340".parse().unwrap();
        for (query, expected) in [
            ("core/redis", true),
            ("core/redis/1.2.0", true),
            ("core/redis/1.2", false),
            ("core/redis/1.2.0/20160427165340", true),
            ("core/redis/1.2.0/20160427165341", false),
            ("core/redisx", false),
        ] {
            let q: PackageIdent = query.parse().unwrap();
            assert_eq!(q.satisfied_by(&fq), expected, "{query}");
        }
    }

    #[test]
    fn json_form_is_an_object_checked_by_the_parser() {
        let ident: PackageIdent = "core/redis/1.0".parse().unwrap();
        let json = serde_json::to_string(&ident).unwrap();
        assert_eq!(
            json,
            r#"{"origin":"core","name":"redis","version":"1.0","release":null}"#
        );
        assert_eq!(serde_json::from_str::<PackageIdent>(&json).unwrap(), ident);
        let bad = r#"{"origin":"Core","name":"redis"}"#;
        assert!(serde_json::from_str::<PackageIdent>(bad).is_err());
        let partial = r#"{"origin":"core","name":"redis","version":"1"}"#;
        assert!(serde_json::from_str::<FullyQualifiedIdent>(partial).is_err());
        let origin: OriginName = serde_json::from_str(r#""core""#).unwrap();
        assert_eq!(origin.as_str(), "core");
        assert!(serde_json::from_str::<OriginName>(r#""CORE""#).is_err());
    }

    #[test]
    fn channel_names() {
        for ok in ["stable", "unstable", "rc-1.2", "_private", "Feature_X"] {
            ok.parse::<ChannelName>().unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "-x"] {
            bad.parse::<ChannelName>().unwrap_err();
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_round_trips(s in "\\PC{0,40}") {
            if let Ok(ident) = s.parse::<PackageIdent>() {
                prop_assert_eq!(ident.to_string(), s);
            }
        }

        #[test]
        fn valid_idents_round_trip(
            origin in "[a-z0-9][a-z0-9_-]{0,10}",
            name in "[A-Za-z0-9_-]{1,10}",
            version in "[0-9a-z.+~-]{1,10}",
            release in "[0-9]{14}",
        ) {
            prop_assume!(version != "." && version != "..");
            let text = format!("{origin}/{name}/{version}/{release}");
            let fq: FullyQualifiedIdent = text.parse().unwrap();
            prop_assert_eq!(fq.to_string(), text);
            let json = serde_json::to_string(&fq).unwrap();
            prop_assert_eq!(serde_json::from_str::<FullyQualifiedIdent>(&json).unwrap(), fq);
        }
    }
}
