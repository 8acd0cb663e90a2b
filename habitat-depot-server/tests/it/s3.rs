//! The S3 artifact store against a real S3-compatible server (see `habitat_test_support::s3`),
//! and the same checks against the file store, so that both behave alike.

use std::path::{Path, PathBuf};

use habitat_core::Blake2bHash;
use habitat_depot_server::store::ArtifactStore;
use habitat_depot_server::store::files::FileArtifacts;
use habitat_depot_server::store::s3::{S3Artifacts, S3Settings};
use object_store::path::Path as Key;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::io::AsyncReadExt;

use habitat_test_support::s3::S3Server;

const MIB: usize = 1024 * 1024;

/// Bytes that do not repeat within a part, so a part sent twice or out of order shows.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn local_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The artifact's size and its bytes from `offset` on.
async fn read(store: &dyn ArtifactStore, checksum: &Blake2bHash, offset: u64) -> (u64, Vec<u8>) {
    let mut opened = store
        .open(checksum, offset)
        .await
        .unwrap()
        .expect("the artifact is stored");
    let mut bytes = Vec::new();
    opened.reader.read_to_end(&mut bytes).await.unwrap();
    (opened.size, bytes)
}

/// The artifact's size and `length` of its bytes from `offset`.
async fn read_range(
    store: &dyn ArtifactStore,
    checksum: &Blake2bHash,
    offset: u64,
    length: u64,
) -> (u64, Vec<u8>) {
    let mut opened = store
        .open_range(checksum, offset, length)
        .await
        .unwrap()
        .expect("the artifact is stored");
    let mut bytes = Vec::new();
    opened.reader.read_to_end(&mut bytes).await.unwrap();
    (opened.size, bytes)
}

async fn sorted_list(store: &dyn ArtifactStore) -> Vec<(Blake2bHash, u64)> {
    let mut listed = store.list().await.unwrap();
    listed.sort_by_key(|(checksum, _)| checksum.to_string());
    listed
}

/// What every artifact store must do, checked on an empty store.
async fn behaves_like_an_artifact_store(store: &dyn ArtifactStore) {
    let dir = tempfile::tempdir().unwrap();
    store.ping().await.unwrap();
    let content = pattern(100_000, 7);
    let size = content.len() as u64;
    let checksum = Blake2bHash::digest(&content);

    // Absent: open gives None, delete is fine, list is empty.
    assert!(store.open(&checksum, 0).await.unwrap().is_none());
    assert!(store.open(&checksum, 10).await.unwrap().is_none());
    store.delete(&checksum).await.unwrap();
    assert!(store.list().await.unwrap().is_empty());

    store
        .put(&checksum, &local_file(dir.path(), "first", &content))
        .await
        .unwrap();
    assert_eq!(read(store, &checksum, 0).await, (size, content.clone()));
    // A range: exactly the tail, and the size of the whole.
    assert_eq!(
        read(store, &checksum, 99_000).await,
        (size, content[99_000..].to_vec())
    );
    // At or past the end: nothing left to read.
    assert_eq!(read(store, &checksum, size).await, (size, vec![]));
    assert_eq!(read(store, &checksum, size + 10).await, (size, vec![]));
    // A bounded range: exactly its bytes (S3's reader is the GET's body, not cut here: the
    // service sent only them), cut at the end of the artifact.
    let range = |offset, length| read_range(store, &checksum, offset, length);
    assert_eq!(range(10, 5).await, (size, content[10..15].to_vec()));
    assert_eq!(range(0, 1).await, (size, content[..1].to_vec()));
    assert_eq!(range(99_990, 100).await, (size, content[99_990..].to_vec()));
    assert_eq!(range(20, 0).await, (size, vec![]));
    assert!(
        store
            .open_range(&Blake2bHash::digest(b"absent"), 0, 10)
            .await
            .unwrap()
            .is_none()
    );

    // Storing an existing checksum again is a no-op: what is stored stays.
    let impostor = local_file(dir.path(), "again", &vec![0; content.len()]);
    store.put(&checksum, &impostor).await.unwrap();
    assert_eq!(read(store, &checksum, 0).await, (size, content.clone()));

    // An empty artifact is an artifact.
    let empty = Blake2bHash::digest(b"");
    store
        .put(&empty, &local_file(dir.path(), "empty", b""))
        .await
        .unwrap();
    assert_eq!(read(store, &empty, 0).await, (0, vec![]));
    let mut expected = vec![(checksum, size), (empty, 0)];
    expected.sort_by_key(|(checksum, _)| checksum.to_string());
    assert_eq!(sorted_list(store).await, expected);

    store.delete(&checksum).await.unwrap();
    assert!(store.open(&checksum, 0).await.unwrap().is_none());
    store.delete(&checksum).await.unwrap();
    assert_eq!(sorted_list(store).await, vec![(empty, 0)]);
}

