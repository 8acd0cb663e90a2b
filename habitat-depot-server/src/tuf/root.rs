//! Root rotation (`hab-depot tuf root sign|publish|status`): a new root version, signed on a
//! machine holding the offline keys, then published by the depot.
//!
//! [`sign`] needs no depot: it reads the current root (and the current top-level targets when
//! the online key is replaced), the offline key files, and writes the new files to a folder.
//! [`publish`] checks that folder against the depot's current root (the new root must be signed
//! by a threshold of the old root's keys and of its own), stores it, and re-signs every bin,
//! the snapshot and the timestamp, with the new online key when there is one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use habitat_core::tuf::layout::{self, ROOT_DAYS, TARGETS_DAYS};
use habitat_core::tuf::metadata::expiry;
use habitat_core::tuf::{self, Key, Root, Targets, Unverified};
use time::OffsetDateTime;

use super::publish::{Publisher, metadata_bytes};
use super::{RepoError, keys};
use crate::store::{MetadataStore, TufMetadataRow};

/// The file the new online key is written to by [`sign`] and read from by [`publish`].
pub const ONLINE_KEY_FILE: &str = "online.key.json";

/// What the new root changes.
#[derive(Clone, Debug, Default)]
pub struct SignOptions {
    /// Replaces the root keys with this many new ones (written to the output folder).
    pub new_root_keys: Option<u32>,
    /// The new root threshold [default: the current one].
    pub threshold: Option<u32>,
    /// Replaces the online key (bins, snapshot, timestamp); needs the current top-level
    /// targets and the targets key, since the targets role delegates to the online key.
    pub rotate_online: bool,
}

