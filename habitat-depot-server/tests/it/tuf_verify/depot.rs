//! The verifiers against a real depot with a TUF repository: after an upload, a promote and a
//! key upload, the reference client and tough both find and download the channel index and
//! the origin key target, the artifact the depot serves matches the index, and each attack
//! the proxy mounts is refused by both.

use std::path::PathBuf;

use habitat_core::hash::{Blake2bHash, hex};
use habitat_core::tuf::layout::{ChannelIndex, bin_of, channel_index_path};
use habitat_core::tuf::sha256_hex;
use habitat_core::{ChannelName, FullyQualifiedIdent, PackageTarget};
use habitat_depot_client::{Client, Token};
use habitat_depot_server::tuf::init::{InitOptions, init};
use habitat_depot_server::tuf::root::{SignOptions, publish, sign};
use habitat_test_support::proxy::Proxy;
use habitat_test_support::{OriginKeys, TestDepot, artifact, origin_keys};
use serde_json::Value;
use time::OffsetDateTime;

use super::Clients;

const X86_64: PackageTarget = PackageTarget::X86_64Linux;
const REDIS_1: &str = "core/redis/4.0.14/20190319155852";
const REDIS_2: &str = "core/redis/5.0.0/20200101000000";

/// A depot holding `core/redis` 1 in `stable` and the origin's key, with its TUF repository
/// made at `made_at`, behind a proxy that keeps the metadata it passes on.
struct Setup {
    depot: TestDepot,
    client: Client,
    keys: OriginKeys,
    proxy: Proxy,
    /// `{proxy}/v1/tuf`.
    base: String,
    /// `1.root.json`, checked against the SHA-256 `tuf init` printed.
    root: PathBuf,
    work: PathBuf,
}

impl Setup {
    async fn start() -> Self {
        Self::start_at(OffsetDateTime::now_utc()).await
    }

    async fn start_at(made_at: OffsetDateTime) -> Self {
        let depot = TestDepot::start().await;
        let alice = depot.user("alice").await;
        depot.origin(&alice, "core").await;
        let work = depot.scratch("work");
        let keys = origin_keys(&work, "core");
        depot.publish_key("core", &keys).await;
        let client = Client::builder(depot.url.parse().unwrap())
            .token(Some(Token::new(alice).unwrap()))
            .no_proxy()
            .build()
            .unwrap();
        let proxy = Proxy::start(&depot.url).await;
        proxy.keep_answers(Some("/v1/tuf/metadata/"));
        let setup = Self {
            base: format!("{}/v1/tuf", proxy.url),
            root: work.join("1.root.json"),
            depot,
            client,
            keys,
            proxy,
            work,
        };
        // Released before the repository exists: `tuf init` lists it.
        setup.release(REDIS_1, "stable").await;
        let state = &setup.depot.state;
        let options = InitOptions {
            root_keys: 1,
            threshold: 1,
            keys_out: setup.keys_dir(),
        };
        let made = init(
            state.metadata.clone(),
            state.artifacts.clone(),
            state.server_key.clone(),
            &options,
            made_at,
        )
        .await
        .unwrap();
        let response = setup.depot.get("/tuf/metadata/1.root.json", None).await;
        let root = response.bytes().await.unwrap();
        assert_eq!(sha256_hex(&root), made.root_sha256);
        std::fs::write(&setup.root, &root).unwrap();
        setup
    }

    /// Uploads `ident` and promotes it to `channel`; then publishes (as the embedded store
    /// does before the answer, and a scale-out leader within a second or two).
    async fn release(&self, ident: &str, channel: &str) {
        let hart = artifact(&self.work, ident, &[], &self.keys.secret);
        let ident: FullyQualifiedIdent = ident.parse().unwrap();
        self.client
            .upload(&hart, &ident, X86_64, None, false, |_| {})
            .await
            .unwrap();
        let channel: ChannelName = channel.parse().unwrap();
        self.client.promote(&ident, X86_64, &channel).await.unwrap();
        self.publish().await;
    }

