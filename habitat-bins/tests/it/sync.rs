//! `hab-depot sync` between two real `hab-depot` processes on 127.0.0.1: a full sync with the
//! dependencies and channel state, a re-run that downloads nothing (counted in the upstream's
//! request log), and a tampered artifact upstream refused with nothing stored.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use habitat_core::keys::SecretKey;
use habitat_core::{ChannelName, OriginName, PackageTarget};
use habitat_depot_client::Client;
use habitat_test_support::proxy::Proxy;
use habitat_test_support::{artifact, rich_artifact, signing_key};

use crate::support::{
    DepotProcess, client, fq, hab_depot_bin, origin_with_key, start_depot, start_depot_with,
    start_logged_depot, stderr, sync, user_create,
};

const X86_64: PackageTarget = PackageTarget::X86_64Linux;

/// An upstream depot with `alice` (an account there, and a client of hers) beside the data
/// directory of the depot that syncs from it, with its account `mirror`; all under `dir`.
struct Pair {
    dir: tempfile::TempDir,
    up_data: PathBuf,
    here_data: PathBuf,
    work: PathBuf,
    mirror: String,
    upstream: DepotProcess,
    alice: Client,
}

impl Pair {
    /// The pair, its upstream started by `start` (with or without a request log).
    fn start(start: fn(&Path) -> DepotProcess) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (up_data, here_data) = (dir.path().join("upstream"), dir.path().join("here"));
        let work = dir.path().join("work");
        let token = user_create(&up_data, "alice");
        let mirror = user_create(&here_data, "mirror");
        let upstream = start(&up_data);
        let alice = client(&upstream.url, Some(&token));
        Self {
            dir,
            up_data,
            here_data,
            work,
            mirror,
            upstream,
            alice,
        }
    }
}

/// How many artifact downloads the upstream has served so far.
fn downloads(upstream: &DepotProcess) -> usize {
    upstream
        .log_text()
        .lines()
        .filter(|line| line.contains("hab_depot::request") && line.contains("/download"))
        .count()
}

