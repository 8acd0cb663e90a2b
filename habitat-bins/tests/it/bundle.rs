//! `hab-depot bundle`: a channel carried from one data directory (or a running depot, or a
//! package-set file's packages) to a fresh one as a signed tar, and the bundles an importer must
//! refuse (tampered, expired, replayed, untrusted) with nothing written; several trusted
//! transfer keys; an interrupted import finished by importing again.

use std::path::{Path, PathBuf};
use std::process::Command;

use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName, PackageTarget, SecretKey};
use habitat_depot_server::AppState;
use habitat_depot_server::ingest::{self, Claim, Received, Source};
use habitat_depot_server::settings::Settings;
use habitat_depot_server::store::{ChannelAction, Visibility};
use habitat_test_support::artifacts::{artifact, signing_key};
use habitat_test_support::proxy::Proxy;

use crate::support::user_create;

const GLIBC: &str = "core/glibc/2.35.0/20240101000000";
const LIB: &str = "acme/lib/1.0.0/20240102000000";
const APP: &str = "acme/app/1.0.0/20240103000000";
const OTHER: &str = "acme/other/1.0.0/20240104000000";

/// Runs `hab-depot ARGS`: (success, stdout, stderr).
fn hab_depot(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hab-depot"))
        .args(args)
        .env_remove("HAB_DEPOT_CONFIG")
        .env_remove("HAB_DEPOT_DATA_DIR")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[track_caller]
fn ok(args: &[&std::ffi::OsStr]) -> String {
    let (success, stdout, stderr) = hab_depot(args);
    assert!(success, "hab-depot {args:?} failed:\n{stdout}{stderr}");
    stdout
}

#[track_caller]
fn refused(args: &[&std::ffi::OsStr]) -> String {
    let (success, stdout, stderr) = hab_depot(args);
    assert!(!success, "hab-depot {args:?} should have failed:\n{stdout}");
    stderr
}

fn settings(data: &Path) -> Settings {
    Settings {
        data_dir: data.to_owned(),
        ..Settings::default()
    }
}

/// A source depot in `work/src`: origins `core` and `acme` with a key each; glibc, lib (needs
/// glibc), app (needs both) and other; app promoted to `stable`, the rest only in `unstable`.
/// Returns the data directory and acme's signing key.
async fn source(work: &Path) -> (PathBuf, SecretKey) {
    let data = work.join("src");
    let state = AppState::open_embedded(settings(&data)).unwrap();
    let alice = state.metadata.create_account("alice", None).await.unwrap();
    let mut keys = Vec::new();
    for origin in ["core", "acme"] {
        let name: OriginName = origin.parse().unwrap();
        state
            .metadata
            .create_origin(&name, alice.id, Visibility::Public)
            .await
            .unwrap();
        let key = signing_key(origin);
        state
            .metadata
            .add_public_key(
                &name,
                key.name().revision(),
                &key.public_key().to_file_string(),
            )
            .await
            .unwrap();
        keys.push(key);
    }
    let packs = [
        (GLIBC, vec![], &keys[0]),
        (LIB, vec![GLIBC], &keys[1]),
        (APP, vec![LIB, GLIBC], &keys[1]),
        (OTHER, vec![], &keys[1]),
    ];
    for (ident, tdeps, key) in packs {
        add(&state, work, ident, &tdeps, key).await;
    }
    promote(&state, APP).await;
    (data, keys.remove(1))
}

/// Ingests `ident` (with these TDEPS, signed by `key`) into `state` as an upload by `alice`.
async fn add(state: &AppState, work: &Path, ident: &str, tdeps: &[&str], key: &SecretKey) {
    let alice = state
        .metadata
        .account_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    let hart = artifact(work, ident, tdeps, key);
    let file = tempfile::NamedTempFile::new_in(&state.tmp_dir).unwrap();
    std::fs::copy(&hart, file.path()).unwrap();
    let received = Received {
        checksum: habitat_core::artifact::checksum(&hart).unwrap(),
        size: std::fs::metadata(&hart).unwrap().len(),
        file,
    };
    let claim = Claim {
        ident: ident.parse().unwrap(),
        target: PackageTarget::X86_64Linux,
        checksum: None,
        forced: false,
        source: Source::Upload { account: alice },
    };
    let prechecked = ingest::precheck(state, &claim).await.unwrap();
    ingest::ingest(state, received, &claim, prechecked)
        .await
        .unwrap();
}

/// Promotes `ident` (of acme) to `stable`.
async fn promote(state: &AppState, ident: &str) {
    let id = package_id(state, ident).await.unwrap();
    state
        .metadata
        .change_channel(
            id,
            &"acme".parse().unwrap(),
            &ChannelName::stable(),
            ChannelAction::Promote,
            "alice",
        )
        .await
        .unwrap();
}

async fn package_id(state: &AppState, ident: &str) -> Option<i64> {
    let ident: FullyQualifiedIdent = ident.parse().unwrap();
    state
        .metadata
        .package(&ident, PackageTarget::X86_64Linux)
        .await
        .unwrap()
        .map(|p| p.id)
}

/// A transfer key pair in `work/keys-NAME`: (secret file, public file).
fn transfer_key(work: &Path, name: &str) -> (PathBuf, PathBuf) {
    let dir = work.join(format!("keys-{name}"));
    ok(&[
        "bundle".as_ref(),
        "key".as_ref(),
        "generate".as_ref(),
        name.as_ref(),
        "--out".as_ref(),
        dir.as_os_str(),
    ]);
    let mut secret = None;
    let mut public = None;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(file.starts_with(&format!("{name}-")), "{file}");
        if file.ends_with(".sig.key") {
            secret = Some(path);
        } else if file.ends_with(".pub") {
            public = Some(path);
        }
    }
    (secret.unwrap(), public.unwrap())
}

