//! `hab-depot backup` and `hab-depot restore` against real depots (docs/operations.md,
//! "Backups").

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use habitat_core::keys::SecretKey;
use habitat_test_support::http::{create_origin_at, upload_public_key_at};
use reqwest::StatusCode;

use crate::depot::{big_package, slow_upload};
use crate::support::{hab_depot, hab_depot_bin, start_depot, user_create};

fn run(args: &[&OsStr]) -> Output {
    Command::new(hab_depot_bin()).args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn download(client: &reqwest::Client, url: &str, ident: &str) -> (StatusCode, Vec<u8>) {
    let response = client
        .get(format!("{url}/depot/pkgs/{ident}/download"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_during_an_upload_restores_into_a_depot_that_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = user_create(&data, "alice");
    let key = SecretKey::generate(&"crash".parse().unwrap()).unwrap();
    let (first, first_hart) = big_package(dir.path(), &key, "first", 256 * 1024);
    let (during, during_hart) = big_package(dir.path(), &key, "during", 4 * 1024 * 1024);
    let client = reqwest::Client::new();

    let depot = start_depot(&data);
    create_origin_at(&client, &depot.url, &token, "crash").await;
    upload_public_key_at(&client, &depot.url, &token, &key).await;
    assert_eq!(
        slow_upload(&client, &depot.url, &token, &first, &first_hart).await,
        Some(StatusCode::CREATED)
    );

    // An upload runs while the backup is taken.
    let upload = {
        let (client, url, token) = (client.clone(), depot.url.clone(), token.clone());
        let (ident, hart) = (during.clone(), during_hart.clone());
        tokio::spawn(async move { slow_upload(&client, &url, &token, &ident, &hart).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    let backup = dir.path().join("backups").join("b1");
    let args: Vec<std::ffi::OsString> = vec![
        "backup".into(),
        "--data-dir".into(),
        data.clone().into(),
        "--to".into(),
        backup.clone().into(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(hab_depot_bin()).args(&args).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "backup: {}", text(&out));
    assert_eq!(upload.await.unwrap(), Some(StatusCode::CREATED));
    let mode = std::fs::metadata(backup.join("server.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key is private");
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the backup is private");
    assert!(
        !backup.join("depot.sqlite-wal").exists(),
        "the copy is one file"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("b1")],
        "no temp folder left"
    );
    let original = depot.url.clone();
    let (status, bytes) = download(&client, &original, &during.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, std::fs::read(&during_hart).unwrap());
    depot.kill();

    // Restored into a new data dir: fsck clean, and a new depot serves the packages.
    let restored = dir.path().join("restored");
    let out = run(&[
        "restore".as_ref(),
        "--data-dir".as_ref(),
        restored.as_os_str(),
        "--from".as_ref(),
        backup.as_os_str(),
    ]);
    assert!(out.status.success(), "restore: {}", text(&out));
    assert!(text(&out).contains("clean"), "{}", text(&out));
    hab_depot(&["fsck".as_ref(), "--data-dir".as_ref(), restored.as_os_str()]);
    let depot = start_depot(&restored);
    let (status, bytes) = download(&client, &depot.url, &first.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, std::fs::read(&first_hart).unwrap(), "byte-identical");
    // The parallel upload is in the backup whole, or not at all.
    let (status, bytes) = download(&client, &depot.url, &during.to_string()).await;
    match status {
        StatusCode::OK => assert_eq!(bytes, std::fs::read(&during_hart).unwrap()),
        StatusCode::NOT_FOUND => {}
        other => panic!("{during}: {other}"),
    }
    depot.kill();

    // A damaged backup restores, but the checks fail, list the problem and leave the copy.
    let artifacts = backup.join("artifacts");
    let shard = std::fs::read_dir(&artifacts)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = std::fs::read_dir(&shard)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&file).unwrap();
    let damaged = dir.path().join("damaged");
    let out = run(&[
        "restore".as_ref(),
        "--data-dir".as_ref(),
        damaged.as_os_str(),
        "--from".as_ref(),
        backup.as_os_str(),
    ]);
    assert!(
        !out.status.success(),
        "restore of a damaged backup succeeded"
    );
    assert!(text(&out).contains("missing: "), "{}", text(&out));
    assert!(
        damaged.join("depot.sqlite").is_file(),
        "the restored copy is left"
    );
}

/// `args` as the `&OsStr` list [`run`] takes.
fn refs(args: &[std::ffi::OsString]) -> Vec<&OsStr> {
    args.iter().map(|a| a.as_os_str()).collect()
}

fn fails_with(args: &[&OsStr], needle: &str) {
    let out = run(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(text(&out).contains(needle), "{args:?}: {}", text(&out));
}

#[test]
fn backup_and_restore_refuse_what_they_cannot_do_safely() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    user_create(&data, "alice");
    let full = dir.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("something"), "x").unwrap();
    let backup_args = |data: &Path, to: &Path| -> Vec<std::ffi::OsString> {
        vec![
            "backup".into(),
            "--data-dir".into(),
            data.into(),
            "--to".into(),
            to.into(),
        ]
    };

    // A non-empty destination.
    let args = backup_args(&data, &full);
    fails_with(&refs(&args), "is not empty");
    assert!(full.join("something").exists(), "left as it was");

    // A non-empty data dir to restore into.
    let backup = dir.path().join("backup");
    let args = backup_args(&data, &backup);
    let out = run(&refs(&args));
    assert!(out.status.success(), "{}", text(&out));
    fails_with(
        &[
            "restore".as_ref(),
            "--data-dir".as_ref(),
            full.as_os_str(),
            "--from".as_ref(),
            backup.as_os_str(),
        ],
        &format!("`{}` exists and is not empty", full.display()),
    );

    // PostgreSQL + S3 settings.
    let config = dir.path().join("pg.toml");
    std::fs::write(
        &config,
        "[metadata]\nurl = \"postgres://depot@127.0.0.1:9/depot\"\n\
         [artifacts]\nurl = \"s3://hab/depot\"\nendpoint = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    for command in ["backup", "restore"] {
        let flag = if command == "backup" {
            "--to"
        } else {
            "--from"
        };
        fails_with(
            &[
                command.as_ref(),
                "--config".as_ref(),
                config.as_os_str(),
                flag.as_ref(),
                dir.path().join("nowhere").as_os_str(),
            ],
            "pg_dump",
        );
    }
    assert!(!dir.path().join("nowhere").exists());
}
