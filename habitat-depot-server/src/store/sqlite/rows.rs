//! Mapping rows to the store's types, and the SQL shared by several operations.

use habitat_core::version::Version;
use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{backend, conflict_as, conversion, parse_col, parse_ts, ts};
use crate::store::sql::{PackageWhere, Param, Placeholders};
use crate::store::*;

pub(super) fn account_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get(0)?,
        name: row.get(1)?,
        email: row.get(2)?,
        created_at: parse_ts(&row.get::<_, String>(3)?)?,
    })
}

pub(super) const TOKEN_COLS: &str =
    "id, account_id, name, hash, created_at, last_used_at, expires_at";

pub(super) fn token_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let hash: Vec<u8> = row.get(3)?;
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| conversion("token hash is not 32 bytes"))?;
    let opt_ts = |i| -> rusqlite::Result<Option<OffsetDateTime>> {
        row.get::<_, Option<String>>(i)?
            .map(|t| parse_ts(&t))
            .transpose()
    };
    Ok(TokenRecord {
        id: row.get(0)?,
        account_id: row.get(1)?,
        name: row.get(2)?,
        hash: Blake2bHash::from_bytes(hash),
        created_at: parse_ts(&row.get::<_, String>(4)?)?,
        last_used_at: opt_ts(5)?,
        expires_at: opt_ts(6)?,
    })
}

/// Every row `sql` selects with `params`, each mapped by `row`.
pub(super) fn all<T, P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = c.prepare(sql).map_err(backend)?;
    rows_of(&mut stmt, params, row)
}

/// [`all`] through the connection's statement cache, for statements a hot path repeats.
pub(super) fn all_cached<T, P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = c.prepare_cached(sql).map_err(backend)?;
    rows_of(&mut stmt, params, row)
}

fn rows_of<T, P: rusqlite::Params>(
    stmt: &mut rusqlite::Statement<'_>,
    params: P,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    stmt.query_map(params, row)
        .map_err(backend)?
        .collect::<rusqlite::Result<_>>()
        .map_err(backend)
}

pub(super) fn origin_id(tx: &Connection, origin: &OriginName) -> StoreResult<i64> {
    tx.query_row(
        "SELECT id FROM origins WHERE name = ?1",
        [origin.as_str()],
        |r| r.get(0),
    )
    .optional()
    .map_err(backend)?
    .ok_or_else(|| StoreError::NotFound(format!("origin `{origin}`")))
}

pub(super) fn account_id(tx: &Connection, name: &str) -> StoreResult<i64> {
    tx.query_row("SELECT id FROM accounts WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .optional()
    .map_err(backend)?
    .ok_or_else(|| StoreError::NotFound(format!("account `{name}`")))
}

pub(super) fn channel_id(
    tx: &Connection,
    origin: &OriginName,
    channel: &ChannelName,
) -> StoreResult<i64> {
    tx.query_row(
        "SELECT c.id FROM channels c JOIN origins o ON o.id = c.origin_id WHERE o.name = ?1 AND c.name = ?2",
        [origin.as_str(), channel.as_str()],
        |r| r.get(0),
    )
    .optional()
    .map_err(backend)?
    .ok_or_else(|| StoreError::NotFound(format!("channel `{channel}` of origin `{origin}`")))
}

pub(super) const INVITATION_SELECT: &str = "SELECT i.id, o.name, a.name, i.invited_by, i.created_at \
     FROM invitations i JOIN origins o ON o.id = i.origin_id JOIN accounts a ON a.id = i.account_id";

pub(super) fn invitation_row(row: &Row<'_>) -> rusqlite::Result<Invitation> {
    Ok(Invitation {
        id: row.get(0)?,
        origin: parse_col(&row.get::<_, String>(1)?)?,
        account: row.get(2)?,
        invited_by: row.get(3)?,
        created_at: parse_ts(&row.get::<_, String>(4)?)?,
    })
}

pub(super) const PACKAGE_COLS: &str = "p.id, p.origin, p.name, p.version, p.release, p.target, p.checksum, p.size, \
     p.visibility, p.manifest, p.config, p.deps, p.tdeps, p.build_deps, p.build_tdeps, p.exposes, \
     p.is_a_service, p.owner, p.created_at, p.binds, p.binds_optional, p.sha256, p.signer";

/// The columns of [`PACKAGE_COLS`] a list shows, the others as empty text: [`package_row`]
/// reads them into a package with an empty manifest, config, dependency lists and ports.
pub(super) const LIST_COLS: &str = "p.id, p.origin, p.name, p.version, p.release, p.target, p.checksum, p.size, \
     p.visibility, '', '', '', '', '', '', '', p.is_a_service, p.owner, p.created_at, '', '', p.sha256, p.signer";

pub(super) fn idents(text: &str) -> rusqlite::Result<Vec<FullyQualifiedIdent>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(parse_col)
        .collect()
}

