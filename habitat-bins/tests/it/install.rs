//! `hab pkg install IDENT` and `hab pkg download IDENT` against a real `hab-depot`: packages
//! are uploaded with `hab pkg upload`, then installed on fresh sandboxes with empty key caches.

use std::path::{Path, PathBuf};

use crate::support::{DepotProcess, Sandbox, start_depot, succeeds, user_create};

const OLD: &str = "20250101000000";
const NEW: &str = "20250102000000";

/// A depot holding `demo/liba`, `demo/libb` (needs liba) and `demo/app` (needs libb) at release
/// `OLD` in `stable`, and `demo/app` at release `NEW` only in `unstable`.
struct Published {
    publisher: Sandbox,
    depot: DepotProcess,
    /// `demo/app/1.0.0/OLD`'s artifact.
    app: PathBuf,
}

impl Published {
    fn new() -> Self {
        let publisher = Sandbox::new();
        let data = publisher.path().join("depot-data");
        let token = user_create(&data, "alice");
        let depot = start_depot(&data);
        let hab = |args: &[&str]| {
            let out = publisher
                .hab()
                .env("HAB_BLDR_URL", &depot.url)
                .env("HAB_AUTH_TOKEN", &token)
                .args(args)
                .output()
                .unwrap();
            succeeds(&out, &format!("{args:?}"));
        };
        hab(&["origin", "create", "demo"]);
        publisher.ok(&["origin", "key", "generate", "demo"]);
        hab(&["origin", "key", "upload", "demo"]);
        let liba = publisher.pack(&format!("demo/liba/1.0.0/{OLD}"), &[]);
        publisher.ok(&["pkg", "install", liba.to_str().unwrap()]);
        let libb = publisher.pack(&format!("demo/libb/1.0.0/{OLD}"), &["demo/liba"]);
        publisher.ok(&["pkg", "install", libb.to_str().unwrap()]);
        let app = publisher.pack(&format!("demo/app/1.0.0/{OLD}"), &["demo/libb"]);
        let newer = publisher.pack(&format!("demo/app/1.0.0/{NEW}"), &["demo/libb"]);
        let paths = [&liba, &libb, &app].map(|p| p.to_str().unwrap());
        hab(&[
            "pkg", "upload", paths[0], paths[1], paths[2], "-c", "stable",
        ]);
        hab(&["pkg", "upload", newer.to_str().unwrap(), "-c", "unstable"]);
        Self {
            publisher,
            depot,
            app,
        }
    }

    /// `http://127.0.0.1:PORT`, as a user would type it.
    fn base_url(&self) -> &str {
        self.depot.url.trim_end_matches("/v1")
    }
}

fn installed(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .ok(&["pkg", "list"])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn artifact_cache(sandbox: &Sandbox) -> PathBuf {
    sandbox.fs_root().join("hab/cache/artifacts")
}

#[test]
fn install_fetches_the_package_its_dependencies_and_the_key_from_the_channel() {
    let published = Published::new();
    let url = published.base_url();
    let s = Sandbox::new();
    assert!(files_in(&s.keys()).is_empty());

    let out = s.run(&["pkg", "install", "demo/app", "--url", url]);
    let err = succeeds(&out, "install demo/app");
    for name in ["liba", "libb", "app"] {
        assert!(
            err.contains(&format!("Downloading demo-{name}-1.0.0-{OLD}-")),
            "{err}"
        );
        assert!(
            err.contains(&format!("Installed demo/{name}/1.0.0/{OLD}")),
            "{err}"
        );
    }
    assert!(err.contains("Downloading public key demo-"), "{err}");
    assert_eq!(
        installed(&s),
        [
            format!("demo/app/1.0.0/{OLD}"),
            format!("demo/liba/1.0.0/{OLD}"),
            format!("demo/libb/1.0.0/{OLD}"),
        ]
    );
    let keys = files_in(&s.keys());
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("demo-") && keys[0].ends_with(".pub"));
    assert_eq!(files_in(&artifact_cache(&s)).len(), 3);

    // Satisfied by what is installed: nothing to fetch.
    let err = succeeds(
        &s.run(&["pkg", "install", "demo/app", "--url", url]),
        "again",
    );
    assert!(err.contains("is already installed"), "{err}");
    assert!(!err.contains("Downloading"), "{err}");

    // The newer release is only in `unstable`: a release-qualified request in stable fails...
    let refused = s.fails(&[
        "pkg",
        "install",
        &format!("demo/app/1.0.0/{NEW}"),
        "--url",
        url,
    ]);
    assert!(refused.contains("no package satisfies"), "{refused}");
    assert!(refused.contains("hint:"), "{refused}");
    // ...and -c unstable picks it, with the dependencies already installed.
    let err = succeeds(
        &s.run(&[
            "pkg",
            "install",
            &format!("demo/app/1.0.0/{NEW}"),
            "-c",
            "unstable",
            "--url",
            url,
        ]),
        "install -c unstable",
    );
    assert!(
        err.contains(&format!("Installed demo/app/1.0.0/{NEW}")),
        "{err}"
    );
    assert!(!err.contains("Downloading demo-lib"), "{err}");

    // A fresh root: the partial ident resolves in stable to the old release, in unstable to
    // the new one.
    let fresh = Sandbox::new();
    let err = succeeds(
        &fresh.run(&["pkg", "install", "demo/app", "-c", "unstable", "--url", url]),
        "install -c unstable on a fresh root",
    );
    assert!(
        err.contains(&format!("Installed demo/app/1.0.0/{NEW}")),
        "{err}"
    );
    assert!(!installed(&fresh).contains(&format!("demo/app/1.0.0/{OLD}")));

    let missing = fresh.fails(&["pkg", "install", "demo/nope", "--url", url]);
    assert!(
        missing.contains("no package satisfies `demo/nope`"),
        "{missing}"
    );
}

