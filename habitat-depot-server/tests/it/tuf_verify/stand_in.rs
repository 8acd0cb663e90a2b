//! The verifiers and the attacks against a stand-in repository in the depot's layout, written
//! by python-tuf's metadata API and served as static files through the test proxy: the harness
//! checked on its own (these skip with the reference client, which writes the stand-in).

use habitat_test_support::proxy::Proxy;
use habitat_test_support::tuf::{ReferenceClient, StandIn, StaticFiles};
use sha2::{Digest, Sha256};

use super::Clients;

const INDEX: &str = "channels/core/stable/redis/x86_64-linux.json";
const KEY: &str = "keys/core/core-20190101000000.pub";
const INDEX_V1: &[u8] = br#"{"origin":"core","channel":"stable","name":"redis","releases":[]}"#;
const INDEX_V2: &[u8] = br#"{"origin":"core","channel":"stable","name":"redis","releases":[{}]}"#;
const KEY_BODY: &[u8] = b"SIG-PUB-1\ncore-20190101000000\n\nAAAA\n";

/// A stand-in with the index and the key, served through a proxy that keeps the metadata it
/// passes on; `None` without the reference client.
struct Setup {
    repo: StandIn,
    proxy: Proxy,
    base: String,
    _files: StaticFiles,
}

impl Setup {
    async fn start() -> Option<Self> {
        let python = ReferenceClient::find()?;
        let repo = StandIn::new(&python, &[(INDEX, INDEX_V1), (KEY, KEY_BODY)]);
        let files = StaticFiles::start(repo.dir.path()).await;
        let proxy = Proxy::start(&files.url).await;
        proxy.keep_answers(Some("/v1/tuf/metadata/"));
        let base = format!("{}/v1/tuf", proxy.url);
        Some(Self {
            repo,
            proxy,
            base,
            _files: files,
        })
    }

    /// Clients trusting the stand-in's root.
    fn clients(&self) -> Clients {
        Clients::new(&self.repo.root())
    }
}

/// The name of the bin that lists `path`.
fn bin_of(path: &str) -> String {
    let digest = Sha256::digest(path.as_bytes());
    format!("bin-{:02x}", digest[0])
}

#[tokio::test]
async fn stand_in_both_clients_read_the_targets_and_follow_a_new_version() {
    let Some(setup) = Setup::start().await else {
        return;
    };
    let clients = setup.clients();
    let bodies = Clients::accepted(clients.run(&setup.base, &[INDEX, KEY]).await);
    assert_eq!(bodies, vec![INDEX_V1.to_vec(), KEY_BODY.to_vec()]);
    setup.repo.publish(&[(INDEX, INDEX_V2)], None);
    let bodies = Clients::accepted(clients.run(&setup.base, &[INDEX]).await);
    assert_eq!(bodies, vec![INDEX_V2.to_vec()]);
    // Only the bin of the index changed: the later run fetched its version 2.
    assert_eq!(
        setup.proxy.count(&format!("/2.{}.json", bin_of(INDEX))),
        2,
        "{:?}",
        setup.proxy.requests()
    );
}

#[tokio::test]
async fn stand_in_rollback_of_the_timestamp_or_the_snapshot_is_refused() {
    let Some(setup) = Setup::start().await else {
        return;
    };
    let clients = setup.clients();
    Clients::accepted(clients.run(&setup.base, &[INDEX]).await);
    setup.repo.publish(&[(INDEX, INDEX_V2)], None);
    Clients::accepted(clients.run(&setup.base, &[INDEX]).await);
    // The first timestamp again, to clients that trust the second.
    let old = setup.proxy.kept("/v1/tuf/metadata/timestamp.json");
    setup.proxy.replace("/timestamp.json", old[0].clone());
    let outcome = clients.run(&setup.base, &[INDEX]).await;
    Clients::refused(
        outcome,
        "BadVersionNumberError",
        "Found version 1 of timestamp",
    );
    // A fresh client takes the old timestamp, whose snapshot version 1 was verified above.
    setup.proxy.pass_all();
    // The current timestamp names snapshot 2; the first snapshot is served under its name.
    let old = setup.proxy.kept("/v1/tuf/metadata/1.snapshot.json");
    setup.proxy.replace("/2.snapshot.json", old[0].clone());
    let fresh = setup.clients();
    let outcome = fresh.run(&setup.base, &[INDEX]).await;
    Clients::refused(outcome, "LengthOrHashMismatchError", "snapshot");
}

#[tokio::test]
async fn stand_in_an_expired_timestamp_is_refused() {
    let Some(setup) = Setup::start().await else {
        return;
    };
    let clients = setup.clients();
    Clients::accepted(clients.run(&setup.base, &[INDEX]).await);
    // Freeze: the repository's newest timestamp expired a minute ago.
    setup.repo.publish(&[], Some(-60));
    let outcome = clients.run(&setup.base, &[INDEX]).await;
    Clients::refused(
        outcome,
        "ExpiredMetadataError",
        "timestamp metadata is expired",
    );
    // A timestamp kept and replayed after it expired, to a client that never saw a newer one.
    setup.repo.publish(&[], Some(10));
    let fresh_before = setup.clients();
    Clients::accepted(fresh_before.run(&setup.base, &[INDEX]).await);
    let kept = setup.proxy.kept("/v1/tuf/metadata/timestamp.json");
    let last = kept.last().unwrap().clone();
    setup.repo.publish(&[], None);
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    setup.proxy.replace("/timestamp.json", last);
    let outcome = setup.clients().run(&setup.base, &[INDEX]).await;
    Clients::refused(
        outcome,
        "ExpiredMetadataError",
        "timestamp metadata is expired",
    );
}

#[tokio::test]
async fn stand_in_a_bin_of_another_version_is_refused() {
    let Some(setup) = Setup::start().await else {
        return;
    };
    setup.repo.publish(&[(INDEX, INDEX_V2)], None);
    // Mix and match: version 1 of the index's bin under the name of version 2.
    let bin = bin_of(INDEX);
    setup.proxy.serve_from(
        &format!("/2.{bin}.json"),
        &format!("/v1/tuf/metadata/1.{bin}.json"),
    );
    let outcome = setup.clients().run(&setup.base, &[INDEX]).await;
    Clients::refused(
        outcome,
        "BadVersionNumberError",
        "metadata version mismatch: fetched 1, expected 2",
    );
}

#[tokio::test]
async fn stand_in_a_changed_target_or_key_is_refused() {
    let Some(setup) = Setup::start().await else {
        return;
    };
    // An arbitrary package: one byte of the index changed.
    setup.proxy.rewrite(".x86_64-linux.json", |body| {
        let mut changed = body.to_vec();
        changed[10] ^= 0x01;
        changed
    });
    let outcome = setup.clients().run(&setup.base, &[INDEX]).await;
    Clients::refused(outcome, "LengthOrHashMismatchError", "Hash mismatch");
    // A substituted origin key: another key's text under the key's name.
    setup.proxy.pass_all();
    setup.proxy.rewrite(".core-20190101000000.pub", |_| {
        b"SIG-PUB-1\ncore-20190101000000\n\nBBBB\n".to_vec()
    });
    let outcome = setup.clients().run(&setup.base, &[KEY]).await;
    Clients::refused(outcome, "LengthOrHashMismatchError", "Hash mismatch");
}
