//! The metadata files inside a package and what they say (docs/formats.md, "Metadata files"):
//! their names, their size bound, and the parse that turns them into a [`PackageMetadata`].
//! The archive walker collects the files and calls the parse; nothing here reads an artifact.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::ident::FullyQualifiedIdent;
use crate::target::PackageTarget;

/// The top-level files of a package directory that are read as metadata.
pub(crate) const METADATA_FILES: &[&str] = &[
    "IDENT",
    "TARGET",
    "DEPS",
    "TDEPS",
    "BUILD_DEPS",
    "BUILD_TDEPS",
    "EXPOSES",
    "BINDS",
    "BINDS_OPTIONAL",
    "SVC_USER",
    "SVC_GROUP",
    "MANIFEST",
    "default.toml",
    "PATH",
    "RUNTIME_PATH",
    "RUNTIME_ENVIRONMENT",
];

/// The largest metadata file (IDENT, TDEPS, MANIFEST, ...) read into memory.
pub(crate) const MAX_METADATA_FILE: u64 = 4 << 20;

/// What a package says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PackageMetadata {
    /// IDENT, which agrees with the package's directory in the archive.
    pub ident: FullyQualifiedIdent,
    /// TARGET.
    pub target: PackageTarget,
    /// DEPS: direct runtime dependencies.
    pub deps: Vec<FullyQualifiedIdent>,
    /// TDEPS: the transitive closure of runtime dependencies.
    pub tdeps: Vec<FullyQualifiedIdent>,
    /// BUILD_DEPS.
    pub build_deps: Vec<FullyQualifiedIdent>,
    /// BUILD_TDEPS.
    pub build_tdeps: Vec<FullyQualifiedIdent>,
    /// EXPOSES: ports the service listens on.
    pub exposes: Vec<u16>,
    /// BINDS: the services this one must be bound to, with the exports it needs of each.
    pub binds: Vec<Bind>,
    /// BINDS_OPTIONAL: the services this one may be bound to.
    pub binds_optional: Vec<Bind>,
    /// SVC_USER; present means the package is a service.
    pub svc_user: Option<String>,
    /// SVC_GROUP.
    pub svc_group: Option<String>,
    /// MANIFEST (free Markdown), empty when absent.
    pub manifest: String,
    /// default.toml, checked to be valid TOML; empty when absent.
    pub config: String,
    /// PATH: `:`-separated bin directories, empty when absent.
    pub path: String,
    /// RUNTIME_ENVIRONMENT: `KEY=value` pairs.
    pub runtime_environment: Vec<(String, String)>,
}

impl PackageMetadata {
    /// Is this package a service (has SVC_USER)?
    pub fn is_a_service(&self) -> bool {
        self.svc_user.is_some()
    }

    /// Parses collected metadata files; IDENT must equal `dir_ident`, the identifier spelled by
    /// the package's directory in the archive.
    pub(crate) fn from_files(
        dir_ident: &FullyQualifiedIdent,
        files: BTreeMap<String, Vec<u8>>,
    ) -> Result<Self> {
        let files = Files(files);
        let ident: FullyQualifiedIdent = files
            .required("IDENT")?
            .parse()
            .map_err(|e: Error| bad("IDENT", e.to_string()))?;
        if &ident != dir_ident {
            return Err(bad(
                "IDENT",
                format!("says `{ident}` but the package directory is hab/pkgs/{dir_ident}"),
            ));
        }
        let target = files
            .required("TARGET")?
            .parse()
            .map_err(|e: Error| bad("TARGET", e.to_string()))?;
        let exposes = files.exposes()?;
        let config = files.config()?;
        let runtime_environment = files.runtime_environment()?;
        Ok(Self {
            deps: files.idents("DEPS")?,
            tdeps: files.idents("TDEPS")?,
            build_deps: files.idents("BUILD_DEPS")?,
            build_tdeps: files.idents("BUILD_TDEPS")?,
            exposes,
            binds: files.binds("BINDS")?,
            binds_optional: files.binds("BINDS_OPTIONAL")?,
            svc_user: files.text("SVC_USER")?.filter(|s| !s.is_empty()),
            svc_group: files.text("SVC_GROUP")?.filter(|s| !s.is_empty()),
            manifest: files.text("MANIFEST")?.unwrap_or_default(),
            config,
            path: files.text("PATH")?.unwrap_or_default(),
            runtime_environment,
            ident,
            target,
        })
    }
}

