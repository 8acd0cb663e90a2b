//! The real `hab-depot` process: crash safety under SIGKILL mid-upload.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use habitat_core::keys::SecretKey;
use habitat_core::pack::{PackSpec, pack};
use habitat_core::{FullyQualifiedIdent, PackageTarget};
use habitat_test_support::http::{create_origin_at, upload_public_key_at};
use reqwest::StatusCode;

use crate::support::{hab_depot, start_depot, start_depot_with, user_create};

/// A package of `size` incompressible bytes, so that its upload takes a while.
pub fn big_package(
    dir: &Path,
    key: &SecretKey,
    name: &str,
    size: usize,
) -> (FullyQualifiedIdent, PathBuf) {
    let ident: FullyQualifiedIdent = format!("crash/{name}/1.0.0/20200101000000")
        .parse()
        .unwrap();
    let src = dir.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    let mut state = name.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| {
        h.rotate_left(5) ^ u64::from(b)
    });
    let data: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(src.join("blob"), data).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let spec = PackSpec {
        ident: ident.clone(),
        target: PackageTarget::X86_64Linux,
        deps: vec![],
        tdeps: vec![],
    };
    (ident, pack(&src, &out, &spec, key).unwrap())
}

/// Uploads in small chunks with pauses, so that a kill lands mid-body.
pub async fn slow_upload(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    ident: &FullyQualifiedIdent,
    hart: &Path,
) -> Option<StatusCode> {
    let bytes = bytes::Bytes::from(std::fs::read(hart).unwrap());
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
        .chunks(64 * 1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let stream = futures_util::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(2)).await;
        chunk
    });
    let response = client
        .post(format!("{url}/depot/pkgs/{ident}"))
        .bearer_auth(token)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .ok()?;
    Some(response.status())
}

use futures_util::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_upload_loses_nothing_acknowledged_and_shows_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = user_create(&data, "alice");
    let key = SecretKey::generate(&"crash".parse().unwrap()).unwrap();
    let packages: Vec<(FullyQualifiedIdent, PathBuf)> = (0..6)
        .map(|i| big_package(dir.path(), &key, &format!("pkg{i}"), 768 * 1024))
        .collect();
    let client = reqwest::Client::new();

    let depot = start_depot(&data);
    create_origin_at(&client, &depot.url, &token, "crash").await;
    upload_public_key_at(&client, &depot.url, &token, &key).await;
    depot.kill();

    let mut acknowledged = std::collections::HashSet::new();
    let mut interrupted = 0;
    for round in 0..8u64 {
        let depot = start_depot(&data);
        let url = depot.url.clone();
        let mut tasks = Vec::new();
        for (ident, hart) in packages.iter().filter(|(i, _)| !acknowledged.contains(i)) {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            let (ident, hart) = (ident.clone(), hart.clone());
            tasks.push(tokio::spawn(async move {
                (
                    ident.clone(),
                    slow_upload(&client, &url, &token, &ident, &hart).await,
                )
            }));
        }
        // Early rounds cut uploads off; later ones leave time for some to finish.
        tokio::time::sleep(Duration::from_millis(30 << round)).await;
        depot.kill();
        for task in tasks {
            let (ident, status) = task.await.unwrap();
            match status {
                Some(StatusCode::CREATED) | Some(StatusCode::CONFLICT) => {
                    acknowledged.insert(ident);
                }
                Some(other) => assert!(
                    other.is_server_error() || other == StatusCode::REQUEST_TIMEOUT,
                    "{ident}: {other}"
                ),
                None => interrupted += 1,
            }
        }

        // After a restart: everything acknowledged is there, and everything visible is whole.
        let depot = start_depot(&data);
        assert!(
            std::fs::read_dir(data.join("tmp"))
                .unwrap()
                .next()
                .is_none(),
            "temp files cleaned on start"
        );
        for (ident, hart) in &packages {
            let response = client
                .get(format!("{}/depot/pkgs/{ident}/download", depot.url))
                .send()
                .await
                .unwrap();
            match response.status() {
                StatusCode::OK => {
                    let body = response.bytes().await.unwrap();
                    assert!(
                        body[..] == std::fs::read(hart).unwrap()[..],
                        "{ident} downloads byte-identical"
                    );
                }
                StatusCode::NOT_FOUND => assert!(
                    !acknowledged.contains(ident),
                    "{ident} was acknowledged, then lost"
                ),
                other => panic!("{ident}: {other}"),
            }
        }
        depot.kill();
    }

    // The test only means something if kills landed mid-upload and some uploads got through.
    eprintln!(
        "{interrupted} uploads interrupted by SIGKILL, {} acknowledged",
        acknowledged.len()
    );
    assert!(
        interrupted > 0,
        "no upload was interrupted: the kills came too late"
    );
    assert!(
        !acknowledged.is_empty(),
        "no upload completed: the kills came too early"
    );

    // fsck succeeds.
    hab_depot(&["fsck".as_ref(), "--data-dir".as_ref(), data.as_os_str()]);
}

