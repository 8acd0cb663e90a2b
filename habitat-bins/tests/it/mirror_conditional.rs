//! `hab-depot sync` across runs, against a real upstream `hab-depot` on 127.0.0.1 whose request
//! log counts what it is asked: a re-run with nothing new asks one conditional manifest request
//! per channel and nothing else; a dependency here with another checksum is a conflict.

use std::path::Path;

use habitat_core::keys::SecretKey;
use habitat_core::{ChannelName, PackageTarget};
use habitat_depot_client::Client;
use habitat_test_support::process::DepotProcess;
use habitat_test_support::{rich_artifact, signing_key};

use crate::support::{
    client, fq, origin_with_key, start_depot, start_logged_depot, stderr, sync, user_create,
};

const X86_64: PackageTarget = PackageTarget::X86_64Linux;

/// The requests the upstream has logged so far, one line each.
fn requests(upstream: &DepotProcess) -> Vec<String> {
    upstream
        .log_text()
        .lines()
        .filter(|line| line.contains("hab_depot::request"))
        .map(str::to_owned)
        .collect()
}

/// Packs (with `salt` in its payload) and uploads `ident` with `tdeps`, and promotes it into
/// `channel`.
async fn publish(
    to: &Client,
    work: &Path,
    key: &SecretKey,
    (ident, tdeps, salt): (&str, &[&str], &str),
    channel: Option<&str>,
) {
    let hart = rich_artifact(work, ident, tdeps, key, 64, salt);
    let ident = fq(ident);
    to.upload(&hart, &ident, X86_64, None, false, |_| {})
        .await
        .unwrap();
    if let Some(channel) = channel {
        let channel: ChannelName = channel.parse().unwrap();
        to.promote(&ident, X86_64, &channel).await.unwrap();
    }
}

