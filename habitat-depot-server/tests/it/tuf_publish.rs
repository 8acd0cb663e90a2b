//! The TUF repository as the store holds it: `tuf init`, then uploads, promotions, demotions
//! and key uploads published before they are answered, each version checked with the keys the
//! root names (the independent verifiers read the same metadata over HTTP in `tuf_verify`).

use habitat_core::tuf::layout::{ChannelIndex, bin_of, channel_index_path, origin_key_path};
use habitat_core::tuf::{Root, Snapshot, Targets, Timestamp, Unverified};
use habitat_depot_server::store::{MetadataStore, Visibility};
use habitat_depot_server::tuf::init::{InitOptions, Initialized, init};
use habitat_depot_server::tuf::root::{self, SignOptions};
use reqwest::{Method, StatusCode};
use time::OffsetDateTime;

use super::packages::{World, pack_artifact};
use super::support::*;

const X86_64: habitat_core::PackageTarget = habitat_core::PackageTarget::X86_64Linux;

async fn initialize(w: &World) -> Initialized {
    let state = &w.depot.state;
    init(
        state.metadata.clone(),
        state.artifacts.clone(),
        state.server_key.clone(),
        &InitOptions {
            root_keys: 2,
            threshold: 2,
            keys_out: w.work.path().join("tuf-keys"),
        },
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap()
}

/// Uploads `ident` as the maintainer through the API (the one ingest path).
async fn upload_package(w: &World, ident: &str) {
    let hart = pack_artifact(w.work.path(), ident, X86_64, &[], &w.keys.secret);
    let response = upload(&w.depot, Some(&w.maintainer), ident, &hart).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{ident}");
}

/// The repository as a client that trusts the newest root would see it, every signature
/// checked: the newest root (checked by itself), timestamp, snapshot and targets.
struct Seen {
    root: Root,
    timestamp: Timestamp,
    snapshot: Snapshot,
    targets: Targets,
}

async fn latest_body(store: &dyn MetadataStore, role: &str) -> Vec<u8> {
    store.tuf_latest(role).await.unwrap().unwrap().body
}

/// On PostgreSQL a leader process publishes within a second or two (the tests' depots run no
/// background publisher, so this is one of its cycles); on the embedded store a change is
/// published before it is answered, and this does nothing.
async fn settle(w: &World) {
    if !w.depot.state.settings.metadata.is_embedded() {
        w.depot
            .state
            .tuf
            .cycle(OffsetDateTime::now_utc())
            .await
            .unwrap();
    }
}

async fn seen(store: &dyn MetadataStore) -> Seen {
    let root_bytes = latest_body(store, "root").await;
    let unverified = Unverified::<Root>::parse(&root_bytes).unwrap();
    let root = unverified.peek().clone();
    let root = unverified
        .verify("root", &root.roles["root"], &root.keys)
        .unwrap();
    let check = |role: &str| (root.roles[role].clone(), root.keys.clone());
    let (role, keys) = check("timestamp");
    let timestamp = Unverified::<Timestamp>::parse(&latest_body(store, "timestamp").await)
        .unwrap()
        .verify("timestamp", &role, &keys)
        .unwrap();
    let snapshot_meta = timestamp.snapshot_meta().unwrap().clone();
    let snapshot_row = store
        .tuf_metadata("snapshot", snapshot_meta.version)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Some(snapshot_row.body.len() as u64),
        snapshot_meta.length,
        "the timestamp names the snapshot's length"
    );
    let (role, keys) = check("snapshot");
    let snapshot = Unverified::<Snapshot>::parse(&snapshot_row.body)
        .unwrap()
        .verify("snapshot", &role, &keys)
        .unwrap();
    let targets_version = snapshot.meta["targets.json"].version;
    let targets_row = store
        .tuf_metadata("targets", targets_version)
        .await
        .unwrap()
        .unwrap();
    let (role, keys) = check("targets");
    let targets = Unverified::<Targets>::parse(&targets_row.body)
        .unwrap()
        .verify("targets", &role, &keys)
        .unwrap();
    Seen {
        root,
        timestamp,
        snapshot,
        targets,
    }
}

