//! `hab pkg install` against an empty pull-through cache: two real `hab-depot` processes on
//! 127.0.0.1 (an upstream, and a cache whose `[[upstream]]` points at it through a proxy that
//! counts the requests), and our `hab` installing on two fresh machines.

use std::process::Output;

use habitat_test_support::proxy::Proxy;

use crate::support::{Sandbox, start_depot, start_depot_with, succeeds, user_create};

const REL: &str = "20250101000000";

/// Runs `hab ARGS` in `sandbox` off the runtime (the proxy runs on it).
async fn hab(sandbox: &Sandbox, args: &[&str]) -> Output {
    let mut command = sandbox.hab();
    command.args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_from_an_empty_cache_fetches_once_for_every_machine() {
    // The upstream: demo/app needs demo/libb, which needs demo/liba; all in `stable`.
    let publisher = Sandbox::new();
    let up_data = publisher.path().join("upstream");
    let token = user_create(&up_data, "alice");
    let upstream = start_depot(&up_data);
    let remote = |args: &[&str]| {
        let out = publisher
            .hab()
            .env("HAB_BLDR_URL", &upstream.url)
            .env("HAB_AUTH_TOKEN", &token)
            .args(args)
            .output()
            .unwrap();
        succeeds(&out, &format!("{args:?}"));
    };
    remote(&["origin", "create", "demo"]);
    publisher.ok(&["origin", "key", "generate", "demo"]);
    remote(&["origin", "key", "upload", "demo"]);
    let liba = publisher.pack(&format!("demo/liba/1.0.0/{REL}"), &[]);
    publisher.ok(&["pkg", "install", liba.to_str().unwrap()]);
    let libb = publisher.pack(&format!("demo/libb/1.0.0/{REL}"), &["demo/liba"]);
    publisher.ok(&["pkg", "install", libb.to_str().unwrap()]);
    let app = publisher.pack(&format!("demo/app/1.0.0/{REL}"), &["demo/libb"]);
    let paths = [&liba, &libb, &app].map(|p| p.to_str().unwrap());
    remote(&[
        "pkg", "upload", paths[0], paths[1], paths[2], "-c", "stable",
    ]);

    // The cache, empty, in front of it.
    let proxy = Proxy::start(&upstream.url).await;
    let config = publisher.path().join("cache.toml");
    std::fs::write(
        &config,
        format!(
            "[[upstream]]\nurl = \"{}\"\norigins = [\"demo\"]\nchannels = [\"stable\"]\n",
            proxy.url
        ),
    )
    .unwrap();
    let cache_data = publisher.path().join("cache");
    let cache = start_depot_with(&[
        "--config".as_ref(),
        config.as_os_str(),
        "--data-dir".as_ref(),
        cache_data.as_os_str(),
    ]);
    let url = cache.url.trim_end_matches("/v1").to_owned();

    let first = Sandbox::new();
    let out = hab(&first, &["pkg", "install", "demo/app", "--url", &url]).await;
    let err = succeeds(&out, "install from the cache");
    for name in ["liba", "libb", "app"] {
        assert!(
            err.contains(&format!("Installed demo/{name}/1.0.0/{REL}")),
            "{err}"
        );
    }
    assert!(err.contains("Downloading public key demo-"), "{err}");
    assert_eq!(proxy.count("/download"), 3, "{:?}", proxy.requests());
    let asked = proxy.requests().len();

    // A second machine: everything comes from the cache.
    let second = Sandbox::new();
    let out = hab(&second, &["pkg", "install", "demo/app", "--url", &url]).await;
    let err = succeeds(&out, "install on a second machine");
    assert!(
        err.contains(&format!("Installed demo/app/1.0.0/{REL}")),
        "{err}"
    );
    assert_eq!(
        proxy.requests()[asked..],
        [] as [String; 0],
        "the second install reached the upstream"
    );
}
