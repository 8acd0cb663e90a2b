//! Dump and restore of the PostgreSQL store, for moving a depot between stores.
//!
//! Values map one to one onto the embedded store's: `BIGINT` is [`DumpValue::Int`], `TEXT`
//! is [`DumpValue::Text`] (timestamps included: both stores keep RFC 3339 text), `BYTEA` is
//! [`DumpValue::Blob`]. So a dump of either store restores into the other unchanged.

use std::collections::HashSet;

use deadpool_postgres::{GenericClient, Transaction};
use futures_util::future::try_join_all;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::rows::{column, execute, query};
use super::schema::{ID_TABLES, dump_order};
use super::{Fail, Step, conflict_as};
use crate::store::{DUMP_TABLES, Dump, DumpTable, DumpValue, StoreError};

/// Rows sent to the server before waiting for their answers (one round trip per batch).
const BATCH: usize = 500;

/// Every table, in the caller's (repeatable-read) transaction.
pub(super) async fn dump(tx: &Transaction<'_>) -> Step<Dump> {
    let mut tables = Vec::with_capacity(DUMP_TABLES.len());
    for &name in DUMP_TABLES {
        // Table names come from DUMP_TABLES, never from input.
        let statement = tx
            .prepare(&format!(
                "SELECT * FROM {name} ORDER BY {}",
                dump_order(name)
            ))
            .await?;
        let columns: Vec<String> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let types: Vec<Type> = statement
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        let rows = tx
            .query(&statement, &[])
            .await?
            .iter()
            .map(|row| to_dump(name, row, &types))
            .collect::<Step<Vec<_>>>()?;
        tables.push(DumpTable {
            name: name.to_owned(),
            columns,
            rows,
        });
    }
    Ok(Dump { tables })
}

fn to_dump(table: &str, row: &Row, types: &[Type]) -> Step<Vec<DumpValue>> {
    types
        .iter()
        .enumerate()
        .map(|(i, ty)| {
            let value = match *ty {
                Type::INT8 => column::<Option<i64>>(row, i)?.map(DumpValue::Int),
                Type::INT4 => column::<Option<i32>>(row, i)?.map(|v| DumpValue::Int(v.into())),
                Type::TEXT | Type::VARCHAR => {
                    column::<Option<String>>(row, i)?.map(DumpValue::Text)
                }
                Type::BYTEA => column::<Option<Vec<u8>>>(row, i)?.map(DumpValue::Blob),
                _ => {
                    return Err(Fail::Store(StoreError::Invalid(format!(
                        "column {i} of table `{table}` has the unexpected type `{ty}`"
                    ))));
                }
            };
            Ok(value.unwrap_or(DumpValue::Null))
        })
        .collect()
}

