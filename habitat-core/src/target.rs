//! Package targets: the platform a package was built for (docs/formats.md, "Targets").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// One of the platforms Habitat knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PackageTarget {
    /// `x86_64-linux`
    X86_64Linux,
    /// `x86_64-linux-kernel2`
    X86_64LinuxKernel2,
    /// `x86_64-windows`
    X86_64Windows,
    /// `x86_64-darwin`
    X86_64Darwin,
    /// `aarch64-linux`
    Aarch64Linux,
    /// `aarch64-darwin`
    Aarch64Darwin,
    /// `aarch64-windows`
    Aarch64Windows,
}

impl PackageTarget {
    /// Every target, in a stable order.
    pub const ALL: [PackageTarget; 7] = [
        Self::X86_64Linux,
        Self::X86_64LinuxKernel2,
        Self::X86_64Windows,
        Self::X86_64Darwin,
        Self::Aarch64Linux,
        Self::Aarch64Darwin,
        Self::Aarch64Windows,
    ];

    /// The target string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64Linux => "x86_64-linux",
            Self::X86_64LinuxKernel2 => "x86_64-linux-kernel2",
            Self::X86_64Windows => "x86_64-windows",
            Self::X86_64Darwin => "x86_64-darwin",
            Self::Aarch64Linux => "aarch64-linux",
            Self::Aarch64Darwin => "aarch64-darwin",
            Self::Aarch64Windows => "aarch64-windows",
        }
    }

    /// The target of the machine this runs on, where Habitat has one.
    pub fn active() -> Option<Self> {
        match (std::env::consts::ARCH, std::env::consts::OS) {
            ("x86_64", "linux") => Some(Self::X86_64Linux),
            ("x86_64", "windows") => Some(Self::X86_64Windows),
            ("x86_64", "macos") => Some(Self::X86_64Darwin),
            ("aarch64", "linux") => Some(Self::Aarch64Linux),
            ("aarch64", "macos") => Some(Self::Aarch64Darwin),
            ("aarch64", "windows") => Some(Self::Aarch64Windows),
            _ => None,
        }
    }
}

impl Default for PackageTarget {
    /// The depot API's default when `?target=` is absent.
    fn default() -> Self {
        Self::X86_64Linux
    }
}

impl fmt::Display for PackageTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PackageTarget {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::InvalidValue {
                what: "package target",
                input: s.to_owned(),
                reason: "not one of x86_64-linux, x86_64-linux-kernel2, x86_64-windows, \
                     x86_64-darwin, aarch64-linux, aarch64-darwin, aarch64-windows",
            })
    }
}

impl Serialize for PackageTarget {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PackageTarget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_and_unknown_ones_are_refused() {
        for target in PackageTarget::ALL {
            assert_eq!(target.as_str().parse::<PackageTarget>().unwrap(), target);
        }
        let err = "x86_64-Linux".parse::<PackageTarget>().unwrap_err();
        assert!(err.to_string().contains("`x86_64-Linux`"));
        assert_eq!(PackageTarget::default().as_str(), "x86_64-linux");
    }
}
