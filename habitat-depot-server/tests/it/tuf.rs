//! The TUF repository's storage and serving: the outbox rows each change writes (and does not
//! write before the repository is initialized), publishes, reads and collection, on both
//! metadata stores (PostgreSQL when the test run has it); the backfill of release facts; and
//! the metadata and target routes over HTTP.

use habitat_core::{Blake2bHash, ChannelName, OriginName, PackageTarget};
use habitat_depot_server::store::postgres::PostgresStore;
use habitat_depot_server::store::sqlite::SqliteStore;
use habitat_depot_server::store::{
    ChannelAction, MetadataStore, Package, StoreError, TufCollected, TufCurrent, TufMetadataRow,
    TufPublish, TufScope, TufTargetUpsert, Visibility,
};
use habitat_depot_server::tuf::backfill;
use habitat_test_support::postgres::database;
use reqwest::Method;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::datetime;

use super::packages::seed_package;
use super::support::*;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn origin(name: &str) -> OriginName {
    name.parse().unwrap()
}

fn channel(name: &str) -> ChannelName {
    name.parse().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    habitat_core::hash::hex(&Sha256::digest(bytes))
}

/// Each store to test: SQLite in `dir`, and PostgreSQL when the run has it.
async fn stores(dir: &tempfile::TempDir) -> Vec<Box<dyn MetadataStore>> {
    let sqlite = SqliteStore::open(&dir.path().join("depot.sqlite")).unwrap();
    let mut stores: Vec<Box<dyn MetadataStore>> = vec![Box::new(sqlite)];
    if let Some(url) = database().await {
        stores.push(Box::new(PostgresStore::connect(&url, 4).await.unwrap()));
    }
    stores
}

/// A metadata version of `role`, its body naming both.
fn version(role: &str, version: u64) -> TufMetadataRow {
    TufMetadataRow {
        role: role.to_owned(),
        version,
        body: format!("{{\"role\":\"{role}\",\"version\":{version}}}").into_bytes(),
        expires_at: datetime!(2030-01-02 03:04:05 UTC),
    }
}

/// A target `path` in `bin` with `body`.
fn target(path: &str, bin: &str, body: &str) -> TufTargetUpsert {
    TufTargetUpsert {
        current: TufCurrent {
            path: path.to_owned(),
            bin: bin.to_owned(),
            sha256: sha256(body.as_bytes()),
            blake2b: Blake2bHash::digest(body.as_bytes()).to_string(),
            length: body.len() as u64,
        },
        body: body.as_bytes().to_vec(),
    }
}

/// Initializes the repository: the first root and timestamp.
async fn initialize(store: &dyn MetadataStore) {
    store
        .tuf_publish(TufPublish {
            metadata: vec![version("root", 1), version("timestamp", 1)],
            ..TufPublish::default()
        })
        .await
        .unwrap();
}

/// The outbox rows waiting, as (origin, scope); they are consumed.
async fn drain(store: &dyn MetadataStore) -> Vec<(String, TufScope)> {
    let changes = store.tuf_changes(1000).await.unwrap();
    store
        .tuf_publish(TufPublish {
            consumed: changes.iter().map(|c| c.id).collect(),
            ..TufPublish::default()
        })
        .await
        .unwrap();
    assert!(store.tuf_changes(1000).await.unwrap().is_empty());
    changes
        .into_iter()
        .map(|c| (c.origin.to_string(), c.scope))
        .collect()
}

fn package(name: &str, visibility: Visibility) -> Package {
    Package {
        visibility,
        ..package_row(&format!("core/{name}/1.0.0/20200101000000"))
    }
}

