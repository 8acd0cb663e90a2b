//! Inserting packages: one upload or a whole import, pipelined.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use futures_util::future::try_join_all;
use habitat_core::version::Version;
use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName};

use super::rows::{column, query, query_opt};
use super::{Fail, Step, conflict_as, ts};
use crate::store::{Package, StoreError, join_binds, join_exposes, join_idents};

/// Statements sent before waiting for their answers (one round trip per batch).
const BATCH: usize = 500;

/// The package row, its TDEPS and its `unstable` membership, in one statement.
const INSERT: &str = "WITH p AS (INSERT INTO packages (origin, name, version, release, target, \
     version_key, checksum, size, visibility, manifest, config, deps, tdeps, build_deps, \
     build_tdeps, exposes, is_a_service, owner, created_at, binds, binds_optional, sha256, signer) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
     $24, $25, $26, $27) \
     RETURNING id), \
     d AS (INSERT INTO package_tdeps (package_id, dep_origin, dep_name, dep_ident, pkg_origin, \
     pkg_name, pkg_target) SELECT p.id, d.origin, d.name, d.ident, $1, $2, $5 FROM p, \
     unnest($20::text[], $21::text[], $22::text[]) AS d(origin, name, ident)), \
     c AS (INSERT INTO channel_packages (channel_id, package_id, promoted_at) \
     SELECT $23, p.id, $19 FROM p) \
     SELECT id FROM p";

/// Inserts packages, each with its TDEPS and its `unstable` membership, in the caller's
/// transaction; their ids, in order. A package that exists already is a conflict naming it; an
/// origin without an `unstable` channel (that is, no origin) is not found.
pub(super) async fn insert_packages(tx: &Transaction<'_>, packages: &[Package]) -> Step<Vec<i64>> {
    // Holding each origin's row keeps a concurrent delete of the origin from passing these
    // uploads unseen: it waits for this transaction, then counts the packages.
    let mut channels: HashMap<&OriginName, i64> = HashMap::new();
    for package in packages {
        let origin = package.ident.origin();
        if !channels.contains_key(origin) {
            channels.insert(origin, unstable_channel(tx, origin).await?);
        }
    }
    let statement = tx.prepare_cached(INSERT).await?;
    let mut ids = Vec::with_capacity(packages.len());
    for batch in packages.chunks(BATCH) {
        let inserts = batch.iter().map(|package| {
            let row = Row::new(package);
            let channel = channels.get(package.ident.origin()).copied();
            let statement = &statement;
            async move {
                let channel = channel.unwrap_or_default();
                tx.query_one(statement, &row.params(&channel))
                    .await
                    .map_err(conflict_as(format!(
                        "package {} for {}",
                        package.ident, package.target
                    )))
            }
        });
        for row in try_join_all(inserts).await? {
            ids.push(column(&row, 0)?);
        }
    }
    lock_dependencies(tx, packages).await?;
    Ok(ids)
}

/// The id of an origin's `unstable` channel, the origin's row key-share locked.
async fn unstable_channel(tx: &Transaction<'_>, origin: &OriginName) -> Step<i64> {
    let unstable = ChannelName::unstable();
    query_opt(
        tx,
        "SELECT c.id FROM channels c JOIN origins o ON o.id = c.origin_id \
         WHERE o.name = $1 AND c.name = $2 FOR KEY SHARE OF o",
        &[&origin.as_str(), &unstable.as_str()],
    )
    .await?
    .map(|row| column(&row, 0))
    .transpose()?
    .ok_or_else(|| {
        Fail::Store(StoreError::NotFound(format!(
            "channel `{unstable}` of origin `{origin}`"
        )))
    })
}

/// The dependencies present now stay until these uploads are decided: a concurrent delete of
/// one waits for them, then sees a package depend on it (or runs first, and the upload then
/// stores a dependency on a deleted package, as it would had it come second).
async fn lock_dependencies(tx: &Transaction<'_>, packages: &[Package]) -> Step<()> {
    let deps: Vec<(&FullyQualifiedIdent, &str)> = packages
        .iter()
        .flat_map(|p| p.tdeps.iter().map(|d| (d, p.target.as_str())))
        .collect();
    if deps.is_empty() {
        return Ok(());
    }
    let part = |f: fn(&FullyQualifiedIdent) -> &str| -> Vec<&str> {
        deps.iter().map(|(d, _)| f(d)).collect()
    };
    let targets: Vec<&str> = deps.iter().map(|(_, t)| *t).collect();
    query(
        tx,
        "SELECT 1 FROM packages p JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[], \
         $5::text[]) AS d(origin, name, version, release, target) ON p.origin = d.origin \
         AND p.name = d.name AND p.version = d.version AND p.release = d.release \
         AND p.target = d.target FOR KEY SHARE OF p",
        &[
            &part(|d| d.origin().as_str()),
            &part(|d| d.name().as_str()),
            &part(|d| d.version()),
            &part(|d| d.release()),
            &targets,
        ],
    )
    .await?;
    Ok(())
}

/// A package's values as the insert's parameters.
struct Row<'a> {
    package: &'a Package,
    origin: &'a str,
    name: &'a str,
    version: &'a str,
    release: &'a str,
    target: &'static str,
    visibility: &'static str,
    version_key: Vec<u8>,
    checksum: String,
    size: i64,
    deps: String,
    tdeps: String,
    build_deps: String,
    build_tdeps: String,
    exposes: String,
    binds: String,
    binds_optional: String,
    is_a_service: i64,
    created_at: String,
    dep_origins: Vec<&'a str>,
    dep_names: Vec<&'a str>,
    dep_idents: Vec<String>,
}

impl<'a> Row<'a> {
    fn new(package: &'a Package) -> Self {
        let ident = &package.ident;
        Self {
            package,
            origin: ident.origin().as_str(),
            name: ident.name().as_str(),
            version: ident.version(),
            release: ident.release(),
            target: package.target.as_str(),
            visibility: package.visibility.as_str(),
            version_key: Version::new(package.ident.version()).sort_key(),
            checksum: package.checksum.to_string(),
            // As the embedded store: sizes beyond i64::MAX wrap.
            size: package.size as i64,
            deps: join_idents(&package.deps),
            tdeps: join_idents(&package.tdeps),
            build_deps: join_idents(&package.build_deps),
            build_tdeps: join_idents(&package.build_tdeps),
            exposes: join_exposes(&package.exposes),
            binds: join_binds(&package.binds),
            binds_optional: join_binds(&package.binds_optional),
            is_a_service: i64::from(package.is_a_service),
            created_at: ts(package.created_at),
            dep_origins: package.tdeps.iter().map(|d| d.origin().as_str()).collect(),
            dep_names: package.tdeps.iter().map(|d| d.name().as_str()).collect(),
            dep_idents: package.tdeps.iter().map(ToString::to_string).collect(),
        }
    }

    fn params<'b>(
        &'b self,
        channel: &'b i64,
    ) -> [&'b (dyn tokio_postgres::types::ToSql + Sync); 27] {
        let package = self.package;
        [
            &self.origin,
            &self.name,
            &self.version,
            &self.release,
            &self.target,
            &self.version_key,
            &self.checksum,
            &self.size,
            &self.visibility,
            &package.manifest,
            &package.config,
            &self.deps,
            &self.tdeps,
            &self.build_deps,
            &self.build_tdeps,
            &self.exposes,
            &self.is_a_service,
            &package.owner,
            &self.created_at,
            &self.dep_origins,
            &self.dep_names,
            &self.dep_idents,
            channel,
            &self.binds,
            &self.binds_optional,
            &package.sha256,
            &package.signer,
        ]
    }
}