    /// Runs a publisher cycle now (a no-op when the write already published).
    async fn publish(&self) {
        self.depot
            .state
            .tuf
            .cycle(OffsetDateTime::now_utc())
            .await
            .unwrap();
    }

    /// Where `tuf init` wrote the offline keys.
    fn keys_dir(&self) -> PathBuf {
        self.depot.dir.path().join("tuf-keys")
    }

    /// Clients trusting the depot's first root.
    fn clients(&self) -> Clients {
        Clients::new(&self.root)
    }

    /// The origin key's target path.
    fn key_path(&self) -> String {
        let revision = self.keys.secret.name().revision().to_owned();
        format!("keys/core/core-{revision}.pub")
    }

    /// The version of `role` the current snapshot names, asked of the depot directly.
    async fn version_in_snapshot(&self, role: &str) -> u64 {
        let timestamp: Value = self.metadata("timestamp.json").await;
        let snapshot = timestamp["signed"]["meta"]["snapshot.json"]["version"]
            .as_u64()
            .unwrap();
        let snapshot: Value = self.metadata(&format!("{snapshot}.snapshot.json")).await;
        snapshot["signed"]["meta"][format!("{role}.json")]["version"]
            .as_u64()
            .unwrap()
    }

    /// A metadata file as the depot serves it.
    async fn metadata(&self, file: &str) -> Value {
        let response = self.depot.get(&format!("/tuf/metadata/{file}"), None).await;
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{file}");
        response.json().await.unwrap()
    }

    /// `ident`'s `.hart` as the depot serves it through the proxy.
    async fn download(&self, ident: &str) -> Vec<u8> {
        let url = format!(
            "{}/v1/depot/pkgs/{ident}/download?target=x86_64-linux",
            self.proxy.url
        );
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.unwrap().to_vec()
    }
}

/// The index of `core/redis` for x86_64-linux in `channel`.
fn index_path(channel: &str) -> String {
    channel_index_path("core", channel, "redis", "x86_64-linux")
}

/// Whether `hart` is the release the index lists first: its BLAKE2b checksum, SHA-256 and
/// size, as a client checks a download against the verified index.
fn matches_newest(index: &ChannelIndex, hart: &[u8]) -> bool {
    let release = &index.releases[0];
    release.checksum == hex(Blake2bHash::digest(hart).as_bytes())
        && release.sha256 == sha256_hex(hart)
        && release.size == hart.len() as u64
}

#[tokio::test]
async fn both_verifiers_read_a_depots_index_and_key_and_the_artifact_matches() {
    let setup = Setup::start().await;
    let clients = setup.clients();
    let (stable, key) = (index_path("stable"), setup.key_path());
    let bodies = Clients::accepted(clients.run(&setup.base, &[&stable, &key]).await);
    let index: ChannelIndex = serde_json::from_slice(&bodies[0]).unwrap();
    let idents: Vec<String> = index.releases.iter().map(|r| r.ident.to_string()).collect();
    assert_eq!(idents, vec![REDIS_1]);
    assert_eq!(
        index.releases[0].signer,
        setup.keys.secret.name().to_string()
    );
    assert!(matches_newest(&index, &setup.download(REDIS_1).await));
    // The key target is the key file the depot serves.
    assert_eq!(
        String::from_utf8(bodies[1].clone()).unwrap(),
        setup.keys.public_text
    );

    // A later release, promoted: the same clients follow it, newest first; `unstable` lists
    // every release, so a fully qualified ident resolves through it.
    setup.release(REDIS_2, "stable").await;
    let unstable = index_path("unstable");
    let bodies = Clients::accepted(clients.run(&setup.base, &[&stable, &unstable]).await);
    for body in &bodies {
        let index: ChannelIndex = serde_json::from_slice(body).unwrap();
        let idents: Vec<String> = index.releases.iter().map(|r| r.ident.to_string()).collect();
        assert_eq!(idents, vec![REDIS_2, REDIS_1]);
        assert!(matches_newest(&index, &setup.download(REDIS_2).await));
    }
}