/// `hab-depot fsck --data-dir DATA`: its summary line.
fn fsck(data: &Path) -> String {
    let out = Command::new(hab_depot_bin())
        .args(["fsck", "--data-dir"])
        .arg(data)
        .env_remove("HAB_DEPOT_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "fsck: {}", stderr(&out));
    stderr(&out)
}

/// The signing keys of `core` and `acme`.
struct Keys {
    core: SecretKey,
    acme: SecretKey,
}

impl Keys {
    fn of(&self, origin: &str) -> &SecretKey {
        if origin == "core" {
            &self.core
        } else {
            &self.acme
        }
    }
}

/// Packs, uploads and promotes into `channel` (if any) `ident` with `tdeps`.
async fn publish(
    (alice, keys): (&Client, &Keys),
    work: &Path,
    ident: &str,
    tdeps: &[&str],
    channel: Option<&str>,
) -> PathBuf {
    let origin = ident.split('/').next().unwrap();
    let hart = artifact(work, ident, tdeps, keys.of(origin));
    let ident = fq(ident);
    alice
        .upload(&hart, &ident, X86_64, None, false, |_| {})
        .await
        .unwrap();
    if let Some(channel) = channel {
        let channel: ChannelName = channel.parse().unwrap();
        alice.promote(&ident, X86_64, &channel).await.unwrap();
    }
    hart
}

/// The channels of a package at `url`.
async fn channels_of(url: &str, ident: &str) -> Vec<String> {
    let listed = client(url, None)
        .package_channels(&fq(ident), X86_64)
        .await
        .unwrap();
    listed.into_iter().map(|c| c.name.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_mirrors_members_and_dependencies_then_downloads_nothing_and_refuses_a_flipped_byte() {
    let Pair {
        dir,
        up_data,
        here_data,
        work,
        mirror: _,
        upstream,
        alice,
    } = Pair::start(start_logged_depot);
    let keys = Keys {
        core: signing_key("core"),
        acme: signing_key("acme"),
    };
    for origin in ["core", "acme"] {
        origin_with_key(&alice, origin, keys.of(origin)).await;
    }
    let alice = (&alice, &keys);
    publish(alice, &work, "core/libc/2.0.0/20240101000000", &[], None).await;
    publish(
        alice,
        &work,
        "acme/lib/1.0.0/20240101000000",
        &["core/libc/2.0.0/20240101000000"],
        None,
    )
    .await;
    let app_deps = [
        "core/libc/2.0.0/20240101000000",
        "acme/lib/1.0.0/20240101000000",
    ];
    publish(
        alice,
        &work,
        "acme/app/1.0.0/20240101000000",
        &app_deps,
        Some("stable"),
    )
    .await;
    publish(
        alice,
        &work,
        "acme/tool/1.0.0/20240101000000",
        &[],
        Some("stable"),
    )
    .await;
    // Not in `stable`: not mirrored.
    publish(alice, &work, "acme/other/1.0.0/20240101000000", &[], None).await;

    // A full sync: two members, two dependencies (one of another origin), both keys.
    let args = [
        "--from",
        upstream.url.as_str(),
        "--origin",
        "acme",
        "--channel",
        "stable",
        "--owner",
        "mirror",
    ];
    let first = sync(&here_data, &args);
    assert!(first.status.success(), "sync failed: {}", stderr(&first));
    let said = stderr(&first);
    assert!(said.contains("4 new, 0 up to date"), "{said}");
    assert!(said.contains("0 failed"), "{said}");
    assert_eq!(downloads(&upstream), 4, "{}", upstream.log_text());
    assert!(fsck(&here_data).contains("checked 4 packages"));

    // A re-run: nothing new, nothing downloaded.
    let again = sync(&here_data, &args);
    assert!(again.status.success(), "re-run failed: {}", stderr(&again));
    assert!(
        stderr(&again)
            .contains("0 new, 4 up to date, 0 channel memberships added, 0 removed, 0 failed"),
        "{}",
        stderr(&again)
    );
    assert_eq!(downloads(&upstream), 4, "{}", upstream.log_text());

    // A flipped byte in the upstream's stored artifact: refused, and so is what needs it.
    let bad = publish(alice, &work, "acme/bad/1.0.0/20240101000000", &[], None).await;
    let checksum = habitat_core::Blake2bHash::of_file(&bad)
        .unwrap()
        .to_string();
    let stored = find_file(&up_data, &format!("{checksum}.hart")).expect("the stored artifact");
    let mut bytes = std::fs::read(&stored).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&stored, bytes).unwrap();
    let beta: ChannelName = "beta".parse().unwrap();
    let acme: OriginName = "acme".parse().unwrap();
    alice.0.create_channel(&acme, &beta).await.unwrap();
    publish(
        alice,
        &work,
        "acme/uses-bad/1.0.0/20240101000000",
        &["acme/bad/1.0.0/20240101000000"],
        Some("beta"),
    )
    .await;
    let failed = sync(
        &here_data,
        &[
            "--from",
            upstream.url.as_str(),
            "--origin",
            "acme",
            "--channel",
            "beta",
        ],
    );
    assert!(!failed.status.success(), "a tampered artifact was accepted");
    let said = stderr(&failed);
    assert!(said.contains("acme/bad/1.0.0/20240101000000"), "{said}");
    assert!(said.contains("checksum"), "{said}");
    assert!(said.contains("0 new"), "{said}");
    assert!(fsck(&here_data).contains("checked 4 packages"));

    // A Builder has no manifest route: the sync falls back to the listing and package JSON.
    let (builder, seen) = start_builder_stand_in(&upstream.url).await;
    let fresh = dir.path().join("fresh");
    user_create(&fresh, "mirror");
    let mut args = args;
    args[1] = builder.as_str();
    let fallback = tokio::task::spawn_blocking({
        let fresh = fresh.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            sync(&fresh, &args)
        }
    })
    .await
    .unwrap();
    assert!(fallback.status.success(), "{}", stderr(&fallback));
    assert!(
        stderr(&fallback).contains("4 new, 0 up to date, 2 channel memberships added"),
        "{}",
        stderr(&fallback)
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|p| p.contains("/stable/manifest")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|p| p.contains("/channels/acme/stable/pkgs")),
        "{seen:?}"
    );
    assert!(fsck(&fresh).contains("checked 4 packages"));

    // Channel state as upstream: members in `stable`, dependencies only in `unstable`.
    upstream.stop().unwrap();
    let here = start_depot(&here_data);
    assert_eq!(
        channels_of(&here.url, "acme/app/1.0.0/20240101000000").await,
        ["stable", "unstable"]
    );
    assert_eq!(
        channels_of(&here.url, "acme/lib/1.0.0/20240101000000").await,
        ["unstable"]
    );
    assert_eq!(
        channels_of(&here.url, "core/libc/2.0.0/20240101000000").await,
        ["unstable"]
    );
    let other = client(&here.url, None)
        .package(&fq("acme/other/1.0.0/20240101000000"), X86_64)
        .await
        .unwrap_err();
    assert!(other.is_not_found(), "{other}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_in_the_settings_are_synced_and_their_channels_are_read_only() {
    let Pair {
        dir,
        up_data: _,
        here_data,
        work,
        mirror,
        upstream,
        alice,
    } = Pair::start(start_depot);
    let key = signing_key("acme");
    let acme: OriginName = "acme".parse().unwrap();
    let (stable, unstable): (ChannelName, ChannelName) =
        ("stable".parse().unwrap(), "unstable".parse().unwrap());
    origin_with_key(&alice, "acme", &key).await;
    for (ident, salt) in [
        ("acme/a/1.0.0/20240101000000", "a"),
        ("acme/b/1.0.0/20240101000000", "b"),
    ] {
        let hart = rich_artifact(&work, ident, &[], &key, 64, salt);
        alice
            .upload(&hart, &fq(ident), X86_64, None, false, |_| {})
            .await
            .unwrap();
    }
    alice
        .promote(&fq("acme/a/1.0.0/20240101000000"), X86_64, &stable)
        .await
        .unwrap();

    // Pinned keys: another key of `acme` is pinned, so the upstream's is refused.
    let (pinned_other, pinned_right) = (dir.path().join("other.pub"), dir.path().join("acme.pub"));
    std::fs::write(
        &pinned_other,
        signing_key("acme").public_key().to_file_string(),
    )
    .unwrap();
    std::fs::write(&pinned_right, key.public_key().to_file_string()).unwrap();
    let config = dir.path().join("depot.toml");
    let write_config = |pinned: &Path| {
        std::fs::write(
            &config,
            format!(
                "trusted_keys = [{:?}]\n[[mirror]]\nfrom = \"{}\"\norigins = [\"acme\"]\n\
                 channels = [\"stable\"]\n",
                pinned.to_str().unwrap(),
                upstream.url
            ),
        )
        .unwrap();
    };
    write_config(&pinned_other);
    let config_args = ["--config", config.to_str().unwrap(), "--owner", "mirror"];
    let refused = sync(&here_data, &config_args);
    assert!(!refused.status.success(), "an unpinned key was accepted");
    assert!(
        stderr(&refused).contains("trusted_keys"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("0 new"), "{}", stderr(&refused));
    write_config(&pinned_right);
    let ran = sync(&here_data, &config_args);
    assert!(ran.status.success(), "{}", stderr(&ran));
    assert!(stderr(&ran).contains("1 new, 0 up to date, 1 channel membership added"));

    // `stable` of `acme` is the mirror's: no promotion or demotion through the API here.
    let here = start_depot_with(&[
        "--data-dir".as_ref(),
        here_data.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    let local = client(&here.url, Some(&mirror));
    let a = fq("acme/a/1.0.0/20240101000000");
    let err = local.demote(&a, X86_64, &stable).await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(403), Some("mirrored_channel")),
        "{err}"
    );
    let err = local
        .promote_channel(&acme, &unstable, &stable)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(403), Some("mirrored_channel")),
        "{err}"
    );
    // `unstable` is not mirrored: uploads still land there, and may go to other channels.
    let c = fq("acme/c/1.0.0/20240101000000");
    let hart = rich_artifact(&work, "acme/c/1.0.0/20240101000000", &[], &key, 64, "c");
    local
        .upload(&hart, &c, X86_64, None, false, |_| {})
        .await
        .unwrap();
    let err = local.promote(&c, X86_64, &stable).await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(403), Some("mirrored_channel")),
        "{err}"
    );
    let beta: ChannelName = "beta".parse().unwrap();
    local.create_channel(&acme, &beta).await.unwrap();
    local.promote(&c, X86_64, &beta).await.unwrap();
    assert_eq!(
        channels_of(&here.url, "acme/c/1.0.0/20240101000000").await,
        ["beta", "unstable"]
    );
}

