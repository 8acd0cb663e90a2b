//! TUF signing keys: key files for the offline roles (root, targets), and the online key
//! (bins, snapshot, timestamp) kept in the metadata store, sealed with the server key so that
//! every process of a scale-out depot can sign.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use habitat_core::hash::{from_hex, hex};
use habitat_core::tuf::Key;
use serde::{Deserialize, Serialize};

use super::RepoError;
use crate::crypto::ServerKey;
use crate::store::MetadataStore;

/// The name the online key is stored under.
pub const ONLINE: &str = "online";

/// A key file: the metadata form of the public key plus its private half (both hex), the
/// layout securesystemslib also reads.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    keytype: String,
    scheme: String,
    keyval: KeyFileValue,
}

#[derive(Serialize, Deserialize)]
struct KeyFileValue {
    public: String,
    private: String,
}

/// A fresh Ed25519 key.
pub fn generate() -> Result<SigningKey, RepoError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| RepoError::KeyFile(format!("cannot draw a key from the system: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `key` to `dir/{name}.json`, readable by its owner only; refuses to replace a file
/// with other content.
pub fn write_key_file(dir: &Path, name: &str, key: &SigningKey) -> Result<PathBuf, RepoError> {
    let path = dir.join(format!("{name}.json"));
    let public = Key::ed25519(&key.verifying_key());
    let file = KeyFile {
        keytype: public.keytype,
        scheme: public.scheme,
        keyval: KeyFileValue {
            public: public.keyval.public,
            private: hex(key.as_bytes()),
        },
    };
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| RepoError::KeyFile(format!("cannot write `{}`: {e}", path.display())))?;
    habitat_core::fs::write_once(&path, text.as_bytes(), 0o600)
        .map_err(|e| RepoError::KeyFile(e.to_string()))?;
    Ok(path)
}

/// Reads a key file written by [`write_key_file`].
pub fn read_key_file(path: &Path) -> Result<SigningKey, RepoError> {
    let bad =
        |reason: String| RepoError::KeyFile(format!("key file `{}`: {reason}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if file.keytype != "ed25519" || file.scheme != "ed25519" {
        return Err(bad("not an ed25519 key".into()));
    }
    let seed = from_hex::<32>(&file.keyval.private)
        .ok_or_else(|| bad("the private key is not 64 hex characters".into()))?;
    let key = SigningKey::from_bytes(&seed);
    if hex(key.verifying_key().as_bytes()) != file.keyval.public.to_ascii_lowercase() {
        return Err(bad("its public half does not match its private half".into()));
    }
    Ok(key)
}

/// Every key file in `dir` (files ending in `.json` that read as keys), by key id.
pub fn read_key_dir(dir: &Path) -> Result<Vec<SigningKey>, RepoError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| RepoError::KeyFile(format!("cannot read `{}`: {e}", dir.display())))?;
    let mut keys = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "json") {
            keys.push(read_key_file(&path)?);
        }
    }
    Ok(keys)
}

/// Seals the online key with the server key and stores it.
pub async fn store_online_key(
    store: &dyn MetadataStore,
    server_key: &ServerKey,
    key: &SigningKey,
) -> Result<(), RepoError> {
    let sealed = server_key.encrypt(key.as_bytes())?;
    store
        .tuf_put_key(ONLINE, &hex(key.verifying_key().as_bytes()), &sealed)
        .await?;
    Ok(())
}

/// The online key, opened with the server key.
pub async fn online_key(
    store: &dyn MetadataStore,
    server_key: &ServerKey,
) -> Result<SigningKey, RepoError> {
    let stored = store
        .tuf_key(ONLINE)
        .await?
        .ok_or(RepoError::NotInitialized)?;
    let seed = server_key.decrypt(&stored.secret_encrypted)?;
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| RepoError::Corrupt("the online key is not 32 bytes".into()))?;
    Ok(SigningKey::from_bytes(&seed))
}
