//! `hab` against a real `hab-depot` process: origins, keys, uploads with their dependencies,
//! channels, and the errors a user meets on the way.

use std::process::Output;

use crate::support::{Sandbox, fails, ident_of, remote, start_depot, succeeds, user_create};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn upload_needs_the_public_key_then_brings_dependencies_along_and_promotes() {
    let sandbox = Sandbox::new();
    let data = sandbox.path().join("depot-data");
    let token = user_create(&data, "alice");
    let bob = user_create(&data, "bob");
    let depot = start_depot(&data);
    let url = depot.url.as_str();
    let hab = |args: &[&str]| remote(&sandbox, url, &token, args);

    let first = succeeds(&hab(&["origin", "create", "demo"]), "origin create");
    assert!(first.contains("Created origin demo"), "{first}");
    let again = succeeds(&hab(&["origin", "create", "demo"]), "second origin create");
    assert!(again.contains("already exists"), "{again}");
    // Someone else's origin is not success.
    let taken = fails(
        &remote(&sandbox, url, &bob, &["origin", "create", "demo"]),
        "creating someone else's origin",
    );
    assert!(taken.contains("belongs to someone else"), "{taken}");
    let info = hab(&["origin", "info", "demo", "-j"]);
    succeeds(&info, "origin info");
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(json["owner"], "alice");

    // Three packages: libc depends on libb, which depends on liba; all beside each other.
    sandbox.ok(&["origin", "key", "generate", "demo"]);
    let liba = sandbox.pack("demo/liba/1.0.0", &[]);
    sandbox.ok(&["pkg", "install", liba.to_str().unwrap()]);
    let libb = sandbox.pack("demo/libb/1.0.0", &["demo/liba"]);
    sandbox.ok(&["pkg", "install", libb.to_str().unwrap()]);
    let libc = sandbox.pack("demo/libc/1.0.0", &["demo/libb"]);
    let libc_path = libc.to_str().unwrap();

    // No public key on the depot: refused, and the key is not uploaded behind the user's back.
    let refused = fails(&hab(&["pkg", "upload", libc_path]), "upload without a key");
    assert!(refused.contains("error: cannot upload"), "{refused}");
    assert!(
        refused.contains("hint: upload the public key first: hab origin key upload demo"),
        "{refused}"
    );
    assert!(!refused.contains("answered 422"), "{refused}");

    // The key, with --url instead of HAB_BLDR_URL; twice is fine.
    let upload_key = || {
        sandbox
            .hab()
            .env("HAB_AUTH_TOKEN", &token)
            .args(["origin", "key", "upload", "demo", "--url", url])
            .output()
            .unwrap()
    };
    let uploaded = succeeds(&upload_key(), "key upload");
    assert!(
        uploaded.contains("Uploaded public origin key demo-"),
        "{uploaded}"
    );
    let again = succeeds(&upload_key(), "second key upload");
    assert!(again.contains("already on the depot"), "{again}");

    // A dependency neither on the depot nor beside the file is named, and nothing is sent.
    let alone = sandbox.path().join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    let lonely = alone.join(libc.file_name().unwrap());
    std::fs::copy(&libc, &lonely).unwrap();
    let missing = fails(
        &hab(&["pkg", "upload", lonely.to_str().unwrap()]),
        "upload without its dependencies",
    );
    assert!(
        missing.contains(&format!("its dependency `{}`", ident_of(&liba))),
        "{missing}"
    );
    assert!(!missing.contains("Uploaded"), "{missing}");

    // Only the top package is named: its TDEPS come along from beside it.
    let uploaded = succeeds(&hab(&["pkg", "upload", libc_path]), "upload");
    for hart in [&liba, &libb, &libc] {
        assert!(
            uploaded.contains(&format!("Uploaded {}", ident_of(hart))),
            "{uploaded}"
        );
    }
    let found = hab(&["pkg", "search", "lib"]);
    succeeds(&found, "search");
    assert_eq!(stdout(&found).lines().count(), 3, "{}", stdout(&found));
    let limited = hab(&["pkg", "search", "lib", "-l", "1"]);
    succeeds(&limited, "search -l 1");
    assert_eq!(stdout(&limited).lines().count(), 1);

    // Again: nothing to send.
    let skipped = succeeds(&hab(&["pkg", "upload", libc_path]), "re-upload");
    assert!(
        skipped.contains("already on the depot, skipping"),
        "{skipped}"
    );
    assert!(!skipped.contains("Uploaded"), "{skipped}");

    // Promote into a channel that does not exist yet: it is created.
    let libc_ident = ident_of(&libc);
    let promoted = succeeds(
        &hab(&["pkg", "promote", &libc_ident, "beta"]),
        "promote to a new channel",
    );
    assert!(promoted.contains("Created channel beta"), "{promoted}");
    let channels = hab(&["pkg", "channels", &libc_ident]);
    succeeds(&channels, "channels");
    let listed: Vec<String> = stdout(&channels).lines().map(str::to_owned).collect();
    assert!(listed.contains(&"beta".to_owned()), "{listed:?}");
    assert!(listed.contains(&"unstable".to_owned()), "{listed:?}");
    let origin_channels = hab(&["bldr", "channel", "list", "demo"]);
    succeeds(&origin_channels, "bldr channel list");
    assert!(stdout(&origin_channels).lines().any(|l| l == "beta"));

    succeeds(&hab(&["pkg", "demote", &libc_ident, "beta"]), "demote");
    let channels = hab(&["pkg", "channels", &libc_ident]);
    assert!(!stdout(&channels).lines().any(|l| l == "beta"));

    // `upload -c` promotes what the depot already has too.
    let libb_path = libb.to_str().unwrap();
    succeeds(
        &hab(&["pkg", "upload", libb_path, "-c", "stable"]),
        "upload -c",
    );
    let channels = hab(&["pkg", "channels", &ident_of(&libb)]);
    assert!(stdout(&channels).lines().any(|l| l == "stable"));

    // The public key can come back into another cache.
    let other_keys = sandbox.path().join("other-keys");
    let other = other_keys.to_str().unwrap();
    succeeds(
        &hab(&[
            "origin",
            "key",
            "download",
            "demo",
            "--cache-key-path",
            other,
        ]),
        "key download",
    );
    assert_eq!(std::fs::read_dir(&other_keys).unwrap().count(), 1);

    // cli.toml `bldr_url` and `auth_token`, when neither flag nor environment gives them.
    // Where cli.toml is depends on who runs the tests: root reads it under FS_ROOT.
    let settings = format!("bldr_url = \"{url}\"\nauth_token = \"{token}\"\n");
    for etc in [
        sandbox.path().join("home/.hab/etc"),
        sandbox.fs_root().join("hab/etc"),
    ] {
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("cli.toml"), &settings).unwrap();
    }
    let from_toml = sandbox
        .hab()
        .args(["bldr", "channel", "create", "demo", "gamma"])
        .output()
        .unwrap();
    succeeds(&from_toml, "channel create with cli.toml settings");
    // -z/--auth wins over cli.toml.
    let overridden = sandbox
        .hab()
        .args([
            "bldr",
            "channel",
            "destroy",
            "demo",
            "gamma",
            "-z",
            "hab_wrong",
        ])
        .output()
        .unwrap();
    assert!(fails(&overridden, "a wrong --auth").contains("unknown or revoked token"));

    // A wrong token: the depot's message, a hint, and the token itself never shown.
    let bogus = "hab_bm90LWEtcmVhbC10b2tlbi1hdC1hbGwtbm90LWF0LWFsbA";
    let refused = fails(
        &remote(&sandbox, url, bogus, &["origin", "create", "other"]),
        "a bad token",
    );
    assert!(refused.contains("unknown or revoked token"), "{refused}");
    assert!(
        refused.contains("hint: check HAB_AUTH_TOKEN (or --auth)"),
        "{refused}"
    );
    assert!(!refused.contains("bm90LWEt"), "{refused}");
}