/// A stand-in for a Builder in front of `upstream` (its `…/v1` URL): every `GET` is passed on,
/// except the manifest route, which a Builder does not have (404). Returns its URL and the
/// paths asked.
async fn start_builder_stand_in(upstream: &str) -> (String, Arc<Mutex<Vec<String>>>) {
    let (url, seen, _) = start_stand_in(upstream, true).await;
    (url, seen)
}

/// A proxy in front of `upstream` (its `…/v1` URL) that logs each path asked (with its `Range`
/// header, if any), answers 404 to the manifest route when `no_manifest`, and cuts the body of
/// a download of `acme/big` after as many bytes as its counter says (0: never).
async fn start_stand_in(
    upstream: &str,
    no_manifest: bool,
) -> (String, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>) {
    let proxy = Proxy::start(upstream).await;
    if no_manifest {
        proxy.without_manifest();
    }
    proxy.cut_only("/acme/big/");
    (proxy.url, proxy.seen, proxy.cut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_sync_resumes_its_download_with_range_on_the_next_run() {
    let Pair {
        dir: _dir,
        up_data: _,
        here_data,
        work,
        mirror: _,
        upstream,
        alice,
    } = Pair::start(start_depot);
    let key = signing_key("acme");
    origin_with_key(&alice, "acme", &key).await;
    let big = fq("acme/big/1.0.0/20240101000000");
    let hart = rich_artifact(
        &work,
        "acme/big/1.0.0/20240101000000",
        &[],
        &key,
        1 << 20,
        "x",
    );
    alice
        .upload(&hart, &big, X86_64, None, false, |_| {})
        .await
        .unwrap();
    alice
        .promote(&big, X86_64, &"stable".parse().unwrap())
        .await
        .unwrap();

    let (proxy, seen, cut) = start_stand_in(&upstream.url, false).await;
    let run = || {
        let (data, proxy) = (here_data.clone(), proxy.clone());
        tokio::task::spawn_blocking(move || {
            let args = [
                "--from",
                proxy.as_str(),
                "--origin",
                "acme",
                "--channel",
                "stable",
                "--owner",
                "mirror",
            ];
            sync(&data, &args)
        })
    };
    // Every answer is cut after 64 KiB: the run ends with what it has, and says so.
    cut.store(64 << 10, Ordering::SeqCst);
    let first = run().await.unwrap();
    assert!(!first.status.success(), "a cut download was stored");
    assert!(stderr(&first).contains("0 new"), "{}", stderr(&first));
    assert!(fsck(&here_data).contains("checked 0 packages"));
    let part = find_part(&here_data.join("tmp"))
        .unwrap_or_else(|| panic!("no partial download kept: {}", stderr(&first)));
    assert!(std::fs::metadata(&part).unwrap().len() > 0);

    // The next run asks only for the rest.
    cut.store(0, Ordering::SeqCst);
    let before = seen.lock().unwrap().len();
    let second = run().await.unwrap();
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stderr(&second).contains("1 new"), "{}", stderr(&second));
    let asked: Vec<String> = seen.lock().unwrap()[before..].to_vec();
    let download = asked
        .iter()
        .find(|p| p.contains("/download"))
        .expect("a download");
    assert!(download.contains(" range=bytes="), "{asked:?}");
    assert!(!download.contains("range=bytes=0-"), "{asked:?}");
    let said = fsck(&here_data);
    assert!(
        said.contains("checked 1 packages") && said.contains("clean"),
        "{said}"
    );
    assert!(find_part(&here_data.join("tmp")).is_none());
}

/// A partial download (`.*.part`) under `dir`.
fn find_part(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_part(&path) {
                return Some(found);
            }
        } else if path.extension().is_some_and(|e| e == "part") {
            return Some(path);
        }
    }
    None
}