/// Stored binds, read back.
fn binds(text: &str) -> rusqlite::Result<Vec<Bind>> {
    split_binds(text).map_err(|e| conversion(&e.to_string()))
}

pub(super) fn package_row(row: &Row<'_>) -> rusqlite::Result<Package> {
    let text = |i| row.get::<_, String>(i);
    let ident = format!("{}/{}/{}/{}", text(1)?, text(2)?, text(3)?, text(4)?);
    Ok(Package {
        id: row.get(0)?,
        ident: parse_col(&ident)?,
        target: parse_col(&text(5)?)?,
        checksum: parse_col(&text(6)?)?,
        size: row.get::<_, i64>(7)? as u64,
        visibility: Visibility::parse(&text(8)?).ok_or_else(|| conversion("bad visibility"))?,
        manifest: text(9)?,
        config: text(10)?,
        deps: idents(&text(11)?)?,
        tdeps: idents(&text(12)?)?,
        build_deps: idents(&text(13)?)?,
        build_tdeps: idents(&text(14)?)?,
        exposes: text(15)?
            .split_whitespace()
            .map(parse_col)
            .collect::<rusqlite::Result<_>>()?,
        is_a_service: row.get(16)?,
        owner: text(17)?,
        created_at: parse_ts(&text(18)?)?,
        binds: binds(&text(19)?)?,
        binds_optional: binds(&text(20)?)?,
        sha256: row.get(21)?,
        signer: row.get(22)?,
    })
}

/// `WHERE` clause and parameters for a package filter (table alias `p`).
pub(super) fn filter_sql(filter: &PackageFilter) -> (String, Vec<Value>) {
    bound(PackageWhere::filter(Placeholders::Question, filter))
}

/// The clause of `sql` and its parameters as SQLite values.
pub(super) fn bound(sql: PackageWhere) -> (String, Vec<Value>) {
    let mut values = Vec::with_capacity(sql.params.len());
    for param in sql.params {
        match param {
            Param::Text(text) => values.push(Value::Text(text)),
            // Question-mark style binds each origin as text; no array reaches here.
            Param::TextArray(texts) => values.extend(texts.into_iter().map(Value::Text)),
        }
    }
    (sql.clause, values)
}

pub(super) const NEWEST_FIRST: &str = "p.version_key DESC, p.release DESC, p.version DESC";

/// The packages table under alias `p`, as most listings read it.
pub(super) const PACKAGES: &str = "packages p";

/// The packages table under alias `p` read by id only: for a channel's listing, which the
/// channel's rows in `channel_packages` drive (a few rows, each package by its id) rather than
/// a walk of every release of the origin tested against the channel.
pub(super) const PACKAGES_BY_ID: &str = "packages p NOT INDEXED";

/// One page of the packages `where_sql` selects, and how many there are in all.
pub(super) fn page_of(
    conn: &Connection,
    where_sql: &str,
    values: Vec<Value>,
    page: Page,
) -> StoreResult<Paged<Package>> {
    page_from(conn, PACKAGES, PACKAGE_COLS, where_sql, values, page)
}