#[test]
fn an_unreachable_depot_is_reported_with_its_url() {
    let sandbox = Sandbox::new();
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = sandbox
        .hab()
        .args(["pkg", "search", "core", "--url", &url])
        .output()
        .unwrap();
    let stderr = fails(&out, "search against a closed port");
    assert!(
        stderr.contains(&format!(
            "error: cannot search for `core`: cannot reach `{url}/v1/"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("hint: is a depot running at `{url}`?")),
        "{stderr}"
    );
}

#[test]
fn empty_depot_variables_count_as_unset() {
    // HAB_BLDR_URL= falls through to HAB_DEPOT_URL; an empty token is no token.
    let sandbox = Sandbox::new();
    let out = sandbox
        .hab()
        .env("HAB_BLDR_URL", "")
        .env("HAB_DEPOT_URL", "not a url")
        .env("HAB_AUTH_TOKEN", "")
        .args(["origin", "info", "core"])
        .output()
        .unwrap();
    let stderr = fails(&out, "a bad HAB_DEPOT_URL");
    assert!(stderr.contains("depot URL from HAB_DEPOT_URL"), "{stderr}");
}

#[test]
fn an_invited_account_joins_and_its_role_is_shown_and_changed() {
    let sandbox = Sandbox::new();
    let data = sandbox.path().join("depot-data");
    let alice = user_create(&data, "alice");
    let bob = user_create(&data, "bob");
    let depot = start_depot(&data);
    let url = depot.url.as_str();
    let as_alice = |args: &[&str]| remote(&sandbox, url, &alice, args);
    let as_bob = |args: &[&str]| remote(&sandbox, url, &bob, args);

    succeeds(&as_alice(&["origin", "create", "team"]), "origin create");
    let sent = as_alice(&["origin", "invitations", "send", "team", "bob"]);
    succeeds(&sent, "invitations send");
    let id = stdout(&sent).trim().to_owned();
    assert!(!id.is_empty());
    let pending = as_alice(&["origin", "invitations", "pending", "team"]);
    assert!(
        stdout(&pending).contains(&format!("{id}\tbob\talice")),
        "{}",
        stdout(&pending)
    );
    let mine = as_bob(&["origin", "invitations", "list"]);
    assert!(
        stdout(&mine).contains(&format!("{id}\tteam\talice")),
        "{}",
        stdout(&mine)
    );
    // Only the invitee accepts.
    fails(
        &as_alice(&["origin", "invitations", "accept", "team", &id]),
        "accepting someone else's invitation",
    );
    succeeds(
        &as_bob(&["origin", "invitations", "accept", "team", &id]),
        "accept",
    );

    let shown = as_bob(&["origin", "rbac", "show", "team"]);
    succeeds(&shown, "rbac show");
    assert_eq!(stdout(&shown), "alice\towner\nbob\tmember\n");
    let set = as_alice(&["origin", "rbac", "set", "team", "bob", "maintainer"]);
    let said = succeeds(&set, "rbac set");
    assert!(said.contains("bob is now maintainer of team"), "{said}");
    let one = as_alice(&["origin", "rbac", "show", "team", "bob", "-j"]);
    succeeds(&one, "rbac show one");
    let json: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(json["role"], "maintainer");
    // A maintainer cannot change roles, and `owner` is not a role one can grant.
    let refused = fails(
        &as_bob(&["origin", "rbac", "set", "team", "alice", "member"]),
        "a maintainer changing roles",
    );
    assert!(
        refused.contains("cannot make `alice` member of `team`"),
        "{refused}"
    );
    let not_a_role = fails(
        &as_alice(&["origin", "rbac", "set", "team", "bob", "owner"]),
        "granting owner",
    );
    assert!(not_a_role.contains("invalid value 'owner'"), "{not_a_role}");
}

#[test]
fn origin_audit_prints_the_log_as_a_table() {
    let sandbox = Sandbox::new();
    let data = sandbox.path().join("depot-data");
    let alice = user_create(&data, "alice");
    let bob = user_create(&data, "bob");
    let depot = start_depot(&data);
    let url = depot.url.as_str();
    let as_alice = |args: &[&str]| remote(&sandbox, url, &alice, args);
    let as_bob = |args: &[&str]| remote(&sandbox, url, &bob, args);

    succeeds(&as_alice(&["origin", "create", "team"]), "origin create");
    let sent = as_alice(&["origin", "invitations", "send", "team", "bob"]);
    succeeds(&sent, "invitations send");
    let id = stdout(&sent).trim().to_owned();
    succeeds(
        &as_bob(&["origin", "invitations", "accept", "team", &id]),
        "accept",
    );
    succeeds(
        &as_alice(&["origin", "rbac", "set", "team", "bob", "maintainer"]),
        "rbac set",
    );

    let shown = as_alice(&["origin", "audit", "team"]);
    succeeds(&shown, "origin audit");
    let text = stdout(&shown);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "TIME", "ACCOUNT", "ACTION", "ADDRESS", "CHANNEL", "IDENT", "DETAIL"
        ],
        "{text}"
    );
    let rows: Vec<_> = lines[1..].iter().map(|l| l[1..].to_vec()).collect();
    assert_eq!(
        rows,
        [
            vec![
                "alice",
                "role_change",
                "127.0.0.1",
                "-",
                "-",
                "bob",
                "maintainer"
            ],
            vec!["bob", "invitation_accept", "127.0.0.1", "-", "-", "bob"],
            vec!["alice", "invitation_send", "127.0.0.1", "-", "-", "bob"],
        ],
        "{text}"
    );
    // A filter; and a maintainer reads it too.
    let only = as_bob(&["origin", "audit", "team", "--account", "bob"]);
    succeeds(&only, "origin audit --account");
    assert_eq!(stdout(&only).lines().count(), 2, "{}", stdout(&only));
}