/// What each change writes into the outbox: nothing before the repository is initialized,
/// then one row per changed name of a public release, key upload, channel or origin deletion.
async fn outbox_rows_follow_the_changes(store: &dyn MetadataStore) {
    let pkg = |name: &str| ("core".to_owned(), TufScope::Package(name.to_owned()));
    let core = origin("core");
    let (stable, unstable) = (channel("stable"), channel("unstable"));
    let alice = store.create_account("alice", None).await.unwrap();
    store
        .create_origin(&core, alice.id, Visibility::Public)
        .await
        .unwrap();

    // Before `tuf init`: an upload and a promote write nothing.
    let redis = store
        .insert_package(&package("redis", Visibility::Public))
        .await
        .unwrap();
    let promote = |id| store.change_channel(id, &core, &stable, ChannelAction::Promote, "alice");
    promote(redis.id).await.unwrap();
    assert!(!store.tuf_initialized().await.unwrap());
    assert_eq!(store.tuf_changes(10).await.unwrap(), []);

    initialize(store).await;
    assert!(store.tuf_initialized().await.unwrap());
    assert_eq!(drain(store).await, []);

    // A promote writes one row; promoting again (no change) none; a demote one.
    let newer = Package {
        ident: "core/redis/2.0.0/20210101000000".parse().unwrap(),
        checksum: Blake2bHash::digest(b"redis 2"),
        ..package("redis", Visibility::Public)
    };
    let newer = store.insert_package(&newer).await.unwrap();
    assert_eq!(drain(store).await, [pkg("redis")], "upload");
    promote(newer.id).await.unwrap();
    assert_eq!(drain(store).await, [pkg("redis")], "promote");
    promote(newer.id).await.unwrap();
    assert_eq!(drain(store).await, [], "promote again");
    store
        .change_channel(newer.id, &core, &stable, ChannelAction::Demote, "alice")
        .await
        .unwrap();
    assert_eq!(drain(store).await, [pkg("redis")], "demote");

    // Private releases are in no index: their changes write nothing, until one becomes
    // public or private.
    let secret = store
        .insert_package(&package("secret", Visibility::Private))
        .await
        .unwrap();
    promote(secret.id).await.unwrap();
    assert_eq!(drain(store).await, [], "private");
    store
        .set_visibility(secret.id, Visibility::Private)
        .await
        .unwrap();
    assert_eq!(drain(store).await, [], "visibility unchanged");
    store
        .set_visibility(secret.id, Visibility::Public)
        .await
        .unwrap();
    assert_eq!(drain(store).await, [pkg("secret")], "made public");
    store
        .set_visibility(secret.id, Visibility::Private)
        .await
        .unwrap();
    assert_eq!(drain(store).await, [pkg("secret")], "made private");

    // Bulk changes: one row per changed public name.
    let tools: Vec<Package> = ["1.0.0", "1.1.0"]
        .iter()
        .map(|v| package_row(&format!("core/tool/{v}/20200101000000")))
        .collect();
    store.import_packages(&tools).await.unwrap();
    assert_eq!(drain(store).await, [pkg("tool")], "import");
    let moved = store
        .change_channel_all(&core, &unstable, &stable, ChannelAction::Promote, "alice")
        .await
        .unwrap();
    assert_eq!(moved, 3, "redis 2 and both tools");
    let mut changed = drain(store).await;
    changed.sort_by(|a, b| a.1.name().cmp(&b.1.name()));
    assert_eq!(changed, [pkg("redis"), pkg("tool")], "promote all");
    let gamma = channel("gamma");
    let memberships = vec![(redis.id, core.clone(), gamma.clone())];
    store
        .apply_memberships(&memberships, "alice")
        .await
        .unwrap();
    assert_eq!(drain(store).await, [pkg("redis")], "memberships");
    store.delete_channel(&core, &gamma).await.unwrap();
    assert_eq!(
        drain(store).await,
        [("core".to_owned(), TufScope::Origin)],
        "channel deleted"
    );

    // Keys, deletes and recorded facts.
    store
        .add_public_key(&core, "20200101000000", "key text")
        .await
        .unwrap();
    assert_eq!(
        drain(store).await,
        [("core".to_owned(), TufScope::Keys)],
        "key"
    );
    let lone = store
        .insert_package(&package("lone", Visibility::Public))
        .await
        .unwrap();
    drain(store).await;
    store.delete_package(lone.id, "alice").await.unwrap();
    assert_eq!(drain(store).await, [pkg("lone")], "delete");
    store
        .set_package_tuf_facts(redis.id, &"ab".repeat(32), "core-20200101000000")
        .await
        .unwrap();
    assert_eq!(drain(store).await, [pkg("redis")], "facts");
    let missing = store.set_package_tuf_facts(-1, "x", "y").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );

    // The index rows of a name: public releases only, one per channel, newest first.
    let rows = store.tuf_index_rows(&core, "redis").await.unwrap();
    let listed: Vec<(String, String, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r.channel.to_string(),
                r.ident.to_string(),
                r.signer.as_deref(),
            )
        })
        .collect();
    let (one, two) = (
        "core/redis/1.0.0/20200101000000".to_owned(),
        "core/redis/2.0.0/20210101000000".to_owned(),
    );
    let signer = Some("core-20200101000000");
    assert_eq!(
        listed,
        [
            ("stable".to_owned(), two.clone(), None),
            ("stable".to_owned(), one.clone(), signer),
            ("unstable".to_owned(), two, None),
            ("unstable".to_owned(), one, signer),
        ]
    );
    assert_eq!(rows[1].sha256.as_deref(), Some("ab".repeat(32).as_str()));
    assert_eq!(rows[1].checksum, redis.checksum);
    assert_eq!(rows[1].target, PackageTarget::X86_64Linux);
    assert_eq!(store.tuf_index_rows(&core, "secret").await.unwrap(), []);
    assert_eq!(
        store.tuf_origin_package_names(&core).await.unwrap(),
        ["redis", "secret", "tool"]
    );
    let missing: Vec<i64> = store
        .packages_missing_tuf_facts(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(missing.len(), 4, "all but redis 1: {missing:?}");
    assert!(!missing.contains(&redis.id));
    let after_first = store
        .packages_missing_tuf_facts(missing[0], 2)
        .await
        .unwrap();
    assert_eq!(after_first.len(), 2);
    assert_eq!(after_first[0].0, missing[1]);

    // Deleting the origin: one row for all of it.
    let empty = origin("empty");
    store
        .create_origin(&empty, alice.id, Visibility::Public)
        .await
        .unwrap();
    drain(store).await;
    store.delete_origin(&empty).await.unwrap().unwrap();
    assert_eq!(
        drain(store).await,
        [("empty".to_owned(), TufScope::Origin)],
        "origin deleted"
    );
}