/// [`page_of`] reading the packages as `table` says ([`PACKAGES`] or [`PACKAGES_BY_ID`]),
/// their `columns` ([`PACKAGE_COLS`] or [`LIST_COLS`]).
pub(super) fn page_from(
    conn: &Connection,
    table: &str,
    columns: &str,
    where_sql: &str,
    values: Vec<Value>,
    page: Page,
) -> StoreResult<Paged<Package>> {
    let sql = format!(
        "SELECT {columns} FROM {table} WHERE {where_sql} ORDER BY p.origin, p.name, {NEWEST_FIRST}, p.target \
         LIMIT {} OFFSET {}",
        page.limit, page.offset
    );
    // Both statements' text depends only on the filter's shape and the page: the pages repeat
    // them, so they stay prepared in the connection's cache.
    let items = all_cached(conn, &sql, params_from_iter(&values), package_row)?;
    // A first page that is not full holds every match: no need to count them again.
    let total = if page.offset == 0 && (items.len() as u64) < page.limit {
        items.len() as u64
    } else {
        let mut count = conn
            .prepare_cached(&format!("SELECT count(*) FROM {table} WHERE {where_sql}"))
            .map_err(backend)?;
        count
            .query_row(params_from_iter(&values), |r| r.get::<_, i64>(0))
            .map_err(backend)? as u64
    };
    Ok(Paged { items, total })
}

/// Inserts one package row, its TDEPS and its `unstable` membership in the caller's transaction.
pub(super) fn insert_package_in(tx: &Connection, package: &Package) -> StoreResult<i64> {
    let ident = &package.ident;
    let version_key = Version::new(ident.version()).sort_key();
    tx.execute(
        "INSERT INTO packages (origin, name, version, release, target, version_key, checksum, size, visibility, \
         manifest, config, deps, tdeps, build_deps, build_tdeps, exposes, is_a_service, owner, created_at, binds, binds_optional, \
         sha256, signer) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
        params![
            ident.origin().as_str(),
            ident.name().as_str(),
            ident.version(),
            ident.release(),
            package.target.as_str(),
            version_key,
            package.checksum.to_string(),
            package.size as i64,
            package.visibility.as_str(),
            package.manifest,
            package.config,
            join_idents(&package.deps),
            join_idents(&package.tdeps),
            join_idents(&package.build_deps),
            join_idents(&package.build_tdeps),
            join_exposes(&package.exposes),
            package.is_a_service,
            package.owner,
            ts(package.created_at),
            join_binds(&package.binds),
            join_binds(&package.binds_optional),
            package.sha256,
            package.signer,
        ],
    )
    .map_err(conflict_as(format!("package {ident} for {}", package.target)))?;
    let id = tx.last_insert_rowid();
    for dep in &package.tdeps {
        tx.execute(
            "INSERT INTO package_tdeps (package_id, dep_origin, dep_name, dep_ident, pkg_origin, pkg_name, \
             pkg_target) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                dep.origin().as_str(),
                dep.name().as_str(),
                dep.to_string(),
                ident.origin().as_str(),
                ident.name().as_str(),
                package.target.as_str()
            ],
        )
        .map_err(backend)?;
    }
    let unstable = channel_id(tx, ident.origin(), &ChannelName::unstable())?;
    tx.execute(
        "INSERT INTO channel_packages (channel_id, package_id, promoted_at) VALUES (?1, ?2, ?3)",
        params![unstable, id, ts(package.created_at)],
    )
    .map_err(backend)?;
    Ok(id)
}

/// The channels a package is in, by name (a cached statement: `latest` asks on every call).
pub(super) fn channels_of(c: &Connection, package_id: i64) -> StoreResult<Vec<ChannelMembership>> {
    all_cached(
        c,
        "SELECT c.name, cp.promoted_at, c.created_at FROM channel_packages cp JOIN channels c ON c.id = cp.channel_id \
             WHERE cp.package_id = ?1 ORDER BY c.name",
        [package_id],
        |row| {
            Ok(ChannelMembership {
                name: parse_col(&row.get::<_, String>(0)?)?,
                promoted_at: parse_ts(&row.get::<_, String>(1)?)?,
                created_at: parse_ts(&row.get::<_, String>(2)?)?,
            })
        },
    )
}