#[test]
fn a_view_url_names_the_channel() {
    let published = Published::new();
    let s = Sandbox::new();
    let view = format!("{}/depot/views/unstable", published.depot.url);
    // The view's channel wins over -c.
    let err = succeeds(
        &s.run(&["pkg", "install", "demo/app", "-c", "stable", "--url", &view]),
        "install from a view",
    );
    assert!(
        err.contains(&format!("Installed demo/app/1.0.0/{NEW}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("Installed demo/liba/1.0.0/{OLD}")),
        "{err}"
    );

    let stable = Sandbox::new();
    let view = format!("{}/depot/views/stable", published.depot.url);
    let err = succeeds(
        &stable.run(&["pkg", "install", "demo/app", "--url", &view]),
        "install from the stable view",
    );
    assert!(
        err.contains(&format!("Installed demo/app/1.0.0/{OLD}")),
        "{err}"
    );

    // Not in the view's channel: the hint names the view to use, since -c would not win.
    let err = stable.fails(&[
        "pkg",
        "install",
        &format!("demo/app/1.0.0/{NEW}"),
        "--url",
        &view,
    ]);
    assert!(err.contains("is in channel `unstable`"), "{err}");
    assert!(
        err.contains(&format!(
            "hint: use the view of that channel (…/v1/depot/views/unstable), or promote the \
             release first: hab pkg promote demo/app/1.0.0/{NEW} stable"
        )),
        "{err}"
    );
}

#[test]
fn download_fetches_the_closure_and_keys_without_installing() {
    let published = Published::new();
    let url = published.base_url();
    let s = Sandbox::new();
    let dir = s.path().join("dl");
    let out = s.run(&[
        "pkg",
        "download",
        "demo/app",
        "--download-directory",
        dir.to_str().unwrap(),
        "--url",
        url,
    ]);
    succeeds(&out, "download");
    // The stock layout: DIR/artifacts and DIR/keys.
    let names = files_in(&dir.join("artifacts"));
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(files_in(&dir.join("keys")).len(), 1);
    for name in ["app", "liba", "libb"] {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(&format!("demo-{name}-1.0.0-{OLD}-"))),
            "{names:?}"
        );
    }
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.lines().count(), 3, "{printed}");
    assert_eq!(files_in(&s.keys()).len(), 1);
    assert!(installed(&s).is_empty());

    // The downloaded files install offline.
    let mut args = vec!["pkg".to_owned(), "install".to_owned()];
    args.extend(printed.lines().map(str::to_owned));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    s.ok(&args);
    assert_eq!(installed(&s).len(), 3);
}

#[test]
fn a_tampered_cached_artifact_is_downloaded_again() {
    let published = Published::new();
    let url = published.base_url();
    let s = Sandbox::new();
    // Into the artifact cache (the default directory), then altered there.
    succeeds(
        &s.run(&["pkg", "download", "demo/app", "--url", url]),
        "download",
    );
    let cache = artifact_cache(&s);
    let app_name = files_in(&cache)
        .into_iter()
        .find(|n| n.starts_with("demo-app-"))
        .unwrap();
    let cached = cache.join(&app_name);
    let mut bytes = std::fs::read(&cached).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&cached, &bytes).unwrap();

    let err = succeeds(
        &s.run(&["pkg", "install", "demo/app", "--url", url]),
        "install over a tampered cache",
    );
    assert!(err.contains("differs from the depot's artifact"), "{err}");
    assert!(err.contains(&format!("Downloading {app_name}")), "{err}");
    assert!(err.contains("Using demo-liba-"), "{err}");
    assert_eq!(installed(&s).len(), 3);
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        std::fs::read(&published.app).unwrap()
    );

    // Installing straight from the cache, with one of the files altered: refused, and none
    // of the set is installed on a fresh machine.
    let libb = files_in(&cache)
        .into_iter()
        .find(|n| n.starts_with("demo-libb-"))
        .unwrap();
    let mut bytes = std::fs::read(cache.join(&libb)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(cache.join(&libb), &bytes).unwrap();
    let fresh = Sandbox::new();
    std::fs::create_dir_all(fresh.keys()).unwrap();
    for name in files_in(&s.keys()) {
        std::fs::copy(s.keys().join(&name), fresh.keys().join(&name)).unwrap();
    }
    let paths: Vec<String> = files_in(&cache)
        .iter()
        .map(|n| cache.join(n).display().to_string())
        .collect();
    let mut args = vec!["pkg", "install"];
    args.extend(paths.iter().map(String::as_str));
    let err = fresh.fails(&args);
    assert!(err.contains(&libb), "{err}");
    assert!(err.contains("hint: the artifact was altered"), "{err}");
    assert!(installed(&fresh).is_empty(), "{err}");
}

