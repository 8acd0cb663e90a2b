//! `hab origin key ...`: generate, export and import signing keys.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, Result};
use habitat_core::keys::{KeyFile, SecretKey};
use habitat_core::{KeyCache, OriginName};

use super::{KeyCommand, KeyType};
use crate::{out, say, settings};

/// A key file is tiny; stdin beyond this is not a key.
const MAX_KEY_INPUT: u64 = 64 * 1024;

/// Generates a key pair for `origin` into `keys` and says so.
pub(super) fn generate(origin: &OriginName, keys: &KeyCache) -> Result<()> {
    let mut secret = SecretKey::generate(origin)?;
    // Revisions are by the second: a pair made within the same second waits for the next.
    while keys.secret_key(secret.name()).is_ok() || keys.public_key(secret.name()).is_ok() {
        std::thread::sleep(std::time::Duration::from_millis(200));
        secret = SecretKey::generate(origin)?;
    }
    keys.write_public(&secret.public_key())?;
    keys.write_secret(&secret)?;
    say!(
        "Generated origin key pair {} in {}",
        secret.name(),
        keys.dir().display()
    );
    Ok(())
}

pub(super) fn run(command: KeyCommand) -> Result<ExitCode> {
    match command {
        command @ (KeyCommand::Upload { .. } | KeyCommand::Download { .. }) => {
            return super::origin::key_remote(command);
        }
        KeyCommand::Generate { origin, cache } => {
            let origin = settings::origin(origin.as_ref())?;
            let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
            generate(&origin, &keys)?;
        }
        KeyCommand::Export {
            origin,
            key_type,
            cache,
        } => {
            let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
            let text = match key_type {
                KeyType::Public => keys.latest_public(origin.as_str())?.to_file_string(),
                KeyType::Secret => keys.latest_secret(origin.as_str())?.to_file_string(),
            };
            out!("{text}");
        }
        KeyCommand::Import { cache } => {
            let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
            let mut text = String::new();
            std::io::stdin()
                .take(MAX_KEY_INPUT)
                .read_to_string(&mut text)
                .context("cannot read a key file from stdin")?;
            let (kind, path) = match KeyFile::parse(&text).context("stdin is not a key file")? {
                KeyFile::Public(key) => ("public", keys.write_public(&key)?),
                KeyFile::Secret(key) => ("secret", keys.write_secret(&key)?),
            };
            say!("Imported {kind} origin key {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