/// `key` under another key's revision: what a substituted key looks like.
fn same_revision(key: &SecretKey, like: &SecretKey) -> SecretKey {
    let text = key.to_file_string();
    let text = text.replacen(&key.name().to_string(), &like.name().to_string(), 1);
    SecretKey::parse(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_mode_removes_what_left_upstream_and_conflicts_and_other_keys_are_refused() {
    let Pair {
        dir: _dir,
        up_data: _,
        here_data,
        work,
        mirror,
        upstream,
        alice,
    } = Pair::start(start_depot);
    let acme_key = signing_key("acme");
    let zed_here = signing_key("zed");
    let zed_there = same_revision(&signing_key("zed"), &zed_here);
    assert_ne!(zed_here.public_key(), zed_there.public_key());
    let stable: ChannelName = "stable".parse().unwrap();
    origin_with_key(&alice, "acme", &acme_key).await;
    origin_with_key(&alice, "zed", &zed_there).await;
    let upload = |client: &Client, key: &SecretKey, ident: &str, salt: &str| {
        let hart = rich_artifact(&work, ident, &[], key, 64, salt);
        let (client, ident) = (client.clone(), fq(ident));
        async move {
            client
                .upload(&hart, &ident, X86_64, None, false, |_| {})
                .await
                .unwrap();
            client
                .promote(&ident, X86_64, &"stable".parse().unwrap())
                .await
                .unwrap();
        }
    };
    upload(&alice, &acme_key, "acme/a/1.0.0/20240101000000", "up").await;
    upload(&alice, &acme_key, "acme/b/1.0.0/20240101000000", "up").await;
    upload(&alice, &acme_key, "acme/c/1.0.0/20240101000000", "up").await;
    upload(&alice, &zed_there, "zed/z/1.0.0/20240101000000", "up").await;

    // Here: acme with the same key and another acme/c; zed with another key of that revision.
    let here = start_depot(&here_data);
    let local = client(&here.url, Some(&mirror));
    origin_with_key(&local, "acme", &acme_key).await;
    origin_with_key(&local, "zed", &zed_here).await;
    upload(&local, &acme_key, "acme/c/1.0.0/20240101000000", "here").await;
    let c_here = local
        .package(&fq("acme/c/1.0.0/20240101000000"), X86_64)
        .await
        .unwrap()
        .checksum;
    here.stop().unwrap();

    let run = |origin: &str, mode: &str| {
        sync(
            &here_data,
            &[
                "--from",
                upstream.url.as_str(),
                "--origin",
                origin,
                "--channel",
                "stable",
                "--mode",
                mode,
            ],
        )
    };
    // The conflict is reported and left alone; what does not conflict is stored.
    let first = run("acme", "exact");
    assert!(!first.status.success(), "a conflict was not a failure");
    let said = stderr(&first);
    assert!(said.contains("acme/c/1.0.0/20240101000000"), "{said}");
    assert!(said.contains("conflict"), "{said}");
    assert!(said.contains("2 new"), "{said}");
    assert!(said.contains("nothing removed"), "{said}");

    // Another key under a revision this depot has: refused, nothing stored.
    let keyed = run("zed", "additive");
    assert!(!keyed.status.success(), "a substituted key was accepted");
    let said = stderr(&keyed);
    assert!(said.contains("differs"), "{said}");
    assert!(said.contains("0 new"), "{said}");

    // Upstream demotes acme/b and drops acme/c from stable: additive keeps b, exact removes
    // it (a clean run), and acme/c stays as it was here.
    alice
        .demote(&fq("acme/b/1.0.0/20240101000000"), X86_64, &stable)
        .await
        .unwrap();
    alice
        .demote(&fq("acme/c/1.0.0/20240101000000"), X86_64, &stable)
        .await
        .unwrap();
    let additive = run("acme", "additive");
    assert!(additive.status.success(), "{}", stderr(&additive));
    assert!(
        stderr(&additive).contains("0 removed"),
        "{}",
        stderr(&additive)
    );
    let exact = run("acme", "exact");
    assert!(exact.status.success(), "{}", stderr(&exact));
    assert!(stderr(&exact).contains("2 removed"), "{}", stderr(&exact));

    let here = start_depot(&here_data);
    assert_eq!(
        channels_of(&here.url, "acme/a/1.0.0/20240101000000").await,
        ["stable", "unstable"]
    );
    assert_eq!(
        channels_of(&here.url, "acme/b/1.0.0/20240101000000").await,
        ["unstable"]
    );
    let c = client(&here.url, None)
        .package(&fq("acme/c/1.0.0/20240101000000"), X86_64)
        .await
        .unwrap();
    assert_eq!(c.checksum, c_here);
    let z = client(&here.url, None)
        .package(&fq("zed/z/1.0.0/20240101000000"), X86_64)
        .await
        .unwrap_err();
    assert!(z.is_not_found(), "{z}");
}

/// The first file named `name` under `dir`.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_substituted_on_the_way_is_refused_and_never_kept() {
    let Pair {
        dir: _dir,
        here_data,
        work,
        upstream,
        alice,
        ..
    } = Pair::start(start_logged_depot);
    let keys = Keys {
        core: signing_key("core"),
        acme: signing_key("acme"),
    };
    origin_with_key(&alice, "acme", &keys.acme).await;
    let alice = (&alice, &keys);
    publish(
        alice,
        &work,
        "acme/tool/1.0.0/20240101000000",
        &[],
        Some("stable"),
    )
    .await;

    // The proxy serves another key under the upstream's key's name and revision: this depot
    // has no key of that revision yet, and must not take that one.
    let proxy = Proxy::start(&upstream.url).await;
    let forged = same_revision(&signing_key("acme"), &keys.acme);
    proxy.serve_key(Some(forged.public_key().to_file_string()));
    let run = |from: String| {
        let data = here_data.clone();
        tokio::task::spawn_blocking(move || {
            let args = [
                "--from",
                &from,
                "--origin",
                "acme",
                "--channel",
                "stable",
                "--owner",
                "mirror",
            ];
            sync(&data, &args)
        })
    };
    let refused = run(proxy.url.clone()).await.unwrap();
    assert!(!refused.status.success(), "a substituted key was taken");
    let said = stderr(&refused);
    assert!(said.contains("acme/tool/1.0.0/20240101000000"), "{said}");
    assert!(said.contains("0 new"), "{said}");

    // Had the forged key been kept, the upstream's own would now differ from it and be refused.
    proxy.serve_key(None);
    let taken = run(proxy.url.clone()).await.unwrap();
    assert!(taken.status.success(), "{}", stderr(&taken));
    let said = stderr(&taken);
    assert!(said.contains("added public key `acme-"), "{said}");
    assert!(said.contains("1 new, 0 up to date"), "{said}");
    assert!(fsck(&here_data).contains("checked 1 packages"));
}
