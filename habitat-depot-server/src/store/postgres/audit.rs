//! The audit log: rows added, and one origin's rows read back newest first.

use tokio_postgres::Row;

use super::rows::*;
use super::*;

/// The columns [`entry_row`] reads, in its order.
const COLS: &str = "id, at, account, action, origin, address, channel, ident, target, detail";

/// The `WHERE` of a listing: the origin, then each filter when set (`$1` to `$4`).
const WHERE: &str = "origin = $1 AND ($2::text IS NULL OR action = $2) \
                     AND ($3::text IS NULL OR ident = $3) AND ($4::text IS NULL OR account = $4)";

fn entry_row(row: &Row) -> Step<AuditEntry> {
    Ok(AuditEntry {
        id: column(row, 0)?,
        at: parse_ts(column::<&str>(row, 1)?)?,
        record: AuditRecord {
            account: column(row, 2)?,
            action: column(row, 3)?,
            origin: column(row, 4)?,
            address: column(row, 5)?,
            channel: column(row, 6)?,
            ident: column(row, 7)?,
            target: column(row, 8)?,
            detail: column(row, 9)?,
        },
    })
}

pub(super) async fn record_audit(store: &PostgresStore, record: &AuditRecord) -> StoreResult<()> {
    transaction!(store, |tx| {
        execute(
            &tx,
            "INSERT INTO audit (at, account, action, origin, address, channel, ident, target, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &ts(now()),
                &record.account,
                &record.action,
                &record.origin,
                &record.address,
                &record.channel,
                &record.ident,
                &record.target,
                &record.detail,
            ],
        )
        .await?;
    })
}

pub(super) async fn audit_log(
    store: &PostgresStore,
    origin: &OriginName,
    filter: &AuditFilter,
    page: Page,
) -> StoreResult<Paged<AuditEntry>> {
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let (limit, offset) = (clamp(page.limit), clamp(page.offset));
    let origin = origin.to_string();
    read!(async {
        let client = store.client().await?;
        let total: i64 = query_one(
            &client,
            &format!("SELECT count(*) FROM audit WHERE {WHERE}"),
            &[&origin, &filter.action, &filter.ident, &filter.account],
        )
        .await?
        .get(0);
        let items = query(
            &client,
            &format!("SELECT {COLS} FROM audit WHERE {WHERE} ORDER BY id DESC LIMIT $5 OFFSET $6"),
            &[
                &origin,
                &filter.action,
                &filter.ident,
                &filter.account,
                &limit,
                &offset,
            ],
        )
        .await?
        .iter()
        .map(entry_row)
        .collect::<Step<Vec<AuditEntry>>>()?;
        Ok(Paged {
            items,
            total: total as u64,
        })
    })
}
