//! `hab origin key ...`: generate, export and import signing keys in the key cache, and upload
//! them to or download them from a depot.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use habitat_core::keys::{KeyFile, PublicKey, SecretKey};
use habitat_core::{KeyCache, OriginName};
use habitat_depot_client::{Client, UploadOutcome};

use super::remote::{block_on, client};
use super::{KeyCommand, KeyType};
use crate::{out, say, settings};

/// A key file is tiny; stdin or a file beyond this is not a key.
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
        KeyCommand::Upload {
            origin,
            pubfile,
            secret,
            secfile,
            cache,
            depot,
        } => {
            let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
            let public = match (&pubfile, &origin) {
                (Some(file), _) => PublicKey::parse(&read_key_file(file)?)
                    .with_context(|| format!("`{}` is not a public key file", file.display()))?,
                (None, Some(origin)) => keys.latest_public(origin.as_str())?,
                // clap requires one of the two.
                (None, None) => bail!("give an ORIGIN or --pubfile"),
            };
            let secret_key = match (&secfile, secret) {
                (Some(file), _) => {
                    Some(SecretKey::parse(&read_key_file(file)?).with_context(|| {
                        format!("`{}` is not a secret key file", file.display())
                    })?)
                }
                (None, true) => Some(keys.latest_secret(public.name().name())?),
                (None, false) => None,
            };
            let client = client(&depot)?;
            block_on(upload(&client, &public, secret_key.as_ref()))?;
        }
        KeyCommand::Download {
            origin,
            revision,
            secret,
            cache,
            depot,
        } => {
            let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
            let client = client(&depot)?;
            let paths = block_on(async {
                let what = format!("cannot download the keys of `{origin}`");
                if secret {
                    let path = client
                        .download_latest_secret_key(&origin, &keys)
                        .await
                        .context(what)?;
                    Ok(vec![("secret", path)])
                } else if let Some(revision) = &revision {
                    let path = client
                        .download_public_key(&origin, Some(revision), &keys)
                        .await
                        .context(what)?;
                    Ok(vec![("public", path)])
                } else {
                    let paths = client
                        .download_public_keys(&origin, &keys)
                        .await
                        .context(what)?;
                    Ok(paths.into_iter().map(|p| ("public", p)).collect())
                }
            })?;
            if paths.is_empty() {
                bail!("the depot has no public key of `{origin}`");
            }
            for (kind, path) in paths {
                say!("Downloaded {kind} origin key {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_key_file(path: &Path) -> Result<String> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let mut text = String::new();
    file.take(MAX_KEY_INPUT)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(text)
}

/// Uploads `public`, and `secret` when given, saying what the depot did with each.
async fn upload(client: &Client, public: &PublicKey, secret: Option<&SecretKey>) -> Result<()> {
    let name = public.name();
    match client
        .upload_public_key(public)
        .await
        .with_context(|| format!("cannot upload public key `{name}`"))?
    {
        UploadOutcome::Created => say!("Uploaded public origin key {name}"),
        UploadOutcome::AlreadyPresent => say!("Public origin key {name} is already on the depot"),
    }
    if let Some(secret) = secret {
        let name = secret.name();
        client
            .upload_secret_key(secret)
            .await
            .with_context(|| format!("cannot upload secret key `{name}`"))?;
        say!("Uploaded secret origin key {name}");
    }
    Ok(())
}
