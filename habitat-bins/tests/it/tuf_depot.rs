//! The real `hab-depot` binaries with a TUF repository, checked by the reference TUF client
//! (python-tuf, see `habitat_test_support::tuf`; these skip without it): `hab-depot tuf init`
//! on a depot that holds a release prints the SHA-256 of the root the client pins, and a
//! promote through the running process is in the verified index when it has answered. On
//! PostgreSQL + S3 (skipped without them), a promote through one process is in the verified
//! index served by the other within the publisher's delay.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use habitat_core::PackageTarget;
use habitat_core::keys::SecretKey;
use habitat_test_support::scale_out::ScaleOut;
use habitat_test_support::tuf::{ReferenceClient, Verified};
use habitat_test_support::{artifact, signing_key};

use crate::support::{
    Sandbox, client, fq, hab_depot, origin_with_key, start_depot, start_depot_with, user_create,
};

const REDIS_1: &str = "core/redis/4.0.14/20190319155852";
const REDIS_2: &str = "core/redis/5.0.0/20200101000000";
const INDEX: &str = "channels/core/stable/redis/x86_64-linux.json";
/// How long a scale-out depot may take to publish a change (it polls once a second).
const PUBLISH_DELAY: Duration = Duration::from_secs(5);

fn os<S: AsRef<OsStr> + ?Sized>(s: &S) -> &OsStr {
    s.as_ref()
}

/// Uploads `ident` (signed by `key`) through `url` and promotes it to `stable`.
async fn release(url: &str, token: &str, dir: &Path, key: &SecretKey, ident: &str) {
    let hart = artifact(dir, ident, &[], key);
    let to = client(url, Some(token));
    let ident = fq(ident);
    let target = PackageTarget::X86_64Linux;
    to.upload(&hart, &ident, target, None, false, |_| {})
        .await
        .unwrap();
    to.promote(&ident, target, &"stable".parse().unwrap())
        .await
        .unwrap();
}

/// `1.root.json` from the depot at `url` (`…/v1`), written to `dir`, checked against the
/// SHA-256 `tuf init` printed.
async fn pinned_root(url: &str, printed: &str, dir: &Path) -> PathBuf {
    let body = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{url}/tuf/metadata/1.root.json"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(habitat_core::tuf::sha256_hex(&body), printed.trim());
    let file = dir.join("1.root.json");
    std::fs::write(&file, &body).unwrap();
    file
}

/// The idents a verified channel index lists, newest first.
fn idents(verified: &Verified) -> Vec<String> {
    let index = verified.json();
    index["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|release| release["ident"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn hab_depot_tuf_init_and_a_promote_verify_with_the_reference_client() {
    let Some(python) = ReferenceClient::find() else {
        return;
    };
    let sandbox = Sandbox::new();
    let data = sandbox.path().join("data");
    let token = user_create(&data, "alice");
    let depot = start_depot(&data);
    let key = signing_key("core");
    origin_with_key(&client(&depot.url, Some(&token)), "core", &key).await;
    release(&depot.url, &token, sandbox.path(), &key, REDIS_1).await;
    let printed = hab_depot(&[os("tuf"), os("init"), os("--data-dir"), data.as_os_str()]);
    let root = pinned_root(&depot.url, &printed, sandbox.path()).await;
    let base = format!("{}/tuf", depot.url);
    let work = sandbox.path().join("python-tuf");
    let key_path = format!("keys/core/{}.pub", key.name());
    let verified = python
        .verify(&base, &root, &work, &[INDEX, &key_path])
        .await
        .unwrap_or_else(|refused| panic!("{}: {}", refused.error, refused.message));
    assert_eq!(idents(&verified[0]), vec![REDIS_1]);
    assert_eq!(
        String::from_utf8(verified[1].bytes()).unwrap(),
        key.public_key().to_file_string()
    );
    // A promote that answered is in the verified index (the embedded store publishes first).
    release(&depot.url, &token, sandbox.path(), &key, REDIS_2).await;
    let verified = python
        .verify(&base, &root, &work, &[INDEX])
        .await
        .unwrap_or_else(|refused| panic!("{}: {}", refused.error, refused.message));
    assert_eq!(idents(&verified[0]), vec![REDIS_2, REDIS_1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_promote_through_one_scale_out_process_verifies_through_the_other() {
    let Some(python) = ReferenceClient::find() else {
        return;
    };
    let Some(servers) = ScaleOut::get() else {
        return;
    };
    let sandbox = Sandbox::new();
    let deployment = servers.deployment(&sandbox.path().join("deploy")).await;
    hab_depot(&[
        os("server-key"),
        os("create"),
        os("--to"),
        deployment.server_key.as_os_str(),
    ]);
    let config = deployment.config.as_os_str();
    let admin = sandbox.path().join("admin-data");
    let admin_args = [os("--config"), config, os("--data-dir"), admin.as_os_str()];
    let with = |args: &[&OsStr]| {
        let mut all = args.to_vec();
        all.extend(admin_args);
        hab_depot(&all)
    };
    let token = with(&[os("user"), os("create"), os("alice")])
        .trim()
        .to_owned();
    let start = |name: &str| {
        let data = sandbox.path().join(name);
        start_depot_with(&[os("--config"), config, os("--data-dir"), data.as_os_str()])
    };
    let (a, b) = (start("data-a"), start("data-b"));
    let key = signing_key("core");
    origin_with_key(&client(&a.url, Some(&token)), "core", &key).await;
    release(&a.url, &token, sandbox.path(), &key, REDIS_1).await;
    let printed = with(&[os("tuf"), os("init")]);
    let root = pinned_root(&b.url, &printed, sandbox.path()).await;
    let base = format!("{}/tuf", b.url);
    let work = sandbox.path().join("python-tuf");
    let verified = python.verify(&base, &root, &work, &[INDEX]).await.unwrap();
    assert_eq!(idents(&verified[0]), vec![REDIS_1]);

    release(&a.url, &token, sandbox.path(), &key, REDIS_2).await;
    let promoted = Instant::now();
    loop {
        let verified = python
            .verify(&base, &root, &work, &[INDEX])
            .await
            .unwrap_or_else(|refused| panic!("{}: {}", refused.error, refused.message));
        if idents(&verified[0]) == [REDIS_2, REDIS_1] {
            break;
        }
        assert!(
            promoted.elapsed() < PUBLISH_DELAY,
            "the promote through one process is not in the verified index of the other after \
             {PUBLISH_DELAY:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
