//! Upload: every check of docs/api.md ("Upload", in order, the first failure wins), each with
//! an artifact built for it, and after every rejection the proof that nothing was left behind: no
//! row, no artifact, no temp file.

use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::future::join_all;
use habitat_core::artifact;
use habitat_core::keys::SecretKey;
use habitat_core::pack::{PackSpec, pack};
use habitat_core::{Blake2bHash, FullyQualifiedIdent, PackageTarget};
use habitat_depot_server::settings::Settings;
use habitat_depot_server::store::{Package, Role, Visibility};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::support::*;

const HELLO: &str = "acme/hello/1.0.0/20240101000000";

/// A depot with origin `acme` owned by `alice` and acme's signing key, the public half
/// uploaded to the origin unless asked otherwise.
struct Setup {
    depot: TestDepot,
    token: String,
    keys: OriginKeys,
    work: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        Self::with(|_| {}, true).await
    }

    async fn with(configure: impl FnOnce(&mut Settings), publish: bool) -> Self {
        let depot = TestDepot::start_with(configure).await;
        let token = depot.user("alice").await;
        depot
            .create_origin("alice", "acme", Visibility::Public)
            .await;
        let work = tempfile::tempdir().unwrap();
        let keys = origin_keys(work.path(), "acme");
        if publish {
            depot.publish_key("acme", &keys).await;
        }
        Self {
            depot,
            token,
            keys,
            work,
        }
    }

    /// A packed artifact of `ident` signed with acme's key.
    fn artifact(&self, ident: &str) -> PathBuf {
        artifact(self.work.path(), ident, &[], &self.keys.secret)
    }

    /// Posts `body` to `/depot/pkgs/{path}` (`path` may carry a query) with alice's token.
    async fn post(&self, path: &str, body: Vec<u8>, expected: StatusCode) -> Value {
        post(&self.depot, Some(&self.token), path, body, expected).await
    }

    /// Sends each refused upload in turn and checks its answer; then that together they left
    /// the stores as they were and no temp file.
    async fn assert_refused(&self, refusals: &[Refusal<'_>]) {
        let before = snapshot(&self.depot).await;
        for refusal in refusals {
            let token = match refusal.caller {
                Caller::Alice => Some(self.token.as_str()),
                Caller::Anonymous => None,
                Caller::As(token) => Some(token),
            };
            let body = refusal.body.to_vec();
            let answer = post(&self.depot, token, refusal.path, body, refusal.status).await;
            assert_error(&answer, refusal.code);
            for part in &refusal.says {
                assert_message_contains(&answer, part);
            }
        }
        assert_left_nothing(&self.depot, &before).await;
    }
}

/// The stored row of `ident` for x86_64-linux, which must exist.
async fn stored(depot: &TestDepot, ident: &str) -> Package {
    let ident: FullyQualifiedIdent = ident.parse().unwrap();
    let found = depot
        .state
        .metadata
        .package(&ident, PackageTarget::X86_64Linux)
        .await
        .unwrap();
    found.unwrap_or_else(|| panic!("no row for {ident}"))
}

/// The bytes of a stored artifact, which must exist.
async fn stored_bytes(depot: &TestDepot, checksum: &Blake2bHash) -> Vec<u8> {
    let mut opened = depot
        .state
        .artifacts
        .open(checksum, 0)
        .await
        .unwrap()
        .unwrap();
    let mut bytes = Vec::new();
    opened.reader.read_to_end(&mut bytes).await.unwrap();
    bytes
}

async fn post(
    depot: &TestDepot,
    token: Option<&str>,
    path: &str,
    body: Vec<u8>,
    expected: StatusCode,
) -> Value {
    send(
        depot
            .request(Method::POST, &format!("/depot/pkgs/{path}"), token)
            .body(body),
        expected,
    )
    .await
}

/// A body without Content-Length (`Transfer-Encoding: chunked`), as `hab` sends it.
async fn post_chunked(setup: &Setup, path: &str, body: Vec<u8>, expected: StatusCode) -> Value {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(100).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let request = setup
        .depot
        .request(
            Method::POST,
            &format!("/depot/pkgs/{path}"),
            Some(&setup.token),
        )
        .body(body);
    send(request, expected).await
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// What the stores hold: every package row and every artifact.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    rows: Vec<String>,
    artifacts: Vec<String>,
}