#[test]
fn cli_setup_writes_the_settings_that_later_commands_use() {
    let sandbox = Sandbox::new();
    let data = sandbox.path().join("depot-data");
    let token = user_create(&data, "alice");
    let depot = start_depot(&data);
    let answers = format!("{}\nsetup\n{token}\ny\n", depot.url);
    let mut child = sandbox
        .hab()
        .env_remove("HAB_CACHE_KEY_PATH")
        .args(["cli", "setup"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = succeeds(&out, "cli setup");
    assert!(said.contains("Generated origin key pair setup-"), "{said}");
    assert!(!said.contains(&token), "the token is echoed: {said}");
    // root keeps it under FS_ROOT, everyone else in HOME.
    let file = if rustix::process::geteuid().is_root() {
        sandbox.fs_root().join("hab/etc/cli.toml")
    } else {
        sandbox.path().join("home/.hab/etc/cli.toml")
    };
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // No flags and no variables: cli.toml names the depot, the token and the origin.
    let hab = |args: &[&str]| {
        sandbox
            .hab()
            .env_remove("HAB_CACHE_KEY_PATH")
            .args(args)
            .output()
            .unwrap()
    };
    succeeds(&hab(&["origin", "create", "setup"]), "origin create");
    succeeds(&hab(&["origin", "key", "upload", "setup"]), "key upload");

    // Running it again with empty answers keeps everything.
    let mut again = sandbox
        .hab()
        .env_remove("HAB_CACHE_KEY_PATH")
        .args(["cli", "setup"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    succeeds(&again, "cli setup again");
    again.stdout.clear();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("auth_token = \"{token}\"")),
        "{text}"
    );
    assert!(text.contains("origin = \"setup\""), "{text}");
}

#[test]
fn a_new_users_first_upload_install_promote_and_search() {
    let sandbox = Sandbox::new();
    let data = sandbox.path().join("depot-data");
    let token = user_create(&data, "alice");
    let depot = start_depot(&data);
    let url = depot.url.as_str();
    let hab = |args: &[&str]| remote(&sandbox, url, &token, args);
    succeeds(&hab(&["origin", "create", "demo"]), "origin create");
    sandbox.ok(&["origin", "key", "generate", "demo"]);
    succeeds(&hab(&["origin", "key", "upload", "demo"]), "key upload");
    let first = sandbox.pack("demo/web/1.0.0/20260101000000", &[]);
    let second = sandbox.pack("demo/web/1.0.1/20260102000000", &[]);
    succeeds(
        &hab(&[
            "pkg",
            "upload",
            first.to_str().unwrap(),
            second.to_str().unwrap(),
        ]),
        "upload",
    );

    // Uploads land in `unstable`: install from `stable` says where the package is and how
    // to get it.
    let user = Sandbox::new();
    let install = |args: &[&str]| {
        user.hab()
            .env("HAB_BLDR_URL", url)
            .args(args)
            .output()
            .unwrap()
    };
    let err = fails(
        &install(&["pkg", "install", "demo/web"]),
        "install from stable",
    );
    assert!(
        err.contains(
            "error: no package satisfies `demo/web` (x86_64-linux) in channel `stable`; its \
             latest release `demo/web/1.0.1/20260102000000` is in channel `unstable`"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "hint: choose that channel with -c/--channel unstable (or \
             HAB_BLDR_CHANNEL=unstable), or promote the release first: hab pkg promote \
             demo/web/1.0.1/20260102000000 stable"
        ),
        "{err}"
    );
    // hab start resolves the same way, and says the same.
    let err = fails(&install(&["start", "demo/web"]), "start from stable");
    assert!(err.contains("is in channel `unstable`"), "{err}");
    assert!(
        err.contains("hab pkg promote demo/web/1.0.1/20260102000000 stable"),
        "{err}"
    );
    // Nothing anywhere: the general hint.
    let err = fails(
        &install(&["pkg", "install", "demo/nope"]),
        "install of nothing",
    );
    assert!(
        err.contains("hint: check the identifier and the channel"),
        "{err}"
    );

    // A wrong token on promote names the promotion, not a step inside it.
    let wrong = remote(
        &sandbox,
        url,
        "not-a-real-token",
        &["pkg", "promote", "demo/web/1.0.1/20260102000000", "stable"],
    );
    let err = fails(&wrong, "promote with a wrong token");
    assert!(
        err.contains("error: cannot promote `demo/web/1.0.1/20260102000000` to `stable`: "),
        "{err}"
    );
    assert!(!err.contains("cannot list the channels"), "{err}");
    assert!(
        err.contains("hint: check HAB_AUTH_TOKEN (or --auth)"),
        "{err}"
    );
    succeeds(
        &hab(&["pkg", "promote", "demo/web/1.0.1/20260102000000", "stable"]),
        "promote",
    );
    succeeds(
        &install(&["pkg", "install", "demo/web"]),
        "install from stable",
    );

    // Search lists each package once, as Habitat's client does; --releases lists releases.
    let found = hab(&["pkg", "search", "web"]);
    succeeds(&found, "search");
    assert_eq!(stdout(&found), "demo/web\n");
    let releases = hab(&["pkg", "search", "web", "--releases"]);
    succeeds(&releases, "search --releases");
    let mut lines: Vec<String> = stdout(&releases).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "demo/web/1.0.0/20260101000000",
            "demo/web/1.0.1/20260102000000"
        ]
    );
}