/// Inserts the dump's rows that are not there yet; `package_tdeps` rows (which have no key of
/// their own) only for the packages this restore inserts. Then moves every id sequence past
/// the largest id in its table.
pub(super) async fn restore(tx: &Transaction<'_>, dump: &Dump) -> Step<()> {
    let existing_packages: HashSet<i64> = query(tx, "SELECT id FROM packages", &[])
        .await?
        .iter()
        .map(|row| column(row, 0))
        .collect::<Step<_>>()?;
    for table in &dump.tables {
        table.check_names()?;
        if table.rows.is_empty() {
            continue;
        }
        let placeholders: Vec<String> =
            (1..=table.columns.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING",
            table.name,
            table.columns.join(", "),
            placeholders.join(", ")
        );
        let statement = tx.prepare(&sql).await?;
        let types = statement.params().to_vec();
        let package_column = (table.name == "package_tdeps")
            .then(|| table.columns.iter().position(|c| c == "package_id"))
            .flatten();
        let mut rows = Vec::with_capacity(table.rows.len());
        for row in &table.rows {
            if let Some(DumpValue::Int(id)) = package_column.and_then(|i| row.get(i))
                && existing_packages.contains(id)
            {
                continue;
            }
            if row.len() != types.len() {
                return Err(refused(format!(
                    "a row of the dump's table `{}` has {} values for {} columns",
                    table.name,
                    row.len(),
                    types.len()
                )));
            }
            let values = row
                .iter()
                .zip(&types)
                .zip(&table.columns)
                .map(|((value, ty), name)| from_dump(value, ty, &table.name, name))
                .collect::<Step<Vec<_>>>()?;
            rows.push(values);
        }
        // Pipelined: a batch of inserts goes out before the first answer is awaited.
        for batch in rows.chunks(BATCH) {
            try_join_all(batch.iter().map(|values| {
                let params: Vec<&(dyn ToSql + Sync)> = values
                    .iter()
                    .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                let statement = &statement;
                async move { tx.execute(statement, &params).await }
            }))
            .await
            .map_err(conflict_as(format!("a row of `{}`", table.name)))?;
        }
    }
    // A dump from before dependency rows named their dependent leaves those columns empty.
    tx.execute(
        "UPDATE package_tdeps d SET pkg_origin = p.origin, pkg_name = p.name, \
         pkg_target = p.target FROM packages p WHERE p.id = d.package_id AND d.pkg_origin = ''",
        &[],
    )
    .await?;
    for table in ID_TABLES {
        // Never backwards: an id handed out before (even of a deleted row) stays used.
        execute(
            tx,
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), m) \
                 FROM (SELECT max(id) AS m FROM {table}) s WHERE m IS NOT NULL AND m > \
                 coalesce(pg_sequence_last_value(pg_get_serial_sequence('{table}', 'id')::regclass), 0)"
            ),
            &[],
        )
        .await?;
    }
    Ok(())
}

fn refused(reason: String) -> Fail {
    Fail::Store(StoreError::Refused(reason))
}

/// A dump value as a parameter of the column's type.
fn from_dump(
    value: &DumpValue,
    ty: &Type,
    table: &str,
    column: &str,
) -> Step<Box<dyn ToSql + Sync + Send>> {
    Ok(match (value, ty) {
        (DumpValue::Null, &Type::INT8) => Box::new(None::<i64>),
        (DumpValue::Null, &Type::BYTEA) => Box::new(None::<Vec<u8>>),
        (DumpValue::Null, _) => Box::new(None::<String>),
        (DumpValue::Int(i), &Type::INT8) => Box::new(*i),
        (DumpValue::Text(t), &Type::TEXT) => Box::new(t.clone()),
        (DumpValue::Blob(b), &Type::BYTEA) => Box::new(b.clone()),
        (value, ty) => {
            let kind = match value {
                DumpValue::Null => "null",
                DumpValue::Int(_) => "an integer",
                DumpValue::Text(_) => "text",
                DumpValue::Blob(_) => "bytes",
            };
            return Err(refused(format!(
                "the dump's column `{column}` of table `{table}` holds {kind}, not `{ty}`"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn accepted(value: DumpValue, ty: Type) {
        assert!(
            from_dump(&value, &ty, "t", "c").is_ok(),
            "{value:?} as {ty}"
        );
    }

    #[track_caller]
    fn refused_as(value: DumpValue, ty: Type) {
        match from_dump(&value, &ty, "t", "c") {
            Err(Fail::Store(StoreError::Refused(_))) => {}
            _ => panic!("{value:?} as {ty} should be refused"),
        }
    }

    #[test]
    fn dump_values_map_onto_column_types() {
        accepted(DumpValue::Int(7), Type::INT8);
        accepted(DumpValue::Text("2024-01-01T00:00:00Z".into()), Type::TEXT);
        accepted(DumpValue::Blob(vec![0, 1]), Type::BYTEA);
        for ty in [Type::INT8, Type::TEXT, Type::BYTEA] {
            accepted(DumpValue::Null, ty);
        }
        refused_as(DumpValue::Text("7".into()), Type::INT8);
        refused_as(DumpValue::Int(7), Type::TEXT);
        refused_as(DumpValue::Blob(vec![]), Type::TEXT);
        refused_as(DumpValue::Text(String::new()), Type::BYTEA);
    }
}
