//! Mapping rows to the store's types, and the SQL shared by several operations.
//!
//! Every statement goes through the connection's statement cache: the SQL of a listing varies
//! only with which filter fields are set (values, private origins and pages are parameters), so
//! the cache stays small.

use std::str::FromStr;

use deadpool_postgres::{GenericClient, Transaction};
use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};

use super::{Fail, Step};
use crate::store::sql::{PackageWhere, Param, Placeholders};
use crate::store::*;

/// A statement's parameters.
pub(super) type Params<'a> = [&'a (dyn ToSql + Sync)];

/// Rows of a (cached) statement.
pub(super) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &Params<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query(&statement, params).await
}

/// The row of a (cached) statement that returns at most one.
pub(super) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &Params<'_>,
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_opt(&statement, params).await
}

/// The row of a (cached) statement that returns exactly one.
pub(super) async fn query_one<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &Params<'_>,
) -> Result<Row, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_one(&statement, params).await
}

/// Runs a (cached) statement; the number of rows it changed.
pub(super) async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &Params<'_>,
) -> Result<u64, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.execute(&statement, params).await
}

/// Column `i` of a row.
pub(super) fn column<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Step<T> {
    row.try_get(i).map_err(Fail::Db)
}

fn corrupt(what: &str, text: &str) -> Fail {
    Fail::Store(StoreError::Invalid(format!(
        "the database holds an invalid {what} `{text}`"
    )))
}

pub(super) fn parse_ts(text: &str) -> Step<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| corrupt("timestamp", text))
}

pub(super) fn parse_col<T: FromStr>(text: &str) -> Step<T> {
    text.parse().map_err(|_| corrupt("value", text))
}

pub(super) fn parse_visibility(text: &str) -> Step<Visibility> {
    Visibility::parse(text).ok_or_else(|| corrupt("visibility", text))
}

pub(super) fn parse_role(text: &str) -> Step<Role> {
    Role::parse(text).ok_or_else(|| corrupt("role", text))
}

pub(super) fn account_row(row: &Row) -> Step<Account> {
    account_at(row, 0)
}

/// The account in a row's columns `first` to `first + 3` (id, name, email, created_at).
pub(super) fn account_at(row: &Row, first: usize) -> Step<Account> {
    Ok(Account {
        id: column(row, first)?,
        name: column(row, first + 1)?,
        email: column(row, first + 2)?,
        created_at: parse_ts(column(row, first + 3)?)?,
    })
}

pub(super) const TOKEN_COLS: &str =
    "id, account_id, name, hash, created_at, last_used_at, expires_at";

pub(super) fn token_row(row: &Row) -> Step<TokenRecord> {
    let hash: Vec<u8> = column(row, 3)?;
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| Fail::Store(StoreError::Invalid("token hash is not 32 bytes".to_owned())))?;
    let opt_ts = |i| -> Step<Option<OffsetDateTime>> {
        column::<Option<&str>>(row, i)?.map(parse_ts).transpose()
    };
    Ok(TokenRecord {
        id: column(row, 0)?,
        account_id: column(row, 1)?,
        name: column(row, 2)?,
        hash: Blake2bHash::from_bytes(hash),
        created_at: parse_ts(column(row, 4)?)?,
        last_used_at: opt_ts(5)?,
        expires_at: opt_ts(6)?,
    })
}

pub(super) fn key_row(origin: &OriginName, row: &Row) -> Step<OriginKey> {
    Ok(OriginKey {
        origin: origin.clone(),
        revision: column(row, 0)?,
        body: column(row, 1)?,
        created_at: parse_ts(column(row, 2)?)?,
    })
}

/// The row lock a lookup takes inside a write.
#[derive(Clone, Copy)]
pub(super) enum Lock {
    /// Keeps the row (and its key) from being deleted until the transaction ends, as rows that
    /// reference it would; other key-share lockers go on in parallel.
    KeyShare,
    /// Waits for every other lock on the row, and makes later ones wait: for deletes.
    Update,
}

impl Lock {
    fn sql(self) -> &'static str {
        match self {
            Self::KeyShare => "FOR KEY SHARE",
            Self::Update => "FOR UPDATE",
        }
    }
}

pub(super) async fn origin_id(tx: &Transaction<'_>, origin: &OriginName, lock: Lock) -> Step<i64> {
    let sql = format!("SELECT id FROM origins WHERE name = $1 {}", lock.sql());
    query_opt(tx, &sql, &[&origin.as_str()])
        .await?
        .map(|row| column(&row, 0))
        .transpose()?
        .ok_or_else(|| Fail::Store(StoreError::NotFound(format!("origin `{origin}`"))))
}

