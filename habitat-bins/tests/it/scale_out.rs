//! Scale-out (docs/operations.md, "Scale-out"): several `hab-depot` processes sharing one
//! PostgreSQL and one S3 bucket, and `hab-depot migrate` from the embedded store to them. Real
//! servers on 127.0.0.1 (see `habitat_test_support::scale_out`); skipped with a message when they
//! are not installed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use habitat_core::FullyQualifiedIdent;
use habitat_core::keys::SecretKey;
use habitat_test_support::http::{create_origin_at, upload_public_key_at};
use habitat_test_support::scale_out::{Deployment, ScaleOut};
use reqwest::StatusCode;

use crate::depot::{big_package, slow_upload};
use crate::support::{
    DepotProcess, Sandbox, hab_depot, start_depot, start_depot_with, user_create,
};

fn os<S: AsRef<OsStr> + ?Sized>(s: &S) -> &OsStr {
    s.as_ref()
}

/// `hab ARGS` against `url` as the holder of `token`; must succeed; returns stdout.
#[track_caller]
fn hab(sandbox: &Sandbox, url: &str, token: &str, args: &[&str]) -> String {
    let out: Output = sandbox
        .hab()
        .env("HAB_BLDR_URL", url)
        .env("HAB_AUTH_TOKEN", token)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hab {args:?} against {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `demo/name/1.0.0/REL` from `demo-name-1.0.0-REL-x86_64-linux.hart`.
fn ident_of(hart: &Path) -> String {
    let name = hart.file_name().unwrap().to_str().unwrap();
    name.splitn(5, '-').take(4).collect::<Vec<_>>().join("/")
}

/// GET `url` (with a token if given): status and body.
async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

/// A deployment's server key, a first account and two processes on it, each with its own data
/// directory.
async fn two_processes(
    servers: &ScaleOut,
    sandbox: &Sandbox,
) -> (Deployment, String, DepotProcess, DepotProcess) {
    let deployment = servers.deployment(&sandbox.path().join("deploy")).await;
    hab_depot(&[
        os("server-key"),
        os("create"),
        os("--to"),
        deployment.server_key.as_os_str(),
    ]);
    let config_path = deployment.config.clone();
    let config = config_path.as_os_str();
    let admin = sandbox.path().join("admin-data");
    let token = hab_depot(&[
        os("user"),
        os("create"),
        os("alice"),
        os("--config"),
        config,
        os("--data-dir"),
        admin.as_os_str(),
    ])
    .trim()
    .to_owned();
    let start = |name: &str| {
        let data = sandbox.path().join(name);
        start_depot_with(&[os("--config"), config, os("--data-dir"), data.as_os_str()])
    };
    (deployment, token, start("data-a"), start("data-b"))
}

fn tmp_is_empty(data: &Path) -> bool {
    std::fs::read_dir(data.join("tmp"))
        .map(|mut entries| entries.next().is_none())
        .unwrap_or(true)
}

#[track_caller]
fn fsck_is_clean(config: &Path, data: &Path) {
    let report = hab_depot(&[
        os("fsck"),
        os("--config"),
        config.as_os_str(),
        os("--data-dir"),
        data.as_os_str(),
    ]);
    assert!(report.is_empty(), "fsck found problems:\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_commands_against_postgres_and_s3_create_no_data_directory() {
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
    // Nothing is stored there: it must stay absent, parent included.
    let data = sandbox.path().join("unused").join("data");
    let with = |args: &[&OsStr]| {
        let mut all = args.to_vec();
        all.extend([os("--config"), config, os("--data-dir"), data.as_os_str()]);
        hab_depot(&all)
    };
    let token = with(&[os("user"), os("create"), os("alice")]);
    assert!(!token.trim().is_empty());
    assert!(with(&[os("user"), os("list")]).starts_with("alice"));
    with(&[
        os("user"),
        os("token"),
        os("alice"),
        os("--token-name"),
        os("ci"),
    ]);
    assert_eq!(with(&[os("fsck")]), "");
    assert_eq!(with(&[os("fsck"), os("--repair")]), "");
    assert!(
        !sandbox.path().join("unused").exists(),
        "an admin command created {}",
        data.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_bucket_or_secret_is_refused_at_start() {
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
    let settings = std::fs::read_to_string(&deployment.config).unwrap();
    let endpoint = settings
        .lines()
        .find_map(|line| line.strip_prefix("endpoint = "))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    let wrong_bucket = settings.replace(
        &format!("s3://{}/", deployment.bucket),
        "s3://no-such-bucket/",
    );
    let secret = sandbox.path().join("wrong-secret");
    std::fs::write(&secret, "not-the-secret\n").unwrap();
    let secret_file = sandbox.path().join("deploy").join("s3-secret");
    let wrong_secret = settings.replace(
        &format!("{:?}", secret_file.display().to_string()),
        &format!("{:?}", secret.display().to_string()),
    );
    assert_ne!(wrong_secret, settings);
    for (name, text, says) in [
        (
            "bucket",
            wrong_bucket,
            "the bucket `no-such-bucket` does not exist",
        ),
        ("secret", wrong_secret, "the credentials were refused"),
    ] {
        let config = sandbox.path().join(format!("wrong-{name}.toml"));
        std::fs::write(&config, text).unwrap();
        let data = sandbox.path().join(format!("data-{name}"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hab-depot"))
            .args([os("start"), os("--listen"), os("127.0.0.1:0")])
            .args([os("--config"), config.as_os_str()])
            .args([os("--data-dir"), data.as_os_str()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "started with a wrong {name}: {stderr}"
        );
        assert!(stderr.contains(&format!("at `{endpoint}`")), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("listening"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_share_uploads_promotions_and_upload_races() {
    let Some(servers) = ScaleOut::get() else {
        return;
    };
    let sandbox = Sandbox::new();
    let (deployment, token, a, b) = two_processes(servers, &sandbox).await;
    let client = reqwest::Client::new();

    // An origin and its key through A; a package through A.
    hab(&sandbox, &a.url, &token, &["origin", "create", "demo"]);
    sandbox.ok(&["origin", "key", "generate", "demo"]);
    hab(
        &sandbox,
        &a.url,
        &token,
        &["origin", "key", "upload", "demo"],
    );
    let hart = sandbox.pack("demo/hello/1.0.0", &[]);
    let ident = ident_of(&hart);
    hab(
        &sandbox,
        &a.url,
        &token,
        &["pkg", "upload", hart.to_str().unwrap()],
    );

    // At once through B: byte-identical download, and `latest`.
    let (status, body) = get(
        &client,
        &format!("{}/depot/pkgs/{ident}/download", b.url),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body == std::fs::read(&hart).unwrap(),
        "B serves the bytes A received"
    );
    let (status, body) = get(
        &client,
        &format!("{}/depot/pkgs/demo/hello/latest", b.url),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&body)["ident"]["release"],
        ident.rsplit('/').next().unwrap()
    );

    // A newer release through A is B's latest at once.
    let newer = sandbox.pack("demo/hello/1.0.1", &[]);
    let newer_ident = ident_of(&newer);
    hab(
        &sandbox,
        &a.url,
        &token,
        &["pkg", "upload", newer.to_str().unwrap()],
    );
    let (_, body) = get(
        &client,
        &format!("{}/depot/pkgs/demo/hello/latest", b.url),
        None,
    )
    .await;
    assert_eq!(json(&body)["ident"]["version"], "1.0.1");

    // Promotions and demotions through A are visible through B at once.
    let stable_latest = format!("{}/depot/channels/demo/stable/pkgs/hello/latest", b.url);
    assert_eq!(
        get(&client, &stable_latest, None).await.0,
        StatusCode::NOT_FOUND
    );
    hab(
        &sandbox,
        &a.url,
        &token,
        &["pkg", "promote", &ident, "stable"],
    );
    let (status, body) = get(&client, &stable_latest, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["ident"]["version"], "1.0.0");
    hab(
        &sandbox,
        &a.url,
        &token,
        &["pkg", "promote", &newer_ident, "stable"],
    );
    let (_, body) = get(&client, &stable_latest, None).await;
    assert_eq!(json(&body)["ident"]["version"], "1.0.1");
    hab(
        &sandbox,
        &b.url,
        &token,
        &["pkg", "demote", &newer_ident, "stable"],
    );
    let (_, body) = get(&client, &stable_latest, None).await;
    assert_eq!(
        json(&body)["ident"]["version"],
        "1.0.0",
        "B's demotion, seen by B"
    );
    let (_, body) = get(
        &client,
        &format!("{}/depot/channels/demo/stable/pkgs/hello/latest", a.url),
        None,
    )
    .await;
    assert_eq!(
        json(&body)["ident"]["version"],
        "1.0.0",
        "B's demotion, seen by A"
    );

    // Eight concurrent uploads of one ident, alternating between A and B: exactly one wins.
    let race = sandbox.pack("demo/race/1.0.0", &[]);
    let race_ident = ident_of(&race);
    let bytes = bytes::Bytes::from(std::fs::read(&race).unwrap());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let url = format!(
            "{}/depot/pkgs/{race_ident}",
            if i % 2 == 0 { &a.url } else { &b.url }
        );
        let (client, token, bytes) = (client.clone(), token.clone(), bytes.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .body(bytes)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 7), "{statuses:?}");
    for process in [&a, &b] {
        let (status, body) = get(
            &client,
            &format!("{}/depot/pkgs/{race_ident}/download", process.url),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body == bytes, "the race's winner is whole through both");
    }

    // Uploads into S3 leave no temp files behind, and the shared stores are consistent.
    assert!(
        tmp_is_empty(&sandbox.path().join("data-a")),
        "A's tmp/ is empty"
    );
    assert!(
        tmp_is_empty(&sandbox.path().join("data-b")),
        "B's tmp/ is empty"
    );
    fsck_is_clean(&deployment.config, &sandbox.path().join("admin-data"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_one_process_mid_upload_loses_nothing_and_shows_nothing_half_written() {
    let Some(servers) = ScaleOut::get() else {
        return;
    };
    let sandbox = Sandbox::new();
    let (deployment, token, a, b) = two_processes(servers, &sandbox).await;
    let client = reqwest::Client::new();
    let key = SecretKey::generate(&"crash".parse().unwrap()).unwrap();
    create_origin_at(&client, &b.url, &token, "crash").await;
    upload_public_key_at(&client, &a.url, &token, &key).await;

    // An acknowledged upload through A, then a large one cut off by SIGKILL mid-body.
    let (kept, kept_hart): (FullyQualifiedIdent, PathBuf) =
        big_package(sandbox.path(), &key, "kept", 256 * 1024);
    let acknowledged = slow_upload(&client, &a.url, &token, &kept, &kept_hart).await;
    assert_eq!(acknowledged, Some(StatusCode::CREATED));
    let (lost, lost_hart) = big_package(sandbox.path(), &key, "lost", 24 << 20);
    let upload = {
        let (client, url, token, lost, lost_hart) = (
            client.clone(),
            a.url.clone(),
            token.clone(),
            lost.clone(),
            lost_hart.clone(),
        );
        tokio::spawn(async move { slow_upload(&client, &url, &token, &lost, &lost_hart).await })
    };
    // Wait until A is receiving the body: its temp file has grown.
    let data_a = sandbox.path().join("data-a");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let receiving = std::fs::read_dir(data_a.join("tmp"))
            .unwrap()
            .flatten()
            .any(|entry| entry.metadata().is_ok_and(|m| m.len() > 1 << 20));
        if receiving {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.kill();
    assert_eq!(upload.await.unwrap(), None, "the kill landed mid-body");

    // Through B: the acknowledged package whole, the cut-off one nowhere.
    let (status, body) = get(
        &client,
        &format!("{}/depot/pkgs/{kept}/download", b.url),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body == std::fs::read(&kept_hart).unwrap(),
        "acknowledged upload intact"
    );
    let (status, _) = get(&client, &format!("{}/depot/pkgs/{lost}", b.url), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = get(&client, &format!("{}/depot/pkgs/crash", b.url), None).await;
    let listed = String::from_utf8(listed).unwrap();
    assert!(
        listed.contains("kept") && !listed.contains("lost"),
        "{listed}"
    );
    // No row without its artifact and no stray artifact in the bucket.
    fsck_is_clean(&deployment.config, &sandbox.path().join("admin-data"));
    assert!(tmp_is_empty(&sandbox.path().join("data-b")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_embedded_depot_migrated_to_postgres_and_s3_answers_the_same() {
    let Some(servers) = ScaleOut::get() else {
        return;
    };
    let sandbox = Sandbox::new();
    let embedded = sandbox.path().join("embedded");
    let alice = user_create(&embedded, "alice");
    let bob = user_create(&embedded, "bob");
    let depot = start_depot(&embedded);
    let url = depot.url.clone();

    // Accounts, origins, members, an invitation, keys (the secret one too), packages with
    // dependencies, channels and promotions: all through the real CLI.
    hab(&sandbox, &url, &alice, &["origin", "create", "demo"]);
    sandbox.ok(&["origin", "key", "generate", "demo"]);
    hab(
        &sandbox,
        &url,
        &alice,
        &["origin", "key", "upload", "demo", "--secret"],
    );
    let liba = sandbox.pack("demo/liba/1.0.0", &[]);
    sandbox.ok(&["pkg", "install", liba.to_str().unwrap()]);
    let libb = sandbox.pack("demo/libb/1.0.0", &["demo/liba"]);
    sandbox.ok(&["pkg", "install", libb.to_str().unwrap()]);
    hab(
        &sandbox,
        &url,
        &alice,
        &["pkg", "upload", libb.to_str().unwrap()],
    );
    hab(
        &sandbox,
        &url,
        &alice,
        &["pkg", "promote", &ident_of(&libb), "stable"],
    );
    hab(
        &sandbox,
        &url,
        &alice,
        &["bldr", "channel", "create", "demo", "beta"],
    );
    hab(
        &sandbox,
        &url,
        &alice,
        &["pkg", "promote", &ident_of(&liba), "beta"],
    );
    hab(&sandbox, &url, &bob, &["origin", "create", "team"]);
    let invited = hab(
        &sandbox,
        &url,
        &bob,
        &["origin", "invitations", "send", "team", "alice"],
    );
    hab(
        &sandbox,
        &url,
        &alice,
        &["origin", "invitations", "accept", "team", invited.trim()],
    );
    hab(
        &sandbox,
        &url,
        &alice,
        &["origin", "invitations", "send", "demo", "bob"],
    );

    let client = reqwest::Client::new();
    let (a, b) = (ident_of(&liba), ident_of(&libb));
    let calls: Vec<(String, Option<&str>)> = vec![
        ("/depot/origins/demo".into(), None),
        ("/depot/origins/demo/users".into(), Some(&alice)),
        ("/depot/origins/team/users".into(), Some(&bob)),
        ("/depot/origins/demo/invitations".into(), Some(&alice)),
        ("/depot/origins/demo/keys".into(), None),
        ("/depot/origins/demo/keys/latest".into(), None),
        (
            "/depot/origins/demo/secret_keys/latest".into(),
            Some(&alice),
        ),
        ("/depot/pkgs/demo".into(), None),
        ("/depot/pkgs/demo/libb/latest".into(), None),
        (format!("/depot/pkgs/{a}"), None),
        (format!("/depot/pkgs/{b}/channels"), None),
        ("/depot/pkgs/demo/liba/versions".into(), None),
        ("/depot/pkgs/search/lib".into(), None),
        ("/rdeps/demo/liba".into(), None),
        ("/depot/channels/demo".into(), None),
        ("/depot/channels/demo/stable/pkgs/libb/latest".into(), None),
        ("/depot/channels/demo/beta/pkgs".into(), None),
        ("/depot/views".into(), None),
        ("/user/origins".into(), Some(&alice)),
        ("/user/invitations".into(), Some(&bob)),
        ("/profile".into(), Some(&alice)),
        (format!("/depot/pkgs/{a}/download"), None),
        (format!("/depot/pkgs/{b}/download"), None),
    ];
    let mut before = Vec::new();
    for (path, token) in &calls {
        let answer = get(&client, &format!("{url}{path}"), *token).await;
        assert_eq!(answer.0, StatusCode::OK, "{path} on the embedded depot");
        before.push(answer);
    }
    depot.kill();

    // Migrate, twice: the second run finds everything there and changes nothing.
    let deployment = servers.deployment(&sandbox.path().join("deploy")).await;
    let migrate = || {
        hab_depot(&[
            os("migrate"),
            os("--data-dir"),
            embedded.as_os_str(),
            os("--to"),
            deployment.config.as_os_str(),
        ])
    };
    let first = migrate();
    assert!(first.contains("(2 copied now"), "{first}");
    assert!(!first.contains("MISMATCH"), "{first}");
    assert_eq!(
        std::fs::read(&deployment.server_key).unwrap(),
        std::fs::read(embedded.join("server.key")).unwrap(),
        "the server key moved along"
    );
    let second = migrate();
    assert!(second.contains("(0 copied now, 0 bytes"), "{second}");
    assert_eq!(
        first
            .lines()
            .filter(|l| !l.starts_with("artifacts"))
            .collect::<Vec<_>>(),
        second
            .lines()
            .filter(|l| !l.starts_with("artifacts"))
            .collect::<Vec<_>>(),
        "the same counts"
    );
    let objects = servers.object_count(&deployment).await;
    assert_eq!(objects, 2, "two artifacts in the bucket, under the prefix");

    // The new deployment answers exactly as the old one did; tokens still work.
    let moved = start_depot_with(&[
        os("--config"),
        deployment.config.as_os_str(),
        os("--data-dir"),
        sandbox.path().join("scale-data").as_os_str(),
    ]);
    for ((path, token), (status, body)) in calls.iter().zip(&before) {
        let (now_status, now_body) = get(&client, &format!("{}{path}", moved.url), *token).await;
        assert_eq!(now_status, *status, "{path}");
        assert!(
            now_body == *body,
            "{path} answers differently:\nbefore: {}\nafter:  {}",
            String::from_utf8_lossy(body),
            String::from_utf8_lossy(&now_body)
        );
    }
    // And it keeps working: a new upload through the migrated depot.
    let libc = sandbox.pack("demo/libc/1.0.0", &["demo/libb"]);
    hab(
        &sandbox,
        &moved.url,
        &alice,
        &["pkg", "upload", libc.to_str().unwrap()],
    );
    fsck_is_clean(&deployment.config, &sandbox.path().join("scale-data"));
    assert!(!deployment.postgres_url.is_empty() && !deployment.bucket.is_empty());
}

/// TUF on a scale-out depot (docs/security.md, "Publishing"): `hab-depot tuf init` against the
/// shared stores, a promotion through process A, and the signed channel index as served by
/// process B, checked by the client's verifier (the one `hab` uses), within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_promotion_through_one_process_is_in_the_verified_metadata_of_the_other() {
    use habitat_depot_client::Client;
    use habitat_depot_client::tuf::TufClient;

    let Some(servers) = ScaleOut::get() else {
        return;
    };
    let sandbox = Sandbox::new();
    let (deployment, token, a, b) = two_processes(servers, &sandbox).await;
    let fingerprint = hab_depot(&[
        os("tuf"),
        os("init"),
        os("--config"),
        deployment.config.as_os_str(),
        os("--data-dir"),
        sandbox.path().join("admin-data").as_os_str(),
    ])
    .trim()
    .to_owned();

    hab(&sandbox, &a.url, &token, &["origin", "create", "demo"]);
    sandbox.ok(&["origin", "key", "generate", "demo"]);
    hab(
        &sandbox,
        &a.url,
        &token,
        &["origin", "key", "upload", "demo"],
    );
    let hart = sandbox.pack("demo/hello/1.0.0", &[]);
    let ident = ident_of(&hart);
    hab(
        &sandbox,
        &a.url,
        &token,
        &["pkg", "upload", hart.to_str().unwrap()],
    );

    let through_b = Client::new(b.url.parse().unwrap(), None).unwrap();
    let cache = sandbox.path().join("tuf-cache");
    let root = TufClient::trust(&through_b, &fingerprint, &cache)
        .await
        .unwrap();
    let verifier = TufClient::new(through_b, &root, &cache).unwrap();
    let (origin, stable, name) = (
        "demo".parse().unwrap(),
        "stable".parse().unwrap(),
        "hello".parse().unwrap(),
    );
    let target = habitat_core::PackageTarget::X86_64Linux;
    verifier.refresh().await.unwrap();
    assert_eq!(
        verifier
            .index(&origin, &stable, &name, target)
            .await
            .unwrap(),
        None,
        "not in stable yet"
    );

    hab(
        &sandbox,
        &a.url,
        &token,
        &["pkg", "promote", &ident, "stable"],
    );
    let promoted = std::time::Instant::now();
    let index = loop {
        verifier.refresh().await.unwrap();
        if let Some(index) = verifier
            .index(&origin, &stable, &name, target)
            .await
            .unwrap()
        {
            break index;
        }
        assert!(
            promoted.elapsed() < Duration::from_secs(30),
            "the promotion through A never reached B's verified metadata"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "promotion through A visible in B's verified metadata after {} ms",
        promoted.elapsed().as_millis()
    );
    assert_eq!(index.releases[0].ident.to_string(), ident);
    assert_eq!(
        index.releases[0].checksum,
        habitat_core::Blake2bHash::of_file(&hart)
            .unwrap()
            .to_string()
    );
}