#[tokio::test]
async fn the_file_store_passes_the_artifact_store_checks() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileArtifacts::open(dir.path().join("artifacts")).unwrap();
    behaves_like_an_artifact_store(&store).await;
}

#[tokio::test]
async fn the_s3_store_passes_the_artifact_store_checks() {
    let Some(server) = S3Server::get() else {
        return;
    };
    for prefix in [None, Some("depot/artifacts")] {
        let bucket = server.fresh_bucket().await;
        let store = S3Artifacts::open(&server.settings(&bucket, prefix)).unwrap();
        behaves_like_an_artifact_store(&store).await;
    }
}

#[tokio::test]
async fn a_large_artifact_goes_up_in_parts_and_comes_back_identical() {
    let Some(server) = S3Server::get() else {
        return;
    };
    let bucket = server.fresh_bucket().await;
    let settings = server.settings(&bucket, Some("depot"));
    assert_eq!(settings.part_size_mib, 8);
    let store = S3Artifacts::open(&settings).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let content = pattern(40 * MIB + 12_345, 11);
    let size = content.len() as u64;
    let checksum = Blake2bHash::digest(&content);
    store
        .put(&checksum, &local_file(dir.path(), "large", &content))
        .await
        .unwrap();

    // A multipart upload's ETag ends in `-<parts>`: 40 MiB and a bit in 8 MiB parts is 6.
    let meta = server
        .client(&bucket)
        .head(&Key::from(store.key_of(&checksum)))
        .await
        .unwrap();
    assert_eq!(meta.size, size);
    let etag = meta.e_tag.unwrap();
    assert!(etag.trim_matches('"').ends_with("-6"), "{etag}");

    let (read_size, bytes) = read(&store, &checksum, 0).await;
    assert_eq!(read_size, size);
    assert!(bytes == content, "the artifact came back different");
    // Ranges starting inside a part, on a part boundary and in the last part.
    for offset in [3, 8 * MIB as u64, 8 * MIB as u64 + 1, size - 1_000] {
        let (read_size, tail) = read(&store, &checksum, offset).await;
        assert_eq!(read_size, size);
        assert!(tail == content[offset as usize..], "tail at {offset}");
    }

    // A small artifact is a single PUT, whose ETag is a plain MD5.
    let small = pattern(1_000, 3);
    let small_checksum = Blake2bHash::digest(&small);
    store
        .put(&small_checksum, &local_file(dir.path(), "small", &small))
        .await
        .unwrap();
    let meta = server
        .client(&bucket)
        .head(&Key::from(store.key_of(&small_checksum)))
        .await
        .unwrap();
    assert!(!meta.e_tag.unwrap().contains('-'));
}

#[tokio::test]
async fn ping_says_when_the_bucket_is_missing() {
    let Some(server) = S3Server::get() else {
        return;
    };
    let store = S3Artifacts::open(&server.settings("no-such-bucket", None)).unwrap();
    let error = store.ping().await.unwrap_err().to_string();
    assert!(
        error.contains("the bucket `no-such-bucket` does not exist"),
        "{error}"
    );
}

