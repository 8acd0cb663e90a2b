//! The last air-gap bundle imported from each transfer key.

use rusqlite::{OptionalExtension, params};

use super::*;

pub(super) async fn bundle_import(
    store: &SqliteStore,
    signer: &str,
) -> StoreResult<Option<BundleImport>> {
    let signer = signer.to_owned();
    store
        .with(move |c| {
            c.prepare_cached(
                "SELECT signer, sequence, manifest, completed FROM bundle_imports WHERE signer = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![signer], |r| {
                    Ok(BundleImport {
                        signer: r.get(0)?,
                        sequence: r.get::<_, i64>(1)?.try_into().unwrap_or_default(),
                        manifest: r.get(2)?,
                        completed: r.get::<_, i64>(3)? != 0,
                    })
                })
                .optional()
            })
            .map_err(backend)
        })
        .await
}

pub(super) async fn record_bundle_import(
    store: &SqliteStore,
    import: &BundleImport,
) -> StoreResult<()> {
    let import = import.clone();
    let sequence = i64::try_from(import.sequence)
        .map_err(|_| StoreError::Invalid(format!("bundle sequence `{}`", import.sequence)))?;
    store
        .write(move |tx| {
            let changed = tx
                .execute(
                    "INSERT INTO bundle_imports (signer, sequence, manifest, completed, recorded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (signer) DO UPDATE SET sequence = excluded.sequence, \
                     manifest = excluded.manifest, completed = excluded.completed, \
                     recorded_at = excluded.recorded_at \
                     WHERE excluded.sequence >= bundle_imports.sequence",
                    params![
                        import.signer,
                        sequence,
                        import.manifest,
                        i64::from(import.completed),
                        ts(now())
                    ],
                )
                .map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::Conflict(format!(
                    "a bundle of `{}` newer than sequence `{}` was imported meanwhile",
                    import.signer, import.sequence
                )));
            }
            Ok(())
        })
        .await
}
