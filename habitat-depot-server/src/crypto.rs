//! The server key (32 random bytes in `<data>/server.key`, mode 0600, made on first start) and
//! the encryption of secret origin keys at rest with it (ChaCha20-Poly1305, random nonce).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

/// The server key's file name in the data directory.
pub const KEY_FILE: &str = "server.key";
const NONCE_LEN: usize = 12;

/// The key that encrypts secrets at rest.
pub struct ServerKey {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

impl ServerKey {
    /// Loads `<data_dir>/server.key`, creating it (mode 0600) if absent. Returns the key and
    /// whether it was created now.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<(Self, bool)> {
        Self::load_or_create_file(&data_dir.join(KEY_FILE))
    }

    /// Loads the key in `path`, creating it (mode 0600) if absent. Returns the key and whether
    /// it was created now.
    pub fn load_or_create_file(path: &Path) -> std::io::Result<(Self, bool)> {
        match Self::load_file(path) {
            Ok(key) => Ok((key, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok((Self::create_file(path)?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Loads the key in `path` (`NotFound` when there is none).
    pub fn load_file(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            std::io::Error::other(format!("`{}` is not a 32-byte server key", path.display()))
        })?;
        Ok(Self::from_bytes(&key))
    }

    /// Writes a new random key to `path` (mode 0600); fails if the file exists.
    pub fn create_file(path: &Path) -> std::io::Result<Self> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
        Self::write_file(path, &key)?;
        Ok(Self::from_bytes(&key))
    }

    /// Writes `key` to `path` (mode 0600, synced); fails if the file exists. A write that
    /// fails removes the file, so no truncated key is left to be mistaken for another one.
    pub fn write_file(path: &Path, key: &[u8]) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let written = file.write_all(key).and_then(|()| file.sync_all());
        if written.is_err() {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
        written
    }

    /// The key in `bytes` (a key file's content); `None` unless they are 32 bytes.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        let key: &[u8; 32] = bytes.try_into().ok()?;
        Some(Self::from_bytes(key))
    }

    fn from_bytes(key: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(key.into()),
        }
    }

    /// Encrypts: nonce followed by ciphertext and tag.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(CryptoError::Random)?;
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .map_err(|_| CryptoError::Seal)?;
        Ok([&nonce[..], &sealed].concat())
    }

    /// Decrypts what [`ServerKey::encrypt`] made.
    pub fn decrypt(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::TooShort);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| CryptoError::Open)
    }
}

/// Why sealing or opening a secret failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The system's random source failed while drawing a nonce (its error, which is no
    /// `std::error::Error` here, is part of the message).
    #[error("cannot draw a nonce: {0}")]
    Random(getrandom::Error),
    /// The cipher refused to encrypt (it tells no more).
    #[error("cannot encrypt")]
    Seal,
    /// The sealed value is shorter than its nonce.
    #[error("ciphertext too short")]
    TooShort,
    /// The tag does not verify.
    #[error("cannot decrypt: wrong server key or corrupt data")]
    Open,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (key, created) = ServerKey::load_or_create(dir.path()).unwrap();
        assert!(created);
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = key.encrypt(b"secret").unwrap();
        let (again, created) = ServerKey::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(again.decrypt(&sealed).unwrap(), b"secret");
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(again.decrypt(&tampered).is_err());
    }
}