/// Creates `origin` at the depot of `to` with `key`'s public half.
const LIBC: &str = "core/libc/2.0.0/20240101000000";
const APP: &str = "acme/app/1.0.0/20240101000000";
const TOOL: &str = "acme/tool/1.0.0/20240101000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_with_nothing_new_asks_one_conditional_request_per_channel() {
    let dir = tempfile::tempdir().unwrap();
    let (up_data, here_data) = (dir.path().join("upstream"), dir.path().join("here"));
    let work = dir.path().join("work");
    let token = user_create(&up_data, "alice");
    user_create(&here_data, "mirror");
    let upstream = start_logged_depot(&up_data);
    let alice = client(&upstream.url, Some(&token));
    let (core_key, acme_key) = (signing_key("core"), signing_key("acme"));
    origin_with_key(&alice, "core", &core_key).await;
    origin_with_key(&alice, "acme", &acme_key).await;
    let beta: ChannelName = "beta".parse().unwrap();
    alice
        .create_channel(&"acme".parse().unwrap(), &beta)
        .await
        .unwrap();
    publish(&alice, &work, &core_key, (LIBC, &[], "up"), None).await;
    publish(
        &alice,
        &work,
        &acme_key,
        (APP, &[LIBC], "up"),
        Some("stable"),
    )
    .await;
    publish(
        &alice,
        &work,
        &acme_key,
        (TOOL, &[LIBC], "up"),
        Some("beta"),
    )
    .await;

    let args = [
        "--from",
        upstream.url.as_str(),
        "--origin",
        "acme",
        "--channel",
        "stable",
        "--channel",
        "beta",
        "--owner",
        "mirror",
    ];
    let first = sync(&here_data, &args);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("3 new, 0 up to date"),
        "{}",
        stderr(&first)
    );
    // The table: a row per channel, a package both need (core/libc) counted in each.
    let said = stderr(&first);
    let rows: Vec<Vec<&str>> = said
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for row in [
        [
            "origin", "channel", "target", "new", "up", "to", "date", "added",
        ]
        .as_slice(),
        &["acme", "stable", "x86_64-linux", "2", "0", "1", "0", "0"],
        &["acme", "beta", "x86_64-linux", "2", "0", "1", "0", "0"],
    ] {
        assert!(
            rows.iter().any(|r| r.starts_with(row)),
            "no row {row:?}: {said}"
        );
    }

    // Nothing new: one request per channel, each answered 304, and nothing else.
    let before = requests(&upstream).len();
    let again = sync(&here_data, &args);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again)
            .contains("0 new, 3 up to date, 0 channel memberships added, 0 removed, 0 failed"),
        "{}",
        stderr(&again)
    );
    let asked = requests(&upstream)[before..].to_vec();
    assert_eq!(asked.len(), 2, "{asked:#?}");
    for (line, channel) in asked.iter().zip(["stable", "beta"]) {
        assert!(
            line.contains(&format!("/channels/acme/{channel}/manifest")),
            "{asked:#?}"
        );
        assert!(line.contains("status=304"), "{asked:#?}");
    }

    // A change upstream: the changed channel is read whole, the other costs one 304 still.
    let newer = "acme/app/1.1.0/20240201000000";
    publish(
        &alice,
        &work,
        &acme_key,
        (newer, &[LIBC], "up"),
        Some("stable"),
    )
    .await;
    let before = requests(&upstream).len();
    let changed = sync(&here_data, &args);
    assert!(changed.status.success(), "{}", stderr(&changed));
    assert!(
        stderr(&changed).contains("1 new, 3 up to date, 1 channel membership added"),
        "{}",
        stderr(&changed)
    );
    let asked = requests(&upstream)[before..].to_vec();
    assert!(
        asked
            .iter()
            .any(|l| l.contains("/acme/stable/manifest") && l.contains("status=200")),
        "{asked:#?}"
    );
    assert!(
        asked
            .iter()
            .any(|l| l.contains("/acme/beta/manifest") && l.contains("status=304")),
        "{asked:#?}"
    );
    // The dependency's checksum came with the kept manifests: it is not asked for.
    assert!(
        !asked.iter().any(|l| l.contains("/pkgs/core/libc/")),
        "{asked:#?}"
    );
    let nothing = sync(&here_data, &args);
    assert!(nothing.status.success(), "{}", stderr(&nothing));
    assert!(
        stderr(&nothing).contains("0 new, 4 up to date"),
        "{}",
        stderr(&nothing)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_here_with_another_checksum_is_a_conflict_and_its_dependents_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (up_data, here_data) = (dir.path().join("upstream"), dir.path().join("here"));
    let work = dir.path().join("work");
    let token = user_create(&up_data, "alice");
    let mirror = user_create(&here_data, "mirror");
    let upstream = start_depot(&up_data);
    let alice = client(&upstream.url, Some(&token));
    let (core_key, acme_key) = (signing_key("core"), signing_key("acme"));
    origin_with_key(&alice, "core", &core_key).await;
    origin_with_key(&alice, "acme", &acme_key).await;
    publish(&alice, &work, &core_key, (LIBC, &[], "up"), None).await;
    publish(
        &alice,
        &work,
        &acme_key,
        (APP, &[LIBC], "up"),
        Some("stable"),
    )
    .await;

    // Here: the same ident of the dependency, built otherwise.
    let here = start_depot(&here_data);
    let local = client(&here.url, Some(&mirror));
    origin_with_key(&local, "core", &core_key).await;
    publish(&local, &work, &core_key, (LIBC, &[], "here"), None).await;
    let libc_here = local.package(&fq(LIBC), X86_64).await.unwrap().checksum;
    here.stop().unwrap();

    let run = sync(
        &here_data,
        &[
            "--from",
            upstream.url.as_str(),
            "--origin",
            "acme",
            "--channel",
            "stable",
            "--owner",
            "mirror",
        ],
    );
    assert!(!run.status.success(), "a conflicting dependency was taken");
    let said = stderr(&run);
    assert!(
        said.contains(&format!(
            "failed: {LIBC} for `x86_64-linux` exists here with another checksum"
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!("{APP} for `x86_64-linux`: its dependency {LIBC}")),
        "{said}"
    );
    assert!(said.contains("0 new, 0 up to date"), "{said}");
    assert!(said.contains("2 failed"), "{said}");

    // The one here is left as it was, and the dependent was not stored.
    let here = start_depot(&here_data);
    let local = client(&here.url, None);
    assert_eq!(
        local.package(&fq(LIBC), X86_64).await.unwrap().checksum,
        libc_here
    );
    let app = local.package(&fq(APP), X86_64).await.unwrap_err();
    assert!(app.is_not_found(), "{app}");
}