#[tokio::test]
async fn metrics_listen_serves_the_metrics_on_a_port_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("depot.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nmetrics_listen = \"127.0.0.1:0\"\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let depot = start_depot_with(&["--config".as_ref(), config.as_os_str()]);
    let log = depot.log_text();
    let metrics = log
        .lines()
        .find_map(|l| l.split("hab-depot metrics on ").nth(1))
        .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"))
        .trim()
        .to_owned();
    let client = reqwest::Client::new();
    let status = client
        .get(format!("{}/status", depot.url))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    let main_port = depot.url.strip_suffix("/v1").unwrap();
    let answer = client
        .get(format!("{main_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    let answer = client.get(&metrics).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let text = answer.text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("hab_depot_http_requests_total{")
                && l.contains("route=\"/v1/status\"")
                && l.ends_with(" 1")),
        "{text}"
    );
}

#[test]
fn empty_depot_variables_count_as_unset() {
    // Regression: `HAB_DEPOT_DATA_DIR=` made every command fail with "a value is required".
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hab-depot"))
        .args(["user", "list", "--data-dir"])
        .arg(dir.path())
        .env("HAB_DEPOT_DATA_DIR", "")
        .env("HAB_DEPOT_CONFIG", "")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_hab-depot"))
        .args(["start", "--data-dir"])
        .arg(dir.path())
        .env("HAB_DEPOT_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("HAB_DEPOT_LISTEN=`nowhere`"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn a_bad_rate_limit_stops_the_depot_naming_the_setting_before_it_writes_anything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("depot.toml");
    std::fs::write(
        &config,
        format!("data_dir = {data:?}\n[rate_limit]\nrequests_per_second = 0\nburst = 10\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hab-depot"))
        .args(["start", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env_remove("HAB_DEPOT_DATA_DIR")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(
            "`[rate_limit]` `requests_per_second`: `0` is not a positive number of requests"
        ),
        "{said}"
    );
    assert!(!data.exists());
}

#[test]
fn user_link_ties_an_account_to_a_provider_identity_once() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("oidc-secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let config = dir.path().join("depot.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\n[[auth.providers]]\nid = \"corp\"\nkind = \"oidc\"\n\
             issuer = \"https://login.example.com/realms/eng\"\nclient_id = \"hab-depot\"\n\
             client_secret_file = {secret:?}\n",
            data = dir.path().join("data"),
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hab-depot"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    assert!(run(&["user", "create", "alice"]).status.success());
    let linked = run(&[
        "user",
        "link",
        "alice",
        "--provider",
        "corp",
        "--subject",
        "u-1",
    ]);
    let said = String::from_utf8_lossy(&linked.stderr);
    assert!(linked.status.success(), "{said}");
    assert!(
        said.contains("linked identity `u-1` of `corp` to account `alice`"),
        "{said}"
    );

    assert!(run(&["user", "create", "bob"]).status.success());
    let again = run(&[
        "user",
        "link",
        "bob",
        "--provider",
        "corp",
        "--subject",
        "u-1",
    ]);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(said.contains("already linked to account `alice`"), "{said}");

    let unknown = run(&[
        "user",
        "link",
        "bob",
        "--provider",
        "github",
        "--subject",
        "7",
    ]);
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success());
    assert!(said.contains("no sign-in provider `github`"), "{said}");

    let nobody = run(&[
        "user",
        "link",
        "carol",
        "--provider",
        "corp",
        "--subject",
        "u-2",
    ]);
    let said = String::from_utf8_lossy(&nobody.stderr);
    assert!(!nobody.status.success());
    assert!(said.contains("no account `carol`"), "{said}");
}

/// A settings file with a data directory and one provider `[[auth.providers]]` table.
fn provider_config(dir: &Path, provider: &str) -> PathBuf {
    let config = dir.join("depot.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\n[[auth.providers]]\n{provider}",
            data = dir.join("data")
        ),
    )
    .unwrap();
    config
}

#[test]
fn a_provider_secret_comes_from_the_environment_and_its_absence_stops_the_depot() {
    let dir = tempfile::tempdir().unwrap();
    let config = provider_config(
        dir.path(),
        "id = \"corp-sso\"\nkind = \"oidc\"\nissuer = \"https://login.example.com\"\n\
         client_id = \"hab-depot\"\n",
    );
    let variable = "HAB_DEPOT_AUTH_CORP_SSO_CLIENT_SECRET";
    let depot = |secret: Option<&str>, args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hab-depot"));
        command
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove(variable)
            .env_remove("HAB_DEPOT_LISTEN");
        if let Some(secret) = secret {
            command.env(variable, secret);
        }
        command
    };

    let out = depot(None, &["start", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("provider `corp-sso` has no client secret") && said.contains(variable),
        "{said}"
    );

    // Administrators' commands sign nobody in: they need no provider secret.
    let out = depot(None, &["user", "list"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let log = dir.path().join("start.log");
    let mut child = depot(Some("s3cret"), &["start", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let listening = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("listening on") {
            break true;
        }
        if child.try_wait().unwrap().is_some() || std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        listening,
        "the depot starts with the secret from {variable}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[tokio::test]
async fn a_failed_sign_in_is_logged_at_warn_with_its_step_and_the_providers_error() {
    use habitat_test_support::github::{GitHubStandIn, GitHubUser};
    use habitat_test_support::oidc::Browser;

    let gh = GitHubStandIn::start("hab-depot", "s3cret").await;
    gh.sign_in_as(&GitHubUser {
        id: 7,
        login: "octo".into(),
        email: "octo@example.com".into(),
        hide_email: false,
    });
    gh.token_error(Some((
        "bad_verification_code",
        "The code passed is incorrect or expired.",
    )));
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("github-secret");
    std::fs::write(&secret, "s3cret").unwrap();
    let config = provider_config(
        dir.path(),
        &format!(
            "id = \"github\"\nkind = \"github\"\nclient_id = \"hab-depot\"\n\
             client_secret_file = {secret:?}\nweb_url = {web:?}\napi_url = {api:?}\n",
            web = gh.web_url,
            api = gh.api_url,
        ),
    );
    let depot = start_depot_with(&["--config".as_ref(), config.as_os_str()]);
    let base = depot.url.trim_end_matches("/v1").to_owned();
    let browser = Browser::new();
    let hop = browser.get(&format!("{base}/auth/github/login")).await;
    let back = browser
        .follow(hop, &format!("{base}/auth/github/callback"))
        .await
        .expect_err("the stand-in sends the browser back");
    let page = browser.get(&back).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    let log = depot.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("sign-in failed"))
        .unwrap_or_else(|| panic!("no sign-in failure in the log:\n{log}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("provider=\"github\""), "{line}");
    assert!(
        line.contains("step=exchanging the authorization code for a token"),
        "{line}"
    );
    assert!(line.contains("bad_verification_code"), "{line}");
    assert!(!log.contains("s3cret"), "the secret is never logged");
}