#[tokio::test]
async fn outbox_rows_are_written_with_each_change_once_initialized_on_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    for store in stores(&dir).await {
        outbox_rows_follow_the_changes(store.as_ref()).await;
    }
}

/// Publishes, what they leave to read, a publish that loses, and collection.
async fn publishes_are_read_back_and_collected(store: &dyn MetadataStore) {
    let redis = "channels/core/stable/redis/x86_64-linux.json";
    let key = "keys/core/core-20200101000000.pub";
    let first = target(redis, "bin-aa", "{\"releases\":[1]}");
    let key_target = target(key, "bin-0b", "key text");
    let mut metadata = vec![version("root", 1), version("targets", 1)];
    metadata.extend(["bin-aa", "bin-0b", "snapshot", "timestamp"].map(|r| version(r, 1)));
    store
        .tuf_publish(TufPublish {
            upserts: vec![first.clone(), key_target.clone()],
            metadata,
            ..TufPublish::default()
        })
        .await
        .unwrap();

    assert_eq!(
        store.tuf_current_in_bin("bin-aa").await.unwrap(),
        std::slice::from_ref(&first.current)
    );
    assert_eq!(store.tuf_current_in_bin("bin-ff").await.unwrap(), []);
    assert_eq!(
        store.tuf_current(key).await.unwrap(),
        Some(key_target.current.clone())
    );
    assert_eq!(store.tuf_current("keys/none").await.unwrap(), None);
    assert_eq!(
        store
            .tuf_current_paths_under("channels/core/")
            .await
            .unwrap(),
        [redis]
    );
    assert_eq!(
        store.tuf_current_paths_under("").await.unwrap(),
        [redis, key]
    );
    assert_eq!(
        store.tuf_current_paths_under("keys/cor/").await.unwrap(),
        Vec::<String>::new()
    );
    for hash in [&first.current.sha256, &first.current.blake2b] {
        assert_eq!(
            store.tuf_target_body(redis, hash).await.unwrap(),
            Some(first.body.clone())
        );
    }
    assert_eq!(
        store
            .tuf_target_body(key, &first.current.sha256)
            .await
            .unwrap(),
        None,
        "another path's hash"
    );

    // A version that exists already: the whole publish is refused.
    let lost = store
        .tuf_publish(TufPublish {
            upserts: vec![target("channels/core/stable/x/x.json", "bin-01", "x")],
            removals: vec![key.to_owned()],
            metadata: vec![version("snapshot", 2), version("snapshot", 1)],
            ..TufPublish::default()
        })
        .await;
    assert!(matches!(lost, Err(StoreError::Conflict(_))), "{lost:?}");
    assert_eq!(
        store.tuf_latest("snapshot").await.unwrap().unwrap().version,
        1
    );
    assert!(store.tuf_current(key).await.unwrap().is_some());
    assert_eq!(store.tuf_current_in_bin("bin-01").await.unwrap(), []);

    // A second publish: redis changes, the key goes, new versions.
    let second = target(redis, "bin-aa", "{\"releases\":[2]}");
    store
        .tuf_publish(TufPublish {
            upserts: vec![second.clone()],
            removals: vec![key.to_owned()],
            metadata: ["root", "bin-aa", "bin-0b", "snapshot", "timestamp"]
                .map(|r| version(r, 2))
                .to_vec(),
            ..TufPublish::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.tuf_current_in_bin("bin-aa").await.unwrap(),
        std::slice::from_ref(&second.current)
    );
    assert_eq!(store.tuf_current(key).await.unwrap(), None);
    assert_eq!(
        store.tuf_latest("bin-aa").await.unwrap(),
        Some(version("bin-aa", 2))
    );
    assert_eq!(
        store.tuf_metadata("bin-aa", 1).await.unwrap(),
        Some(version("bin-aa", 1))
    );
    assert_eq!(store.tuf_metadata("bin-aa", 3).await.unwrap(), None);
    assert_eq!(store.tuf_metadata("bin-aa", u64::MAX).await.unwrap(), None);
    assert_eq!(store.tuf_latest("bin-ff").await.unwrap(), None);
    let latest: Vec<(String, u64, usize)> = store
        .tuf_latest_versions()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.role, r.version, r.body.len()))
        .collect();
    let expected: Vec<(String, u64, usize)> = [
        ("bin-0b", 2),
        ("bin-aa", 2),
        ("root", 2),
        ("snapshot", 2),
        ("targets", 1),
        ("timestamp", 2),
    ]
    .iter()
    .map(|(role, v)| (role.to_string(), *v, 0))
    .collect();
    assert_eq!(latest, expected);
    // Earlier bodies stay readable until collected.
    assert_eq!(
        store
            .tuf_target_body(redis, &first.current.blake2b)
            .await
            .unwrap(),
        Some(first.body.clone())
    );

    // Collection: nothing is young enough yet; then every old version but the newest of each
    // role (every root stays) and every body no bin lists.
    let past = OffsetDateTime::now_utc() - time::Duration::hours(1);
    assert_eq!(
        store.tuf_collect(past).await.unwrap(),
        TufCollected::default()
    );
    let future = OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert_eq!(
        store.tuf_collect(future).await.unwrap(),
        TufCollected {
            metadata: 4,
            targets: 2
        }
    );
    assert!(store.tuf_metadata("root", 1).await.unwrap().is_some());
    assert!(store.tuf_metadata("bin-aa", 1).await.unwrap().is_none());
    assert!(store.tuf_metadata("targets", 1).await.unwrap().is_some());
    assert_eq!(
        store
            .tuf_target_body(redis, &first.current.sha256)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .tuf_target_body(redis, &second.current.sha256)
            .await
            .unwrap(),
        Some(second.body.clone())
    );

    // A package's indexes in every channel, and only its own.
    let core = origin("core");
    let old = "channels/core/old/redis/aarch64-linux.json";
    store
        .tuf_publish(TufPublish {
            upserts: vec![
                target(old, "bin-01", "old"),
                target(
                    "channels/core/old/redis-cli/aarch64-linux.json",
                    "bin-02",
                    "cli",
                ),
            ],
            ..TufPublish::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .tuf_current_package_paths(&core, "redis")
            .await
            .unwrap(),
        [old, redis]
    );
    assert_eq!(
        store
            .tuf_current_package_paths(&core, "none")
            .await
            .unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store
            .tuf_current_package_paths(&origin("other"), "redis")
            .await
            .unwrap(),
        Vec::<String>::new()
    );

    // The online key, replaced by a rotation.
    assert_eq!(store.tuf_key("online").await.unwrap(), None);
    store.tuf_put_key("online", "aa", &[1, 2]).await.unwrap();
    store.tuf_put_key("online", "bb", &[3]).await.unwrap();
    let stored = store.tuf_key("online").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.name.as_str(),
            stored.public.as_str(),
            stored.secret_encrypted
        ),
        ("online", "bb", vec![3])
    );
}

