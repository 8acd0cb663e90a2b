//! Scheduled mirrors: a `hab-depot start` whose settings have a `[[mirror]]` with an
//! `interval` fills itself from a real upstream `hab-depot` on 127.0.0.1, then picks up what
//! is published upstream later.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use habitat_core::keys::SecretKey;
use habitat_core::{ChannelName, PackageTarget};
use habitat_depot_client::Client;
use habitat_test_support::process::DepotProcess;
use habitat_test_support::{artifact, signing_key};

use crate::support::{client, fq, origin_with_key, start_depot, user_create};

const X86_64: PackageTarget = PackageTarget::X86_64Linux;

/// Packs and uploads `ident` (signed with `key`) with `tdeps`, and promotes it into `channel`.
async fn publish(
    alice: &Client,
    work: &Path,
    key: &SecretKey,
    ident: &str,
    tdeps: &[&str],
    channel: Option<&str>,
) {
    let hart = artifact(work, ident, tdeps, key);
    let ident = fq(ident);
    alice
        .upload(&hart, &ident, X86_64, None, false, |_| {})
        .await
        .unwrap();
    if let Some(channel) = channel {
        let channel: ChannelName = channel.parse().unwrap();
        alice.promote(&ident, X86_64, &channel).await.unwrap();
    }
}

/// The channels `ident` is in at `url`, or `None` while it is not there.
async fn channels_of(url: &str, ident: &str) -> Option<Vec<String>> {
    let listed = client(url, None)
        .package_channels(&fq(ident), X86_64)
        .await
        .ok()?;
    Some(listed.into_iter().map(|c| c.name.to_string()).collect())
}

/// Waits (30 s at most) until `ident` is in `channels` at the depot, else fails with its log.
async fn wait_for_channels(depot: &DepotProcess, ident: &str, channels: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = channels_of(&depot.url, ident).await;
        if found.as_deref().is_some_and(|found| found == channels) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{ident} is in {found:?}, not {channels:?}, after 30 s; the depot's log:\n{}",
            depot.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A depot started with `config` over `data`, logging the scheduled mirror's runs.
fn start_mirroring_depot(data: &Path, config: &Path) -> DepotProcess {
    DepotProcess::start(
        Path::new(env!("CARGO_BIN_EXE_hab-depot")),
        &[
            "--data-dir".as_ref(),
            data.as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
        ],
        Some("warn,habitat_depot_server::sync=info"),
        None,
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_mirror_fills_the_depot_then_picks_up_what_is_published_later() {
    let dir = tempfile::tempdir().unwrap();
    let (up_data, here_data): (PathBuf, PathBuf) =
        (dir.path().join("upstream"), dir.path().join("here"));
    let work = dir.path().join("work");
    let alice_token = user_create(&up_data, "alice");
    user_create(&here_data, "mirror");
    let upstream = start_depot(&up_data);
    let alice = client(&upstream.url, Some(&alice_token));
    let (core_key, acme_key) = (signing_key("core"), signing_key("acme"));
    origin_with_key(&alice, "core", &core_key).await;
    origin_with_key(&alice, "acme", &acme_key).await;
    let libc = "core/libc/2.0.0/20240101000000";
    publish(&alice, &work, &core_key, libc, &[], None).await;
    let app = "acme/app/1.0.0/20240101000000";
    publish(&alice, &work, &acme_key, app, &[libc], Some("stable")).await;

    // A mirror of `acme`'s `stable` every second, creating its origins for `mirror`.
    let config = dir.path().join("depot.toml");
    std::fs::write(
        &config,
        format!(
            "[[mirror]]\nfrom = \"{}\"\norigins = [\"acme\"]\nchannels = [\"stable\"]\n\
             interval = \"1s\"\nowner = \"mirror\"\n",
            upstream.url
        ),
    )
    .unwrap();
    let here = start_mirroring_depot(&here_data, &config);
    wait_for_channels(&here, app, &["stable", "unstable"]).await;
    wait_for_channels(&here, libc, &["unstable"]).await;

    // Published upstream later: the next runs bring it.
    let newer = "acme/app/1.1.0/20240201000000";
    publish(&alice, &work, &acme_key, newer, &[libc], Some("stable")).await;
    wait_for_channels(&here, newer, &["stable", "unstable"]).await;
    // The run logs its summary after its last change, which the channels show already.
    let waited = Instant::now();
    let log = loop {
        let log = here.log_text();
        if log.contains("mirror run: 1 new, 2 up to date")
            || waited.elapsed() > Duration::from_secs(30)
        {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(log.contains("mirror run: 1 new, 2 up to date"), "{log}");
    assert!(!log.contains("mirror: failed"), "{log}");
}