#[tokio::test]
async fn ping_says_when_the_credentials_are_refused() {
    let Some(server) = S3Server::get() else {
        return;
    };
    let bucket = server.fresh_bucket().await;
    let wrong_secret = S3Settings {
        secret_access_key: Some("not-the-secret-at-all".into()),
        ..server.settings(&bucket, None)
    };
    let wrong_key = S3Settings {
        access_key_id: Some("nobody".into()),
        ..server.settings(&bucket, None)
    };
    for settings in [wrong_secret, wrong_key] {
        let store = S3Artifacts::open(&settings).unwrap();
        let error = store.ping().await.unwrap_err().to_string();
        assert!(error.contains("credentials were refused"), "{error}");
        assert!(error.contains(&bucket), "{error}");
        assert!(!error.contains("not-the-secret-at-all"), "{error}");
        assert!(!error.contains(&server.secret_key), "{error}");
    }
    let store = S3Artifacts::open(&server.settings(&bucket, None)).unwrap();
    store.ping().await.unwrap();
}

#[tokio::test]
async fn list_keeps_to_its_prefix_and_ignores_foreign_keys() {
    let Some(server) = S3Server::get() else {
        return;
    };
    let bucket = server.fresh_bucket().await;
    let dir = tempfile::tempdir().unwrap();
    let ours = S3Artifacts::open(&server.settings(&bucket, Some("depot/a"))).unwrap();
    let neighbour = S3Artifacts::open(&server.settings(&bucket, Some("depot/ab"))).unwrap();
    let top = S3Artifacts::open(&server.settings(&bucket, None)).unwrap();

    let content = pattern(5_000, 5);
    let checksum = Blake2bHash::digest(&content);
    let other = pattern(6_000, 6);
    let other_checksum = Blake2bHash::digest(&other);
    ours.put(&checksum, &local_file(dir.path(), "one", &content))
        .await
        .unwrap();
    neighbour
        .put(&other_checksum, &local_file(dir.path(), "two", &other))
        .await
        .unwrap();
    // Keys that are not the depot's, or not directly under the prefix.
    let client = server.client(&bucket);
    for foreign in [
        "depot/a/notes.txt".to_owned(),
        "depot/a/not-a-checksum.hart".to_owned(),
        format!("depot/a/nested/{other_checksum}.hart"),
        format!("depot/a/{other_checksum}.hart.tmp"),
    ] {
        client
            .put(&Key::from(foreign), PutPayload::from_static(b"foreign"))
            .await
            .unwrap();
    }

    assert_eq!(sorted_list(&ours).await, vec![(checksum, 5_000)]);
    assert_eq!(sorted_list(&neighbour).await, vec![(other_checksum, 6_000)]);
    // At the top of the bucket, everything is under some prefix: nothing is the depot's.
    assert!(top.list().await.unwrap().is_empty());
    // Each store reads only under its own prefix.
    assert!(ours.open(&other_checksum, 0).await.unwrap().is_none());
    assert!(neighbour.open(&checksum, 0).await.unwrap().is_none());
    // Deleting through one prefix leaves the other alone.
    ours.delete(&other_checksum).await.unwrap();
    assert_eq!(sorted_list(&neighbour).await, vec![(other_checksum, 6_000)]);
}

/// The size of the artifact the memory probe stores and reads back.
const PROBE_SIZE: usize = 128 * MIB;