/// What [`sign`] wrote.
#[derive(Clone, Debug)]
pub struct RootFiles {
    /// The new root's version.
    pub version: u64,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// Signs a new root version from `current_root` with the offline keys in `keys_dir`, writing
/// `{version}.root.json` (and, when the online key is replaced, the new online key and a new
/// top-level targets) to `out`.
pub fn sign(
    current_root: &[u8],
    current_targets: Option<&[u8]>,
    keys_dir: &Path,
    options: &SignOptions,
    out: &Path,
    now: OffsetDateTime,
) -> Result<RootFiles, RepoError> {
    let old = trusted_by_itself(current_root)?;
    let offline: BTreeMap<String, SigningKey> = keys::read_key_dir(keys_dir)?
        .into_iter()
        .map(|key| (Key::ed25519(&key.verifying_key()).id(), key))
        .collect();
    std::fs::create_dir_all(out)
        .map_err(|e| RepoError::KeyFile(format!("cannot create `{}`: {e}", out.display())))?;
    let mut files = Vec::new();

    let mut root = old.clone();
    root.version += 1;
    root.expires = expiry(now, ROOT_DAYS);
    let mut new_root_keys = Vec::new();
    if let Some(count) = options.new_root_keys {
        let mut ids = Vec::new();
        for n in 0..count {
            let key = keys::generate()?;
            let name = format!("root-v{}-{}.key", root.version, n + 1);
            files.push(keys::write_key_file(out, &name, &key)?);
            let public = Key::ed25519(&key.verifying_key());
            ids.push(public.id());
            root.keys.insert(public.id(), public);
            new_root_keys.push(key);
        }
        set_role_keys(&mut root, "root", ids);
    }
    if let Some(threshold) = options.threshold
        && let Some(role) = root.roles.get_mut("root")
    {
        role.threshold = threshold;
    }
    if options.rotate_online {
        let online = keys::generate()?;
        files.push(keys::write_key_file(out, "online.key", &online)?);
        let public = Key::ed25519(&online.verifying_key());
        root.keys.insert(public.id(), public.clone());
        set_role_keys(&mut root, "snapshot", vec![public.id()]);
        set_role_keys(&mut root, "timestamp", vec![public.id()]);
        let current = current_targets.ok_or_else(|| {
            RepoError::KeyFile(
                "replacing the online key needs the current top-level targets".into(),
            )
        })?;
        let current = Unverified::<Targets>::parse(current)?.verify(
            "targets",
            role_keys(&old, "targets")?,
            &old.keys,
        )?;
        let targets_key = signer_for(&offline, role_keys(&old, "targets")?).ok_or_else(|| {
            RepoError::KeyFile(format!(
                "no key in `{}` is the targets role's key",
                keys_dir.display()
            ))
        })?;
        let document = Targets {
            version: current.version + 1,
            expires: expiry(now, TARGETS_DAYS),
            delegations: Some(layout::bin_delegations(&public)),
            ..current
        };
        let signed = tuf::sign(document, &[targets_key])?;
        let name = layout::metadata_file("targets", signed.signed.version);
        files.push(write_file(out, &name, &metadata_bytes(&signed)?)?);
    }
    drop_unused_keys(&mut root);

    // Signed by enough of the old root keys, and by enough of the new ones.
    let mut signers: Vec<&SigningKey> = Vec::new();
    for keyid in &role_keys(&old, "root")?.keyids {
        if let Some(key) = offline.get(keyid) {
            signers.push(key);
        }
    }
    signers.extend(new_root_keys.iter());
    for keyid in &role_keys(&root, "root")?.keyids {
        if let Some(key) = offline.get(keyid)
            && !signers
                .iter()
                .any(|s| Key::ed25519(&s.verifying_key()).id() == *keyid)
        {
            signers.push(key);
        }
    }
    let signed = tuf::sign(root, &signers)?;
    let bytes = metadata_bytes(&signed)?;
    check_chain(&old, &bytes)?;
    let name = layout::metadata_file("root", signed.signed.version);
    files.push(write_file(out, &name, &bytes)?);
    Ok(RootFiles {
        version: signed.signed.version,
        files,
    })
}

/// Publishes the root that [`sign`] wrote to `dir`: checks it against the depot's current
/// root, stores it (with the new targets and online key when there are), and re-signs every
/// bin, the snapshot and the timestamp.
pub async fn publish(
    store: &dyn MetadataStore,
    publisher: &Publisher,
    server_key: &crate::crypto::ServerKey,
    dir: &Path,
    now: OffsetDateTime,
) -> Result<u64, RepoError> {
    let current_row = store
        .tuf_latest("root")
        .await?
        .ok_or(RepoError::NotInitialized)?;
    let old = trusted_by_itself(&current_row.body)?;
    let version = old.version + 1;
    let path = dir.join(layout::metadata_file("root", version));
    let bytes = std::fs::read(&path).map_err(|e| {
        RepoError::KeyFile(format!(
            "cannot read `{}` (the next root version): {e}",
            path.display()
        ))
    })?;
    let new = check_chain(&old, &bytes)?;
    let mut rows = vec![TufMetadataRow {
        role: "root".into(),
        version,
        body: bytes,
        expires_at: new.expires,
    }];

    let online_id = role_keys(&new, "timestamp")?.keyids.first().cloned();
    let mut online = keys::online_key(store, server_key).await?;
    if online_id.as_deref() != Some(Key::ed25519(&online.verifying_key()).id().as_str()) {
        let key = keys::read_key_file(&dir.join(ONLINE_KEY_FILE))?;
        if Some(Key::ed25519(&key.verifying_key()).id()) != online_id {
            return Err(RepoError::KeyFile(format!(
                "`{}` is not the key the new root gives the timestamp role",
                dir.join(ONLINE_KEY_FILE).display()
            )));
        }
        let targets_row = store
            .tuf_latest("targets")
            .await?
            .ok_or(RepoError::NotInitialized)?;
        let targets_version = targets_row.version + 1;
        let targets_path = dir.join(layout::metadata_file("targets", targets_version));
        let targets_bytes = std::fs::read(&targets_path).map_err(|e| {
            RepoError::KeyFile(format!("cannot read `{}`: {e}", targets_path.display()))
        })?;
        let targets = Unverified::<Targets>::parse(&targets_bytes)?.verify(
            "targets",
            role_keys(&new, "targets")?,
            &new.keys,
        )?;
        if targets.version != targets_version {
            return Err(RepoError::KeyFile(format!(
                "`{}` has version {}, expected {targets_version}",
                targets_path.display(),
                targets.version
            )));
        }
        rows.push(TufMetadataRow {
            role: "targets".into(),
            version: targets_version,
            body: targets_bytes,
            expires_at: targets.expires,
        });
        keys::store_online_key(store, server_key, &key).await?;
        online = key;
    }
    publisher.resign_all(now, rows, &online).await?;
    Ok(version)
}

/// The state of each role: its newest version and when it expires.
#[derive(Clone, Debug)]
pub struct RoleState {
    /// The role.
    pub role: String,
    /// Its newest version.
    pub version: u64,
    /// When that version expires.
    pub expires_at: OffsetDateTime,
}

/// The newest version and expiry of root, targets, snapshot and timestamp, and of the bin
/// that expires first.
pub async fn status(store: &dyn MetadataStore) -> Result<Vec<RoleState>, RepoError> {
    let mut states = Vec::new();
    for role in ["root", "targets", "snapshot", "timestamp"] {
        let row = store
            .tuf_latest(role)
            .await?
            .ok_or(RepoError::NotInitialized)?;
        states.push(RoleState {
            role: role.into(),
            version: row.version,
            expires_at: row.expires_at,
        });
    }
    let first_bin = store
        .tuf_latest_versions()
        .await?
        .into_iter()
        .filter(|row| row.role.starts_with("bin-"))
        .min_by_key(|row| row.expires_at);
    states.extend(first_bin.map(|row| RoleState {
        role: row.role,
        version: row.version,
        expires_at: row.expires_at,
    }));
    Ok(states)
}

/// A root document checked against its own root role (a root read from the depot's store or
/// given on the command line).
fn trusted_by_itself(bytes: &[u8]) -> Result<Root, RepoError> {
    let unverified = Unverified::<Root>::parse(bytes)?;
    let root = unverified.peek().clone();
    unverified.check("root", role_keys(&root, "root")?, &root.keys)?;
    Ok(root)
}

/// Checks `bytes`, a new root, against `old`: one version more, signed by a threshold of the
/// old root keys and a threshold of its own.
fn check_chain(old: &Root, bytes: &[u8]) -> Result<Root, RepoError> {
    let unverified = Unverified::<Root>::parse(bytes)?;
    unverified.check("root", role_keys(old, "root")?, &old.keys)?;
    let new = unverified.peek().clone();
    unverified.check("root", role_keys(&new, "root")?, &new.keys)?;
    if new.version != old.version + 1 {
        return Err(RepoError::KeyFile(format!(
            "the new root has version {}, expected {}",
            new.version,
            old.version + 1
        )));
    }
    Ok(new)
}

fn role_keys<'a>(root: &'a Root, role: &str) -> Result<&'a tuf::RoleKeys, RepoError> {
    root.roles
        .get(role)
        .ok_or_else(|| RepoError::Corrupt(format!("the root has no `{role}` role")))
}

fn set_role_keys(root: &mut Root, role: &str, keyids: Vec<String>) {
    if let Some(keys) = root.roles.get_mut(role) {
        keys.keyids = keyids;
    }
}

/// Removes the keys no role uses any more.
fn drop_unused_keys(root: &mut Root) {
    let used: Vec<String> = root
        .roles
        .values()
        .flat_map(|role| role.keyids.iter().cloned())
        .collect();
    root.keys.retain(|id, _| used.contains(id));
}

fn signer_for<'a>(
    offline: &'a BTreeMap<String, SigningKey>,
    role: &tuf::RoleKeys,
) -> Option<&'a SigningKey> {
    role.keyids.iter().find_map(|id| offline.get(id))
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, RepoError> {
    let path = dir.join(name);
    habitat_core::fs::write_once(&path, bytes, 0o644)
        .map_err(|e| RepoError::KeyFile(e.to_string()))?;
    Ok(path)
}
