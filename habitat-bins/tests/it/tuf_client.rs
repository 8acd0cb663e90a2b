//! `hab` with verified channels (docs/commands.md, "Verified channels"): a real `hab-depot`
//! whose TUF repository `hab-depot tuf init` made, a root pinned with `hab depot trust`, and
//! installs and downloads that resolve through the signed channel index.

use std::path::{Path, PathBuf};

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
}

/// The trusted metadata `hab` keeps for the depot at `url` (beside the sandbox's key cache).
fn tuf_cache(s: &Sandbox, url: &str) -> PathBuf {
    let host_port = url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .replace(':', "_");
    s.keys().parent().unwrap().join("tuf").join(host_port)
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
