//! `hab pkg upload HART…`: skip what the depot has, bring along the TDEPS it lacks from
//! beside the file, upload, optionally promote (docs/commands.md). It never uploads a key:
//! publishing a key is a deliberate act (`hab origin key upload`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, PackageTarget, UnpackLimits};
use habitat_depot_client::{Client, Progress, UploadOutcome};

use super::DepotArgs;
use super::remote::{block_on, client, promote};
use crate::output::Hinted;
use crate::progress::Transfer;
use crate::say;

pub(super) fn run(
    artifacts: &[std::path::PathBuf],
    channel: Option<&ChannelName>,
    force: bool,
    depot: &DepotArgs,
) -> Result<ExitCode> {
    for path in artifacts {
        super::pkg::artifact_file(path, "upload")?;
    }
    let client = client(depot)?;
    block_on(async {
        for path in artifacts {
            upload_one(&client, path, channel, force).await?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Uploads one `.hart` (after the TDEPS the depot lacks, from beside it) unless the depot has
/// it, then promotes it to `channel`.
pub(super) async fn upload_one(
    client: &Client,
    path: &Path,
    channel: Option<&ChannelName>,
    force: bool,
) -> Result<()> {
    let metadata = habitat_core::metadata::read_metadata(path, &UnpackLimits::default())
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let (ident, target) = (&metadata.ident, metadata.target);
    let checksum = Blake2bHash::of_file(path)?;
    let there = if force {
        None
    } else {
        on_depot(client, ident, target).await?
    };
    if let Some(there) = there {
        // Published artifacts are immutable: another file under this ident is not "done".
        if there != checksum {
            bail!(
                "cannot upload `{}`: the depot has another artifact for `{ident}` ({target}) \
                 with checksum `{there}`, this file's is `{checksum}`; published artifacts \
                 cannot be replaced: give the package a new release",
                path.display()
            );
        }
        say!("{ident} ({target}) is already on the depot, skipping");
    } else {
        let dir = path.parent().unwrap_or(Path::new("."));
        for dep in &metadata.tdeps {
            if on_depot(client, dep, target).await?.is_some() {
                continue;
            }
            let beside = dir.join(dep.archive_name(target));
            if !beside.is_file() {
                bail!(
                    "cannot upload `{}`: its dependency `{dep}` is not on the depot and `{}` \
                     is not beside it",
                    path.display(),
                    beside.display()
                );
            }
            send(client, &beside, dep, target, None, false).await?;
        }
        send(client, path, ident, target, Some(checksum), force).await?;
    }
    if let Some(channel) = channel {
        promote(client, ident, target, channel).await?;
    }
    Ok(())
}

/// The checksum of the depot's artifact of `ident` for `target`, if it has one.
async fn on_depot(
    client: &Client,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
) -> Result<Option<Blake2bHash>> {
    match client.package(ident, target).await {
        Ok(package) => Ok(Some(package.checksum)),
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot look up `{ident}` on the depot")),
    }
}

async fn send(
    client: &Client,
    path: &Path,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
    checksum: Option<Blake2bHash>,
    force: bool,
) -> Result<()> {
    say!("Uploading {}", path.display());
    let size = std::fs::metadata(path).map(|m| m.len()).ok();
    let bar = Transfer::start(&format!("{ident}"), size);
    let outcome = client
        .upload(path, ident, target, checksum, force, |p: Progress| {
            bar.update(p.done, p.total)
        })
        .await;
    let rate = bar.finish(size.unwrap_or_default());
    match outcome {
        Ok(UploadOutcome::Created) => say!("Uploaded {ident} ({target}): {rate}"),
        Ok(UploadOutcome::AlreadyPresent) => {
            say!("{ident} ({target}) is already on the depot, skipping");
        }
        Err(err) if err.code() == Some("unknown_signing_key") => {
            let origin = ident.origin();
            return Err(anyhow::Error::new(err).context(Hinted {
                what: format!("cannot upload `{}`", path.display()),
                hint: format!("upload the public key first: hab origin key upload {origin}"),
            }));
        }
        Err(err) => {
            return Err(err).with_context(|| format!("cannot upload `{}`", path.display()));
        }
    }
    Ok(())
}
