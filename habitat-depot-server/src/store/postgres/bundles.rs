//! The last air-gap bundle imported from each transfer key.

use super::rows::*;
use super::*;

pub(super) async fn bundle_import(
    store: &PostgresStore,
    signer: &str,
) -> StoreResult<Option<BundleImport>> {
    read!(async {
        let client = store.client().await?;
        let row = query_opt(
            &client,
            "SELECT signer, sequence, manifest, completed FROM bundle_imports WHERE signer = $1",
            &[&signer],
        )
        .await?;
        match row {
            Some(row) => Ok(Some(BundleImport {
                signer: column(&row, 0)?,
                sequence: column::<i64>(&row, 1)?.try_into().unwrap_or_default(),
                manifest: column(&row, 2)?,
                completed: column::<i64>(&row, 3)? != 0,
            })),
            None => Ok(None),
        }
    })
}

pub(super) async fn record_bundle_import(
    store: &PostgresStore,
    import: &BundleImport,
) -> StoreResult<()> {
    let sequence = i64::try_from(import.sequence)
        .map_err(|_| StoreError::Invalid(format!("bundle sequence `{}`", import.sequence)))?;
    let completed = i64::from(import.completed);
    let stamp = ts(now());
    transaction!(store, |tx| {
        let changed = execute(
            &tx,
            "INSERT INTO bundle_imports (signer, sequence, manifest, completed, recorded_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (signer) DO UPDATE SET sequence = excluded.sequence, \
             manifest = excluded.manifest, completed = excluded.completed, \
             recorded_at = excluded.recorded_at \
             WHERE excluded.sequence >= bundle_imports.sequence",
            &[
                &import.signer,
                &sequence,
                &import.manifest,
                &completed,
                &stamp,
            ],
        )
        .await?;
        if changed == 0 {
            return Err(StoreError::Conflict(format!(
                "a bundle of `{}` newer than sequence `{}` was imported meanwhile",
                import.signer, import.sequence
            ))
            .into());
        }
    })
}