#[test]
fn an_artifact_signed_by_another_origin_installs_nothing() {
    let published = Published::new();
    let url = published.base_url();

    // demo/app's payload signed with the key of origin `evil`.
    let evil = Sandbox::new();
    evil.ok(&["origin", "key", "generate", "evil"]);
    let bytes = std::fs::read(&published.app).unwrap();
    let mut lines = 0;
    let start = bytes
        .iter()
        .position(|b| {
            lines += usize::from(*b == b'\n');
            lines == 5
        })
        .unwrap()
        + 1;
    let payload = evil.path().join("payload.tar.xz");
    std::fs::write(&payload, &bytes[start..]).unwrap();
    let forged = evil.path().join(published.app.file_name().unwrap());
    evil.ok(&[
        "pkg",
        "sign",
        "--origin",
        "evil",
        payload.to_str().unwrap(),
        forged.to_str().unwrap(),
    ]);

    // The consumer trusts evil's public key, and asks for demo/libb from the depot (which
    // brings demo/liba) together with the forged demo/app: the whole set is refused.
    let s = Sandbox::new();
    std::fs::create_dir_all(s.keys()).unwrap();
    for name in files_in(&evil.keys()) {
        if name.ends_with(".pub") {
            std::fs::copy(evil.keys().join(&name), s.keys().join(&name)).unwrap();
        }
    }
    let err = s.fails(&[
        "pkg",
        "install",
        "demo/libb",
        forged.to_str().unwrap(),
        "--url",
        url,
    ]);
    assert!(
        err.contains("is signed by `evil-") && err.contains("not a key of origin `demo`"),
        "{err}"
    );
    assert!(installed(&s).is_empty(), "{err}");
    drop(published.publisher);
}

#[test]
fn ignore_local_resolves_on_the_depot_and_binlink_links_the_programs() {
    let published = Published::new();
    let url = published.base_url();
    let s = Sandbox::new();
    succeeds(
        &s.run(&["pkg", "install", "demo/app", "--url", url]),
        "install from stable",
    );
    // The installed release satisfies `demo/app`: the depot's newer one in unstable is not
    // even looked up...
    let said = succeeds(
        &s.run(&["pkg", "install", "demo/app", "-c", "unstable", "--url", url]),
        "install again",
    );
    assert!(
        said.contains(&format!("demo/app/1.0.0/{OLD} is already installed")),
        "{said}"
    );
    assert_eq!(installed(&s).len(), 3);
    // ...unless what is local is ignored.
    let said = succeeds(
        &s.run(&[
            "pkg",
            "install",
            "demo/app",
            "-c",
            "unstable",
            "--ignore-local",
            "--url",
            url,
        ]),
        "install --ignore-local",
    );
    assert!(
        said.contains(&format!("Installed demo/app/1.0.0/{NEW}")),
        "{said}"
    );
    // Cached artifacts are downloaded again too.
    let said = succeeds(
        &s.run(&[
            "pkg",
            "install",
            "demo/app",
            "-c",
            "unstable",
            "--ignore-local",
            "--url",
            url,
        ]),
        "install --ignore-local again",
    );
    assert!(
        said.contains(&format!("Downloading demo-app-1.0.0-{NEW}")),
        "{said}"
    );
    assert!(!said.contains("Using demo-app-"), "{said}");

    // -b links the newest installed release's programs into $FS_ROOT/bin.
    let said = succeeds(
        &s.run(&["pkg", "install", "demo/app", "-b", "--url", url]),
        "install -b",
    );
    let link = s.fs_root().join("bin/app");
    assert!(
        said.contains(&format!("Linked {}", link.display())),
        "{said}"
    );
    let target = std::fs::read_link(&link).unwrap();
    assert!(
        target.ends_with(format!("hab/pkgs/demo/app/1.0.0/{NEW}/bin/app")),
        "{}",
        target.display()
    );
    let ran = std::process::Command::new(&link).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "app\n");
    // A file that is not a link is left alone.
    std::fs::remove_file(&link).unwrap();
    std::fs::write(&link, "mine").unwrap();
    let said = succeeds(
        &s.run(&["pkg", "install", "demo/app", "-b", "--url", url]),
        "again",
    );
    assert!(said.contains("is not a link"), "{said}");
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "mine");
}
