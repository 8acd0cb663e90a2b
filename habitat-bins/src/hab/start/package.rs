//! What an installed package says about running it as a service (docs/formats.md, "Metadata files
//! inside a package"): its service user and group, its default configuration merged with the
//! user's, and the environment its hooks run in.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use habitat_core::{FsRoot, FullyQualifiedIdent};

/// The service user and group when the package names none (Habitat's defaults).
const DEFAULT_SVC_USER: &str = "hab";

/// An installed package, as far as running it is concerned.
#[derive(Debug)]
pub(super) struct ServicePackage {
    /// The package.
    pub ident: FullyQualifiedIdent,
    /// Its directory, `$FS_ROOT/hab/pkgs/O/N/V/R`.
    pub dir: PathBuf,
    /// SVC_USER, else `hab`.
    pub svc_user: String,
    /// SVC_GROUP, else `hab`.
    pub svc_group: String,
    /// TDEPS with their directories, dependencies first.
    pub tdeps: Vec<(FullyQualifiedIdent, PathBuf)>,
    /// The bin directories of the runtime PATH, on this filesystem root.
    pub runtime_path: Vec<PathBuf>,
    /// RUNTIME_ENVIRONMENT, without PATH (which `runtime_path` gives).
    pub environment: Vec<(String, String)>,
    /// default.toml.
    pub default_config: toml::Table,
}

impl ServicePackage {
    /// Reads the installed package `ident` under `root`.
    pub fn load(root: &FsRoot, ident: &FullyQualifiedIdent) -> Result<Self> {
        let dir = root.package_dir(ident);
        if !root.is_installed(ident) {
            bail!(
                "`{ident}` is not installed under `{}`",
                root.path().display()
            );
        }
        let tdeps = root
            .installed_tdeps(ident)?
            .into_iter()
            .map(|dep| {
                let dep_dir = root.package_dir(&dep);
                (dep, dep_dir)
            })
            .collect::<Vec<_>>();
        let runtime_path = match read_optional(&dir.join("RUNTIME_PATH"))? {
            Some(text) if !text.is_empty() => bin_dirs(root, &dir, &text),
            // As Habitat computes RUNTIME_PATH: the package's own PATH, then its dependencies',
            // dependents before what they depend on (TDEPS lists them the other way round).
            _ => {
                let mut dirs = Vec::new();
                let deps = tdeps.iter().rev().map(|(_, d)| d);
                for package_dir in std::iter::once(&dir).chain(deps) {
                    if let Some(text) = read_optional(&package_dir.join("PATH"))? {
                        for entry in bin_dirs(root, package_dir, &text) {
                            if !dirs.contains(&entry) {
                                dirs.push(entry);
                            }
                        }
                    }
                }
                dirs
            }
        };
        let environment = match read_optional(&dir.join("RUNTIME_ENVIRONMENT"))? {
            Some(text) => parse_environment(&text)
                .with_context(|| format!("`{}`", dir.join("RUNTIME_ENVIRONMENT").display()))?,
            None => Vec::new(),
        };
        let default_config = read_toml(&dir.join("default.toml"))?.unwrap_or_default();
        let word = |name: &str| -> Result<String> {
            Ok(read_optional(&dir.join(name))?
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_SVC_USER.to_owned()))
        };
        Ok(Self {
            ident: ident.clone(),
            svc_user: word("SVC_USER")?,
            svc_group: word("SVC_GROUP")?,
            tdeps,
            runtime_path,
            environment,
            default_config,
            dir,
        })
    }

    /// The service's name: the package's name.
    pub fn name(&self) -> &str {
        self.ident.name().as_str()
    }

    /// The configuration hooks and templates see as `cfg`: default.toml with
    /// `$FS_ROOT/hab/user/<name>/config/user.toml` merged over it (the user's values win;
    /// tables merge key by key).
    pub fn config(&self, root: &FsRoot) -> Result<toml::Table> {
        let mut config = self.default_config.clone();
        if let Some(user) = read_toml(&user_toml(root, self.name()))? {
            merge(&mut config, user);
        }
        Ok(config)
    }

    /// The environment the hooks run in, over the inherited one: the runtime PATH before the
    /// inherited PATH, and RUNTIME_ENVIRONMENT.
    pub fn hook_environment(&self) -> Result<Vec<(OsString, OsString)>> {
        let mut dirs = self.runtime_path.clone();
        if let Some(inherited) = std::env::var_os("PATH").filter(|p| !p.is_empty()) {
            dirs.extend(std::env::split_paths(&inherited));
        }
        let path = std::env::join_paths(dirs)
            .with_context(|| format!("the runtime PATH of `{}`", self.ident))?;
        let mut env = vec![(OsString::from("PATH"), path)];
        env.extend(
            self.environment
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        Ok(env)
    }

    /// Does the package have programs (a `bin` directory)?
    pub fn has_programs(&self) -> bool {
        self.dir.join("bin").is_dir()
    }
}

