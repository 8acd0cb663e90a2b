//! The key cache: a directory of key files (docs/formats.md, "The key cache").

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{NamedRevision, PublicKey, SecretKey};
use crate::error::{Error, IoContext, Result};
use crate::fs::write_once;

/// Key files are tiny; anything larger is not a key and is not read into memory.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// A directory of `<name>-<rev>.pub` (mode 0444) and `<name>-<rev>.sig.key` (mode 0400) files.
#[derive(Clone, Debug)]
pub struct KeyCache {
    dir: PathBuf,
}

impl KeyCache {
    /// A key cache at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a public key (mode 0444). Identical content already there is a no-op; different
    /// content is [`Error::KeyConflict`].
    pub fn write_public(&self, key: &PublicKey) -> Result<PathBuf> {
        let path = self.dir.join(key.file_name());
        write_once(&path, key.to_file_string().as_bytes(), 0o444)
            .map_err(|e| conflict(e, &path))?;
        Ok(path)
    }

    /// Writes a secret key (mode 0400), with the same rules as [`KeyCache::write_public`].
    pub fn write_secret(&self, key: &SecretKey) -> Result<PathBuf> {
        let path = self.dir.join(key.file_name());
        write_once(&path, key.to_file_string().as_bytes(), 0o400)
            .map_err(|e| conflict(e, &path))?;
        Ok(path)
    }

    /// The public key with exactly this named revision.
    pub fn public_key(&self, name: &NamedRevision) -> Result<PublicKey> {
        let path = self.dir.join(format!("{name}.pub"));
        let text = self.read(&path, name)?;
        PublicKey::parse(&text)
            .and_then(|key| self.check_name(key.name(), name, &path).map(|()| key))
    }

    /// The secret key with exactly this named revision.
    pub fn secret_key(&self, name: &NamedRevision) -> Result<SecretKey> {
        let path = self.dir.join(format!("{name}.sig.key"));
        let text = self.read(&path, name)?;
        SecretKey::parse(&text)
            .and_then(|key| self.check_name(key.name(), name, &path).map(|()| key))
    }

    /// The newest public key whose name is exactly `origin`.
    pub fn latest_public(&self, origin: &str) -> Result<PublicKey> {
        let name = self.latest(origin, ".pub", "public")?;
        self.public_key(&name)
    }

    /// The newest secret key whose name is exactly `origin`.
    pub fn latest_secret(&self, origin: &str) -> Result<SecretKey> {
        let name = self.latest(origin, ".sig.key", "secret")?;
        self.secret_key(&name)
    }

    /// Every revision of `origin`'s keys with this file suffix (`.pub` or `.sig.key`), oldest
    /// first. Only names exactly equal to `origin` count: `foo-bar-…` is not a key of `foo`.
    pub fn revisions(&self, origin: &str, suffix: &str) -> Result<Vec<NamedRevision>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at("read directory", &self.dir),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.at("read directory", &self.dir)?;
            let file_name = entry.file_name();
            let Some(stem) = file_name.to_str().and_then(|n| n.strip_suffix(suffix)) else {
                continue;
            };
            if let Ok(name) = stem.parse::<NamedRevision>()
                && name.name() == origin
            {
                found.push(name);
            }
        }
        found.sort_by(|a, b| a.revision().cmp(b.revision()));
        Ok(found)
    }

    fn latest(&self, origin: &str, suffix: &str, kind: &'static str) -> Result<NamedRevision> {
        self.revisions(origin, suffix)?
            .pop()
            .ok_or_else(|| Error::NoKeyForOrigin {
                kind,
                origin: origin.into(),
                dir: self.dir.clone(),
            })
    }

    fn read(&self, path: &Path, name: &NamedRevision) -> Result<String> {
        let file = match fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::KeyNotFound {
                    name: name.clone(),
                    dir: self.dir.clone(),
                });
            }
            Err(e) => return Err(e).at("open", path),
        };
        let mut text = String::new();
        file.take(MAX_KEY_FILE)
            .read_to_string(&mut text)
            .at("read", path)?;
        Ok(text)
    }

    fn check_name(&self, found: &NamedRevision, wanted: &NamedRevision, path: &Path) -> Result<()> {
        if found == wanted {
            return Ok(());
        }
        Err(Error::MalformedKey {
            name: path.display().to_string(),
            reason: format!("the file names key `{found}`, not `{wanted}`"),
        })
    }
}

fn conflict(err: Error, path: &Path) -> Error {
    match err {
        Error::Io { error, .. } if error.kind() == std::io::ErrorKind::AlreadyExists => {
            Error::KeyConflict(path.to_owned())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn origin(name: &str) -> crate::OriginName {
        name.parse().unwrap()
    }

    #[test]
    fn writes_are_atomic_with_modes_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(dir.path().join("keys"));
        let secret = SecretKey::generate(&origin("core")).unwrap();
        let public = secret.public_key();
        let pub_path = cache.write_public(&public).unwrap();
        let sec_path = cache.write_secret(&secret).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&pub_path), 0o444);
        assert_eq!(mode(&sec_path), 0o400);
        // Identical rewrite: no-op.
        cache.write_public(&public).unwrap();
        cache.write_secret(&secret).unwrap();
        // Only the two key files, no temp files left behind.
        assert_eq!(fs::read_dir(cache.dir()).unwrap().count(), 2);
        assert_eq!(cache.public_key(public.name()).unwrap(), public);
        assert_eq!(cache.secret_key(secret.name()).unwrap(), secret);
    }

    #[test]
    fn conflicting_rewrite_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(dir.path());
        let a = SecretKey::generate(&origin("core")).unwrap();
        let mut b = SecretKey::generate(&origin("core")).unwrap();
        b.name = a.name.clone();
        cache.write_public(&a.public_key()).unwrap();
        let err = cache.write_public(&b.public_key()).unwrap_err();
        assert!(matches!(err, Error::KeyConflict(_)), "{err}");
        assert_eq!(cache.public_key(a.name()).unwrap(), a.public_key());
    }

    #[test]
    fn latest_is_by_exact_name() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(dir.path());
        let file = |name: &str| {
            let mut key = SecretKey::generate(&origin("x")).unwrap();
            key.name = name.parse().unwrap();
            cache.write_public(&key.public_key()).unwrap();
        };
        file("foo-20160101000000");
        file("foo-20170101000000");
        file("foo-bar-20190101000000");
        file("foobar-20190101000000");
        assert_eq!(
            cache.latest_public("foo").unwrap().name().to_string(),
            "foo-20170101000000"
        );
        assert_eq!(
            cache.latest_public("foo-bar").unwrap().name().revision(),
            "20190101000000"
        );
        let err = cache.latest_public("fo").unwrap_err().to_string();
        assert!(err.contains("no public key for origin `fo`"), "{err}");
        let err = cache.latest_secret("foo").unwrap_err().to_string();
        assert!(err.contains("no secret key for origin `foo`"), "{err}");
    }

    #[test]
    fn missing_key_names_the_key_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(dir.path());
        let name: NamedRevision = "core-20160101000000".parse().unwrap();
        let err = cache.public_key(&name).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("no key `core-20160101000000` in `{}`", dir.path().display())
        );
    }
}