/// Peak and current resident memory of this process, in KiB (Linux).
fn resident_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Stores and reads back a 128 MiB artifact and prints how much the peak resident memory grew.
/// Only useful alone in its process: `put_and_open_hold_no_whole_artifact_in_memory` runs it so.
#[tokio::test]
#[ignore = "run in a child process by put_and_open_hold_no_whole_artifact_in_memory"]
async fn memory_probe() {
    let (Ok(bucket), Some(server)) = (std::env::var("HAB_TEST_S3_PROBE_BUCKET"), S3Server::get())
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.hart");
    // Written and hashed one MiB at a time: the test holds no whole artifact either.
    let mut hasher = habitat_core::hash::Hasher::new();
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for seed in 0..(PROBE_SIZE / MIB) as u64 {
            let chunk = pattern(MIB, seed + 1);
            hasher.update(&chunk);
            file.write_all(&chunk).unwrap();
        }
        file.flush().unwrap();
    }
    let checksum = hasher.finish();
    let store = S3Artifacts::open(&server.settings(&bucket, None)).unwrap();
    let (_, before) = resident_kib().unwrap();
    store.put(&checksum, &path).await.unwrap();
    let mut opened = store.open(&checksum, 0).await.unwrap().unwrap();
    assert_eq!(opened.size, PROBE_SIZE as u64);
    let mut hasher = habitat_core::hash::Hasher::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = opened.reader.read(&mut buffer).await.unwrap();
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    assert!(
        hasher.finish() == checksum,
        "the artifact came back different"
    );
    let (peak, _) = resident_kib().unwrap();
    println!(
        "memory_probe: peak_growth_kib={}",
        peak.saturating_sub(before)
    );
}

#[tokio::test]
async fn put_and_open_hold_no_whole_artifact_in_memory() {
    let Some(server) = S3Server::get() else {
        return;
    };
    if resident_kib().is_none() {
        return;
    }
    let bucket = server.fresh_bucket().await;
    let output = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["s3::memory_probe", "--exact", "--ignored", "--nocapture"])
        .env("HAB_TEST_S3_ENDPOINT", &server.endpoint)
        .env("HAB_TEST_S3_ACCESS_KEY", &server.access_key)
        .env("HAB_TEST_S3_SECRET_KEY", &server.secret_key)
        .env("HAB_TEST_S3_PROBE_BUCKET", &bucket)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let growth: u64 = stdout
        .split("peak_growth_kib=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no measurement in: {stdout}"));
    // 8 MiB parts, 2 in flight and 1 being read: about 24 MiB, far below the 128 MiB artifact.
    assert!(
        growth < 64 * 1024,
        "the peak resident memory grew by {growth} KiB for a {} MiB artifact",
        PROBE_SIZE / MIB
    );
}

#[tokio::test]
async fn an_https_endpoint_with_a_private_authority_works_with_ca_file() {
    // The bucket behind a TLS front whose certificate the system does not trust: refused,
    // naming the certificate problem, until `ca_file` names the authority.
    let Some(server) = S3Server::get() else {
        return;
    };
    let bucket = server.fresh_bucket().await;
    let plain = server.endpoint.trim_start_matches("http://");
    let front = habitat_test_support::tls::TlsFront::start(plain.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let untrusted = S3Settings {
        endpoint: Some(front.url()),
        ..server.settings(&bucket, Some("tls"))
    };
    let err = S3Artifacts::open(&untrusted)
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    let shown = format!("{err}: {err:?}");
    assert!(shown.contains("UnknownIssuer"), "{shown}");
    let settings = S3Settings {
        ca_file: Some(habitat_test_support::tls::write_ca(dir.path())),
        ..untrusted
    };
    let store = S3Artifacts::open(&settings).unwrap();
    store.ping().await.unwrap();
    let content = pattern(10_000, 5);
    let checksum = Blake2bHash::digest(&content);
    store
        .put(&checksum, &local_file(dir.path(), "over-tls", &content))
        .await
        .unwrap();
    let (size, bytes) = read(&store, &checksum, 0).await;
    assert_eq!(size, content.len() as u64);
    assert!(
        bytes == content,
        "the artifact came back different over HTTPS"
    );
}
