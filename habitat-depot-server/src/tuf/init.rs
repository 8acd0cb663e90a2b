//! `hab-depot tuf init`: the keys, the first root, the top-level targets delegating to the
//! bins, and the first bins, snapshot and timestamp; then every origin's indexes and keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use habitat_core::tuf::layout::{self, ONLINE_DAYS, ROOT_DAYS, TARGETS_DAYS};
use habitat_core::tuf::metadata::expiry;
use habitat_core::tuf::{self, Key, RoleKeys, Root, SPEC_VERSION, Snapshot, Targets};
use time::OffsetDateTime;

use super::publish::{Cycle, Publisher, meta_version, metadata_bytes, signed_row, timestamp_for};
use super::{RepoError, keys};
use crate::crypto::ServerKey;
use crate::store::{ArtifactStore, MetadataStore, TufMetadataRow, TufPublish};

/// What `tuf init` makes.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// How many root keys.
    pub root_keys: u32,
    /// How many of them must sign a root.
    pub threshold: u32,
    /// Where the offline keys (root, targets) are written.
    pub keys_out: PathBuf,
}

/// What `tuf init` did.
#[derive(Clone, Debug)]
pub struct Initialized {
    /// The SHA-256 of `1.root.json`, for clients to pin (`hab depot trust --root-sha256`).
    pub root_sha256: String,
    /// The key files written.
    pub key_files: Vec<PathBuf>,
    /// The first publication of the depot's packages and keys.
    pub published: Cycle,
}

/// Creates the depot's TUF repository.
pub async fn init(
    store: Arc<dyn MetadataStore>,
    artifacts: Arc<dyn ArtifactStore>,
    server_key: Arc<ServerKey>,
    options: &InitOptions,
    now: OffsetDateTime,
) -> Result<Initialized, RepoError> {
    if options.root_keys == 0 || options.threshold == 0 || options.threshold > options.root_keys {
        return Err(RepoError::KeyFile(format!(
            "a threshold of {} with {} root key(s): it must be between 1 and the number of keys",
            options.threshold, options.root_keys
        )));
    }
    if store.tuf_initialized().await? {
        return Err(RepoError::AlreadyInitialized);
    }
    create_private_dir(&options.keys_out)?;

    let root_keys: Vec<SigningKey> = (0..options.root_keys)
        .map(|_| keys::generate())
        .collect::<Result<_, _>>()?;
    let targets_key = keys::generate()?;
    let online = keys::generate()?;
    let mut key_files = Vec::new();
    for (n, key) in root_keys.iter().enumerate() {
        key_files.push(keys::write_key_file(
            &options.keys_out,
            &format!("root-{}.key", n + 1),
            key,
        )?);
    }
    key_files.push(keys::write_key_file(
        &options.keys_out,
        "targets.key",
        &targets_key,
    )?);

    let root = first_root(&root_keys, options.threshold, &targets_key, &online, now);
    let root_signers: Vec<&SigningKey> = root_keys.iter().collect();
    let root_signed = tuf::sign(root, &root_signers)?;
    let root_body = metadata_bytes(&root_signed)?;
    let root_sha256 = tuf::sha256_hex(&root_body);

    let mut metadata = vec![TufMetadataRow {
        role: "root".into(),
        version: 1,
        body: root_body,
        expires_at: root_signed.signed.expires,
    }];
    let online_key = Key::ed25519(&online.verifying_key());
    metadata.push(signed_row(
        "targets",
        Targets {
            type_name: "targets".into(),
            spec_version: SPEC_VERSION.into(),
            version: 1,
            expires: expiry(now, TARGETS_DAYS),
            targets: BTreeMap::new(),
            delegations: Some(layout::bin_delegations(&online_key)),
        },
        &targets_key,
    )?);
    let mut meta = BTreeMap::from([("targets.json".to_string(), meta_version(1))]);
    for bin in layout::bin_names() {
        metadata.push(signed_row(
            &bin,
            Targets {
                type_name: "targets".into(),
                spec_version: SPEC_VERSION.into(),
                version: 1,
                expires: expiry(now, ONLINE_DAYS),
                targets: BTreeMap::new(),
                delegations: None,
            },
            &online,
        )?);
        meta.insert(format!("{bin}.json"), meta_version(1));
    }
    let snapshot = signed_row(
        "snapshot",
        Snapshot {
            type_name: "snapshot".into(),
            spec_version: SPEC_VERSION.into(),
            version: 1,
            expires: expiry(now, ONLINE_DAYS),
            meta,
        },
        &online,
    )?;
    let timestamp = signed_row("timestamp", timestamp_for(1, &snapshot, now), &online)?;
    metadata.extend([snapshot, timestamp]);

    keys::store_online_key(store.as_ref(), &server_key, &online).await?;
    store
        .tuf_publish(TufPublish {
            consumed: Vec::new(),
            upserts: Vec::new(),
            removals: Vec::new(),
            metadata,
        })
        .await?;

    let publisher = Publisher::new(store, artifacts, server_key);
    publisher.backfill().await?;
    let published = publisher.rebuild(now).await?;
    Ok(Initialized {
        root_sha256,
        key_files,
        published,
    })
}

/// Version 1 of the root: `root_keys` with `threshold`, the targets key, and the online key for
/// snapshot and timestamp.
fn first_root(
    root_keys: &[SigningKey],
    threshold: u32,
    targets_key: &SigningKey,
    online: &SigningKey,
    now: OffsetDateTime,
) -> Root {
    let mut keys = BTreeMap::new();
    let mut ids = |signing: &[&SigningKey]| -> Vec<String> {
        signing
            .iter()
            .map(|key| {
                let key = Key::ed25519(&key.verifying_key());
                let id = key.id();
                keys.insert(id.clone(), key);
                id
            })
            .collect()
    };
    let root_ids = ids(&root_keys.iter().collect::<Vec<_>>());
    let targets_ids = ids(&[targets_key]);
    let online_ids = ids(&[online]);
    let role = |keyids: Vec<String>, threshold| RoleKeys { keyids, threshold };
    Root {
        type_name: "root".into(),
        spec_version: SPEC_VERSION.into(),
        version: 1,
        expires: expiry(now, ROOT_DAYS),
        consistent_snapshot: true,
        roles: BTreeMap::from([
            ("root".to_string(), role(root_ids, threshold)),
            ("targets".to_string(), role(targets_ids, 1)),
            ("snapshot".to_string(), role(online_ids.clone(), 1)),
            ("timestamp".to_string(), role(online_ids, 1)),
        ]),
        keys,
    }
}

/// Creates `dir` (mode 0700) if it is missing.
fn create_private_dir(dir: &Path) -> Result<(), RepoError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| RepoError::KeyFile(format!("cannot create `{}`: {e}", dir.display())))
}
