//! The real `hab-depot` binaries with a TUF repository, checked by the reference TUF client
//! (python-tuf, see `habitat_test_support::tuf`; these skip without it): `hab-depot tuf init`
//! on a depot that holds a release prints the SHA-256 of the root the client pins, and a
//! promote through the running process is in the verified index when it has answered. On
//! PostgreSQL + S3 (skipped without them), a promote through one process is in the verified
//! index served by the other within the publisher's delay. And `hab` itself against the
//! attacks the test proxy mounts (`attacks`): each refused, with nothing installed.

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

/// `hab` against a depot with a TUF repository through the test proxy: the attacks of the
/// verifier tests, each refused with nothing installed.
mod attacks {
    use std::process::Output;

    use habitat_depot_server::tuf::init::{InitOptions, init};
    use habitat_test_support::proxy::Proxy;
    use habitat_test_support::{OriginKeys, TestDepot, artifact, origin_keys};
    use serde_json::Value;
    use time::OffsetDateTime;

    use super::{INDEX, REDIS_1, REDIS_2};
    use crate::support::{Sandbox, client, fq, stderr};

    /// A depot (in this process) holding `core/redis` 1 in `stable` and the origin's key, with
    /// its TUF repository made at `made_at`; a proxy in front of it that keeps the metadata it
    /// passes on; and a `hab` sandbox that pinned the root through the proxy.
    struct Setup {
        depot: TestDepot,
        token: String,
        keys: OriginKeys,
        proxy: Proxy,
        sandbox: Sandbox,
    }

    /// Installs the newest `core/redis` of `stable`, whatever is installed.
    const INSTALL: &[&str] = &["pkg", "install", "core/redis", "--ignore-local"];

