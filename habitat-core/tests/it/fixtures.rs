//! The real Habitat artifacts in `../shared/fixtures/habitat/` and the verdicts its README
//! gives for them.

use std::fs;
use std::path::Path;

use habitat_core::metadata::read_metadata;
use habitat_core::{Error, FsRoot, KeyCache, UnpackLimits};

use crate::support::{assert_unchanged, fixture, fixtures_dir, snapshot};

const HAPPY: &str = "happyhumans-possums-8.1.4-20160427165340-x86_64-linux.hart";
const UNHAPPY: &str = "unhappyhumans-possums-8.1.4-20160427165340-x86_64-linux.hart";
const POSSUMS: &str = "happyhumans/possums/8.1.4/20160427165340";

#[test]
fn happy_fixture_metadata() {
    let Some(path) = fixture(HAPPY) else { return };
    let metadata = read_metadata(&path, &UnpackLimits::default()).unwrap();
    assert_eq!(metadata.ident.to_string(), POSSUMS);
    assert_eq!(metadata.target.to_string(), "x86_64-linux");
    assert_eq!(metadata.deps, []);
    assert_eq!(metadata.tdeps, []);
    assert!(!metadata.is_a_service());
}

#[test]
fn unhappy_fixture_metadata_has_1024_tdeps() {
    let Some(path) = fixture(UNHAPPY) else { return };
    let metadata = read_metadata(&path, &UnpackLimits::default()).unwrap();
    assert_eq!(metadata.ident.to_string(), POSSUMS);
    assert_eq!(metadata.tdeps.len(), 1024);
    assert!(
        metadata
            .tdeps
            .iter()
            .all(|d| d.to_string() == "core/glibc/2.22/20160612063629")
    );
}

#[test]
fn happy_fixture_installs_without_parent_directory_entries() {
    let Some(path) = fixture(HAPPY) else { return };
    let root = tempfile::tempdir().unwrap();
    let fs_root = FsRoot::new(root.path());
    let staged = fs_root
        .stage(
            &path,
            &KeyCache::new(fixtures_dir()),
            &UnpackLimits::default(),
        )
        .unwrap();
    assert_eq!(
        staged.artifact().payload_hash().to_string(),
        "0f2c5f4de145c7f78601caae9c7b8767098413d05739de913c012922b7eed760"
    );
    let ident = staged.commit().unwrap();
    assert_eq!(ident.to_string(), POSSUMS);
    assert!(fs_root.is_installed(&ident));
    let rel = Path::new("hab/pkgs/happyhumans/possums/8.1.4/20160427165340");
    let dir = root.path().join(rel);
    assert_eq!(
        fs::read_to_string(dir.join("IDENT")).unwrap().trim(),
        POSSUMS
    );
    assert_eq!(
        fs::read_to_string(dir.join("TARGET")).unwrap().trim(),
        "x86_64-linux"
    );
    // Only the package and its parents are there: no staging directory, nothing else.
    let paths: Vec<_> = snapshot(root.path()).into_keys().collect();
    assert!(
        paths
            .iter()
            .all(|p| rel.starts_with(p) || p.starts_with(rel)),
        "{paths:?}"
    );
    assert!(paths.len() > 6, "{paths:?}");
    assert_eq!(fs_root.installed(None).unwrap(), [ident]);
}

#[test]
fn unhappy_fixture_fails_to_stage_and_leaves_nothing() {
    let Some(path) = fixture(UNHAPPY) else { return };
    let root = tempfile::tempdir().unwrap();
    let before = snapshot(root.path());
    let err = FsRoot::new(root.path())
        .stage(
            &path,
            &KeyCache::new(fixtures_dir()),
            &UnpackLimits::default(),
        )
        .expect_err("the unhappy fixture was staged");
    match &err {
        Error::PayloadHashMismatch { actual, signed } => {
            assert_eq!(
                actual,
                "813cf4243476d598a583c84ab52654626645820dd0dcc0a76da5296590c25363"
            );
            assert_eq!(
                signed,
                "8805e5575ab8c029e6d258261379fbd02d4bb3d90e206847d4553a1bf7395d65"
            );
        }
        other => panic!("expected a payload hash mismatch, got {other:?} ({other})"),
    }
    assert_unchanged(&before, &snapshot(root.path()));
}
