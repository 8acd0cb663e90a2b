//! The client workflow against an in-memory repository laid out as the depot serves it
//! (consistent snapshots, 256 hashed bins), signed with keys made for each test.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex as StdMutex};

use bytes::Bytes;
use ed25519_dalek::{Signer, SigningKey};
use habitat_core::tuf::canonical_json;
use habitat_core::tuf::layout::bin_of;
use habitat_core::{Blake2bHash, ChannelName, OriginName, PackageName, PackageTarget};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::*;
use crate::error::Error;

const DEPOT: &str = "http://127.0.0.1:9636";

/// What the fake depot serves, by path under the TUF base, and how often each was asked for.
#[derive(Debug, Default, Clone)]
struct Served {
    files: Arc<StdMutex<HashMap<String, Bytes>>>,
    asked: Arc<StdMutex<HashMap<String, u32>>>,
}

impl Served {
    fn put(&self, path: &str, bytes: impl Into<Bytes>) {
        self.files
            .lock()
            .unwrap()
            .insert(path.to_owned(), bytes.into());
    }

    fn get(&self, path: &str) -> Bytes {
        self.files.lock().unwrap()[path].clone()
    }

    fn asked(&self, path: &str) -> u32 {
        self.asked.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

impl Fetch for Served {
    fn depot(&self) -> String {
        DEPOT.to_owned()
    }

    async fn fetch(&self, path: &str, limit: usize) -> Result<Option<Bytes>> {
        *self
            .asked
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default() += 1;
        let found = self.files.lock().unwrap().get(path).cloned();
        Ok(found.map(|b| b.slice(..b.len().min(limit))))
    }
}

fn canonical(value: &Value) -> Vec<u8> {
    canonical_json(value).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key_json(key: &SigningKey) -> Value {
    json!({"keytype": "ed25519", "scheme": "ed25519",
           "keyval": {"public": hex(key.verifying_key().as_bytes())}})
}

fn keyid(key: &SigningKey) -> String {
    Key::ed25519(&key.verifying_key()).id()
}

fn sign(signed: Value, keys: &[&SigningKey]) -> Vec<u8> {
    let message = canonical(&signed);
    let signatures: Vec<Value> = keys
        .iter()
        .map(|k| json!({"keyid": keyid(k), "sig": hex(&k.sign(&message).to_bytes())}))
        .collect();
    serde_json::to_vec(&json!({"signed": signed, "signatures": signatures})).unwrap()
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn in_days(days: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::days(days))
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

/// A repository as the depot's publisher writes it.
struct Repo {
    served: Served,
    root_keys: Vec<SigningKey>,
    targets_key: SigningKey,
    online: SigningKey,
    root_version: u64,
    timestamp_version: u64,
    snapshot_version: u64,
    targets_version: u64,
    /// Each bin's version and targets.
    bins: BTreeMap<String, (u64, BTreeMap<String, Value>)>,
    /// Every signed file ever published, by path: what an attacker replays.
    history: HashMap<String, Bytes>,
    timestamp_expires: String,
}

impl Repo {
    fn new() -> Self {
        let mut repo = Self {
            served: Served::default(),
            root_keys: vec![key(1)],
            targets_key: key(2),
            online: key(3),
            root_version: 0,
            timestamp_version: 0,
            snapshot_version: 0,
            targets_version: 0,
            bins: (0..=255)
                .map(|b| (format!("bin-{b:02x}"), (1, BTreeMap::new())))
                .collect(),
            history: HashMap::new(),
            timestamp_expires: in_days(1),
        };
        repo.publish_root(1);
        repo.publish_targets();
        for name in repo.bins.keys().cloned().collect::<Vec<_>>() {
            repo.write_bin(&name);
        }
        repo.publish_snapshot();
        repo
    }

    fn put(&mut self, path: String, bytes: Vec<u8>) {
        self.history.insert(path.clone(), bytes.clone().into());
        self.served.put(&path, bytes);
    }

    fn root_bytes(&self, version: u64) -> Bytes {
        self.served.get(&format!("metadata/{version}.root.json"))
    }

    /// Publishes the next root version with the current keys, signed by `signers` (the
    /// first `threshold` root keys at version 1).
    fn publish_root(&mut self, threshold: u32) {
        self.publish_root_signed_by(threshold, &self.root_keys.clone());
    }

    fn publish_root_signed_by(&mut self, threshold: u32, signers: &[SigningKey]) {
        self.root_version += 1;
        let mut keys = serde_json::Map::new();
        for k in self
            .root_keys
            .iter()
            .chain([&self.targets_key, &self.online])
        {
            keys.insert(keyid(k), key_json(k));
        }
        let root_ids: Vec<String> = self.root_keys.iter().map(keyid).collect();
        let online = vec![keyid(&self.online)];
        let signed = json!({
            "_type": "root", "spec_version": "1.0.31", "version": self.root_version,
            "expires": in_days(365), "consistent_snapshot": true, "keys": keys,
            "roles": {
                "root": {"keyids": root_ids, "threshold": threshold},
                "targets": {"keyids": [keyid(&self.targets_key)], "threshold": 1},
                "snapshot": {"keyids": online, "threshold": 1},
                "timestamp": {"keyids": online, "threshold": 1},
            }
        });
        let signers: Vec<&SigningKey> = signers.iter().collect();
        let bytes = sign(signed, &signers);
        self.put(format!("metadata/{}.root.json", self.root_version), bytes);
    }

    fn publish_targets(&mut self) {
        self.targets_version += 1;
        let roles: Vec<Value> = self
            .bins
            .keys()
            .map(|name| {
                json!({"name": name, "keyids": [keyid(&self.online)], "threshold": 1,
                       "terminating": true, "path_hash_prefixes": [&name[4..]]})
            })
            .collect();
        let signed = json!({
            "_type": "targets", "spec_version": "1.0.31", "version": self.targets_version,
            "expires": in_days(365), "targets": {},
            "delegations": {"keys": {keyid(&self.online): key_json(&self.online)}, "roles": roles}
        });
        let bytes = sign(signed, &[&self.targets_key]);
        self.put(
            format!("metadata/{}.targets.json", self.targets_version),
            bytes,
        );
    }

    fn write_bin(&mut self, name: &str) {
        let (version, targets) = &self.bins[name];
        let signed = json!({
            "_type": "targets", "spec_version": "1.0.31", "version": version,
            "expires": in_days(7), "targets": targets,
        });
        let bytes = sign(signed, &[&self.online]);
        self.put(format!("metadata/{version}.{name}.json"), bytes);
    }

    /// A new snapshot and timestamp naming the current versions.
    fn publish_snapshot(&mut self) {
        self.snapshot_version += 1;
        let mut meta = serde_json::Map::new();
        meta.insert(
            "targets.json".into(),
            json!({"version": self.targets_version}),
        );
        for (name, (version, _)) in &self.bins {
            meta.insert(format!("{name}.json"), json!({"version": version}));
        }
        let signed = json!({
            "_type": "snapshot", "spec_version": "1.0.31", "version": self.snapshot_version,
            "expires": in_days(7), "meta": meta,
        });
        let bytes = sign(signed, &[&self.online]);
        let path = format!("metadata/{}.snapshot.json", self.snapshot_version);
        self.put(path, bytes.clone());
        self.publish_timestamp(self.snapshot_version, &bytes);
    }

    fn publish_timestamp(&mut self, snapshot_version: u64, snapshot: &[u8]) {
        self.timestamp_version += 1;
        let signed = json!({
            "_type": "timestamp", "spec_version": "1.0.31", "version": self.timestamp_version,
            "expires": self.timestamp_expires,
            "meta": {"snapshot.json": {"version": snapshot_version, "length": snapshot.len(),
                                       "hashes": {"sha256": sha256_hex(snapshot)}}},
        });
        let bytes = sign(signed, &[&self.online]);
        self.put(
            format!("metadata/timestamp.{}.json", self.timestamp_version),
            bytes.clone(),
        );
        self.served.put("metadata/timestamp.json", bytes);
    }

    /// Adds (or replaces) a target, with a new version of its bin, snapshot and timestamp.
    fn add_target(&mut self, path: &str, body: &[u8]) {
        let bin = bin_of(path);
        let sha256 = sha256_hex(body);
        let blake2b = Blake2bHash::digest(body).to_string();
        let (dir, name) = path.rsplit_once('/').unwrap();
        self.served
            .put(&format!("targets/{dir}/{sha256}.{name}"), body.to_vec());
        self.served
            .put(&format!("targets/{dir}/{blake2b}.{name}"), body.to_vec());
        let entry = self.bins.get_mut(&bin).unwrap();
        entry.0 += 1;
        entry.1.insert(
            path.to_owned(),
            json!({"length": body.len(), "hashes": {"sha256": sha256, "blake2b-256": blake2b}}),
        );
        self.write_bin(&bin);
        self.publish_snapshot();
    }

    /// A client of this repository trusting root version 1, caching in `dir`.
    fn client(&self, dir: &Path) -> TufClient<Served> {
        TufClient::new(self.served.clone(), &self.root_bytes(1), dir).unwrap()
    }
}

const INDEX_PATH: &str = "channels/core/stable/redis/x86_64-linux.json";

fn index_body(releases: &[&str]) -> Vec<u8> {
    let releases: Vec<Value> = releases
        .iter()
        .map(|ident| {
            json!({"ident": ident, "checksum": "ab".repeat(32), "sha256": "cd".repeat(32),
                   "size": 1234, "signer": "core-20180119235000"})
        })
        .collect();
    serde_json::to_vec(
        &json!({"origin": "core", "channel": "stable", "name": "redis",
                               "target": "x86_64-linux", "releases": releases}),
    )
    .unwrap()
}

fn names() -> (OriginName, ChannelName, PackageName) {
    (
        "core".parse().unwrap(),
        ChannelName::stable(),
        "redis".parse().unwrap(),
    )
}

async fn index(client: &TufClient<Served>) -> Result<Option<ChannelIndex>> {
    let (origin, channel, name) = names();
    client
        .index(&origin, &channel, &name, PackageTarget::X86_64Linux)
        .await
}

fn repo_with_redis() -> Repo {
    let mut repo = Repo::new();
    repo.add_target(
        INDEX_PATH,
        &index_body(&[
            "core/redis/4.0.14/20190319155852",
            "core/redis/3.2.4/20170514150022",
        ]),
    );
    repo.add_target(
        "keys/core/core-20180119235000.pub",
        b"SIG-PUB-1\ncore-20180119235000\n\nbm90IGEga2V5\n",
    );
    repo
}

#[track_caller]
fn refused(err: &Error) -> &TufError {
    match err {
        Error::Tuf(err) => err,
        other => panic!("not a TUF refusal: {other}"),
    }
}

#[tokio::test]
async fn verifies_an_index_and_a_key_and_fetches_only_the_bins_needed() {
    let repo = repo_with_redis();
    let dir = tempfile::tempdir().unwrap();
    let client = repo.client(dir.path());
    let found = index(&client).await.unwrap().unwrap();
    assert_eq!(found.releases.len(), 2);
    let newest = latest(&found, &"core/redis".parse().unwrap()).unwrap();
    assert_eq!(newest.ident.to_string(), "core/redis/4.0.14/20190319155852");
    let older = latest(&found, &"core/redis/3.2.4".parse().unwrap()).unwrap();
    assert_eq!(older.ident.to_string(), "core/redis/3.2.4/20170514150022");
    assert_eq!(newest.size, 1234);

    let origin: OriginName = "core".parse().unwrap();
    let key = client.origin_key(&origin, "20180119235000").await.unwrap();
    assert!(key.unwrap().starts_with("SIG-PUB-1\ncore-20180119235000"));
    assert_eq!(
        client.origin_key(&origin, "20200101000000").await.unwrap(),
        None
    );

    let (_, _, name) = names();
    let unstable: ChannelName = "unstable".parse().unwrap();
    let none = client
        .index(&origin, &unstable, &name, PackageTarget::X86_64Linux)
        .await
        .unwrap();
    assert_eq!(none, None);

    // Only the bins of the paths looked up were fetched, not the other 250-odd.
    let bins_fetched = repo
        .served
        .asked
        .lock()
        .unwrap()
        .keys()
        .filter(|p| p.contains(".bin-"))
        .count();
    assert!(bins_fetched <= 4, "{bins_fetched} bins fetched");

    // A later run with nothing new fetches the timestamp and no bin again.
    let bin_file = format!(
        "metadata/{}.{}.json",
        repo.bins[&bin_of(INDEX_PATH)].0,
        bin_of(INDEX_PATH)
    );
    assert_eq!(repo.served.asked(&bin_file), 1);
    let again = repo.client(dir.path());
    assert_eq!(index(&again).await.unwrap(), Some(found));
    assert_eq!(repo.served.asked(&bin_file), 1);
    // What it downloaded: the timestamp and the index, nothing else.
    let timestamp = repo.served.get("metadata/timestamp.json").len();
    let index_len = index_body(&[
        "core/redis/4.0.14/20190319155852",
        "core/redis/3.2.4/20170514150022",
    ])
    .len();
    assert_eq!(again.downloaded_bytes(), (timestamp + index_len) as u64);
    assert_eq!(repo.served.asked("metadata/timestamp.json"), 2);
    for role in [
        "root",
        "timestamp",
        "snapshot",
        "targets",
        &bin_of(INDEX_PATH),
    ] {
        assert!(dir.path().join(format!("{role}.json")).is_file(), "{role}");
    }
}

#[tokio::test]
async fn an_older_timestamp_is_refused_even_by_a_later_run() {
    let mut repo = repo_with_redis();
    let old = repo.served.get("metadata/timestamp.json");
    repo.add_target(
        INDEX_PATH,
        &index_body(&["core/redis/5.0.0/20200101000000"]),
    );
    let dir = tempfile::tempdir().unwrap();
    index(&repo.client(dir.path())).await.unwrap().unwrap();

    repo.served.put("metadata/timestamp.json", old);
    let err = index(&repo.client(dir.path())).await.unwrap_err();
    assert!(
        matches!(refused(&err), TufError::Rollback { role, version: 3, trusted: 4, .. } if role == "timestamp"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the depot {DEPOT} served `timestamp` version 3, older than version 4 trusted \
             already: a proxy or cache may be replaying old metadata"
        )
    );
}

#[tokio::test]
async fn a_timestamp_naming_an_older_snapshot_is_refused() {
    let mut repo = repo_with_redis();
    let dir = tempfile::tempdir().unwrap();
    index(&repo.client(dir.path())).await.unwrap().unwrap();
    // A newer timestamp (signed by the online key) that names the first snapshot.
    let first = repo.served.get("metadata/1.snapshot.json");
    repo.publish_timestamp(1, &first);
    let err = index(&repo.client(dir.path())).await.unwrap_err();
    assert!(
        matches!(refused(&err), TufError::Rollback { role, version: 1, trusted: 3, .. } if role == "snapshot"),
        "{err}"
    );
}

#[tokio::test]
async fn a_snapshot_with_an_older_bin_is_refused() {
    let mut repo = repo_with_redis();
    let dir = tempfile::tempdir().unwrap();
    index(&repo.client(dir.path())).await.unwrap().unwrap();
    // The next snapshot lists the index's bin at version 1 again.
    let bin = bin_of(INDEX_PATH);
    repo.bins.get_mut(&bin).unwrap().0 = 1;
    repo.publish_snapshot();
    let err = index(&repo.client(dir.path())).await.unwrap_err();
    assert!(
        matches!(refused(&err), TufError::Rollback { role, version: 1, trusted: 2, .. } if *role == bin),
        "{err}"
    );
}

#[tokio::test]
async fn an_expired_timestamp_is_refused() {
    let repo = repo_with_redis();
    let dir = tempfile::tempdir().unwrap();
    let later = OffsetDateTime::now_utc() + time::Duration::days(2);
    let client = repo.client(dir.path()).at_time(later);
    let err = index(&client).await.unwrap_err();
    let TufError::Expired { role, expires, .. } = refused(&err) else {
        panic!("{err}");
    };
    assert_eq!(role, "timestamp");
    assert_eq!(
        err.to_string(),
        format!(
            "the depot {DEPOT} served a `timestamp` that expired at {expires}: a proxy or \
             cache may be serving stale data"
        )
    );
    // A timestamp that expired is refused the same way when the depot serves it.
    let mut repo = repo_with_redis();
    repo.timestamp_expires = in_days(-1);
    repo.publish_snapshot();
    let err = index(&repo.client(tempfile::tempdir().unwrap().path()))
        .await
        .unwrap_err();
    assert!(matches!(refused(&err), TufError::Expired { role, .. } if role == "timestamp"));
}

#[tokio::test]
async fn a_bin_of_another_version_is_refused() {
    let repo = repo_with_redis();
    let bin = bin_of(INDEX_PATH);
    let (version, _) = repo.bins[&bin];
    let old = repo.history[&format!("metadata/{}.{bin}.json", version - 1)].clone();
    repo.served
        .put(&format!("metadata/{version}.{bin}.json"), old);
    let dir = tempfile::tempdir().unwrap();
    let err = index(&repo.client(dir.path())).await.unwrap_err();
    let TufError::Mismatch { what, reason, .. } = refused(&err) else {
        panic!("{err}");
    };
    assert_eq!(*what, bin);
    assert!(reason.contains("the snapshot names version"), "{reason}");
}

#[tokio::test]
async fn a_changed_target_byte_is_refused() {
    let repo = repo_with_redis();
    let body = index_body(&[
        "core/redis/4.0.14/20190319155852",
        "core/redis/3.2.4/20170514150022",
    ]);
    let mut changed = body.clone();
    // 4.0.14 becomes 4.0.15: same length, another release.
    let at = changed.windows(6).position(|w| w == b"4.0.14").unwrap();
    changed[at + 5] = b'5';
    let sha256 = sha256_hex(&body);
    repo.served.put(
        &format!("targets/channels/core/stable/redis/{sha256}.x86_64-linux.json"),
        changed,
    );
    let dir = tempfile::tempdir().unwrap();
    let err = index(&repo.client(dir.path())).await.unwrap_err();
    let TufError::Mismatch { what, reason, .. } = refused(&err) else {
        panic!("{err}");
    };
    assert_eq!(what, INDEX_PATH);
    assert!(
        reason.contains("blake2b-256") || reason.contains("sha256"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_snapshot_with_a_changed_byte_is_refused() {
    let repo = repo_with_redis();
    let path = format!("metadata/{}.snapshot.json", repo.snapshot_version);
    let mut bytes = repo.served.get(&path).to_vec();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    repo.served.put(&path, bytes);
    let err = index(&repo.client(tempfile::tempdir().unwrap().path()))
        .await
        .unwrap_err();
    assert!(matches!(refused(&err), TufError::Mismatch { .. }), "{err}");
}

#[tokio::test]
async fn a_root_rotation_is_followed_and_a_root_not_signed_by_the_old_keys_is_refused() {
    let mut repo = repo_with_redis();
    let dir = tempfile::tempdir().unwrap();
    index(&repo.client(dir.path())).await.unwrap().unwrap();

    // Root 2: a new root key and a new online key, signed by the old and the new root key.
    let old_root = repo.root_keys.clone();
    repo.root_keys = vec![key(11)];
    repo.online = key(13);
    let signers: Vec<SigningKey> = old_root.iter().chain(&repo.root_keys).cloned().collect();
    repo.publish_root_signed_by(1, &signers);
    for name in repo.bins.keys().cloned().collect::<Vec<_>>() {
        repo.bins.get_mut(&name).unwrap().0 += 1;
    }
    repo.publish_targets();
    for name in repo.bins.keys().cloned().collect::<Vec<_>>() {
        repo.write_bin(&name);
    }
    repo.publish_snapshot();
    let client = repo.client(dir.path());
    assert_eq!(index(&client).await.unwrap().unwrap().releases.len(), 2);
    assert_eq!(client.root_version().await, 2);
    // A later run pinned to version 1 goes on from the cached version 2.
    let asked = repo.served.asked("metadata/2.root.json");
    let later = repo.client(dir.path());
    later.refresh().await.unwrap();
    assert_eq!(later.root_version().await, 2);
    assert_eq!(repo.served.asked("metadata/2.root.json"), asked);

    // Root 3 signed only by a key root 2 does not know.
    repo.root_keys = vec![key(21)];
    let stranger = repo.root_keys.clone();
    repo.publish_root_signed_by(1, &stranger);
    let err = repo.client(dir.path()).refresh().await.unwrap_err();
    assert!(
        matches!(refused(&err), TufError::Signature { role, valid: 0, threshold: 1, .. } if role == "root"),
        "{err}"
    );
}

#[tokio::test]
async fn trust_checks_the_fingerprint_of_the_first_root() {
    let repo = repo_with_redis();
    let dir = tempfile::tempdir().unwrap();
    let fingerprint = sha256_hex(&repo.root_bytes(1));
    let err = TufClient::trust(&repo.served, &"00".repeat(32), dir.path())
        .await
        .unwrap_err();
    assert!(
        matches!(refused(&err), TufError::Fingerprint { .. }),
        "{err}"
    );
    assert!(!dir.path().join("root.json").exists());

    TufClient::trust(&repo.served, &fingerprint.to_uppercase(), dir.path())
        .await
        .unwrap();
    let client = TufClient::from_cache(repo.served.clone(), dir.path())
        .unwrap()
        .unwrap();
    assert_eq!(index(&client).await.unwrap().unwrap().releases.len(), 2);
    assert!(
        TufClient::from_cache(repo.served.clone(), dir.path().join("none"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn cache_dirs_are_beside_the_key_cache() {
    let url: DepotUrl = "http://127.0.0.1:9636/v1/depot/views/myview"
        .parse()
        .unwrap();
    assert_eq!(
        cache_dir(Path::new("/hab/cache/keys"), &url),
        Path::new("/hab/cache/tuf/127.0.0.1_9636")
    );
    let url: DepotUrl = "https://bldr.example".parse().unwrap();
    assert_eq!(
        cache_dir(Path::new("/root/.hab/cache/keys"), &url),
        Path::new("/root/.hab/cache/tuf/bldr.example_443")
    );
}