/// `hab-depot bundle create` of acme's `stable` from `data` into `out`.
fn create(data: &Path, key: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "bundle".as_ref(),
        "create".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--origin".as_ref(),
        "acme".as_ref(),
        "--channel".as_ref(),
        "stable".as_ref(),
        "--target".as_ref(),
        "x86_64-linux".as_ref(),
        "--sign-key".as_ref(),
        key.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    ok(&args)
}

fn import_args<'a>(bundle: &'a Path, data: &'a Path, trust: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    vec![
        "bundle".as_ref(),
        "import".as_ref(),
        bundle.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--trust-key".as_ref(),
        trust.as_os_str(),
        "--owner".as_ref(),
        "bob".as_ref(),
    ]
}

/// A fresh destination depot with account `bob`.
fn destination(work: &Path, name: &str) -> PathBuf {
    let data = work.join(name);
    user_create(&data, "bob");
    data
}

/// Fails unless the destination holds no origin, package, artifact, temp file or sequence.
async fn assert_untouched(data: &Path) {
    let state = AppState::open_embedded(settings(data)).unwrap();
    assert_eq!(state.metadata.origin_count().await.unwrap(), 0);
    for ident in [GLIBC, LIB, APP] {
        assert_eq!(package_id(&state, ident).await, None, "{ident}");
    }
    assert!(state.artifacts.list().await.unwrap().is_empty());
    assert_eq!(std::fs::read_dir(&state.tmp_dir).unwrap().count(), 0);
    assert!(!data.join("bundle-imports.json").exists());
    assert_eq!(
        state.metadata.bundle_import("transfer").await.unwrap(),
        None
    );
}

/// The last import from transfer key `transfer` that the store of `data` records.
async fn last_import(data: &Path) -> Option<habitat_depot_server::store::BundleImport> {
    let state = AppState::open_embedded(settings(data)).unwrap();
    state.metadata.bundle_import("transfer").await.unwrap()
}