impl Seen {
    /// The body of target `path` if the bin it hashes to lists it (the bin's version is the
    /// one the snapshot names, its signature the delegation's, the body matches the entry).
    async fn target(&self, store: &dyn MetadataStore, path: &str) -> Option<Vec<u8>> {
        let bin = bin_of(path);
        let delegations = self.targets.delegations.as_ref().unwrap();
        let role = delegations.roles.iter().find(|r| r.name == bin).unwrap();
        assert!(role.is_trusted_for(path));
        let version = self.snapshot.meta[&format!("{bin}.json")].version;
        let row = store.tuf_metadata(&bin, version).await.unwrap().unwrap();
        let role_keys = habitat_core::tuf::RoleKeys {
            keyids: role.keyids.clone(),
            threshold: role.threshold,
        };
        let listed = Unverified::<Targets>::parse(&row.body)
            .unwrap()
            .verify(&bin, &role_keys, &delegations.keys)
            .unwrap();
        let entry = listed.targets.get(path)?.clone();
        let body = store
            .tuf_target_body(path, &entry.hashes["sha256"])
            .await
            .unwrap()
            .unwrap();
        assert!(entry.matches(&body), "{path}: the body matches its entry");
        let by_blake2b = store
            .tuf_target_body(path, &entry.hashes["blake2b-256"])
            .await
            .unwrap();
        assert_eq!(by_blake2b.as_deref(), Some(&body[..]), "{path} by BLAKE2b");
        Some(body)
    }

    async fn index(
        &self,
        store: &dyn MetadataStore,
        channel: &str,
        name: &str,
    ) -> Option<Vec<String>> {
        let path = channel_index_path("acme", channel, name, "x86_64-linux");
        let body = self.target(store, &path).await?;
        let index: ChannelIndex = serde_json::from_slice(&body).unwrap();
        Some(index.releases.iter().map(|r| r.ident.to_string()).collect())
    }
}