/// The collected metadata files by name, each read as one of the formats of docs/formats.md.
struct Files(BTreeMap<String, Vec<u8>>);

impl Files {
    /// A file's content, trimmed; `None` when absent.
    fn text(&self, name: &str) -> Result<Option<String>> {
        self.0
            .get(name)
            .map(|bytes| {
                String::from_utf8(bytes.clone())
                    .map(|s| s.trim().to_owned())
                    .map_err(|_| bad(name, "not UTF-8".into()))
            })
            .transpose()
    }

    /// A file that must be there.
    fn required(&self, name: &str) -> Result<String> {
        self.text(name)?.ok_or_else(|| bad(name, "missing".into()))
    }

    /// One fully qualified identifier a non-blank line (DEPS, TDEPS, ...); none when absent.
    fn idents(&self, name: &str) -> Result<Vec<FullyQualifiedIdent>> {
        let Some(content) = self.text(name)? else {
            return Ok(Vec::new());
        };
        content
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, line)| {
                line.parse()
                    .map_err(|e: Error| bad(name, format!("entry {}: {e}", i + 1)))
            })
            .collect()
    }

    /// EXPOSES: port numbers separated by whitespace.
    fn exposes(&self) -> Result<Vec<u16>> {
        self.text("EXPOSES")?
            .unwrap_or_default()
            .split_whitespace()
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| bad("EXPOSES", format!("`{p}` is not a port number")))
            })
            .collect()
    }

    /// BINDS or BINDS_OPTIONAL: `NAME=EXPORT EXPORT…` lines, blank ones skipped.
    fn binds(&self, name: &str) -> Result<Vec<Bind>> {
        self.text(name)?
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.parse().map_err(|e: Error| bad(name, e.to_string())))
            .collect()
    }

    /// default.toml, which must be valid TOML; empty when absent.
    fn config(&self) -> Result<String> {
        let config = self.text("default.toml")?.unwrap_or_default();
        config
            .parse::<toml::Table>()
            .map_err(|e| bad("default.toml", e.message().to_owned()))?;
        Ok(config)
    }

    /// RUNTIME_ENVIRONMENT: `KEY=value` lines, blank ones skipped.
    fn runtime_environment(&self) -> Result<Vec<(String, String)>> {
        self.text("RUNTIME_ENVIRONMENT")?
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                    .ok_or_else(|| bad("RUNTIME_ENVIRONMENT", format!("`{l}` is not KEY=value")))
            })
            .collect()
    }
}

/// One bind of a service (a line of BINDS or BINDS_OPTIONAL): the name the service calls it by
/// and the exports it needs from the service bound there. Written and read as
/// `NAME=EXPORT EXPORT…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bind {
    /// The bind's name.
    pub name: String,
    /// The exports the bound service must offer.
    pub exports: Vec<String>,
}

impl std::fmt::Display for Bind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.exports.join(" "))
    }
}

impl std::str::FromStr for Bind {
    type Err = Error;

    fn from_str(line: &str) -> Result<Self> {
        let invalid = |why: &str| Error::InvalidBind {
            line: line.to_owned(),
            reason: why.to_owned(),
        };
        let (name, exports) = line
            .split_once('=')
            .ok_or_else(|| invalid("not NAME=EXPORT EXPORT..."))?;
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(invalid("the name before `=` must be one word"));
        }
        let exports = exports.split_whitespace().map(str::to_owned).collect();
        Ok(Self {
            name: name.to_owned(),
            exports,
        })
    }
}

fn bad(file: &str, reason: String) -> Error {
    Error::Metadata {
        file: file.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bind_reads_and_writes_its_line() {
        let bind: Bind = "database=port host".parse().unwrap();
        assert_eq!(bind.name, "database");
        assert_eq!(bind.exports, ["port", "host"]);
        assert_eq!(bind.to_string(), "database=port host");
        let empty: Bind = "cache=".parse().unwrap();
        assert!(empty.exports.is_empty());
        for bad in ["database", "=port", "two words=port"] {
            let error = bad.parse::<Bind>().unwrap_err().to_string();
            assert!(error.contains(&format!("`{bad}`")), "{error}");
        }
    }
}
