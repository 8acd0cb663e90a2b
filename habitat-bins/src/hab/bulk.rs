//! `hab pkg bulkupload DIR`: the public keys of `DIR/keys/*.pub`, then the artifacts of
//! `DIR/artifacts/*.hart`, each skipped when the depot has it (docs/commands.md). The layout is
//! the one `hab pkg download --download-directory DIR` writes, and the stock client's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use habitat_core::{ChannelName, OriginName, PublicKey, UnpackLimits};
use habitat_depot_client::{Client, UploadOutcome};

use super::DepotArgs;
use super::remote::{block_on, client};
use super::upload::upload_one;
use crate::output::Hinted;
use crate::say;

/// The largest key file read.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// What `hab pkg bulkupload` was asked to do besides uploading.
pub(super) struct Options {
    /// `-c/--channel`: promote every package there too.
    pub channel: Option<ChannelName>,
    /// `--auto-create-origins`: create the origins the depot lacks.
    pub auto_create_origins: bool,
    /// `--force`: upload even what the depot has.
    pub force: bool,
}

pub(super) fn run(dir: &Path, options: &Options, depot: &DepotArgs) -> Result<ExitCode> {
    if !dir.is_dir() {
        bail!(
            "cannot bulk upload `{}`: it is not a directory",
            dir.display()
        );
    }
    let artifacts = files(&dir.join("artifacts"), "hart")?;
    let key_files = files(&dir.join("keys"), "pub")?;
    if artifacts.is_empty() {
        bail!(
            "cannot bulk upload `{}`: `{}` holds no .hart file",
            dir.display(),
            dir.join("artifacts").display()
        );
    }
    let mut keys = Vec::new();
    for path in &key_files {
        let text = read_small(path)?;
        let key = PublicKey::parse(&text)
            .with_context(|| format!("`{}` is not a public key file", path.display()))?;
        keys.push(key);
    }
    let mut origins = BTreeSet::new();
    for path in &artifacts {
        let metadata = habitat_core::metadata::read_metadata(path, &UnpackLimits::default())
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        origins.insert(metadata.ident.origin().clone());
    }
    for key in &keys {
        let origin: OriginName = key
            .name()
            .name()
            .parse()
            .with_context(|| format!("the key `{}` names no origin", key.name()))?;
        origins.insert(origin);
    }
    say!(
        "Uploading {} artifact{} and {} public key{} from {}",
        artifacts.len(),
        if artifacts.len() == 1 { "" } else { "s" },
        keys.len(),
        if keys.len() == 1 { "" } else { "s" },
        dir.display()
    );
    let client = client(depot)?;
    block_on(async {
        for origin in &origins {
            ensure_origin(&client, origin, options.auto_create_origins).await?;
        }
        for key in &keys {
            let name = key.name();
            match client
                .upload_public_key(key)
                .await
                .with_context(|| format!("cannot upload public key `{name}`"))?
            {
                UploadOutcome::Created => say!("Uploaded public origin key {name}"),
                UploadOutcome::AlreadyPresent => {
                    say!("Public origin key {name} is already on the depot");
                }
            }
        }
        for path in &artifacts {
            upload_one(&client, path, options.channel.as_ref(), options.force).await?;
        }
        Ok(())
    })?;
    say!("Bulk upload of {} finished", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Checks that the depot has `origin`, creating it when allowed.
async fn ensure_origin(client: &Client, origin: &OriginName, create: bool) -> Result<()> {
    match client.origin(origin).await {
        Ok(_) => return Ok(()),
        Err(err) if err.is_not_found() && create => {}
        Err(err) if err.is_not_found() => {
            return Err(anyhow::Error::new(err).context(Hinted {
                what: format!("cannot bulk upload: the depot has no origin `{origin}`"),
                hint: format!(
                    "create it first (hab origin create {origin}) or pass --auto-create-origins"
                ),
            }));
        }
        Err(err) => {
            return Err(err).with_context(|| format!("cannot look up origin `{origin}`"));
        }
    }
    client
        .create_origin(origin, None)
        .await
        .with_context(|| format!("cannot create origin `{origin}`"))?;
    say!("Created origin {origin}");
    Ok(())
}

/// The files of `dir` ending in `.EXTENSION`, sorted; none when `dir` does not exist.
fn files(dir: &Path, extension: &str) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", dir.display())),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read `{}`", dir.display()))?
            .path();
        if path.is_file() && path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn read_small(path: &Path) -> Result<String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let mut text = String::new();
    file.take(MAX_KEY_FILE)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(text)
}
