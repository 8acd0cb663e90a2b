//! Dump and restore of the embedded store, for moving a depot to another store.

use std::collections::HashSet;

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use super::{backend, conflict_as};
use crate::store::{DUMP_TABLES, Dump, DumpTable, DumpValue, StoreResult};

/// Every table, in one read transaction.
pub(super) fn dump(conn: &mut Connection) -> StoreResult<Dump> {
    let tx = conn.transaction().map_err(backend)?;
    let mut tables = Vec::with_capacity(DUMP_TABLES.len());
    for &name in DUMP_TABLES {
        // Table names come from DUMP_TABLES, never from input.
        let mut stmt = tx
            .prepare(&format!("SELECT * FROM {name} ORDER BY rowid"))
            .map_err(backend)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let width = columns.len();
        let rows = stmt
            .query_map([], |row| {
                (0..width)
                    .map(|i| row.get::<_, Value>(i).map(to_dump))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(backend)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(backend)?;
        tables.push(DumpTable {
            name: name.to_owned(),
            columns,
            rows,
        });
    }
    Ok(Dump { tables })
}

/// Inserts the dump's rows that are not there yet; `package_tdeps` rows (which have no key of
/// their own) only for the packages this restore inserts.
pub(super) fn restore(tx: &rusqlite::Transaction<'_>, dump: &Dump) -> StoreResult<()> {
    let existing_packages: HashSet<i64> = {
        let mut stmt = tx.prepare("SELECT id FROM packages").map_err(backend)?;
        stmt.query_map([], |r| r.get(0))
            .map_err(backend)?
            .collect::<rusqlite::Result<_>>()
            .map_err(backend)?
    };
    for table in &dump.tables {
        table.check_names()?;
        let placeholders = vec!["?"; table.columns.len()].join(", ");
        let sql = format!(
            "INSERT OR IGNORE INTO {} ({}) VALUES ({placeholders})",
            table.name,
            table.columns.join(", ")
        );
        let package_column = (table.name == "package_tdeps")
            .then(|| table.columns.iter().position(|c| c == "package_id"))
            .flatten();
        let mut stmt = tx.prepare(&sql).map_err(backend)?;
        for row in &table.rows {
            if let Some(DumpValue::Int(id)) = package_column.and_then(|i| row.get(i))
                && existing_packages.contains(id)
            {
                continue;
            }
            stmt.execute(params_from_iter(row.iter().map(from_dump)))
                .map_err(conflict_as(format!("a row of `{}`", table.name)))?;
        }
    }
    // A dump from before dependency rows named their dependent leaves those columns empty.
    tx.execute(
        "UPDATE package_tdeps SET (pkg_origin, pkg_name, pkg_target) = \
         (SELECT p.origin, p.name, p.target FROM packages p WHERE p.id = package_tdeps.package_id) \
         WHERE pkg_origin = ''",
        [],
    )
    .map_err(backend)?;
    Ok(())
}

fn to_dump(value: Value) -> DumpValue {
    match value {
        Value::Null => DumpValue::Null,
        Value::Integer(i) => DumpValue::Int(i),
        // No column of the schema is REAL; keep the value rather than lose it.
        Value::Real(f) => DumpValue::Text(f.to_string()),
        Value::Text(t) => DumpValue::Text(t),
        Value::Blob(b) => DumpValue::Blob(b),
    }
}

fn from_dump(value: &DumpValue) -> Value {
    match value {
        DumpValue::Null => Value::Null,
        DumpValue::Int(i) => Value::Integer(*i),
        DumpValue::Text(t) => Value::Text(t.clone()),
        DumpValue::Blob(b) => Value::Blob(b.clone()),
    }
}