#[tokio::test]
async fn an_older_timestamp_or_snapshot_from_a_depot_is_refused() {
    let setup = Setup::start().await;
    let clients = setup.clients();
    let stable = index_path("stable");
    Clients::accepted(clients.run(&setup.base, &[&stable]).await);
    let before = setup.proxy.kept("/v1/tuf/metadata/timestamp.json");
    setup.release(REDIS_2, "stable").await;
    Clients::accepted(clients.run(&setup.base, &[&stable]).await);
    // Rollback: the timestamp of before the promote, to clients that trust a newer one.
    setup.proxy.replace("/timestamp.json", before[0].clone());
    let outcome = clients.run(&setup.base, &[&stable]).await;
    Clients::refused(
        outcome,
        "BadVersionNumberError",
        "of timestamp metadata when we had previously fetched",
    );
    // The snapshot of before under the current snapshot's name, to a fresh client.
    setup.proxy.pass_all();
    let timestamp = setup.metadata("timestamp.json").await;
    let current = timestamp["signed"]["meta"]["snapshot.json"]["version"]
        .as_u64()
        .unwrap();
    let kept: Vec<String> = (1..current)
        .map(|v| format!("/v1/tuf/metadata/{v}.snapshot.json"))
        .filter(|path| !setup.proxy.kept(path).is_empty())
        .collect();
    let older = setup.proxy.kept(&kept[0])[0].clone();
    setup
        .proxy
        .replace(&format!("/{current}.snapshot.json"), older);
    let outcome = setup.clients().run(&setup.base, &[&stable]).await;
    Clients::refused(outcome, "LengthOrHashMismatchError", "Hash mismatch");
}

#[tokio::test]
async fn an_expired_timestamp_from_a_depot_is_refused() {
    // Freeze: a depot whose metadata was made two days ago serves a timestamp that expired a
    // day ago (nothing has been written since, so nothing was re-signed).
    let two_days_ago = OffsetDateTime::now_utc() - time::Duration::days(2);
    let setup = Setup::start_at(two_days_ago).await;
    let stable = index_path("stable");
    let key = setup.key_path();
    let outcome = setup.clients().run(&setup.base, &[&key]).await;
    Clients::refused(
        outcome,
        "ExpiredMetadataError",
        "timestamp metadata is expired",
    );

    // The depot re-signs it (the release published a new timestamp): accepted; that old
    // timestamp replayed by a cache to a client that never saw a newer one: refused.
    setup.release(REDIS_2, "stable").await;
    let clients = setup.clients();
    Clients::accepted(clients.run(&setup.base, &[&stable]).await);
    let expired = setup.proxy.kept("/v1/tuf/metadata/timestamp.json")[0].clone();
    setup.proxy.replace("/timestamp.json", expired);
    let outcome = setup.clients().run(&setup.base, &[&stable]).await;
    Clients::refused(
        outcome,
        "ExpiredMetadataError",
        "timestamp metadata is expired",
    );
}

#[tokio::test]
async fn a_depots_bin_of_another_version_is_refused() {
    let setup = Setup::start().await;
    let stable = index_path("stable");
    let bin = bin_of(&stable);
    let old = setup.version_in_snapshot(&bin).await;
    setup.release(REDIS_2, "stable").await;
    let new = setup.version_in_snapshot(&bin).await;
    assert!(new > old, "the promote gave `{bin}` a new version");
    // Mix and match: the bin of before (listing only the first release) under the new name.
    setup.proxy.serve_from(
        &format!("/{new}.{bin}.json"),
        &format!("/v1/tuf/metadata/{old}.{bin}.json"),
    );
    let outcome = setup.clients().run(&setup.base, &[&stable]).await;
    Clients::refused(
        outcome,
        "BadVersionNumberError",
        &format!("metadata version mismatch: fetched {old}, expected {new}"),
    );
}

