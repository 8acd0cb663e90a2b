//! The verifiers against a repository signed with the metadata types of `habitat_core::tuf`
//! and laid out with its `layout` (bins, target paths), served as static files: the depot's
//! documents, canonical JSON, key ids and signatures as the independent clients read them,
//! apart from the store and the publisher.

use std::collections::BTreeMap;
use std::path::Path;

use ed25519_dalek::SigningKey;
use habitat_core::tuf::layout::{
    self, ONLINE_DAYS, ROOT_DAYS, TARGETS_DAYS, TIMESTAMP_DAYS, bin_delegations, bin_of,
    channel_index_path,
};
use habitat_core::tuf::metadata::expiry;
use habitat_core::tuf::{
    Key, MetaFile, Role, RoleKeys, Root, SPEC_VERSION, Snapshot, Targets, Timestamp, sha256_hex,
    sign, target_file,
};
use habitat_test_support::proxy::Proxy;
use habitat_test_support::tuf::StaticFiles;
use time::OffsetDateTime;

use super::Clients;

/// Writes `document` signed by `keys` as `metadata/{file}` under `dir`; returns its bytes.
fn write<T: Role>(dir: &Path, file: &str, document: T, keys: &[&SigningKey]) -> Vec<u8> {
    let signed = sign(document, keys).unwrap();
    let bytes = serde_json::to_vec(&signed).unwrap();
    std::fs::write(dir.join("metadata").join(file), &bytes).unwrap();
    bytes
}

/// Writes `body` as the target `path` under both of its hashed names.
fn write_target(dir: &Path, path: &str, body: &[u8]) {
    let (folder, name) = path.rsplit_once('/').unwrap();
    let folder = dir.join("targets").join(folder);
    std::fs::create_dir_all(&folder).unwrap();
    for hash in target_file(body).hashes.values() {
        std::fs::write(folder.join(format!("{hash}.{name}")), body).unwrap();
    }
}

#[tokio::test]
async fn a_repository_of_the_core_types_verifies_with_both_clients() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("metadata")).unwrap();
    let now = OffsetDateTime::now_utc();
    let [root_key, targets_key, online] = [1u8, 2, 3].map(|n| SigningKey::from_bytes(&[n; 32]));
    let key = |k: &SigningKey| Key::ed25519(&k.verifying_key());
    let role = |k: &SigningKey| RoleKeys {
        keyids: vec![key(k).id()],
        threshold: 1,
    };
    let root = Root {
        type_name: "root".into(),
        spec_version: SPEC_VERSION.into(),
        version: 1,
        expires: expiry(now, ROOT_DAYS),
        consistent_snapshot: true,
        keys: [&root_key, &targets_key, &online]
            .map(|k| (key(k).id(), key(k)))
            .into(),
        roles: BTreeMap::from([
            ("root".into(), role(&root_key)),
            ("targets".into(), role(&targets_key)),
            ("snapshot".into(), role(&online)),
            ("timestamp".into(), role(&online)),
        ]),
    };
    write(dir.path(), "1.root.json", root, &[&root_key]);
    let targets = Targets {
        type_name: "targets".into(),
        spec_version: SPEC_VERSION.into(),
        version: 1,
        expires: expiry(now, TARGETS_DAYS),
        targets: BTreeMap::new(),
        delegations: Some(bin_delegations(&key(&online))),
    };
    write(dir.path(), "1.targets.json", targets, &[&targets_key]);

    let index = channel_index_path("core", "stable", "redis", "x86_64-linux");
    let key_path = "keys/core/core-20190101000000.pub";
    let bodies: [(&str, &[u8]); 2] = [
        (&index, br#"{"origin":"core","releases":[]}"#),
        (key_path, b"SIG-PUB-1\ncore-20190101000000\n\nAAAA\n"),
    ];
    let mut meta = BTreeMap::from([("targets.json".to_string(), version_only(1))]);
    for bin in layout::bin_names() {
        let listed = bodies
            .iter()
            .filter(|(path, _)| bin_of(path) == bin)
            .map(|(path, body)| (path.to_string(), target_file(body)))
            .collect();
        let document = Targets {
            type_name: "targets".into(),
            spec_version: SPEC_VERSION.into(),
            version: 1,
            expires: expiry(now, ONLINE_DAYS),
            targets: listed,
            delegations: None,
        };
        write(dir.path(), &format!("1.{bin}.json"), document, &[&online]);
        meta.insert(format!("{bin}.json"), version_only(1));
    }
    for (path, body) in bodies {
        write_target(dir.path(), path, body);
    }
    let snapshot = Snapshot {
        type_name: "snapshot".into(),
        spec_version: SPEC_VERSION.into(),
        version: 1,
        expires: expiry(now, ONLINE_DAYS),
        meta,
    };
    let snapshot = write(dir.path(), "1.snapshot.json", snapshot, &[&online]);
    let timestamp = Timestamp {
        type_name: "timestamp".into(),
        spec_version: SPEC_VERSION.into(),
        version: 1,
        expires: expiry(now, TIMESTAMP_DAYS),
        meta: BTreeMap::from([(
            "snapshot.json".to_string(),
            MetaFile {
                version: 1,
                length: Some(snapshot.len() as u64),
                hashes: Some(BTreeMap::from([(
                    "sha256".to_string(),
                    sha256_hex(&snapshot),
                )])),
            },
        )]),
    };
    write(dir.path(), "timestamp.json", timestamp, &[&online]);

    let files = StaticFiles::start(dir.path()).await;
    let proxy = Proxy::start(&files.url).await;
    let clients = Clients::new(&dir.path().join("metadata/1.root.json"));
    let base = format!("{}/v1/tuf", proxy.url);
    let read = Clients::accepted(clients.run(&base, &[&index, key_path]).await);
    assert_eq!(read[0], bodies[0].1);
    assert_eq!(read[1], bodies[1].1);
}

/// A snapshot entry with the version only (the depot writes no length or hashes there).
fn version_only(version: u64) -> MetaFile {
    MetaFile {
        version,
        length: None,
        hashes: None,
    }
}