#[tokio::test]
async fn publishes_are_one_transaction_read_back_and_collected_on_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    for store in stores(&dir).await {
        publishes_are_read_back_and_collected(store.as_ref()).await;
    }
}

#[tokio::test]
async fn uploads_record_sha256_and_signer_and_the_backfill_measures_older_packages() {
    let depot = TestDepot::start().await;
    let token = depot.user("alice").await;
    depot.origin(&token, "core").await;
    let keys = origin_keys(depot.dir.path(), "core");
    depot.publish_key("core", &keys).await;
    let store = &depot.state.metadata;

    // An upload records both.
    let hart = artifact(
        depot.dir.path(),
        "core/up/1.0.0/20200101000000",
        &[],
        &keys.secret,
    );
    let response = upload(&depot, Some(&token), "core/up/1.0.0/20200101000000", &hart).await;
    assert!(response.status().is_success(), "{}", response.status());
    let uploaded = store
        .package(
            &"core/up/1.0.0/20200101000000".parse().unwrap(),
            PackageTarget::X86_64Linux,
        )
        .await
        .unwrap()
        .unwrap();
    let bytes = std::fs::read(&hart).unwrap();
    assert_eq!(uploaded.sha256, Some(sha256(&bytes)));
    assert_eq!(uploaded.signer, Some(keys.secret.name().to_string()));

    // A package stored without them, and one whose artifact is missing.
    let old_hart = artifact(
        depot.dir.path(),
        "core/old/1.0.0/20200101000000",
        &[],
        &keys.secret,
    );
    let old = seed_package(&depot, "alice", &old_hart).await;
    assert_eq!((old.sha256.as_ref(), old.signer.as_ref()), (None, None));
    let lost = store
        .insert_package(&package_row("core/lost/1.0.0/20200101000000"))
        .await
        .unwrap();
    let missing = store.packages_missing_tuf_facts(0, 10).await.unwrap();
    assert_eq!(missing, [(old.id, old.checksum), (lost.id, lost.checksum)]);

    let done = backfill::run(store.as_ref(), depot.state.artifacts.as_ref())
        .await
        .unwrap();
    assert_eq!(
        done,
        backfill::Backfilled {
            filled: 1,
            skipped: 1,
            more: false
        }
    );
    let old = store
        .package(&old.ident, old.target)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.sha256, Some(sha256(&std::fs::read(&old_hart).unwrap())));
    assert_eq!(old.signer, Some(keys.secret.name().to_string()));
    let missing = store.packages_missing_tuf_facts(0, 10).await.unwrap();
    assert_eq!(missing, [(lost.id, lost.checksum)]);
    let err = backfill::measure(depot.state.artifacts.as_ref(), &lost.checksum)
        .await
        .unwrap_err();
    assert!(matches!(err, backfill::MeasureError::Missing(_)), "{err}");
}