#[tokio::test]
async fn a_changed_index_artifact_or_origin_key_from_a_depot_is_refused() {
    let setup = Setup::start().await;
    let (stable, key) = (index_path("stable"), setup.key_path());
    // An arbitrary package: one byte of the index changed on the way.
    setup.proxy.rewrite(".x86_64-linux.json", |body| {
        let mut changed = body.to_vec();
        let at = changed.len() / 2;
        changed[at] ^= 0x01;
        changed
    });
    let outcome = setup.clients().run(&setup.base, &[&stable]).await;
    Clients::refused(outcome, "LengthOrHashMismatchError", "Hash mismatch");
    setup.proxy.pass_all();

    // An arbitrary package: one byte of the artifact changed. The verified index tells.
    let bodies = Clients::accepted(setup.clients().run(&setup.base, &[&stable]).await);
    let index: ChannelIndex = serde_json::from_slice(&bodies[0]).unwrap();
    setup.proxy.flip_downloads(true);
    assert!(!matches_newest(&index, &setup.download(REDIS_1).await));
    setup.proxy.flip_downloads(false);

    // A substituted origin key: another key of the origin under the key's target name, and
    // from the key route: the first is refused, the second differs from the verified key.
    let other = origin_keys(&setup.work.join("other"), "core");
    let text = other.public_text.clone();
    setup.proxy.rewrite(
        &format!(".{}", key.rsplit('/').next().unwrap()),
        move |_| text.clone().into_bytes(),
    );
    let outcome = setup.clients().run(&setup.base, &[&key]).await;
    Clients::refused(outcome, "LengthOrHashMismatchError", "Hash mismatch");
    setup.proxy.pass_all();
    let verified = Clients::accepted(setup.clients().run(&setup.base, &[&key]).await);
    setup.proxy.serve_key(Some(other.public_text.clone()));
    let revision = setup.keys.secret.name().revision().to_owned();
    let served = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!(
            "{}/v1/depot/origins/core/keys/{revision}",
            setup.proxy.url
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_ne!(served.to_vec(), verified[0]);
}

#[tokio::test]
async fn both_verifiers_follow_a_new_root_with_new_keys_from_the_pinned_first_root() {
    let setup = Setup::start().await;
    let stable = index_path("stable");
    let clients = setup.clients();
    Clients::accepted(clients.run(&setup.base, &[&stable]).await);

    // Root version 2: a new root key and a new online key, signed offline, then published.
    let root = setup.depot.get("/tuf/metadata/1.root.json", None).await;
    let root = root.bytes().await.unwrap();
    let version = setup.version_in_snapshot("targets").await;
    let targets = setup
        .depot
        .get(&format!("/tuf/metadata/{version}.targets.json"), None)
        .await;
    let targets = targets.bytes().await.unwrap();
    let out = setup.depot.scratch("root-2");
    let options = SignOptions {
        new_root_keys: Some(1),
        threshold: None,
        rotate_online: true,
    };
    let now = OffsetDateTime::now_utc();
    let signed = sign(
        &root,
        Some(&targets),
        &setup.keys_dir(),
        &options,
        &out,
        now,
    )
    .unwrap();
    assert_eq!(signed.version, 2);
    let state = &setup.depot.state;
    publish(
        state.metadata.as_ref(),
        &state.tuf,
        &state.server_key,
        &out,
        now,
    )
    .await
    .unwrap();

    // Clients that trust version 1 (one that ran before, one new) follow the chain to version
    // 2 and take the metadata signed with the new online key, before and after a promote.
    Clients::accepted(clients.run(&setup.base, &[&stable]).await);
    Clients::accepted(setup.clients().run(&setup.base, &[&stable]).await);
    setup.release(REDIS_2, "stable").await;
    let bodies = Clients::accepted(clients.run(&setup.base, &[&stable]).await);
    let index: ChannelIndex = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(index.releases.len(), 2);
    assert!(
        setup.proxy.count("/v1/tuf/metadata/2.root.json") >= 2,
        "{:?}",
        setup.proxy.requests()
    );
}
