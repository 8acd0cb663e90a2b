//! `hab-depot backup` and `hab-depot restore` (docs/operations.md, "Backups").

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use habitat_depot_server::settings::Settings;
use habitat_depot_server::{backup, fsck};

use crate::{out, say};

/// `hab-depot backup --to DIR`: an online copy of the embedded store.
pub(super) async fn backup(settings: Settings, to: &Path) -> Result<ExitCode> {
    let to_owned = to.to_owned();
    let copied = tokio::task::spawn_blocking(move || backup::backup(&settings, &to_owned))
        .await
        .context("the backup task failed")??;
    say!(
        "backed up the database, {} artifacts ({} bytes, {} hard-linked) and the server key \
         to {}",
        copied.artifacts,
        copied.bytes,
        copied.linked,
        to.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `hab-depot restore --from DIR`: copies a backup into an empty data directory, then checks
/// it as `hab-depot fsck` does.
pub(super) async fn restore(settings: Settings, from: &Path) -> Result<ExitCode> {
    let from_owned = from.to_owned();
    let for_copy = settings.clone();
    let copied = tokio::task::spawn_blocking(move || backup::restore(&for_copy, &from_owned))
        .await
        .context("the restore task failed")??;
    say!(
        "restored the database, {} artifacts ({} bytes) and the server key from {} into {}",
        copied.artifacts,
        copied.bytes,
        from.display(),
        settings.data_dir.display()
    );
    let state = super::open_admin_without_tmp(settings).await?;
    let report = fsck::check(&state, false).await?;
    for problem in &report.problems {
        out!("{problem}");
    }
    say!(
        "checked {} packages and {} artifacts: {}",
        report.packages,
        report.artifacts,
        if report.is_clean() {
            "clean"
        } else {
            "problems found; the restored data directory is left as it is"
        }
    );
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