#[tokio::test]
async fn init_publishes_what_the_depot_holds_and_writes_the_offline_keys() {
    let w = World::new().await;
    w.depot.publish_key("acme", &w.keys).await;
    upload_package(&w, "acme/web/1.0.0/20240101000000").await;
    upload_package(&w, "acme/web/1.1.0/20240102000000").await;

    let made = initialize(&w).await;
    assert_eq!(made.key_files.len(), 3, "two root keys and the targets key");
    for file in &made.key_files {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    let store = w.depot.state.metadata.as_ref();
    let root_body = store.tuf_metadata("root", 1).await.unwrap().unwrap().body;
    assert_eq!(habitat_core::tuf::sha256_hex(&root_body), made.root_sha256);

    let seen = seen(store).await;
    assert_eq!(seen.root.roles["root"].threshold, 2);
    assert_eq!(seen.root.roles["root"].keyids.len(), 2);
    assert!(seen.root.consistent_snapshot);
    assert_eq!(seen.targets.delegations.as_ref().unwrap().roles.len(), 256);
    assert_eq!(
        seen.index(store, "unstable", "web").await.unwrap(),
        [
            "acme/web/1.1.0/20240102000000",
            "acme/web/1.0.0/20240101000000"
        ],
        "newest first"
    );
    assert_eq!(seen.index(store, "stable", "web").await, None);
    let key_path = origin_key_path(&"acme".parse().unwrap(), w.keys.secret.name().revision());
    assert_eq!(
        seen.target(store, &key_path).await.unwrap(),
        w.keys.public_text.as_bytes()
    );

    let again = init(
        w.depot.state.metadata.clone(),
        w.depot.state.artifacts.clone(),
        w.depot.state.server_key.clone(),
        &InitOptions {
            root_keys: 1,
            threshold: 1,
            keys_out: w.work.path().join("other-keys"),
        },
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap_err();
    assert!(again.to_string().contains("exists already"), "{again}");
}

#[tokio::test]
async fn a_promotion_is_in_the_metadata_when_it_is_answered() {
    let w = World::new().await;
    w.depot.publish_key("acme", &w.keys).await;
    initialize(&w).await;
    let store = w.depot.state.metadata.as_ref();
    let before = seen(store).await.timestamp.version;

    upload_package(&w, "acme/web/1.0.0/20240101000000").await;
    settle(&w).await;
    let after_upload = seen(store).await;
    assert!(after_upload.timestamp.version > before);
    assert_eq!(
        after_upload.index(store, "unstable", "web").await.unwrap(),
        ["acme/web/1.0.0/20240101000000"]
    );

    let promote = "/depot/channels/acme/stable/pkgs/web/1.0.0/20240101000000/promote";
    w.maintain(Method::PUT, promote, StatusCode::OK).await;
    settle(&w).await;
    let promoted = seen(store).await;
    assert_eq!(
        promoted.index(store, "stable", "web").await.unwrap(),
        ["acme/web/1.0.0/20240101000000"]
    );

    let demote = "/depot/channels/acme/stable/pkgs/web/1.0.0/20240101000000/demote";
    w.maintain(Method::PUT, demote, StatusCode::OK).await;
    settle(&w).await;
    let demoted = seen(store).await;
    assert_eq!(demoted.index(store, "stable", "web").await, None, "demoted");
    assert!(demoted.timestamp.version > promoted.timestamp.version);
    assert!(demoted.snapshot.version > promoted.snapshot.version);
}

#[tokio::test]
async fn private_packages_stay_out_and_a_new_key_goes_in() {
    let w = World::new().await;
    w.depot.publish_key("acme", &w.keys).await;
    w.depot
        .create_origin("owner", "secret", Visibility::Private)
        .await;
    initialize(&w).await;
    let store = w.depot.state.metadata.as_ref();

    upload_package(&w, "acme/web/1.0.0/20240101000000").await;
    let package = store
        .package(&"acme/web/1.0.0/20240101000000".parse().unwrap(), X86_64)
        .await
        .unwrap()
        .unwrap();
    store
        .set_visibility(package.id, Visibility::Private)
        .await
        .unwrap();
    w.depot
        .state
        .tuf
        .cycle(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(
        seen(store).await.index(store, "unstable", "web").await,
        None
    );

    let keys = origin_keys(w.work.path(), "secret");
    let response = w
        .depot
        .request(
            Method::POST,
            &format!(
                "/depot/origins/secret/keys/{}",
                keys.secret.name().revision()
            ),
            Some(&w.owner),
        )
        .body(keys.public_text.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    settle(&w).await;
    let path = origin_key_path(&"secret".parse().unwrap(), keys.secret.name().revision());
    assert_eq!(
        seen(store).await.target(store, &path).await.unwrap(),
        keys.public_text.as_bytes(),
        "a private origin's public key is public"
    );
}

#[tokio::test]
async fn what_is_about_to_expire_is_signed_again() {
    let w = World::new().await;
    let status = w.get("/status", StatusCode::OK).await;
    assert_eq!(status["tuf"], serde_json::Value::Null, "{status}");
    initialize(&w).await;
    let status = w.get("/status", StatusCode::OK).await;
    assert_eq!(status["artifacts"], "ok", "{status}");
    assert_eq!(
        status["tuf"]["nearest_expiry"]["role"], "timestamp",
        "{status}"
    );
    let store = w.depot.state.metadata.as_ref();
    let first = seen(store).await;
    let publisher = &w.depot.state.tuf;

    let now = OffsetDateTime::now_utc();
    let quiet = publisher.cycle(now).await.unwrap();
    assert_eq!(quiet.timestamp, None, "nothing changed, nothing expires");

    let cycle = publisher
        .cycle(now + time::Duration::hours(13))
        .await
        .unwrap();
    assert_eq!(cycle.timestamp, Some(first.timestamp.version + 1));
    let resigned = seen(store).await;
    assert_eq!(
        resigned.snapshot.version, first.snapshot.version,
        "only the timestamp"
    );

    // A publisher that has looked at the bins lately looks again ten minutes later; a new one
    // looks at once.
    let fresh = habitat_depot_server::tuf::publish::Publisher::new(
        w.depot.state.metadata.clone(),
        w.depot.state.artifacts.clone(),
        w.depot.state.server_key.clone(),
    );
    let cycle = fresh.cycle(now + time::Duration::days(4)).await.unwrap();
    assert_eq!(cycle.bins, 256, "every bin expires within 3.5 days");
    let later = seen(store).await;
    assert!(later.snapshot.version > resigned.snapshot.version);
    assert!(later.snapshot.expires > resigned.snapshot.expires);
}

#[tokio::test]
async fn a_new_root_and_online_key_are_signed_offline_and_published() {
    let w = World::new().await;
    w.depot.publish_key("acme", &w.keys).await;
    upload_package(&w, "acme/web/1.0.0/20240101000000").await;
    initialize(&w).await;
    let store = w.depot.state.metadata.as_ref();
    let old = seen(store).await;
    let old_root = store.tuf_metadata("root", 1).await.unwrap().unwrap().body;
    let old_targets = latest_body(store, "targets").await;
    let keys = w.work.path().join("tuf-keys");
    let out = w.work.path().join("next");

    // One root key alone is below the threshold of two.
    let lonely = w.work.path().join("one-key");
    std::fs::create_dir_all(&lonely).unwrap();
    std::fs::copy(keys.join("root-1.key.json"), lonely.join("root-1.key.json")).unwrap();
    let error = root::sign(
        &old_root,
        None,
        &lonely,
        &SignOptions::default(),
        &w.work.path().join("refused"),
        OffsetDateTime::now_utc(),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("1 valid signature(s) of the 2 required"),
        "{error}"
    );

    let options = SignOptions {
        new_root_keys: Some(1),
        threshold: Some(1),
        rotate_online: true,
    };
    let signed = root::sign(
        &old_root,
        Some(&old_targets),
        &keys,
        &options,
        &out,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_eq!(signed.version, 2);
    let published = root::publish(
        store,
        &w.depot.state.tuf,
        &w.depot.state.server_key,
        &out,
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(published, 2);

    let new = seen(store).await;
    assert_eq!(new.root.version, 2);
    assert_eq!(new.root.roles["root"].threshold, 1);
    assert_ne!(new.root.roles["root"].keyids, old.root.roles["root"].keyids);
    assert_ne!(
        new.root.roles["timestamp"].keyids, old.root.roles["timestamp"].keyids,
        "a new online key"
    );
    assert_eq!(new.targets.version, old.targets.version + 1);
    // Version 2 verifies with version 1's root keys too: a client that pinned 1 follows.
    let v2 = store.tuf_metadata("root", 2).await.unwrap().unwrap().body;
    Unverified::<Root>::parse(&v2)
        .unwrap()
        .verify("root", &old.root.roles["root"], &old.root.keys)
        .unwrap();
    // Bins are signed by the new online key, which the new targets delegates to.
    assert_eq!(
        new.index(store, "unstable", "web").await.unwrap(),
        ["acme/web/1.0.0/20240101000000"]
    );
    // And the publisher goes on with the new key.
    let promote = "/depot/channels/acme/stable/pkgs/web/1.0.0/20240101000000/promote";
    w.maintain(Method::PUT, promote, StatusCode::OK).await;
    settle(&w).await;
    assert!(
        seen(store)
            .await
            .index(store, "stable", "web")
            .await
            .is_some()
    );
}

#[tokio::test]
async fn fsck_checks_signatures_expiries_and_the_indexes_against_the_database() {
    use habitat_depot_server::store::TufPublish;
    use habitat_depot_server::tuf::check::check;

    let w = World::new().await;
    w.depot.publish_key("acme", &w.keys).await;
    upload_package(&w, "acme/web/1.0.0/20240101000000").await;
    initialize(&w).await;
    let store = w.depot.state.metadata.as_ref();
    let publisher = &w.depot.state.tuf;
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        check(store, publisher, now).await.unwrap(),
        Vec::<String>::new()
    );
    let report = habitat_depot_server::fsck::check(&w.depot.state, false)
        .await
        .unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);

    let later = check(store, publisher, now + time::Duration::days(2))
        .await
        .unwrap();
    assert!(
        later
            .iter()
            .any(|p| p.starts_with("tuf: `timestamp` version") && p.contains("expired at")),
        "{later:?}"
    );

    // The index of `unstable` taken out of the store's current targets behind the bins' back.
    let path = channel_index_path("acme", "unstable", "web", "x86_64-linux");
    store
        .tuf_publish(TufPublish {
            removals: vec![path.clone()],
            ..TufPublish::default()
        })
        .await
        .unwrap();
    let problems = check(store, publisher, now).await.unwrap();
    assert!(
        problems.contains(&format!("tuf: target `{path}` does not match the database")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("lists") && p.contains(&path)),
        "the bin lists what is no longer current: {problems:?}"
    );
    let report = habitat_depot_server::fsck::check(&w.depot.state, false)
        .await
        .unwrap();
    assert!(!report.is_clean());
}
