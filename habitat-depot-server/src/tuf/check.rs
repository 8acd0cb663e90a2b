//! What `hab-depot fsck` checks of the TUF repository: every root follows from the one before,
//! every role's newest version is signed by the keys that must sign it and has not expired, the
//! snapshot and timestamp name what is stored, every bin lists exactly the targets the store
//! has as current (with their bodies), and every channel index and key target matches the
//! database.

use std::collections::BTreeMap;

use habitat_core::tuf::{RoleKeys, Root, Snapshot, Targets, Timestamp, Unverified, sha256_hex};
use time::OffsetDateTime;

use super::RepoError;
use super::publish::Publisher;
use crate::store::{MetadataStore, StoreError};

/// The problems found, each a sentence; empty when the repository is sound (or absent).
pub async fn check(
    store: &dyn MetadataStore,
    publisher: &Publisher,
    now: OffsetDateTime,
) -> Result<Vec<String>, StoreError> {
    if !store.tuf_initialized().await? {
        return Ok(Vec::new());
    }
    let mut problems = Vec::new();
    match signatures(store, now, &mut problems).await {
        Ok(()) => {}
        Err(RepoError::Store(e)) => return Err(e),
        Err(e) => problems.push(format!("tuf: {e}")),
    }
    match publisher.stale_targets().await {
        Ok(stale) => {
            let waiting = store.tuf_changes(1).await?.len();
            for path in stale {
                problems.push(format!(
                    "tuf: target `{path}` does not match the database{}",
                    if waiting > 0 { " (changes are waiting in the outbox: a running depot publishes them within seconds)" } else { "" }
                ));
            }
        }
        Err(RepoError::Store(e)) => return Err(e),
        Err(e) => problems.push(format!("tuf: {e}")),
    }
    Ok(problems)
}

async fn signatures(
    store: &dyn MetadataStore,
    now: OffsetDateTime,
    problems: &mut Vec<String>,
) -> Result<(), RepoError> {
    let newest = store
        .tuf_latest("root")
        .await?
        .ok_or(RepoError::NotInitialized)?;
    let mut trusted: Option<Root> = None;
    for version in 1..=newest.version {
        let row = store
            .tuf_metadata("root", version)
            .await?
            .ok_or_else(|| RepoError::Corrupt(format!("root version {version} is missing")))?;
        let unverified = Unverified::<Root>::parse(&row.body)?;
        let next = unverified.peek().clone();
        if let Some(old) = &trusted {
            unverified.check("root", role(old, "root")?, &old.keys)?;
        }
        unverified.check("root", role(&next, "root")?, &next.keys)?;
        trusted = Some(next);
    }
    let root = trusted.ok_or(RepoError::NotInitialized)?;
    expired(problems, now, "root", root.version, root.expires);

    let row = store
        .tuf_latest("timestamp")
        .await?
        .ok_or(RepoError::NotInitialized)?;
    let timestamp = Unverified::<Timestamp>::parse(&row.body)?.verify(
        "timestamp",
        role(&root, "timestamp")?,
        &root.keys,
    )?;
    expired(
        problems,
        now,
        "timestamp",
        timestamp.version,
        timestamp.expires,
    );
    let meta = timestamp.snapshot_meta()?;
    let row = store
        .tuf_metadata("snapshot", meta.version)
        .await?
        .ok_or_else(|| {
            RepoError::Corrupt(format!(
                "the timestamp names snapshot version {}, which is not stored",
                meta.version
            ))
        })?;
    let hash = meta.hashes.as_ref().and_then(|h| h.get("sha256"));
    if meta.length != Some(row.body.len() as u64) || hash != Some(&sha256_hex(&row.body)) {
        return Err(RepoError::Corrupt(
            "the timestamp's length or hash of the snapshot is not the stored snapshot's".into(),
        ));
    }
    let snapshot = Unverified::<Snapshot>::parse(&row.body)?.verify(
        "snapshot",
        role(&root, "snapshot")?,
        &root.keys,
    )?;
    expired(
        problems,
        now,
        "snapshot",
        snapshot.version,
        snapshot.expires,
    );
    let version = |name: &str| {
        snapshot
            .meta
            .get(&format!("{name}.json"))
            .map(|m| m.version)
    };
    let targets_version = version("targets")
        .ok_or_else(|| RepoError::Corrupt("the snapshot names no targets".into()))?;
    let row = store
        .tuf_metadata("targets", targets_version)
        .await?
        .ok_or_else(|| {
            RepoError::Corrupt(format!("targets version {targets_version} is missing"))
        })?;
    let targets = Unverified::<Targets>::parse(&row.body)?.verify(
        "targets",
        role(&root, "targets")?,
        &root.keys,
    )?;
    expired(problems, now, "targets", targets.version, targets.expires);
    let delegations = targets
        .delegations
        .ok_or_else(|| RepoError::Corrupt("the top-level targets delegates to no bins".into()))?;
    for delegated in &delegations.roles {
        let bin = &delegated.name;
        let Some(bin_version) = version(bin) else {
            problems.push(format!("tuf: the snapshot does not name bin `{bin}`"));
            continue;
        };
        let Some(row) = store.tuf_metadata(bin, bin_version).await? else {
            problems.push(format!("tuf: `{bin}` version {bin_version} is missing"));
            continue;
        };
        let keys = RoleKeys {
            keyids: delegated.keyids.clone(),
            threshold: delegated.threshold,
        };
        let listed = match Unverified::<Targets>::parse(&row.body)
            .and_then(|u| u.verify(bin, &keys, &delegations.keys))
        {
            Ok(listed) => listed,
            Err(e) => {
                problems.push(format!("tuf: `{bin}` version {bin_version}: {e}"));
                continue;
            }
        };
        expired(problems, now, bin, listed.version, listed.expires);
        let current: BTreeMap<String, String> = store
            .tuf_current_in_bin(bin)
            .await?
            .into_iter()
            .map(|c| (c.path, c.sha256))
            .collect();
        for (path, entry) in &listed.targets {
            if !delegated.is_trusted_for(path) {
                problems.push(format!(
                    "tuf: `{bin}` lists `{path}`, which it is not trusted for"
                ));
            }
            let sha256 = entry.hashes.get("sha256").cloned().unwrap_or_default();
            if current.get(path) != Some(&sha256) {
                problems.push(format!(
                    "tuf: `{bin}` lists `{path}` other than the store's current entry"
                ));
                continue;
            }
            match store.tuf_target_body(path, &sha256).await? {
                Some(body) if entry.matches(&body) => {}
                Some(_) => problems.push(format!(
                    "tuf: the stored body of `{path}` does not match its entry"
                )),
                None => problems.push(format!("tuf: the body of `{path}` is missing")),
            }
        }
        for path in current
            .keys()
            .filter(|path| !listed.targets.contains_key(*path))
        {
            problems.push(format!(
                "tuf: `{path}` is current but `{bin}` does not list it"
            ));
        }
    }
    Ok(())
}

/// Records that `role` `version` expired, if it did.
fn expired(
    problems: &mut Vec<String>,
    now: OffsetDateTime,
    role: &str,
    version: u64,
    expires: OffsetDateTime,
) {
    if expires <= now {
        problems.push(format!(
            "tuf: `{role}` version {version} expired at {}",
            crate::json::timestamp(expires)
        ));
    }
}

fn role<'a>(root: &'a Root, name: &str) -> Result<&'a RoleKeys, RepoError> {
    root.roles
        .get(name)
        .ok_or_else(|| RepoError::Corrupt(format!("the root has no `{name}` role")))
}