async fn snapshot(depot: &TestDepot) -> Snapshot {
    let rows = depot.state.metadata.package_checksums().await.unwrap();
    let mut rows: Vec<String> = rows
        .into_iter()
        .map(|(id, ident, target, checksum, size)| {
            format!("{id} {ident} {target} {checksum} {size}")
        })
        .collect();
    rows.sort();
    let artifacts = depot.state.artifacts.list().await.unwrap();
    let mut artifacts: Vec<String> = artifacts
        .into_iter()
        .map(|(checksum, size)| format!("{checksum} {size}"))
        .collect();
    artifacts.sort();
    Snapshot { rows, artifacts }
}

fn assert_no_temp_files(depot: &TestDepot) {
    let left: Vec<PathBuf> = std::fs::read_dir(&depot.state.tmp_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(left.is_empty(), "temp files left behind: {left:?}");
}

/// A rejected upload leaves the stores as they were and no temp file.
async fn assert_left_nothing(depot: &TestDepot, before: &Snapshot) {
    assert_eq!(
        &snapshot(depot).await,
        before,
        "a rejected upload changed the stores"
    );
    assert_no_temp_files(depot);
}

/// Who sends a refused upload.
#[derive(Clone, Copy)]
enum Caller<'a> {
    /// Alice, the owner of `acme`.
    Alice,
    /// Nobody: no token.
    Anonymous,
    /// The holder of this token.
    As(&'a str),
}

/// An upload the depot must refuse: who posts what to `/depot/pkgs/{path}`, and the status,
/// error code and message parts of the answer.
#[derive(Clone)]
struct Refusal<'a> {
    path: &'a str,
    body: &'a [u8],
    caller: Caller<'a>,
    status: StatusCode,
    code: &'a str,
    says: Vec<&'a str>,
}

impl<'a> Refusal<'a> {
    /// Alice posting `body` to `path`, refused with `status` and `code`.
    fn new(path: &'a str, body: &'a [u8], status: StatusCode, code: &'a str) -> Self {
        Self {
            path,
            body,
            caller: Caller::Alice,
            status,
            code,
            says: Vec::new(),
        }
    }

    /// The same, sent by `caller`.
    fn by(self, caller: Caller<'a>) -> Self {
        Self { caller, ..self }
    }

    /// The same, with a message containing each of `parts`.
    fn says(mut self, parts: &[&'a str]) -> Self {
        self.says.extend_from_slice(parts);
        self
    }
}

/// Alice posting `body` to `path`, refused with 422 and `code`.
fn unprocessable<'a>(path: &'a str, body: &'a [u8], code: &'a str) -> Refusal<'a> {
    Refusal::new(path, body, StatusCode::UNPROCESSABLE_ENTITY, code)
}

/// A copy of an artifact changed by `change`.
fn variant(hart: &Path, name: &str, change: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = read(hart);
    change(&mut bytes);
    let out = hart.with_file_name(name);
    std::fs::write(&out, bytes).unwrap();
    out
}

/// Where the payload starts: after the blank fifth header line.
fn payload_start(bytes: &[u8]) -> usize {
    bytes.windows(2).position(|w| w == b"\n\n").unwrap() + 2
}

/// An artifact whose tar is built entry by entry (for what `pack` refuses to build), signed
/// with `key` whatever the package's origin.
fn hand_made(
    dir: &Path,
    name: &str,
    key: &SecretKey,
    build: impl FnOnce(&mut tar::Builder<Vec<u8>>),
) -> PathBuf {
    let mut tar = tar::Builder::new(Vec::new());
    build(&mut tar);
    let tar = tar.into_inner().unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(&tar).unwrap();
    let payload = dir.join(format!("{name}.tar.xz"));
    std::fs::write(&payload, xz.finish().unwrap()).unwrap();
    let hart = dir.join(format!("{name}.hart"));
    artifact::sign(&payload, &hart, key).unwrap();
    hart
}

fn add_file(tar: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    tar.append_data(&mut header, path, data).unwrap();
}

/// IDENT, TARGET and a program: a well-formed package directory.
fn add_package(tar: &mut tar::Builder<Vec<u8>>, ident: &str, target: &str) {
    add_file(tar, &format!("hab/pkgs/{ident}/IDENT"), ident.as_bytes());
    add_file(tar, &format!("hab/pkgs/{ident}/TARGET"), target.as_bytes());
    add_file(
        tar,
        &format!("hab/pkgs/{ident}/bin/run"),
        b"#!/bin/sh\necho hi\n",
    );
}

