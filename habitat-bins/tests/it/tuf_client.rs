//! `hab` with verified channels (docs/commands.md, "Verified channels"): a real `hab-depot`
//! whose TUF repository `hab-depot tuf init` made, a root pinned with `hab depot trust`, and
//! installs and downloads that resolve through the signed channel index.

use std::path::{Path, PathBuf};

use habitat_test_support::proxy::Proxy;

use crate::support::{
    DepotProcess, Sandbox, hab_depot, start_depot, stderr, succeeds, user_create,
};

const OLD: &str = "20250101000000";
const NEW: &str = "20250102000000";
const NOTE: &str = "are not verified (no TUF root pinned";

/// A depot holding `demo/liba` and `demo/app` (needs liba) at release `OLD` in `stable`, and
/// `demo/app` at release `NEW` only in `unstable`; with TUF when asked.
struct Published {
    publisher: Sandbox,
    depot: DepotProcess,
    token: String,
    /// The sha256 of `1.root.json` that `hab-depot tuf init` printed.
    fingerprint: Option<String>,
}

impl Published {
    fn new(tuf: bool) -> Self {
        let publisher = Sandbox::new();
        let data = publisher.path().join("depot-data");
        let token = user_create(&data, "alice");
        let fingerprint = tuf.then(|| {
            let out = hab_depot(&[
                "tuf".as_ref(),
                "init".as_ref(),
                "--data-dir".as_ref(),
                data.as_os_str(),
            ]);
            out.trim().to_owned()
        });
        let depot = start_depot(&data);
        let published = Self {
            publisher,
            depot,
            token,
            fingerprint,
        };
        published.hab(&["origin", "create", "demo"]);
        published
            .publisher
            .ok(&["origin", "key", "generate", "demo"]);
        published.hab(&["origin", "key", "upload", "demo"]);
        let liba = published
            .publisher
            .pack(&format!("demo/liba/1.0.0/{OLD}"), &[]);
        published
            .publisher
            .ok(&["pkg", "install", liba.to_str().unwrap()]);
        let app = published
            .publisher
            .pack(&format!("demo/app/1.0.0/{OLD}"), &["demo/liba"]);
        let newer = published
            .publisher
            .pack(&format!("demo/app/1.0.0/{NEW}"), &["demo/liba"]);
        published.hab(&[
            "pkg",
            "upload",
            liba.to_str().unwrap(),
            app.to_str().unwrap(),
            "-c",
            "stable",
        ]);
        published.hab(&["pkg", "upload", newer.to_str().unwrap()]);
        published
    }

    /// `hab ARGS` as the publisher, against the depot.
    fn hab(&self, args: &[&str]) -> String {
        let out = self
            .publisher
            .hab()
            .env("HAB_BLDR_URL", &self.depot.url)
            .env("HAB_AUTH_TOKEN", &self.token)
            .args(args)
            .output()
            .unwrap();
        succeeds(&out, &format!("{args:?}"))
    }

    /// `http://127.0.0.1:PORT`, as a user would type it.
    fn base_url(&self) -> &str {
        self.depot.url.trim_end_matches("/v1")
    }

    /// A client sandbox that pinned this depot's root.
    fn trusting_client(&self) -> Sandbox {
        let s = Sandbox::new();
        let fingerprint = self.fingerprint.as_deref().expect("a depot with TUF");
        let out = s.run(&[
            "depot",
            "trust",
            "--url",
            self.base_url(),
            "--root-sha256",
            fingerprint,
        ]);
        let err = succeeds(&out, "hab depot trust");
        assert!(err.contains("Pinned the TUF root of"), "{err}");
        s
    }
}

/// The trusted metadata `hab` keeps for the depot at `url` (beside the sandbox's key cache).
fn tuf_cache(s: &Sandbox, url: &str) -> PathBuf {
    let host_port = url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .replace(':', "_");
    s.keys().parent().unwrap().join("tuf").join(host_port)
}

fn installed(s: &Sandbox) -> Vec<String> {
    s.ok(&["pkg", "list"]).lines().map(str::to_owned).collect()
}

fn exists(path: &Path) -> bool {
    path.is_file()
}