    impl Setup {
        async fn start_at(made_at: OffsetDateTime) -> Self {
            let depot = TestDepot::start().await;
            let token = depot.user("alice").await;
            depot.origin(&token, "core").await;
            let keys = origin_keys(&depot.scratch("keys"), "core");
            depot.publish_key("core", &keys).await;
            let proxy = Proxy::start(&depot.url).await;
            proxy.keep_answers(Some("/v1/tuf/metadata/"));
            let setup = Self {
                depot,
                token,
                keys,
                proxy,
                sandbox: Sandbox::new(),
            };
            setup.release(REDIS_1).await;
            let state = &setup.depot.state;
            let options = InitOptions {
                root_keys: 1,
                threshold: 1,
                keys_out: setup.depot.scratch("tuf-keys"),
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
            let trusted = setup
                .hab(&["depot", "trust", "--root-sha256", &made.root_sha256])
                .await;
            assert!(trusted.status.success(), "{}", stderr(&trusted));
            setup
        }

        async fn start() -> Self {
            Self::start_at(OffsetDateTime::now_utc()).await
        }

        /// Uploads `ident` and promotes it to `stable`, then publishes.
        async fn release(&self, ident: &str) {
            let hart = artifact(&self.depot.scratch("out"), ident, &[], &self.keys.secret);
            let to = client(&self.depot.url, Some(&self.token));
            let target = habitat_core::PackageTarget::X86_64Linux;
            to.upload(&hart, &fq(ident), target, None, false, |_| {})
                .await
                .unwrap();
            to.promote(&fq(ident), target, &"stable".parse().unwrap())
                .await
                .unwrap();
            let now = OffsetDateTime::now_utc();
            self.depot.state.tuf.cycle(now).await.unwrap();
        }

        /// `hab ARGS --url PROXY` in the sandbox, which must verify (`HAB_TUF=required`).
        async fn hab(&self, args: &[&str]) -> Output {
            let mut command = self.sandbox.hab();
            command
                .env("HAB_TUF", "required")
                .args(args)
                .args(["--url", &self.proxy.url]);
            tokio::process::Command::from(command)
                .output()
                .await
                .unwrap()
        }

        /// `hab pkg install core/redis --ignore-local` (what is installed does not answer it),
        /// which must fail saying `says`; its stderr.
        async fn install_refused(&self, says: &str) -> String {
            let out = self.hab(INSTALL).await;
            let err = stderr(&out);
            assert!(!out.status.success(), "the install went through:\n{err}");
            assert!(err.contains(says), "not refused with `{says}`:\n{err}");
            err
        }

        /// Whether `ident` is installed in the sandbox.
        fn installed(&self, ident: &str) -> bool {
            self.sandbox.fs_root().join("hab/pkgs").join(ident).is_dir()
        }

        /// The version of `role` the depot's current snapshot names.
        async fn version_in_snapshot(&self, role: &str) -> u64 {
            let timestamp = self.metadata("timestamp.json").await;
            let snapshot = &timestamp["signed"]["meta"]["snapshot.json"]["version"];
            let snapshot = self.metadata(&format!("{snapshot}.snapshot.json")).await;
            snapshot["signed"]["meta"][format!("{role}.json")]["version"]
                .as_u64()
                .unwrap()
        }

        async fn metadata(&self, file: &str) -> Value {
            let response = self.depot.get(&format!("/tuf/metadata/{file}"), None).await;
            response.json().await.unwrap()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hab_installs_through_the_verified_index_and_refuses_an_older_timestamp() {
        let setup = Setup::start().await;
        let out = setup.hab(&["pkg", "install", "core/redis"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(setup.installed(REDIS_1));
        setup.release(REDIS_2).await;
        let out = setup.hab(&["pkg", "download", "core/redis"]).await;
        assert!(out.status.success(), "{}", stderr(&out));

        // Rollback: the timestamp of before the promote, to a hab that trusts a newer one.
        let old = setup.proxy.kept("/v1/tuf/metadata/timestamp.json")[0].clone();
        setup.proxy.replace("/timestamp.json", old);
        let err = setup.install_refused("older than version").await;
        assert!(err.contains("served `timestamp` version"), "{err}");
        assert!(!setup.installed(REDIS_2));
        // The depot's own answers again: the newer release installs.
        setup.proxy.pass_all();
        let out = setup.hab(INSTALL).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(setup.installed(REDIS_2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hab_refuses_an_older_snapshot_or_a_bin_of_another_version() {
        let setup = Setup::start().await;
        let out = setup.hab(&["pkg", "install", "core/redis"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let bin = habitat_core::tuf::layout::bin_of(INDEX);
        let old_bin = setup.version_in_snapshot(&bin).await;
        setup.release(REDIS_2).await;
        let timestamp = setup.metadata("timestamp.json").await;
        let new_snapshot = timestamp["signed"]["meta"]["snapshot.json"]["version"]
            .as_u64()
            .unwrap();
        let new_bin = setup.version_in_snapshot(&bin).await;

        // The snapshot hab trusts, under the name of the new one.
        let kept: Vec<_> = (1..new_snapshot)
            .flat_map(|v| {
                setup
                    .proxy
                    .kept(&format!("/v1/tuf/metadata/{v}.snapshot.json"))
            })
            .collect();
        setup
            .proxy
            .replace(&format!("/{new_snapshot}.snapshot.json"), kept[0].clone());
        setup
            .install_refused(&format!(
                "served `{new_snapshot}.snapshot.json` that does not match the trusted metadata"
            ))
            .await;
        assert!(!setup.installed(REDIS_2));

        // Mix and match: the bin hab trusts (listing only the first release) under the name
        // of the new one.
        setup.proxy.pass_all();
        setup.proxy.serve_from(
            &format!("/{new_bin}.{bin}.json"),
            &format!("/v1/tuf/metadata/{old_bin}.{bin}.json"),
        );
        setup
            .install_refused(&format!(
                "served `{bin}` that does not match the trusted metadata: it is version \
                 {old_bin}, the snapshot names version {new_bin}"
            ))
            .await;
        assert!(!setup.installed(REDIS_2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hab_refuses_an_expired_timestamp() {
        // Freeze: metadata made two days ago, not re-signed since (nothing was written).
        let two_days_ago = OffsetDateTime::now_utc() - time::Duration::days(2);
        let setup = Setup::start_at(two_days_ago).await;
        setup
            .install_refused("served a `timestamp` that expired at")
            .await;
        assert!(!setup.installed(REDIS_1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hab_refuses_a_changed_index_artifact_or_origin_key() {
        let setup = Setup::start().await;
        // An arbitrary package: one byte of the index changed on the way.
        setup.proxy.rewrite(".x86_64-linux.json", |body| {
            let mut changed = body.to_vec();
            let at = changed.len() / 2;
            changed[at] ^= 0x01;
            changed
        });
        setup
            .install_refused(&format!(
                "served `{INDEX}` that does not match the trusted metadata"
            ))
            .await;
        assert!(!setup.installed(REDIS_1));
        setup.proxy.pass_all();

        // An arbitrary package: one byte of the artifact changed.
        setup.proxy.flip_downloads(true);
        setup
            .install_refused("the depot's verified index lists")
            .await;
        assert!(!setup.installed(REDIS_1));
        setup.proxy.flip_downloads(false);

        // A substituted origin key: another key of the origin under the key's target name.
        let other = origin_keys(&setup.depot.scratch("other"), "core");
        let text = other.public_text.clone();
        let name = format!(".{}.pub", setup.keys.secret.name());
        setup
            .proxy
            .rewrite(&name, move |_| text.clone().into_bytes());
        setup
            .install_refused(&format!(
                "served `keys/core/{}.pub` that does not match the trusted metadata",
                setup.keys.secret.name()
            ))
            .await;
        assert!(!setup.installed(REDIS_1));
        setup.proxy.pass_all();

        // The key route answering with another key: hab does not take keys from it.
        setup.proxy.serve_key(Some(other.public_text.clone()));
        let out = setup.hab(&["pkg", "install", "core/redis"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(setup.installed(REDIS_1));
        let cached = setup
            .sandbox
            .keys()
            .join(format!("{}.pub", setup.keys.secret.name()));
        assert_eq!(
            std::fs::read_to_string(cached).unwrap(),
            setup.keys.public_text
        );
    }
}