#[tokio::test]
async fn upload_keeps_the_binds_of_a_service() {
    let setup = Setup::new().await;
    let hart = habitat_test_support::rich_artifact(
        setup.work.path(),
        HELLO,
        &[],
        &setup.keys.secret,
        0,
        "binds",
    );
    let response = upload(&setup.depot, Some(&setup.token), HELLO, &hart).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let package = stored(&setup.depot, HELLO).await;
    assert!(package.is_a_service);
    let names = |binds: &[habitat_core::Bind]| -> Vec<String> {
        binds.iter().map(ToString::to_string).collect()
    };
    assert_eq!(names(&package.binds), ["database=port host"]);
    assert_eq!(names(&package.binds_optional), ["cache=port"]);
}

#[tokio::test]
async fn upload_stores_the_package_in_unstable() {
    let setup = Setup::new().await;
    let dep = "acme/dep/1.0.0/20230101000000";
    let hart = artifact(setup.work.path(), HELLO, &[dep], &setup.keys.secret);
    let response = upload(&setup.depot, Some(&setup.token), HELLO, &hart).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/depot/pkgs/{HELLO}/download"));
    let body = response.text().await.unwrap();
    assert_eq!(body, format!("/pkgs/{HELLO}/download"));

    let package = stored(&setup.depot, HELLO).await;
    assert_eq!(package.checksum, artifact::checksum(&hart).unwrap());
    assert_eq!(package.size, read(&hart).len() as u64);
    assert_eq!(package.owner, "alice");
    assert_eq!(package.visibility, Visibility::Public);
    let dep: FullyQualifiedIdent = dep.parse().unwrap();
    assert_eq!(package.deps, vec![dep.clone()]);
    assert_eq!(package.tdeps, vec![dep]);
    assert!(!package.is_a_service);
    let state = &setup.depot.state;
    let channels = state.metadata.package_channels(package.id).await.unwrap();
    let names: Vec<String> = channels.iter().map(|c| c.name.to_string()).collect();
    assert_eq!(names, ["unstable"]);

    let bytes = stored_bytes(&setup.depot, &package.checksum).await;
    assert!(
        bytes == read(&hart),
        "the stored artifact differs from the uploaded file"
    );
    assert_eq!(state.artifacts.list().await.unwrap().len(), 1);
    assert_no_temp_files(&setup.depot);
}

#[tokio::test]
async fn an_artifact_the_store_already_holds_leaves_no_temp_file() {
    // The file store keeps the file it has and the S3 store skips the copy: the upload's temp
    // file must go all the same.
    let setup = Setup::new().await;
    let hart = setup.artifact(HELLO);
    let checksum = artifact::checksum(&hart).unwrap();
    let orphan = setup.depot.dir.path().join("orphan.hart");
    std::fs::copy(&hart, &orphan).unwrap();
    let artifacts = &setup.depot.state.artifacts;
    artifacts.put(&checksum, &orphan).await.unwrap();
    setup.post(HELLO, read(&hart), StatusCode::CREATED).await;
    assert_eq!(stored(&setup.depot, HELLO).await.checksum, checksum);
    assert_eq!(
        artifacts.list().await.unwrap(),
        [(checksum, read(&hart).len() as u64)]
    );
    assert_no_temp_files(&setup.depot);
}

#[tokio::test]
async fn a_member_uploads_with_the_origin_default_visibility() {
    let setup = Setup::new().await;
    let bob = setup.depot.user("bob").await;
    setup
        .depot
        .create_origin("alice", "secret", Visibility::Private)
        .await;
    setup
        .depot
        .join("secret", "bob", Role::Member, "alice")
        .await;
    let keys = origin_keys(setup.work.path(), "secret");
    setup.depot.publish_key("secret", &keys).await;
    let ident = "secret/thing/2.0/20240101000000";
    let hart = artifact(setup.work.path(), ident, &[], &keys.secret);
    // `hab` sends the checksum and target; the right ones are accepted.
    let checksum = artifact::checksum(&hart).unwrap();
    let path = format!("{ident}?checksum={checksum}&target=x86_64-linux&forced=false");
    post(
        &setup.depot,
        Some(&bob),
        &path,
        read(&hart),
        StatusCode::CREATED,
    )
    .await;
    let package = stored(&setup.depot, ident).await;
    assert_eq!(package.owner, "bob");
    assert_eq!(package.visibility, Visibility::Private);
}