pub(super) async fn account_id(tx: &Transaction<'_>, name: &str) -> Step<i64> {
    query_opt(tx, "SELECT id FROM accounts WHERE name = $1", &[&name])
        .await?
        .map(|row| column(&row, 0))
        .transpose()?
        .ok_or_else(|| Fail::Store(StoreError::NotFound(format!("account `{name}`"))))
}

pub(super) async fn channel_id(
    tx: &Transaction<'_>,
    origin: &OriginName,
    channel: &ChannelName,
    lock: Lock,
) -> Step<i64> {
    let sql = format!(
        "SELECT c.id FROM channels c JOIN origins o ON o.id = c.origin_id \
         WHERE o.name = $1 AND c.name = $2 {} OF c",
        lock.sql()
    );
    query_opt(tx, &sql, &[&origin.as_str(), &channel.as_str()])
        .await?
        .map(|row| column(&row, 0))
        .transpose()?
        .ok_or_else(|| {
            Fail::Store(StoreError::NotFound(format!(
                "channel `{channel}` of origin `{origin}`"
            )))
        })
}

pub(super) const INVITATION_SELECT: &str = "SELECT i.id, o.name, a.name, i.invited_by, \
     i.created_at FROM invitations i JOIN origins o ON o.id = i.origin_id \
     JOIN accounts a ON a.id = i.account_id";

pub(super) fn invitation_row(row: &Row) -> Step<Invitation> {
    Ok(Invitation {
        id: column(row, 0)?,
        origin: parse_col(column(row, 1)?)?,
        account: column(row, 2)?,
        invited_by: column(row, 3)?,
        created_at: parse_ts(column(row, 4)?)?,
    })
}

pub(super) const PACKAGE_COLS: &str = "p.id, p.origin, p.name, p.version, p.release, p.target, \
     p.checksum, p.size, p.visibility, p.manifest, p.config, p.deps, p.tdeps, p.build_deps, \
     p.build_tdeps, p.exposes, p.is_a_service, p.owner, p.created_at, p.binds, p.binds_optional, \
     p.sha256, p.signer";

fn idents(text: &str) -> Step<Vec<FullyQualifiedIdent>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(parse_col)
        .collect()
}

/// The columns of [`PACKAGE_COLS`] a list shows, the others as empty text: [`package_row`]
/// reads them into a package with an empty manifest, config, dependency lists and ports.
pub(super) const LIST_COLS: &str = "p.id, p.origin, p.name, p.version, p.release, p.target, \
     p.checksum, p.size, p.visibility, ''::text, ''::text, ''::text, ''::text, ''::text, \
     ''::text, ''::text, p.is_a_service, p.owner, p.created_at, ''::text, ''::text, p.sha256, \
     p.signer";

/// How many columns [`PACKAGE_COLS`] selects.
const PACKAGE_WIDTH: usize = 23;

pub(super) fn package_row(row: &Row) -> Step<Package> {
    let text = |i| column::<&str>(row, i);
    let ident = format!("{}/{}/{}/{}", text(1)?, text(2)?, text(3)?, text(4)?);
    Ok(Package {
        id: column(row, 0)?,
        ident: parse_col(&ident)?,
        target: parse_col(text(5)?)?,
        checksum: parse_col(text(6)?)?,
        size: column::<i64>(row, 7)? as u64,
        visibility: parse_visibility(text(8)?)?,
        manifest: text(9)?.to_owned(),
        config: text(10)?.to_owned(),
        deps: idents(text(11)?)?,
        tdeps: idents(text(12)?)?,
        build_deps: idents(text(13)?)?,
        build_tdeps: idents(text(14)?)?,
        exposes: text(15)?
            .split_whitespace()
            .map(parse_col)
            .collect::<Step<_>>()?,
        is_a_service: column::<i64>(row, 16)? != 0,
        owner: text(17)?.to_owned(),
        created_at: parse_ts(text(18)?)?,
        binds: split_binds(text(19)?).map_err(|_| corrupt("binds", text(19).unwrap_or("")))?,
        binds_optional: split_binds(text(20)?)
            .map_err(|_| corrupt("binds", text(20).unwrap_or("")))?,
        sha256: column(row, 21)?,
        signer: column(row, 22)?,
    })
}