/// Where the data of tar entry `name` starts, and its size (plain ustar/GNU headers, short
/// names, as `bundle create` writes them).
fn entry(tar: &[u8], name: &str) -> (usize, usize) {
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let header = &tar[at..at + 512];
        let end = header[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let path = std::str::from_utf8(&header[..end]).unwrap();
        let size_text = std::str::from_utf8(&header[124..136]).unwrap();
        let size =
            usize::from_str_radix(size_text.trim_matches(|c: char| c == '\0' || c == ' '), 8)
                .unwrap();
        if path == name || (name.ends_with(['/', '-']) && path.starts_with(name)) {
            return (at + 512, size);
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    panic!("no entry `{name}` in the bundle");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_carries_a_channel_with_its_dependencies_into_a_fresh_depot_once() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (src, _) = source(work).await;
    let (secret, public) = transfer_key(work, "transfer");
    let bundle = work.join("stable.tar");
    create(&src, &secret, &bundle, &[]);

    // The stock download layout after the signed manifest.
    let tar = std::fs::read(&bundle).unwrap();
    assert_eq!(
        entry(&tar, "MANIFEST.json").0,
        512,
        "the manifest comes first"
    );
    let (at, size) = entry(&tar, "MANIFEST.json");
    let manifest: serde_json::Value = serde_json::from_slice(&tar[at..at + size]).unwrap();
    let packages: Vec<&str> = manifest["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ident"].as_str().unwrap())
        .collect();
    assert_eq!(
        packages,
        [GLIBC, LIB, APP],
        "dependencies first, `other` left out"
    );
    assert_eq!(manifest["channels"][0]["ident"], APP);
    assert_eq!(manifest["keys"].as_array().unwrap().len(), 2);
    entry(&tar, "MANIFEST.json.sig");
    entry(
        &tar,
        "artifacts/core-glibc-2.35.0-20240101000000-x86_64-linux.hart",
    );
    entry(&tar, "keys/core-");

    let dst = destination(work, "dst");
    let dry = ok(&[
        import_args(&bundle, &dst, &public),
        vec!["--dry-run".as_ref()],
    ]
    .concat());
    assert!(dry.contains("dry run: 3 new"), "{dry}");
    assert_untouched(&dst).await;

    let first = ok(&import_args(&bundle, &dst, &public));
    assert!(first.contains("3 new, 0 already present, 2 origins created, 2 keys added, 1 channel memberships applied"), "{first}");
    let again = ok(&import_args(&bundle, &dst, &public));
    assert!(
        again.contains("0 new, 3 already present, 0 origins created, 0 keys added, 0 channel"),
        "{again}"
    );
    let dry = ok(&[
        import_args(&bundle, &dst, &public),
        vec!["--dry-run".as_ref()],
    ]
    .concat());
    assert!(
        dry.contains(
            "dry run: 0 new, 3 already present, 0 origins created, 0 keys added, 0 channel"
        ),
        "{dry}"
    );

    let state = AppState::open_embedded(settings(&dst)).unwrap();
    let app = package_id(&state, APP).await.unwrap();
    let channels: Vec<ChannelName> = state
        .metadata
        .package_channels(app)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(channels.contains(&ChannelName::stable()), "{channels:?}");
    assert_eq!(package_id(&state, OTHER).await, None);
    drop(state);
    let fsck = hab_depot(&["fsck".as_ref(), "--data-dir".as_ref(), dst.as_os_str()]);
    assert!(fsck.0, "{}{}", fsck.1, fsck.2);
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_expired_replayed_and_untrusted_bundles_are_refused_with_nothing_written() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (src, _) = source(work).await;
    let (secret, public) = transfer_key(work, "transfer");
    let (_, stranger) = transfer_key(work, "stranger");
    let bundle = work.join("stable.tar");
    create(&src, &secret, &bundle, &[]);
    let tar = std::fs::read(&bundle).unwrap();

    // A flipped byte in an artifact.
    let flipped = work.join("flipped.tar");
    let (at, size) = entry(&tar, "artifacts/acme-lib-");
    let mut bytes = tar.clone();
    bytes[at + size / 2] ^= 0x01;
    std::fs::write(&flipped, &bytes).unwrap();
    let dst = destination(work, "dst-flipped");
    let error = refused(&import_args(&flipped, &dst, &public));
    assert!(
        error.contains(
            "checksum check failed: `artifacts/acme-lib-1.0.0-20240102000000-x86_64-linux.hart`"
        ),
        "{error}"
    );
    assert_untouched(&dst).await;

    // An edited manifest (one channel renamed, same length).
    let edited = work.join("edited.tar");
    let (at, size) = entry(&tar, "MANIFEST.json");
    let text = String::from_utf8(tar[at..at + size].to_vec()).unwrap();
    let changed = text.replace("\"stable\"", "\"stabl3\"");
    assert_ne!(text, changed);
    let mut bytes = tar.clone();
    bytes[at..at + size].copy_from_slice(changed.as_bytes());
    std::fs::write(&edited, &bytes).unwrap();
    let dst = destination(work, "dst-edited");
    let error = refused(&import_args(&edited, &dst, &public));
    assert!(
        error.contains("manifest signature check failed: the signature does not verify"),
        "{error}"
    );
    assert_untouched(&dst).await;

    // Signed by another key than the pinned one.
    let dst = destination(work, "dst-stranger");
    let error = refused(&import_args(&bundle, &dst, &stranger));
    assert!(
        error.contains("manifest signature check failed: the bundle is signed by `transfer-"),
        "{error}"
    );
    assert_untouched(&dst).await;

    // Expired.
    let expired = work.join("expired.tar");
    create(&src, &secret, &expired, &["--expires-in-days", "0"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let dst = destination(work, "dst-expired");
    let error = refused(&import_args(&expired, &dst, &public));
    assert!(
        error.contains("expiry check failed: the bundle expired at"),
        "{error}"
    );
    assert_untouched(&dst).await;

    // Replayed: an older bundle after a newer one from the same signer.
    let newer = work.join("newer.tar");
    create(&src, &secret, &newer, &[]);
    let dst = destination(work, "dst-replayed");
    ok(&import_args(&newer, &dst, &public));
    let sequences = last_import(&dst).await;
    assert!(
        sequences.as_ref().is_some_and(|s| s.completed),
        "{sequences:?}"
    );
    let error = refused(&import_args(&bundle, &dst, &public));
    assert!(error.contains("sequence check failed"), "{error}");
    assert!(error.contains("a replayed bundle"), "{error}");
    assert_eq!(last_import(&dst).await, sequences);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delta_bundle_leaves_out_what_the_inventory_lists() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (src, acme) = source(work).await;
    let (secret, public) = transfer_key(work, "transfer");
    let full = work.join("full.tar");
    create(&src, &secret, &full, &[]);
    let dst = destination(work, "dst");
    ok(&import_args(&full, &dst, &public));

    const NEWER: &str = "acme/app/1.1.0/20240105000000";
    let state = AppState::open_embedded(settings(&src)).unwrap();
    add(&state, work, NEWER, &[LIB, GLIBC], &acme).await;
    promote(&state, NEWER).await;
    drop(state);
    let inventory = work.join("have.json");
    let listed = ok(&["inventory".as_ref(), "--data-dir".as_ref(), dst.as_os_str()]);
    assert!(listed.contains(APP), "{listed}");
    std::fs::write(&inventory, listed).unwrap();
    let delta = work.join("delta.tar");
    create(
        &src,
        &secret,
        &delta,
        &["--have", inventory.to_str().unwrap()],
    );

    let tar = std::fs::read(&delta).unwrap();
    let (at, size) = entry(&tar, "MANIFEST.json");
    let manifest: serde_json::Value = serde_json::from_slice(&tar[at..at + size]).unwrap();
    assert_eq!(
        manifest["packages"].as_array().unwrap().len(),
        1,
        "{manifest}"
    );
    assert_eq!(manifest["packages"][0]["ident"], NEWER);
    assert_eq!(manifest["channels"].as_array().unwrap().len(), 2);
    let imported = ok(&import_args(&delta, &dst, &public));
    assert!(imported.contains("1 new, 0 already present"), "{imported}");
    assert!(
        imported.contains("1 channel memberships applied"),
        "{imported}"
    );
    let state = AppState::open_embedded(settings(&dst)).unwrap();
    assert!(package_id(&state, NEWER).await.is_some());
}

/// A `hab pkg download` directory in `work/NAME` with the artifacts of `idents` (packed by
/// [`source`] into `work/out`) and the source's public keys.
async fn download_dir(work: &Path, src: &Path, name: &str, idents: &[&str]) -> PathBuf {
    let dir = work.join(name);
    std::fs::create_dir_all(dir.join("artifacts")).unwrap();
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    for ident in idents {
        let file = ident
            .parse::<FullyQualifiedIdent>()
            .unwrap()
            .archive_name(PackageTarget::X86_64Linux);
        std::fs::copy(
            work.join("out").join(&file),
            dir.join("artifacts").join(&file),
        )
        .unwrap();
    }
    let state = AppState::open_embedded(settings(src)).unwrap();
    for origin in ["core", "acme"] {
        for key in state
            .metadata
            .public_keys(&origin.parse().unwrap())
            .await
            .unwrap()
        {
            let file = format!("{origin}-{}.pub", key.revision);
            std::fs::write(dir.join("keys").join(file), key.body).unwrap();
        }
    }
    dir
}

fn unsigned_args<'a>(dir: &'a Path, data: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    vec![
        "bundle".as_ref(),
        "import".as_ref(),
        dir.as_os_str(),
        "--unsigned".as_ref(),
        "--channel".as_ref(),
        "stable".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--owner".as_ref(),
        "bob".as_ref(),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stock_download_directory_imports_unsigned_with_signatures_still_checked() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (src, _) = source(work).await;

    let dir = download_dir(work, &src, "download", &[GLIBC, LIB, APP]).await;
    let dst = destination(work, "dst");
    let imported = ok(&unsigned_args(&dir, &dst));
    assert!(
        imported.contains("3 new, 0 already present, 2 origins created, 2 keys added, 3 channel memberships applied"),
        "{imported}"
    );
    let state = AppState::open_embedded(settings(&dst)).unwrap();
    let lib = package_id(&state, LIB).await.unwrap();
    let channels = state.metadata.package_channels(lib).await.unwrap();
    assert!(channels.iter().any(|m| m.name == ChannelName::stable()));
    drop(state);
    let again = ok(&unsigned_args(&dir, &dst));
    assert!(again.contains("0 new, 3 already present"), "{again}");

    // A dependency missing from both the directory and the depot.
    let partial = download_dir(work, &src, "partial", &[LIB, APP]).await;
    let dst = destination(work, "dst-partial");
    let error = refused(&unsigned_args(&partial, &dst));
    assert!(
        error.contains("dependency check failed: `acme/")
            && error.contains(&format!("needs `{GLIBC}`")),
        "{error}"
    );
    assert_untouched(&dst).await;

    // A flipped byte in an artifact.
    let flipped = download_dir(work, &src, "flipped", &[GLIBC, LIB, APP]).await;
    let hart = flipped.join("artifacts").join(
        APP.parse::<FullyQualifiedIdent>()
            .unwrap()
            .archive_name(PackageTarget::X86_64Linux),
    );
    let mut bytes = std::fs::read(&hart).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&hart, bytes).unwrap();
    let dst = destination(work, "dst-flipped");
    let error = refused(&unsigned_args(&flipped, &dst));
    assert!(
        error.contains("artifact check failed: `artifacts/acme-app-"),
        "{error}"
    );
    assert_untouched(&dst).await;
}

/// `path` under `dir`, searched by file name.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

/// A running upstream `hab-depot` in `work/up` holding what [`source`] holds, with `acme`
/// private: (the process, its data directory, alice's token).
async fn remote_source(
    work: &Path,
) -> (habitat_test_support::process::DepotProcess, PathBuf, String) {
    let data = work.join("up");
    let token = user_create(&data, "alice");
    let upstream = crate::support::start_depot(&data);
    let alice = habitat_depot_client::Client::builder(upstream.url.parse().unwrap())
        .token(Some(
            habitat_depot_client::Token::new(token.clone()).unwrap(),
        ))
        .no_proxy()
        .build()
        .unwrap();
    let mut keys = Vec::new();
    for (origin, visibility) in [("core", Visibility::Public), ("acme", Visibility::Private)] {
        let name: OriginName = origin.parse().unwrap();
        alice.create_origin(&name, Some(visibility)).await.unwrap();
        let key = signing_key(origin);
        alice.upload_public_key(&key.public_key()).await.unwrap();
        keys.push(key);
    }
    let packs = [
        (GLIBC, vec![], &keys[0]),
        (LIB, vec![GLIBC], &keys[1]),
        (APP, vec![LIB, GLIBC], &keys[1]),
        (OTHER, vec![], &keys[1]),
    ];
    for (ident, tdeps, key) in packs {
        let hart = artifact(work, ident, &tdeps, key);
        let ident: FullyQualifiedIdent = ident.parse().unwrap();
        alice
            .upload(
                &hart,
                &ident,
                PackageTarget::X86_64Linux,
                None,
                false,
                |_| {},
            )
            .await
            .unwrap();
    }
    alice
        .promote(
            &APP.parse().unwrap(),
            PackageTarget::X86_64Linux,
            &ChannelName::stable(),
        )
        .await
        .unwrap();
    (upstream, data, token)
}

/// `hab-depot bundle create --from URL ARGS -o OUT`: (success, stdout, stderr).
fn create_from(url: &str, key: &Path, out: &Path, args: &[&str]) -> (bool, String, String) {
    let mut all: Vec<&std::ffi::OsStr> = vec![
        "bundle".as_ref(),
        "create".as_ref(),
        "--from".as_ref(),
        url.as_ref(),
        "--sign-key".as_ref(),
        key.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    hab_depot(&all)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_made_from_a_remote_depot_is_downloaded_checked_and_imports() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (upstream, up_data, token) = remote_source(work).await;
    let (secret, public) = transfer_key(work, "transfer");
    let token_file = work.join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let channel = ["--origin", "acme", "--channel", "stable"];

    // acme is private: without a token its channel shows no member.
    let bundle = work.join("remote.tar");
    let (success, said, error) = create_from(&upstream.url, &secret, &bundle, &channel);
    assert!(success, "{said}{error}");
    assert!(error.contains(": 0 packages"), "{error}");

    let token_arg = ["--token-file", token_file.to_str().unwrap()];
    let (success, said, error) = create_from(
        &upstream.url,
        &secret,
        &bundle,
        &[&channel[..], &token_arg].concat(),
    );
    assert!(success, "{said}{error}");
    assert!(error.contains("3 packages (0 left out"), "{error}");
    assert!(error.contains("1 channel memberships, 2 keys"), "{error}");
    let tar = std::fs::read(&bundle).unwrap();
    let (at, size) = entry(&tar, "MANIFEST.json");
    let manifest: serde_json::Value = serde_json::from_slice(&tar[at..at + size]).unwrap();
    let packages: Vec<&str> = manifest["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ident"].as_str().unwrap())
        .collect();
    assert_eq!(packages, [GLIBC, LIB, APP], "dependencies first");

    let dst = destination(work, "dst");
    let first = ok(&import_args(&bundle, &dst, &public));
    assert!(
        first.contains("3 new, 0 already present, 2 origins created, 2 keys added, 1 channel memberships applied"),
        "{first}"
    );
    let fsck = hab_depot(&["fsck".as_ref(), "--data-dir".as_ref(), dst.as_os_str()]);
    assert!(fsck.0, "{}{}", fsck.1, fsck.2);

    // A package-set file read through the API: app resolved in `stable` upstream.
    let set = work.join("set.toml");
    std::fs::write(
        &set,
        "[[x86_64-linux]]\nchannel = \"stable\"\npackages = [\"acme/app\"]\n",
    )
    .unwrap();
    let from_set = work.join("set.tar");
    let (success, said, error) = create_from(
        &upstream.url,
        &secret,
        &from_set,
        &[
            "--file",
            set.to_str().unwrap(),
            "--token-file",
            token_file.to_str().unwrap(),
        ],
    );
    assert!(success, "{said}{error}");
    assert!(
        error.contains("3 packages (0 left out, already there), 1 channel memberships"),
        "{error}"
    );

    // A flipped byte in the upstream's stored artifact of lib: refused, no bundle written, no
    // download left behind.
    let lib = work.join("out").join(
        LIB.parse::<FullyQualifiedIdent>()
            .unwrap()
            .archive_name(PackageTarget::X86_64Linux),
    );
    let checksum = habitat_core::Blake2bHash::of_file(&lib).unwrap();
    let stored = find_file(&up_data, &format!("{checksum}.hart")).expect("the stored artifact");
    let mut bytes = std::fs::read(&stored).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&stored, bytes).unwrap();
    let refused_bundle = work.join("refused.tar");
    let (success, said, error) = create_from(
        &upstream.url,
        &secret,
        &refused_bundle,
        &[&channel[..], &token_arg].concat(),
    );
    assert!(!success, "a tampered artifact went into a bundle: {said}");
    assert!(error.contains(LIB) && error.contains("checksum"), "{error}");
    assert!(!refused_bundle.exists());
    let left: Vec<String> = std::fs::read_dir(work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A package-set file as `hab pkg download --file` reads it: app by name (the newest in
/// `stable`) and other by its full ident (not in `stable`).
const SET: &str = r#"
format_version = 1
file_descriptor = "what the site runs"

[[x86_64-linux]]
channel = "stable"
packages = [
  # the application, newest in stable
  "acme/app",
  "acme/other/1.0.0/20240104000000",
]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_package_set_file_chooses_what_a_bundle_carries() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (src, _) = source(work).await;
    let (secret, public) = transfer_key(work, "transfer");
    let set = work.join("set.toml");
    std::fs::write(&set, SET).unwrap();
    let bundle = work.join("set.tar");
    let args = |file: &Path, out: &Path| -> Vec<std::ffi::OsString> {
        [
            "bundle".as_ref(),
            "create".as_ref(),
            "--data-dir".as_ref(),
            src.as_os_str(),
            "--file".as_ref(),
            file.as_os_str(),
            "--sign-key".as_ref(),
            secret.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ]
        .iter()
        .map(|a: &&std::ffi::OsStr| a.to_os_string())
        .collect()
    };
    let run = |args: &[std::ffi::OsString]| {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        hab_depot(&args)
    };
    let (success, said, error) = run(&args(&set, &bundle));
    assert!(success, "{said}{error}");
    assert!(
        error.contains("4 packages (0 left out, already there), 1 channel memberships, 2 keys"),
        "{error}"
    );
    let tar = std::fs::read(&bundle).unwrap();
    let (at, size) = entry(&tar, "MANIFEST.json");
    let manifest: serde_json::Value = serde_json::from_slice(&tar[at..at + size]).unwrap();
    let packages: Vec<&str> = manifest["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ident"].as_str().unwrap())
        .collect();
    assert_eq!(packages, [OTHER, GLIBC, LIB, APP], "dependencies first");
    assert_eq!(manifest["channels"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["channels"][0]["ident"], APP);
    assert_eq!(manifest["channels"][0]["channel"], "stable");

    let dst = destination(work, "dst");
    let imported = ok(&import_args(&bundle, &dst, &public));
    assert!(
        imported.contains("4 new, 0 already present, 2 origins created, 2 keys added, 1 channel memberships applied"),
        "{imported}"
    );

    // A partial ident with no release in the set's channel; a format this reader does not know.
    for (text, expected) in [
        (
            SET.replace("\"acme/app\"", "\"acme/other\""),
            "`acme/other` for `x86_64-linux` is not in channel `stable`",
        ),
        (
            SET.replace("format_version = 1", "format_version = 2"),
            "not a valid package-set file: `format_version` is `2`",
        ),
        (
            SET.replace("x86_64-linux", "x86_64-amiga"),
            "not a valid package-set file: `x86_64-amiga` is not a target",
        ),
    ] {
        let file = work.join("bad.toml");
        std::fs::write(&file, text).unwrap();
        let out = work.join("bad.tar");
        let (success, _, error) = run(&args(&file, &out));
        assert!(!success && error.contains(expected), "{error}");
        assert!(!out.exists());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_settings_trust_several_transfer_keys_and_the_signer_picks_its_own() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (src, _) = source(work).await;
    let (north, north_pub) = transfer_key(work, "north");
    let (south, south_pub) = transfer_key(work, "south");
    let (stranger, stranger_pub) = transfer_key(work, "stranger");
    let dst = destination(work, "dst");
    let config = work.join("depot.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\ntrusted_bundle_keys = [{:?}, {:?}]\n",
            dst.to_str().unwrap(),
            north_pub.to_str().unwrap(),
            south_pub.to_str().unwrap()
        ),
    )
    .unwrap();
    let import = |bundle: &Path| -> (bool, String, String) {
        hab_depot(&[
            "bundle".as_ref(),
            "import".as_ref(),
            bundle.as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
            "--owner".as_ref(),
            "bob".as_ref(),
        ])
    };

    // Signed by a stranger: refused, naming the trusted keys; nothing written.
    let strange = work.join("stranger.tar");
    create(&src, &stranger, &strange, &[]);
    let (success, _, error) = import(&strange);
    assert!(!success);
    assert!(
        error.contains("manifest signature check failed: the bundle is signed by `stranger-")
            && error.contains("not by a trusted key (`north-")
            && error.contains("`south-"),
        "{error}"
    );
    assert_untouched(&dst).await;

    // Each trusted signer's bundle verifies with its own key.
    let from_north = work.join("north.tar");
    create(&src, &north, &from_north, &[]);
    let (success, said, error) = import(&from_north);
    assert!(success, "{said}{error}");
    assert!(said.contains("3 new"), "{said}");
    let from_south = work.join("south.tar");
    create(&src, &south, &from_south, &[]);
    let (success, said, error) = import(&from_south);
    assert!(success, "{said}{error}");
    assert!(said.contains("0 new, 3 already present"), "{said}");

    // `--trust-key` adds to the settings' keys.
    let (success, said, error) = hab_depot(&[
        "bundle".as_ref(),
        "import".as_ref(),
        strange.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--trust-key".as_ref(),
        stranger_pub.as_os_str(),
        "--owner".as_ref(),
        "bob".as_ref(),
    ]);
    assert!(success, "{said}{error}");

    // With no key at all, the import says how to give one.
    let error = refused(&[
        "bundle".as_ref(),
        "import".as_ref(),
        from_north.as_os_str(),
        "--data-dir".as_ref(),
        dst.as_os_str(),
        "--owner".as_ref(),
        "bob".as_ref(),
    ]);
    assert!(error.contains("no transfer key is trusted"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_import_is_finished_by_importing_the_same_bundle_again() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (src, _) = source(work).await;
    let (secret, public) = transfer_key(work, "transfer");
    let older = work.join("older.tar");
    create(&src, &secret, &older, &[]);
    let bundle = work.join("stable.tar");
    create(&src, &secret, &bundle, &[]);

    // The artifact store cannot take app's artifact: a file stands where its directory goes
    // (as a full or broken disk would refuse it). glibc and lib are stored before it, app
    // fails, and the memberships are not applied.
    let dst = destination(work, "dst");
    let state = AppState::open_embedded(settings(&src)).unwrap();
    let mut prefixes = Vec::new();
    for ident in [GLIBC, LIB, APP] {
        let package = state
            .metadata
            .package(&ident.parse().unwrap(), PackageTarget::X86_64Linux)
            .await
            .unwrap()
            .unwrap();
        prefixes.push(package.checksum.to_string()[..2].to_owned());
    }
    drop(state);
    // Stored in this order (dependencies first) until the first whose directory is blocked:
    // app, unless a dependency's checksum happens to begin alike.
    let stored = prefixes.iter().position(|p| *p == prefixes[2]).unwrap();
    let artifacts = dst.join("artifacts");
    assert!(artifacts.is_dir(), "{}", artifacts.display());
    let blocker = artifacts.join(&prefixes[2]);
    assert!(!blocker.exists());
    std::fs::write(&blocker, b"not a directory").unwrap();
    let error = refused(&import_args(&bundle, &dst, &public));
    let failed = [GLIBC, LIB, APP][stored];
    assert!(
        error.contains(&format!("cannot store `{failed}`")),
        "{error}"
    );
    let state = AppState::open_embedded(settings(&dst)).unwrap();
    for (i, ident) in [GLIBC, LIB, APP].into_iter().enumerate() {
        assert_eq!(
            package_id(&state, ident).await.is_some(),
            i < stored,
            "{ident}"
        );
    }
    let begun = state
        .metadata
        .bundle_import("transfer")
        .await
        .unwrap()
        .unwrap();
    assert!(!begun.completed, "{begun:?}");
    drop(state);

    // An older bundle of the same signer is refused meanwhile: the interrupted one is newer.
    let error = refused(&import_args(&older, &dst, &public));
    assert!(error.contains("a replayed bundle"), "{error}");

    // The same bundle again, the store mended: it stores the rest and applies the memberships.
    std::fs::remove_file(&blocker).unwrap();
    let (success, said, error) = hab_depot(&import_args(&bundle, &dst, &public));
    assert!(success, "{said}{error}");
    assert!(
        error.contains("an earlier import of this bundle did not complete; finished it"),
        "{error}"
    );
    assert!(
        said.contains(&format!(
            "{} new, {stored} already present, 0 origins created, 0 keys added, 1 channel memberships applied",
            3 - stored
        )),
        "{said}"
    );
    let done = last_import(&dst).await.unwrap();
    assert!(
        done.completed && done.sequence == begun.sequence,
        "{done:?}"
    );
    let again = ok(&import_args(&bundle, &dst, &public));
    assert!(again.contains("0 new, 3 already present"), "{again}");
    let fsck = hab_depot(&["fsck".as_ref(), "--data-dir".as_ref(), dst.as_os_str()]);
    assert!(fsck.0, "{}{}", fsck.1, fsck.2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sequence_file_of_an_earlier_version_moves_into_the_metadata_store_once() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (src, _) = source(work).await;
    let (secret, public) = transfer_key(work, "transfer");
    let bundle = work.join("stable.tar");
    create(&src, &secret, &bundle, &[]);
    let dst = destination(work, "dst");
    // The file says a later bundle of `transfer` was imported.
    std::fs::write(
        dst.join("bundle-imports.json"),
        format!(
            "{{ \"signers\": {{ \"transfer\": {{ \"sequence\": {}, \"manifest\": \"{}\" }} }} }}",
            u64::MAX >> 2,
            "0".repeat(64)
        ),
    )
    .unwrap();
    let dry = refused(
        &[
            import_args(&bundle, &dst, &public),
            vec!["--dry-run".as_ref()],
        ]
        .concat(),
    );
    assert!(dry.contains("a replayed bundle"), "{dry}");
    assert!(
        dst.join("bundle-imports.json").exists(),
        "a dry run moves nothing"
    );
    let error = refused(&import_args(&bundle, &dst, &public));
    assert!(error.contains("a replayed bundle"), "{error}");
    assert!(!dst.join("bundle-imports.json").exists());
    assert!(dst.join("bundle-imports.json.moved").exists());
    let moved = last_import(&dst).await.unwrap();
    assert_eq!((moved.sequence, moved.completed), (u64::MAX >> 2, true));
    // Still refused with the file gone: the store holds it now.
    let error = refused(&import_args(&bundle, &dst, &public));
    assert!(error.contains("a replayed bundle"), "{error}");
}

/// A stand-in for a Builder in front of `upstream` (its `…/v1` URL): the channel manifest
/// route answers 404, as a Builder's does; and when `key` is given, every public key file of
/// that key's origin is answered with that text instead. Its URL.
async fn start_stand_in(upstream: &str, key: Option<String>) -> String {
    let proxy = Proxy::start(upstream).await;
    proxy.without_manifest();
    proxy.serve_key(key);
    proxy.url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_from_a_depot_without_the_manifest_route_reads_the_listing_and_refuses_a_substituted_key()
 {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (upstream, _, token) = remote_source(work).await;
    let (secret, public) = transfer_key(work, "transfer");
    let token_file = work.join("token");
    std::fs::write(&token_file, &token).unwrap();
    let args = [
        "--origin".to_owned(),
        "acme".to_owned(),
        "--channel".to_owned(),
        "stable".to_owned(),
        "--token-file".to_owned(),
        token_file.to_str().unwrap().to_owned(),
    ];
    let run = |url: String, out: PathBuf| {
        let (secret, args) = (secret.clone(), args.clone());
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            create_from(&url, &secret, &out, &args)
        })
    };

    // A Builder: the listing and each package's JSON instead of the manifest.
    let builder = start_stand_in(&upstream.url, None).await;
    let bundle = work.join("builder.tar");
    let (success, said, error) = run(builder, bundle.clone()).await.unwrap();
    assert!(success, "{said}{error}");
    assert!(error.contains("3 packages (0 left out"), "{error}");
    let dst = destination(work, "dst");
    let imported = ok(&import_args(&bundle, &dst, &public));
    assert!(imported.contains("3 new"), "{imported}");

    // A depot that serves another key under the revision that signed the packages: no
    // artifact verifies with it, and no bundle is written.
    let other = signing_key("core").public_key().to_file_string();
    let core_key = {
        let client = habitat_depot_client::Client::builder(upstream.url.parse().unwrap())
            .no_proxy()
            .build()
            .unwrap();
        client
            .public_key_text(&"core".parse().unwrap(), None)
            .await
            .unwrap()
    };
    // The same name and revision as core's key, another key's bytes.
    let substitute = {
        let mut lines: Vec<&str> = core_key.lines().collect();
        let last = lines.len() - 1;
        lines[last] = other.lines().last().unwrap();
        format!("{}\n", lines.join("\n"))
    };
    assert_ne!(substitute.trim(), core_key.trim());
    let lying = start_stand_in(&upstream.url, Some(substitute)).await;
    let refused_bundle = work.join("substituted.tar");
    let (success, said, error) = run(lying, refused_bundle.clone()).await.unwrap();
    assert!(!success, "a bundle was made with a substituted key: {said}");
    assert!(
        error.contains("artifact check failed: `artifacts/core-glibc-"),
        "{error}"
    );
    assert!(!refused_bundle.exists());
}