#[tokio::test]
async fn the_same_ident_is_another_package_for_another_target() {
    let setup = Setup::new().await;
    setup
        .post(HELLO, read(&setup.artifact(HELLO)), StatusCode::CREATED)
        .await;
    let src = setup.work.path().join("arm-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("run"), "#!/bin/sh\n").unwrap();
    let out = setup.work.path().join("arm-out");
    std::fs::create_dir_all(&out).unwrap();
    let spec = PackSpec {
        ident: HELLO.parse().unwrap(),
        target: PackageTarget::Aarch64Linux,
        deps: Vec::new(),
        tdeps: Vec::new(),
    };
    let hart = pack(&src, &out, &spec, &setup.keys.secret).unwrap();
    let response = setup
        .depot
        .request(
            Method::POST,
            &format!("/depot/pkgs/{HELLO}?target=aarch64-linux"),
            Some(&setup.token),
        )
        .body(read(&hart))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    // The download URL must name the target, or it would fetch the x86_64-linux package.
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!("/v1/depot/pkgs/{HELLO}/download?target=aarch64-linux")
    );
    let ident: FullyQualifiedIdent = HELLO.parse().unwrap();
    let store = &setup.depot.state.metadata;
    let arm = store
        .package(&ident, PackageTarget::Aarch64Linux)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(arm.checksum, artifact::checksum(&hart).unwrap());
    assert_ne!(arm.checksum, stored(&setup.depot, HELLO).await.checksum);
}

#[tokio::test]
async fn upload_refuses_an_invalid_ident_or_parameter() {
    let setup = Setup::new().await;
    let hart = read(&setup.artifact(HELLO));
    let refusals: Vec<Refusal> = [
        ("ACME/hello/1.0.0/20240101000000", "invalid_value"),
        ("acme/hello/1.0%200/20240101000000", "invalid_value"),
        ("acme/hel%20lo/1.0.0/20240101000000", "invalid_value"),
        (
            "acme/hello/1.0.0/20240101000000?target=x86_64-plan9",
            "invalid_target",
        ),
        (
            "acme/hello/1.0.0/20240101000000?checksum=abc",
            "invalid_checksum",
        ),
        (
            "acme/hello/1.0.0/20240101000000?forced=maybe",
            "invalid_value",
        ),
    ]
    .into_iter()
    .flat_map(|(path, code)| {
        let refused = Refusal::new(path, &hart, StatusCode::UNPROCESSABLE_ENTITY, code);
        // Check 1 comes before check 2: no token, still 422.
        [refused.clone(), refused.by(Caller::Anonymous)]
    })
    .collect();
    setup.assert_refused(&refusals).await;
}

#[tokio::test]
async fn upload_needs_a_token() {
    let setup = Setup::new().await;
    let hart = read(&setup.artifact(HELLO));
    let unauthorized = |path| {
        Refusal::new(path, &hart, StatusCode::UNAUTHORIZED, "unauthorized").by(Caller::Anonymous)
    };
    setup
        .assert_refused(&[
            unauthorized(HELLO),
            // No token and an unknown origin: 401 comes first.
            unauthorized("nobody/hello/1.0.0/20240101000000"),
        ])
        .await;
}

#[tokio::test]
async fn upload_needs_member_in_an_existing_origin() {
    let setup = Setup::new().await;
    let hart = read(&setup.artifact(HELLO));
    let stranger = setup.depot.user("stranger").await;
    let reader = setup.depot.user("reader").await;
    setup
        .depot
        .join("acme", "reader", Role::ReadonlyMember, "alice")
        .await;
    let forbidden = |path| Refusal::new(path, &hart, StatusCode::FORBIDDEN, "forbidden");
    setup
        .assert_refused(&[
            forbidden(HELLO).by(Caller::As(&stranger)).says(&["acme"]),
            forbidden(HELLO).by(Caller::As(&reader)).says(&["member"]),
            forbidden("nobody/hello/1.0.0/20240101000000").says(&["`nobody`"]),
        ])
        .await;
}

#[tokio::test]
async fn reupload_is_a_conflict() {
    let setup = Setup::new().await;
    let hart = read(&setup.artifact(HELLO));
    setup.post(HELLO, hart.clone(), StatusCode::CREATED).await;
    // The same ident for another target is another package: no conflict there, but the
    // artifact says x86_64-linux.
    let path = format!("{HELLO}?target=aarch64-linux");
    setup
        .assert_refused(&[
            Refusal::new(HELLO, &hart, StatusCode::CONFLICT, "conflict").says(&[HELLO]),
            Refusal::new(
                &path,
                &hart,
                StatusCode::UNPROCESSABLE_ENTITY,
                "target_mismatch",
            ),
        ])
        .await;
}