#[tokio::test]
async fn metadata_and_targets_are_served_with_their_cache_headers() {
    let depot = TestDepot::start().await;
    let store = &depot.state.metadata;
    let index = target(
        "channels/core/stable/redis/x86_64-linux.json",
        "bin-aa",
        "{\"releases\":[]}",
    );
    let key = target("keys/core/core-20200101000000.pub", "bin-0b", "SIG-PUB-1\n");
    let mut metadata = vec![version("root", 1), version("root", 2)];
    metadata.extend(["targets", "bin-aa", "snapshot", "timestamp"].map(|r| version(r, 1)));
    metadata.push(version("timestamp", 2));
    store
        .tuf_publish(TufPublish {
            upserts: vec![index.clone(), key.clone()],
            metadata,
            ..TufPublish::default()
        })
        .await
        .unwrap();

    let get = |path: String| depot.request(Method::GET, &path, None).send();
    let file = |response: reqwest::Response| async move {
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
        };
        let (content_type, cache) = (header(CONTENT_TYPE), header(CACHE_CONTROL));
        let body = response.bytes().await.unwrap().to_vec();
        (status.as_u16(), content_type, cache, body)
    };
    let json = Some("application/json".to_owned());

    let (status, content_type, cache, body) =
        file(get("/tuf/metadata/timestamp.json".into()).await.unwrap()).await;
    assert_eq!(
        (status, content_type.clone(), cache.as_deref()),
        (200, json.clone(), Some("no-cache"))
    );
    assert_eq!(body, version("timestamp", 2).body);
    for (name, row) in [
        ("1.root.json", version("root", 1)),
        ("2.root.json", version("root", 2)),
        ("1.snapshot.json", version("snapshot", 1)),
        ("1.targets.json", version("targets", 1)),
        ("1.bin-aa.json", version("bin-aa", 1)),
    ] {
        let (status, content_type, cache, body) =
            file(get(format!("/tuf/metadata/{name}")).await.unwrap()).await;
        assert_eq!(
            (status, content_type, cache.as_deref()),
            (200, json.clone(), Some(IMMUTABLE)),
            "{name}"
        );
        assert_eq!(body, row.body, "{name}");
    }
    for unknown in [
        "3.root.json",
        "root.json",
        "snapshot.json",
        "1.timestamp.json",
        "1.bin-ab.json",
        "1.other.json",
    ] {
        send_error(
            depot.request(Method::GET, &format!("/tuf/metadata/{unknown}"), None),
            NOT_FOUND,
            "not_found",
        )
        .await;
    }
    for malformed in ["timestamp", "x.root.json", "1.root.json.gz"] {
        send_error(
            depot.request(Method::GET, &format!("/tuf/metadata/{malformed}"), None),
            reqwest::StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }

    // Targets, by either hash.
    for hash in [&index.current.sha256, &index.current.blake2b] {
        let (status, content_type, cache, body) = file(
            get(format!(
                "/tuf/targets/channels/core/stable/redis/{hash}.x86_64-linux.json"
            ))
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(
            (status, content_type, cache.as_deref()),
            (200, json.clone(), Some(IMMUTABLE))
        );
        assert_eq!(body, index.body);
    }
    let (status, content_type, _, body) = file(
        get(format!(
            "/tuf/targets/keys/core/{}.core-20200101000000.pub",
            key.current.sha256
        ))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.unwrap().starts_with("text/plain"));
    assert_eq!(body, key.body);
    for unknown in [
        format!("keys/core/{}.core-20200101000000.pub", "0".repeat(64)),
        format!("keys/core/{}.core-20200101000000.pub", index.current.sha256),
        format!("keys/other/{}.core-20200101000000.pub", key.current.sha256),
    ] {
        send_error(
            depot.request(Method::GET, &format!("/tuf/targets/{unknown}"), None),
            NOT_FOUND,
            "not_found",
        )
        .await;
    }
    for malformed in [
        "keys/core/core-20200101000000.pub".to_owned(),
        format!("{}.x.json", key.current.sha256),
    ] {
        send_error(
            depot.request(Method::GET, &format!("/tuf/targets/{malformed}"), None),
            reqwest::StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
}
