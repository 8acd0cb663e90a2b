//! The audit log: rows added, and one origin's rows read back newest first.

use rusqlite::{Row, params};

use super::rows::*;
use super::*;

/// The columns [`entry_row`] reads, in its order.
const COLS: &str = "id, at, account, action, origin, address, channel, ident, target, detail";

/// The `WHERE` of a listing: the origin, then each filter when set (`?1` to `?4`).
const WHERE: &str = "origin = ?1 AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR ident = ?3) \
                     AND (?4 IS NULL OR account = ?4)";

fn entry_row(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.get(0)?,
        at: parse_ts(&row.get::<_, String>(1)?)?,
        record: AuditRecord {
            account: row.get(2)?,
            action: row.get(3)?,
            origin: row.get(4)?,
            address: row.get(5)?,
            channel: row.get(6)?,
            ident: row.get(7)?,
            target: row.get(8)?,
            detail: row.get(9)?,
        },
    })
}

pub(super) async fn record_audit(store: &SqliteStore, record: &AuditRecord) -> StoreResult<()> {
    let record = record.clone();
    store
        .write(move |tx| {
            tx.execute(
                "INSERT INTO audit (at, account, action, origin, address, channel, ident, target, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    ts(now()),
                    record.account,
                    record.action,
                    record.origin,
                    record.address,
                    record.channel,
                    record.ident,
                    record.target,
                    record.detail
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
}

pub(super) async fn audit_log(
    store: &SqliteStore,
    origin: &OriginName,
    filter: &AuditFilter,
    page: Page,
) -> StoreResult<Paged<AuditEntry>> {
    let (origin, filter) = (origin.to_string(), filter.clone());
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let (limit, offset) = (clamp(page.limit), clamp(page.offset));
    store
        .with(move |c| {
            let keys = params![origin, filter.action, filter.ident, filter.account];
            let total: i64 = c
                .prepare_cached(&format!("SELECT count(*) FROM audit WHERE {WHERE}"))
                .and_then(|mut count| count.query_row(keys, |r| r.get(0)))
                .map_err(backend)?;
            let items = all_cached(
                c,
                &format!(
                    "SELECT {COLS} FROM audit WHERE {WHERE} ORDER BY id DESC LIMIT ?5 OFFSET ?6"
                ),
                params![
                    origin,
                    filter.action,
                    filter.ident,
                    filter.account,
                    limit,
                    offset
                ],
                entry_row,
            )?;
            Ok(Paged {
                items,
                total: total as u64,
            })
        })
        .await
}