#[tokio::test]
async fn forced_reupload_of_the_identical_file_is_accepted() {
    let setup = Setup::new().await;
    let hart = setup.artifact(HELLO);
    setup.post(HELLO, read(&hart), StatusCode::CREATED).await;
    let before = snapshot(&setup.depot).await;
    let checksum = artifact::checksum(&hart).unwrap();
    for path in [
        format!("{HELLO}?forced=true"),
        format!("{HELLO}?forced=true&checksum={checksum}"),
    ] {
        let response = setup
            .depot
            .request(
                Method::POST,
                &format!("/depot/pkgs/{path}"),
                Some(&setup.token),
            )
            .body(read(&hart))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{path}");
        assert_eq!(
            response.headers()["location"].to_str().unwrap(),
            format!("/v1/depot/pkgs/{HELLO}/download")
        );
        assert_eq!(
            response.text().await.unwrap(),
            format!("/pkgs/{HELLO}/download")
        );
    }
    // Nothing new was stored.
    assert_left_nothing(&setup.depot, &before).await;
}

#[tokio::test]
async fn forced_reupload_of_a_different_file_is_a_conflict() {
    let setup = Setup::new().await;
    let hart = setup.artifact(HELLO);
    setup.post(HELLO, read(&hart), StatusCode::CREATED).await;
    let other_dir = tempfile::tempdir().unwrap();
    let other = artifact(
        other_dir.path(),
        HELLO,
        &["acme/dep/1.0.0/20230101000000"],
        &setup.keys.secret,
    );
    assert_ne!(read(&other), read(&hart));
    // Announced by its checksum: refused the same way.
    let checksum = artifact::checksum(&other).unwrap();
    let other = read(&other);
    let announced = format!("{HELLO}?forced=true&checksum={checksum}");
    let conflict = |path| Refusal::new(path, &other, StatusCode::CONFLICT, "conflict");
    setup
        .assert_refused(&[
            conflict(&format!("{HELLO}?forced=true")).says(&["immutable"]),
            conflict(&announced),
        ])
        .await;
}

#[tokio::test]
async fn oversized_upload_with_content_length_is_413() {
    let setup = Setup::with(|s| s.max_upload_bytes = 64, true).await;
    let hart = read(&setup.artifact(HELLO));
    assert!(hart.len() > 64);
    setup
        .assert_refused(&[Refusal::new(
            HELLO,
            &hart,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        )
        .says(&["64 bytes"])])
        .await;
}