/// A `WHERE` clause over packages (table alias `p`) and its parameters.
pub(super) struct FilterSql {
    /// The clause.
    pub(super) clause: String,
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl FilterSql {
    /// The clause for a package filter.
    pub(super) fn new(filter: &PackageFilter) -> Self {
        Self::from(PackageWhere::filter(Placeholders::Dollar, filter))
    }

    /// Adds a parameter; its placeholder.
    pub(super) fn push(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.values.push(Box::new(value));
        format!("${}", self.values.len())
    }

    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

impl From<PackageWhere> for FilterSql {
    fn from(sql: PackageWhere) -> Self {
        let values = sql
            .params
            .into_iter()
            .map(|param| -> Box<dyn ToSql + Sync + Send> {
                match param {
                    Param::Text(text) => Box::new(text),
                    Param::TextArray(texts) => Box::new(texts),
                }
            })
            .collect();
        Self {
            clause: sql.clause,
            values,
        }
    }
}

pub(super) const NEWEST_FIRST: &str = "p.version_key DESC, p.release DESC, p.version DESC";

/// The newest package a filter matches: with origin, name and target set, a backward walk of
/// the `packages_latest` index.
pub(super) async fn latest_in<C: GenericClient>(
    c: &C,
    filter: &PackageFilter,
) -> Step<Option<Package>> {
    let sql = FilterSql::new(filter);
    query_opt(
        c,
        &format!(
            "SELECT {PACKAGE_COLS} FROM packages p WHERE {} ORDER BY {NEWEST_FIRST} LIMIT 1",
            sql.clause
        ),
        &sql.params(),
    )
    .await?
    .map(|row| package_row(&row))
    .transpose()
}

/// [`latest_in`] and the package's channels by name, in one round trip (the subqueries run for
/// the one row returned).
pub(super) async fn latest_with_channels_in<C: GenericClient>(
    c: &C,
    filter: &PackageFilter,
) -> Step<Option<(Package, Vec<ChannelMembership>)>> {
    let sql = FilterSql::new(filter);
    let memberships = "FROM channel_packages cp JOIN channels c ON c.id = cp.channel_id \
         WHERE cp.package_id = p.id ORDER BY c.name";
    let Some(row) = query_opt(
        c,
        &format!(
            "SELECT {PACKAGE_COLS}, ARRAY(SELECT c.name {memberships}), \
             ARRAY(SELECT cp.promoted_at {memberships}), ARRAY(SELECT c.created_at {memberships}) \
             FROM packages p WHERE {} ORDER BY {NEWEST_FIRST} LIMIT 1",
            sql.clause
        ),
        &sql.params(),
    )
    .await?
    else {
        return Ok(None);
    };
    let names: Vec<&str> = column(&row, PACKAGE_WIDTH)?;
    let times: Vec<&str> = column(&row, PACKAGE_WIDTH + 1)?;
    let created: Vec<&str> = column(&row, PACKAGE_WIDTH + 2)?;
    let channels = names
        .into_iter()
        .zip(times)
        .zip(created)
        .map(|((name, at), created)| {
            Ok(ChannelMembership {
                name: parse_col(name)?,
                promoted_at: parse_ts(at)?,
                created_at: parse_ts(created)?,
            })
        })
        .collect::<Step<_>>()?;
    Ok(Some((package_row(&row)?, channels)))
}

/// One page of the packages `sql` selects, their `columns` ([`PACKAGE_COLS`] or
/// [`LIST_COLS`]), and how many there are in all.
pub(super) async fn page_of<C: GenericClient>(
    c: &C,
    mut sql: FilterSql,
    page: Page,
    columns: &str,
) -> Step<Paged<Package>> {
    let filter_params = sql.values.len();
    // Beyond i64::MAX means "all" anyway.
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let (limit, offset) = (sql.push(clamp(page.limit)), sql.push(clamp(page.offset)));
    let items = query(
        c,
        &format!(
            "SELECT {columns} FROM packages p WHERE {} \
             ORDER BY p.origin, p.name, {NEWEST_FIRST}, p.target LIMIT {limit} OFFSET {offset}",
            sql.clause
        ),
        &sql.params(),
    )
    .await?
    .iter()
    .map(package_row)
    .collect::<Step<Vec<_>>>()?;
    // A first page that is not full holds every match: no need to count them again.
    let total = if page.offset == 0 && (items.len() as u64) < page.limit {
        items.len() as u64
    } else {
        let params = sql.params();
        let count: i64 = query_one(
            c,
            &format!("SELECT count(*) FROM packages p WHERE {}", sql.clause),
            &params[..filter_params],
        )
        .await?
        .get(0);
        count as u64
    };
    Ok(Paged { items, total })
}

/// The channels a package is in, by name.
pub(super) async fn channels_of<C: GenericClient>(
    c: &C,
    package_id: i64,
) -> Step<Vec<ChannelMembership>> {
    query(
        c,
        "SELECT c.name, cp.promoted_at, c.created_at FROM channel_packages cp \
         JOIN channels c ON c.id = cp.channel_id WHERE cp.package_id = $1 ORDER BY c.name",
        &[&package_id],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(ChannelMembership {
            name: parse_col(column(row, 0)?)?,
            promoted_at: parse_ts(column(row, 1)?)?,
            created_at: parse_ts(column(row, 2)?)?,
        })
    })
    .collect()
}