#[test]
fn tuf_required_refuses_a_depot_without_a_pinned_root() {
    let s = Sandbox::new();
    for command in [
        &["pkg", "install", "demo/app"][..],
        &["pkg", "download", "demo/app"],
    ] {
        let out = s
            .hab()
            .env("HAB_TUF", "required")
            .args(command)
            .args(["--url", "http://127.0.0.1:1"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains(
                "error: HAB_TUF=required, and no TUF root is pinned for the depot \
                 http://127.0.0.1:1"
            ),
            "{err}"
        );
        assert!(
            err.contains("hint: pin its root with `hab depot trust --url http://127.0.0.1:1"),
            "{err}"
        );
        // Refused before anything was asked of the (unreachable) depot.
        assert!(!err.contains("cannot reach"), "{err}");
    }

    let out = s
        .hab()
        .env("HAB_TUF", "sometimes")
        .args(["pkg", "install", "demo/app", "--url", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("HAB_TUF must be `required` or `off`, not `sometimes`"),
        "{err}"
    );

    let missing = s.path().join("no-such-root.json");
    let out = s
        .hab()
        .args(["pkg", "install", "demo/app", "--url", "http://127.0.0.1:1"])
        .arg("--tuf-root")
        .arg(&missing)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(err.contains("cannot read the TUF root"), "{err}");
}

#[test]
fn an_unverified_install_says_so_once_and_trust_needs_a_repository() {
    let published = Published::new(false);
    assert_eq!(published.fingerprint, None);
    let url = published.base_url();
    let s = Sandbox::new();
    let err = succeeds(
        &s.run(&["pkg", "install", "demo/app", "--url", url]),
        "install without a pinned root",
    );
    assert_eq!(err.matches(NOTE).count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "Note: the channels of {url} are not verified (no TUF root pinned; see `hab depot \
             trust --url {url} --root-sha256 HEX`)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("Installed demo/app/1.0.0/{OLD}")),
        "{err}"
    );

    // HAB_TUF=off: no note.
    let out = s
        .hab()
        .env("HAB_TUF", "off")
        .args(["pkg", "download", "demo/app", "--url", url])
        .output()
        .unwrap();
    let err = succeeds(&out, "download with HAB_TUF=off");
    assert!(!err.contains(NOTE), "{err}");

    // A depot without a TUF repository has no root to pin.
    let err = s.fails(&[
        "depot",
        "trust",
        "--url",
        url,
        "--root-sha256",
        &"ab".repeat(32),
    ]);
    assert!(
        err.contains(&format!("the depot {url} has no `1.root.json` (404)")),
        "{err}"
    );
    assert!(!exists(&tuf_cache(&s, url).join("root.json")));
}

#[test]
fn a_pinned_root_verifies_installs_downloads_and_keys() {
    let published = Published::new(true);
    let url = published.base_url();

    // The wrong fingerprint pins nothing.
    let s = Sandbox::new();
    let err = s.fails(&[
        "depot",
        "trust",
        "--url",
        url,
        "--root-sha256",
        &"00".repeat(32),
    ]);
    assert!(
        err.contains(&format!(
            "the depot {url} served a `1.root.json` with sha256 `"
        )),
        "{err}"
    );
    assert!(!exists(&tuf_cache(&s, url).join("root.json")));

    // Pinned: the install resolves through the signed index, says nothing about unverified
    // channels, and takes the origin key from the signed key target.
    let s = published.trusting_client();
    let cache = tuf_cache(&s, url);
    assert!(exists(&cache.join("root.json")));
    let err = succeeds(
        &s.run(&["pkg", "install", "demo/app", "--url", url]),
        "a verified install",
    );
    assert!(!err.contains(NOTE), "{err}");
    assert!(err.contains("Downloading public key demo-"), "{err}");
    assert_eq!(
        installed(&s),
        [
            format!("demo/app/1.0.0/{OLD}"),
            format!("demo/liba/1.0.0/{OLD}"),
        ]
    );
    for role in ["timestamp", "snapshot", "targets"] {
        assert!(exists(&cache.join(format!("{role}.json"))), "{role}");
    }
    let bins = std::fs::read_dir(&cache)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("bin-")
        })
        .count();
    // The bins of two indexes and one key at most, never all 256.
    assert!((1..=3).contains(&bins), "{bins} bins cached");

    // A promotion is visible in the verified index at once (embedded store).
    published.hab(&["pkg", "promote", &format!("demo/app/1.0.0/{NEW}"), "stable"]);
    let err = succeeds(
        &s.run(&["pkg", "install", "--ignore-local", "demo/app", "--url", url]),
        "the promoted release",
    );
    assert!(
        err.contains(&format!("Installed demo/app/1.0.0/{NEW}")),
        "{err}"
    );

    // A fully qualified ident resolves through `unstable`, in any channel; a name the
    // channel does not have is refused by the verified index.
    let out = s.run(&[
        "pkg",
        "download",
        &format!("demo/app/1.0.0/{OLD}"),
        "-c",
        "stable",
        "--url",
        url,
    ]);
    let paths = String::from_utf8(out.stdout.clone()).unwrap();
    succeeds(&out, "download a fully qualified ident");
    assert!(paths.contains(&format!("demo-app-1.0.0-{OLD}-")), "{paths}");
    let err = s.fails(&["pkg", "install", "demo/nope", "--url", url]);
    assert!(
        err.contains("no package satisfies `demo/nope` (x86_64-linux) in the depot's verified index of channel `stable`"),
        "{err}"
    );

    // HAB_TUF=required is satisfied by the pinned root.
    let out = s
        .hab()
        .env("HAB_TUF", "required")
        .args(["pkg", "download", "demo/liba", "--url", url])
        .output()
        .unwrap();
    succeeds(&out, "HAB_TUF=required with a pinned root");

    // A root named by --tuf-root works as well as a pinned one.
    let root_file = s.path().join("1.root.json");
    std::fs::copy(cache.join("root.json"), &root_file).unwrap();
    let other = Sandbox::new();
    let err = succeeds(
        &other
            .hab()
            .args(["pkg", "install", "demo/liba", "--url", url, "--tuf-root"])
            .arg(&root_file)
            .output()
            .unwrap(),
        "install with --tuf-root",
    );
    assert!(!err.contains(NOTE), "{err}");
    assert!(exists(&tuf_cache(&other, url).join("timestamp.json")));
}