#[tokio::test]
async fn oversized_chunked_upload_is_413() {
    // The limit is exactly one artifact's size: that one passes, one byte more does not.
    let work = tempfile::tempdir().unwrap();
    let keys = origin_keys(work.path(), "acme");
    let hart = artifact(work.path(), HELLO, &[], &keys.secret);
    let size = read(&hart).len() as u64;
    let setup = Setup::with(|s| s.max_upload_bytes = size, false).await;
    setup.depot.publish_key("acme", &keys).await;
    setup.post(HELLO, read(&hart), StatusCode::CREATED).await;
    let before = snapshot(&setup.depot).await;

    let mut bigger = read(&hart);
    bigger.push(0);
    let other = "acme/hello/1.0.0/20240101000001";
    let body = post_chunked(&setup, other, bigger.clone(), StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_error(&body, "payload_too_large");
    // A chunked body within the limit is received (and here refused later, for its IDENT).
    bigger.pop();
    let body = post_chunked(&setup, other, bigger, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_error(&body, "ident_mismatch");
    assert_left_nothing(&setup.depot, &before).await;
}

#[tokio::test]
async fn a_payload_unpacking_past_max_unpacked_bytes_is_422() {
    // A real package holding 4 MiB of zeros: its artifact is a few KiB, its payload unpacks to
    // over 4 MiB.
    let setup = Setup::with(|s| s.max_unpacked_bytes = 1 << 20, true).await;
    let src = setup.work.path().join("zeros-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("zeros"), vec![0u8; 4 << 20]).unwrap();
    let out = setup.work.path().join("zeros-out");
    std::fs::create_dir_all(&out).unwrap();
    let spec = PackSpec {
        ident: HELLO.parse().unwrap(),
        target: PackageTarget::X86_64Linux,
        deps: Vec::new(),
        tdeps: Vec::new(),
    };
    let hart = read(&pack(&src, &out, &spec, &setup.keys.secret).unwrap());
    assert!(hart.len() < 64 << 10, "{} bytes", hart.len());
    setup
        .assert_refused(&[Refusal::new(
            HELLO,
            &hart,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unpacked_too_large",
        )
        .says(&["1048576 unpacked bytes", "more than this depot accepts"])])
        .await;

    // Under the default bound the same artifact is a package like any other.
    let setup = Setup::with(|_| {}, false).await;
    let keys = &setup.keys;
    let hart = read(&pack(&src, &out, &spec, &keys.secret).unwrap());
    setup.depot.publish_key("acme", keys).await;
    setup.post(HELLO, hart, StatusCode::CREATED).await;
}

#[tokio::test]
async fn chunked_upload_is_stored() {
    let setup = Setup::new().await;
    let hart = setup.artifact(HELLO);
    post_chunked(&setup, HELLO, read(&hart), StatusCode::CREATED).await;
    let package = stored(&setup.depot, HELLO).await;
    assert_eq!(package.size, read(&hart).len() as u64);
    assert_eq!(package.checksum, artifact::checksum(&hart).unwrap());
    assert!(stored_bytes(&setup.depot, &package.checksum).await == read(&hart));
    assert_no_temp_files(&setup.depot);
}

#[tokio::test]
async fn checks_run_in_the_order_of_the_api() {
    let work = tempfile::tempdir().unwrap();
    let keys = origin_keys(work.path(), "acme");
    let hart = artifact(work.path(), HELLO, &[], &keys.secret);
    let size = read(&hart).len() as u64;
    let setup = Setup::with(|s| s.max_upload_bytes = size, false).await;
    setup.depot.publish_key("acme", &keys).await;
    setup.post(HELLO, read(&hart), StatusCode::CREATED).await;
    let stranger = setup.depot.user("stranger").await;
    let zeros = "0".repeat(64);
    let announced = format!(
        "{HELLO}?forced=true&checksum={}",
        artifact::checksum(&hart).unwrap()
    );
    let hart = read(&hart);
    let mut oversized = hart.clone();
    oversized.extend_from_slice(b"garbage");
    let wrong_checksum = format!("acme/other/1.0.0/20240101000000?checksum={zeros}");
    setup
        .assert_refused(&[
            // 2 before 3: a stranger re-uploading an existing package is refused as a stranger.
            Refusal::new(HELLO, &hart, StatusCode::FORBIDDEN, "forbidden")
                .by(Caller::As(&stranger)),
            // 3 before 4: an oversized re-upload is a conflict.
            Refusal::new(HELLO, &oversized, StatusCode::CONFLICT, "conflict"),
            // 4 before 5: forced, oversized, announced as the stored file (which it is not):
            // too large.
            Refusal::new(
                &announced,
                &oversized,
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
            // 5 before 6: garbage with a wrong checksum is a checksum mismatch.
            Refusal::new(
                &wrong_checksum,
                b"garbage",
                StatusCode::UNPROCESSABLE_ENTITY,
                "checksum_mismatch",
            ),
        ])
        .await;
}

#[tokio::test]
async fn checksum_mismatch_is_422() {
    let setup = Setup::new().await;
    let hart = setup.artifact(HELLO);
    let wrong = "ab".repeat(32);
    let right = artifact::checksum(&hart).unwrap().to_string();
    let hart = read(&hart);
    let path = format!("{HELLO}?checksum={wrong}");
    setup
        .assert_refused(&[unprocessable(&path, &hart, "checksum_mismatch").says(&[&wrong, &right])])
        .await;
}

#[tokio::test]
async fn a_key_not_uploaded_to_the_origin_is_422_naming_it() {
    let setup = Setup::with(|_| {}, false).await;
    let hart = read(&setup.artifact(HELLO));
    let key = format!("`{}`", setup.keys.secret.name());
    setup
        .assert_refused(&[unprocessable(HELLO, &hart, "unknown_signing_key")
            .says(&[&key, "hab origin key upload acme"])])
        .await;

    // The seed's rule: once the key is uploaded, the same file goes in.
    setup.depot.publish_key("acme", &setup.keys).await;
    setup.post(HELLO, hart, StatusCode::CREATED).await;
}

#[tokio::test]
async fn a_signer_of_another_origin_is_422() {
    let setup = Setup::new().await;
    // Origin `other` exists and has its key uploaded, and alice may upload to it: the key is
    // known to the depot, just not as a key of `acme`.
    setup
        .depot
        .create_origin("alice", "other", Visibility::Public)
        .await;
    let other_keys = origin_keys(setup.work.path(), "other");
    setup.depot.publish_key("other", &other_keys).await;
    let hart = hand_made(setup.work.path(), "foreign", &other_keys.secret, |tar| {
        add_package(tar, HELLO, "x86_64-linux");
    });
    // A genuine signature: only the origin rule can refuse it.
    artifact::verify(&hart, &other_keys.cache).unwrap();
    let key = format!("`{}`", other_keys.secret.name());
    setup
        .assert_refused(&[
            unprocessable(HELLO, &read(&hart), "unknown_signing_key").says(&[&key, "`acme`"])
        ])
        .await;
}

#[tokio::test]
async fn a_tampered_payload_is_422() {
    let setup = Setup::new().await;
    let hart = setup.artifact(HELLO);
    let tampered = variant(&hart, "tampered.hart", |bytes| {
        let start = payload_start(bytes);
        let middle = start + (bytes.len() - start) / 2;
        bytes[middle] ^= 0x01;
    });
    setup
        .assert_refused(&[unprocessable(
            HELLO,
            &read(&tampered),
            "payload_hash_mismatch",
        )])
        .await;
}

#[tokio::test]
async fn a_tampered_signature_is_422() {
    let setup = Setup::new().await;
    let hart = setup.artifact(HELLO);
    let tampered = variant(&hart, "badsig.hart", |bytes| {
        // The first character of line 4 (the base64 signature).
        let line4 = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(2)
            .unwrap()
            .0
            + 1;
        bytes[line4] = if bytes[line4] == b'A' { b'B' } else { b'A' };
    });
    let key = setup.keys.secret.name().to_string();
    setup
        .assert_refused(
            &[unprocessable(HELLO, &read(&tampered), "invalid_signature").says(&[&key])],
        )
        .await;
}

#[tokio::test]
async fn a_truncated_file_is_422() {
    let setup = Setup::new().await;
    let hart = setup.artifact(HELLO);
    // Inside the payload: the hash no longer matches.
    let truncated = variant(&hart, "truncated.hart", |bytes| {
        bytes.truncate(bytes.len() - 16)
    });
    // Inside the header: the header does not parse, and the message names the line.
    let cut_header = variant(&hart, "cut-header.hart", |bytes| bytes.truncate(30));
    setup
        .assert_refused(&[
            unprocessable(HELLO, &read(&truncated), "payload_hash_mismatch"),
            unprocessable(HELLO, &read(&cut_header), "invalid_artifact").says(&["line"]),
        ])
        .await;
}

#[tokio::test]
async fn garbage_is_not_an_artifact() {
    let setup = Setup::new().await;
    let garbage = b"this is not a hart\n".repeat(100);
    setup
        .assert_refused(&[
            unprocessable(HELLO, &garbage, "invalid_artifact").says(&["line 1"]),
            unprocessable(HELLO, &[], "invalid_artifact"),
        ])
        .await;
}

#[tokio::test]
async fn an_ident_other_than_the_url_is_422() {
    let setup = Setup::new().await;
    let hart = read(&setup.artifact(HELLO));
    let refusals: Vec<Refusal> = [
        "acme/hello/1.0.0/20240101000001",
        "acme/hello/1.0.1/20240101000000",
        "acme/bye/1.0.0/20240101000000",
    ]
    .into_iter()
    .map(|url| unprocessable(url, &hart, "ident_mismatch").says(&[HELLO, url]))
    .collect();
    setup.assert_refused(&refusals).await;
}

#[tokio::test]
async fn a_target_other_than_the_query_is_422() {
    let setup = Setup::new().await;
    let hart = read(&setup.artifact(HELLO));
    let path = format!("{HELLO}?target=aarch64-linux");
    setup
        .assert_refused(&[
            unprocessable(&path, &hart, "target_mismatch").says(&["x86_64-linux", "aarch64-linux"])
        ])
        .await;
}

#[tokio::test]
async fn a_target_the_depot_does_not_accept_is_501() {
    let setup = Setup::with(|s| s.targets = vec![PackageTarget::Aarch64Linux], true).await;
    let hart = read(&setup.artifact(HELLO));
    setup
        .assert_refused(&[Refusal::new(
            HELLO,
            &hart,
            StatusCode::NOT_IMPLEMENTED,
            "unsupported_target",
        )
        .says(&["x86_64-linux"])])
        .await;
}

#[tokio::test]
async fn a_member_climbing_out_with_dotdot_is_422() {
    let setup = Setup::new().await;
    let hart = hand_made(setup.work.path(), "dotdot", &setup.keys.secret, |tar| {
        add_package(tar, HELLO, "x86_64-linux");
        // The tar crate refuses to write `..`: the name goes into the header raw.
        let name = format!("hab/pkgs/{HELLO}/../../../../../../etc/evil");
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(4);
        header.set_cksum();
        tar.append(&header, &b"evil"[..]).unwrap();
    });
    setup
        .assert_refused(&[unprocessable(HELLO, &read(&hart), "unsafe_archive").says(&["etc/evil"])])
        .await;
}

#[tokio::test]
async fn a_hard_link_member_is_422() {
    let setup = Setup::new().await;
    let hart = hand_made(setup.work.path(), "hardlink", &setup.keys.secret, |tar| {
        add_package(tar, HELLO, "x86_64-linux");
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Link);
        header.set_mode(0o644);
        header.set_size(0);
        header
            .set_link_name(format!("hab/pkgs/{HELLO}/bin/run"))
            .unwrap();
        tar.append_data(
            &mut header,
            format!("hab/pkgs/{HELLO}/bin/again"),
            std::io::empty(),
        )
        .unwrap();
    });
    setup
        .assert_refused(
            &[unprocessable(HELLO, &read(&hart), "unsafe_archive").says(&["bin/again"])],
        )
        .await;
}

#[tokio::test]
async fn a_metadata_file_that_does_not_parse_is_422_naming_it() {
    let setup = Setup::new().await;
    let hart = hand_made(setup.work.path(), "badtdeps", &setup.keys.secret, |tar| {
        add_package(tar, HELLO, "x86_64-linux");
        add_file(
            tar,
            &format!("hab/pkgs/{HELLO}/TDEPS"),
            b"acme/dep/1.0.0/20230101000000\nnot an ident\n",
        );
    });
    setup
        .assert_refused(&[unprocessable(HELLO, &read(&hart), "invalid_metadata").says(&["TDEPS"])])
        .await;
}

/// Uploads every (ident, bytes) at once; answers (ident, status, body) in the same order.
async fn upload_all(
    setup: &Setup,
    uploads: &[(String, Vec<u8>)],
) -> Vec<(String, StatusCode, String)> {
    let (depot, token) = (&setup.depot, setup.token.as_str());
    join_all(uploads.iter().map(|(ident, bytes)| async move {
        let path = format!("/depot/pkgs/{ident}");
        let request = depot
            .request(Method::POST, &path, Some(token))
            .body(bytes.clone());
        let response = request.send().await.unwrap();
        let status = response.status();
        (ident.clone(), status, response.text().await.unwrap())
    }))
    .await
}

/// How many uploads of `ident` were created; every answer must be 201 or 409.
#[track_caller]
fn created(answers: &[(String, StatusCode, String)], ident: &str) -> usize {
    for (ident, status, body) in answers {
        let expected = [StatusCode::CREATED, StatusCode::CONFLICT];
        assert!(expected.contains(status), "{ident}: {status} {body}");
    }
    answers
        .iter()
        .filter(|(i, status, _)| i == ident && *status == StatusCode::CREATED)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_uploads_store_each_package_once() {
    let setup = Setup::new().await;
    let mut uploads: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| {
            let ident = format!("acme/many{i}/1.0.0/20240101000000");
            let bytes = read(&setup.artifact(&ident));
            (ident, bytes)
        })
        .collect();
    let same = read(&setup.artifact(HELLO));
    uploads.extend((0..8).map(|_| (HELLO.to_owned(), same.clone())));

    let answers = upload_all(&setup, &uploads).await;
    assert_eq!(created(&answers, HELLO), 1, "{answers:?}");
    for (ident, bytes) in &uploads[..9] {
        if ident != HELLO {
            assert_eq!(created(&answers, ident), 1, "{answers:?}");
        }
        let package = stored(&setup.depot, ident).await;
        let stored = stored_bytes(&setup.depot, &package.checksum).await;
        assert!(
            stored == *bytes,
            "{ident}: the stored artifact differs from the upload"
        );
    }
    assert_eq!(snapshot(&setup.depot).await.rows.len(), 9);
    assert_eq!(snapshot(&setup.depot).await.artifacts.len(), 9);
    assert_no_temp_files(&setup.depot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_different_files_for_one_ident_leave_only_the_winner() {
    // Eight different signed files that all say they are HELLO: one wins, the losers leave
    // no artifact behind (not even those that lost only at the final insert).
    let setup = Setup::new().await;
    let uploads: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| {
            let dir = setup.work.path().join(format!("variant{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let dep = format!("acme/dep{i}/1.0.0/20230101000000");
            let hart = artifact(&dir, HELLO, &[dep.as_str()], &setup.keys.secret);
            (HELLO.to_owned(), read(&hart))
        })
        .collect();
    let answers = upload_all(&setup, &uploads).await;
    assert_eq!(created(&answers, HELLO), 1, "{answers:?}");
    let winner = answers
        .iter()
        .position(|(_, status, _)| *status == StatusCode::CREATED)
        .unwrap();
    let package = stored(&setup.depot, HELLO).await;
    assert!(stored_bytes(&setup.depot, &package.checksum).await == uploads[winner].1);
    let snapshot = snapshot(&setup.depot).await;
    assert_eq!(
        snapshot.artifacts,
        [format!("{} {}", package.checksum, package.size)]
    );
    assert_no_temp_files(&setup.depot);
}