/// `$FS_ROOT/hab/user/<name>/config/user.toml`.
pub(super) fn user_toml(root: &FsRoot, name: &str) -> PathBuf {
    root.path()
        .join("hab/user")
        .join(name)
        .join("config/user.toml")
}

/// Merges `over` into `base`: tables key by key, anything else replaced.
pub(super) fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(mine)), toml::Value::Table(theirs)) => merge(mine, theirs),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// A file's trimmed text, `None` when it does not exist.
pub(in crate::hab) fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

fn read_toml(path: &Path) -> Result<Option<toml::Table>> {
    read_optional(path)?
        .map(|text| {
            text.parse::<toml::Table>()
                .with_context(|| format!("`{}` is not valid TOML", path.display()))
        })
        .transpose()
}

/// The `:`-separated entries of a PATH file on this root: Habitat writes absolute paths
/// (`/hab/pkgs/…/bin`), which live under FS_ROOT; a relative entry is relative to the package.
pub(in crate::hab) fn bin_dirs(root: &FsRoot, package_dir: &Path, text: &str) -> Vec<PathBuf> {
    text.split(':')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| match entry.strip_prefix('/') {
            Some(relative) => root.path().join(relative),
            None => package_dir.join(entry),
        })
        .collect()
}

/// `KEY=value` lines; PATH is left out, as the runtime PATH is computed on this root.
fn parse_environment(text: &str) -> Result<Vec<(String, String)>> {
    let mut environment = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((key, value)) = line.split_once('=') else {
            bail!("`{line}` is not KEY=value");
        };
        let key = key.trim();
        if key.is_empty() || key.contains('\0') || value.contains('\0') {
            bail!("`{line}` is not KEY=value");
        }
        if key != "PATH" {
            environment.push((key.to_owned(), value.to_owned()));
        }
    }
    Ok(environment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn merged(base: &str, over: &str, expected: &str) {
        let mut base: toml::Table = base.parse().unwrap();
        merge(&mut base, over.parse().unwrap());
        assert_eq!(base, expected.parse::<toml::Table>().unwrap());
    }

    #[test]
    fn user_values_win_and_tables_merge_key_by_key() {
        merged("a = 1\nb = 2", "b = 3", "a = 1\nb = 3");
        merged(
            "[server]\nport = 80\nhost = 'x'",
            "[server]\nhost = 'y'",
            "[server]\nport = 80\nhost = 'y'",
        );
        merged("list = [1, 2]", "list = [3]", "list = [3]");
        merged("t = 1", "[t]\nx = 1", "[t]\nx = 1");
        merged("[t]\nx = 1", "t = 2", "t = 2");
        merged("", "[a.b]\nc = 1", "[a.b]\nc = 1");
    }

    #[test]
    fn path_entries_live_under_the_root() {
        let root = FsRoot::new("/r");
        assert_eq!(
            bin_dirs(
                &root,
                Path::new("/r/hab/pkgs/o/n/1/2"),
                "/hab/pkgs/o/n/1/2/bin:sbin::"
            ),
            [
                PathBuf::from("/r/hab/pkgs/o/n/1/2/bin"),
                PathBuf::from("/r/hab/pkgs/o/n/1/2/sbin")
            ]
        );
    }

    #[test]
    fn environment_lines_are_key_value_without_path() {
        assert_eq!(
            parse_environment("A=1\n\nPATH=/x\nB = two=2\n").unwrap(),
            [("A".into(), "1".into()), ("B".into(), " two=2".into())]
        );
        assert!(parse_environment("nope").is_err());
        assert!(parse_environment("=1").is_err());
    }
}