#[test]
fn a_pinned_root_takes_keys_from_the_signed_targets_and_refuses_a_changed_artifact() {
    let published = Published::new(true);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The proxy serves from the runtime's threads while this one runs `hab`.
    let proxy = runtime.block_on(Proxy::start(&published.depot.url));
    let forger = Sandbox::new();
    forger.ok(&["origin", "key", "generate", "demo"]);
    let forged = std::fs::read_dir(forger.keys())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pub"))
        .unwrap();
    proxy.serve_key(Some(std::fs::read_to_string(forged).unwrap()));

    let s = Sandbox::new();
    let fingerprint = published.fingerprint.clone().unwrap();
    s.ok(&[
        "depot",
        "trust",
        "--url",
        &proxy.url,
        "--root-sha256",
        &fingerprint,
    ]);
    // The depot's key route is never asked: the key comes from the signed target.
    let err = succeeds(
        &s.run(&["pkg", "install", "demo/app", "--url", &proxy.url]),
        "a verified install through a proxy that substitutes keys",
    );
    assert!(
        err.contains(&format!("Installed demo/app/1.0.0/{OLD}")),
        "{err}"
    );
    assert_eq!(proxy.count("/origins/demo/keys/"), 0);
    assert!(proxy.count("/v1/tuf/targets/keys/demo/") >= 1);

    // A changed byte in an artifact (its ETag dropped) does not match the signed index.
    proxy.flip_downloads(true);
    let fresh = Sandbox::new();
    fresh.ok(&[
        "depot",
        "trust",
        "--url",
        &proxy.url,
        "--root-sha256",
        &fingerprint,
    ]);
    let err = fresh.fails(&["pkg", "install", "demo/liba", "--url", &proxy.url]);
    assert!(err.contains("the depot's verified index lists"), "{err}");
    assert!(installed(&fresh).is_empty());
}

#[test]
fn a_client_that_pinned_the_old_root_follows_a_rotation_of_the_root_and_online_keys() {
    let published = Published::new(true);
    let url = published.base_url();
    let s = published.trusting_client();
    succeeds(
        &s.run(&["pkg", "install", "demo/liba", "--url", url]),
        "install before the rotation",
    );
    let cache = tuf_cache(&s, url);

    // Offline: a new root key and a new online key, signed with the keys tuf init wrote.
    let data = published.publisher.path().join("depot-data");
    let next = published.publisher.path().join("next");
    let (root_file, targets_file) = (cache.join("root.json"), cache.join("targets.json"));
    let arg = |p: &Path| p.as_os_str().to_owned();
    hab_depot(&[
        "tuf".as_ref(),
        "root".as_ref(),
        "sign".as_ref(),
        "--root".as_ref(),
        &arg(&root_file),
        "--keys".as_ref(),
        &arg(&data.join("tuf-keys")),
        "--out".as_ref(),
        &arg(&next),
        "--new-root-keys".as_ref(),
        "1".as_ref(),
        "--rotate-online-key".as_ref(),
        "--targets".as_ref(),
        &arg(&targets_file),
    ]);
    hab_depot(&[
        "tuf".as_ref(),
        "root".as_ref(),
        "publish".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--from".as_ref(),
        &arg(&next),
    ]);

    // The client still pins version 1 and follows the chain to version 2.
    let err = succeeds(
        &s.run(&["pkg", "install", "demo/app", "--url", url]),
        "install after the rotation",
    );
    assert!(
        err.contains(&format!("Installed demo/app/1.0.0/{OLD}")),
        "{err}"
    );
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&root_file).unwrap()).unwrap();
    assert_eq!(root["signed"]["version"], 2);
}
