//! Installing packed artifacts under a temporary FS_ROOT (docs/formats.md, "The install layout").

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use habitat_core::pack::{PackSpec, pack};
use habitat_core::{Error, FullyQualifiedIdent, PackageIdent, UnpackLimits};

use crate::support::{World, assert_unchanged, snapshot};

const HELLO: &str = "core/hello/1.2.3/20200102030405";

/// A package source tree: `bin/hello` (0755), a nested directory, a relative link inside,
/// default.toml.
pub fn source_tree(dir: &Path) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("bin/hello"), "#!/bin/sh\necho hello\n").unwrap();
    fs::set_permissions(dir.join("bin/hello"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(dir.join("share/doc/hello")).unwrap();
    fs::write(dir.join("share/doc/hello/README"), "read me\n").unwrap();
    fs::set_permissions(
        dir.join("share/doc/hello/README"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("doc/hello/README", dir.join("share/readme")).unwrap();
    fs::write(dir.join("default.toml"), "port = 8080\n").unwrap();
}

pub fn spec(ident: &str) -> PackSpec {
    PackSpec {
        ident: ident.parse().unwrap(),
        target: "x86_64-linux".parse().unwrap(),
        deps: Vec::new(),
        tdeps: Vec::new(),
    }
}

/// Packs [`source_tree`] as `ident` with the world's key.
fn packed(world: &World, ident: &str) -> PathBuf {
    let src = tempfile::tempdir().unwrap();
    source_tree(src.path());
    pack(src.path(), &world.out(), &spec(ident), &world.key).unwrap()
}

fn mode(path: &Path) -> u32 {
    path.symlink_metadata().unwrap().permissions().mode() & 0o7777
}

/// The names in a directory.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn packed_package_installs_with_files_modes_and_links() {
    let world = World::new();
    let hart = packed(&world, HELLO);
    let staged = world.stage(&hart, &UnpackLimits::default()).unwrap();
    assert_eq!(staged.metadata().ident.to_string(), HELLO);
    assert_eq!(staged.artifact().signer(), world.key.name());
    // Nothing is visible before commit.
    let ident: FullyQualifiedIdent = HELLO.parse().unwrap();
    assert!(!world.root.is_installed(&ident));
    assert_eq!(staged.commit().unwrap(), ident);

    let dir = world
        .root
        .path()
        .join("hab/pkgs/core/hello/1.2.3/20200102030405");
    assert_eq!(world.root.package_dir(&ident), dir);
    assert_eq!(
        fs::read_to_string(dir.join("IDENT")).unwrap(),
        format!("{HELLO}\n")
    );
    assert_eq!(
        fs::read_to_string(dir.join("TARGET")).unwrap(),
        "x86_64-linux\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("PATH")).unwrap(),
        "/hab/pkgs/core/hello/1.2.3/20200102030405/bin\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("bin/hello")).unwrap(),
        "#!/bin/sh\necho hello\n"
    );
    assert_eq!(mode(&dir.join("bin/hello")), 0o755);
    assert_eq!(
        fs::read_to_string(dir.join("share/doc/hello/README")).unwrap(),
        "read me\n"
    );
    assert_eq!(mode(&dir.join("share/doc/hello/README")), 0o600);
    assert_eq!(
        fs::read_link(dir.join("share/readme")).unwrap(),
        Path::new("doc/hello/README")
    );
    assert_eq!(
        fs::read_to_string(dir.join("share/readme")).unwrap(),
        "read me\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("default.toml")).unwrap(),
        "port = 8080\n"
    );
    assert_eq!(mode(&dir), 0o755);
    // The version directory holds the release and no leftover staging directory.
    assert_eq!(names(dir.parent().unwrap()), ["20200102030405"]);
}

#[test]
fn installed_and_latest_installed_find_packages() {
    let world = World::new();
    assert_eq!(world.root.installed(None).unwrap(), []);
    let older = "core/hello/1.2.3/20200102030405";
    let newer = "core/hello/1.2.3/20210102030405";
    for ident in [older, newer] {
        let hart = packed(&world, ident);
        world
            .stage(&hart, &UnpackLimits::default())
            .unwrap()
            .commit()
            .unwrap();
    }
    let all: Vec<String> = world
        .root
        .installed(None)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(all, [newer, older]);
    let query = |q: &str| q.parse::<PackageIdent>().unwrap();
    let latest = |q: &str| {
        world
            .root
            .latest_installed(&query(q))
            .unwrap()
            .map(|i| i.to_string())
    };
    assert_eq!(latest("core/hello").as_deref(), Some(newer));
    assert_eq!(latest("core/hello/1.2.3").as_deref(), Some(newer));
    assert_eq!(latest(older).as_deref(), Some(older));
    assert_eq!(latest("core/hello/1.2"), None);
    assert_eq!(latest("core/other"), None);
    assert_eq!(latest("other/hello"), None);
}

#[test]
fn installing_the_same_artifact_twice_keeps_the_first() {
    let world = World::new();
    let hart = packed(&world, HELLO);
    let ident: FullyQualifiedIdent = HELLO.parse().unwrap();
    let limits = UnpackLimits::default();
    world.stage(&hart, &limits).unwrap().commit().unwrap();
    let dir = world.root.package_dir(&ident);
    let inode = dir.metadata().unwrap().ino();
    let before = snapshot(world.root.path());

    assert_eq!(
        world.stage(&hart, &limits).unwrap().commit().unwrap(),
        ident
    );
    // Two stagings racing: both commit, one wins.
    let first = world.stage(&hart, &limits).unwrap();
    let second = world.stage(&hart, &limits).unwrap();
    assert_eq!(second.commit().unwrap(), ident);
    assert_eq!(first.commit().unwrap(), ident);

    assert_eq!(dir.metadata().unwrap().ino(), inode);
    assert_unchanged(&before, &snapshot(world.root.path()));
}

#[test]
fn dropping_a_staged_package_leaves_nothing() {
    let world = World::new();
    let hart = packed(&world, HELLO);
    let before = world.snapshot();
    let staged = world.stage(&hart, &UnpackLimits::default()).unwrap();
    assert_ne!(snapshot(world.root.path()), Default::default());
    drop(staged);
    assert_unchanged(&before, &world.snapshot());
}

/// Stages a damaged copy of `hart` and asserts the payload hash mismatch, with nothing left.
#[track_caller]
fn refused_as_damaged(world: &World, hart: &Path, damage: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(hart).unwrap();
    damage(&mut bytes);
    let damaged = world.out().join("damaged.hart");
    fs::write(&damaged, &bytes).unwrap();
    let before = world.snapshot();
    let err = world
        .stage(&damaged, &UnpackLimits::default())
        .expect_err("a damaged artifact was staged");
    match &err {
        Error::PayloadHashMismatch { actual, signed } => assert_ne!(actual, signed),
        other => panic!("expected a payload hash mismatch, got {other:?} ({other})"),
    }
    assert_unchanged(&before, &world.snapshot());
}

/// Where the payload starts: after the header's fifth newline.
fn payload_start(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(4)
        .unwrap()
        .0
        + 1
}

#[test]
fn tampered_artifact_is_refused_and_leaves_nothing() {
    let world = World::new();
    let hart = packed(&world, HELLO);
    let len = fs::read(&hart).unwrap().len();
    let start = payload_start(&fs::read(&hart).unwrap());
    // The xz magic, the middle of the compressed tar, and the stream footer (read after the
    // tar's end, when everything has been unpacked).
    for at in [start, start + 6, (start + len) / 2, len - 1] {
        refused_as_damaged(&world, &hart, |bytes| bytes[at] ^= 0x01);
    }
}

#[test]
fn truncated_artifact_is_refused_and_leaves_nothing() {
    let world = World::new();
    let hart = packed(&world, HELLO);
    let len = fs::read(&hart).unwrap().len();
    let start = payload_start(&fs::read(&hart).unwrap());
    for keep in [start, start + 10, (start + len) / 2, len - 1] {
        refused_as_damaged(&world, &hart, |bytes| bytes.truncate(keep));
    }
}

#[test]
fn second_install_of_a_package_with_a_read_only_directory_leaves_nothing() {
    // Regression: committing over an installed package removed the staged copy without making
    // its read-only directories writable first, so (when not root) it failed and left
    // `.R.staging-*` behind.
    let world = World::new();
    let src = tempfile::tempdir().unwrap();
    source_tree(src.path());
    fs::set_permissions(
        src.path().join("share/doc"),
        fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    let hart = pack(src.path(), &world.out(), &spec(HELLO), &world.key).unwrap();
    let limits = UnpackLimits::default();
    world.stage(&hart, &limits).unwrap().commit().unwrap();
    let dir = world
        .root
        .path()
        .join("hab/pkgs/core/hello/1.2.3/20200102030405");
    assert_eq!(mode(&dir.join("share/doc")), 0o555);
    let before = snapshot(world.root.path());
    world.stage(&hart, &limits).unwrap().commit().unwrap();
    assert_unchanged(&before, &snapshot(world.root.path()));
    // Let the temporary directories be removed.
    for doc in [src.path().join("share/doc"), dir.join("share/doc")] {
        fs::set_permissions(doc, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn install_all_refuses_an_artifact_holding_another_package_than_asked() {
    use habitat_core::install_set::{Request, install_all};
    let world = World::new();
    let hart = packed(&world, "core/hello/1.2.3/20200102030405");
    let before = snapshot(world.path());
    let asked: FullyQualifiedIdent = "core/hello/1.2.3/20990101000000".parse().unwrap();
    let request = Request {
        path: hart.clone(),
        expected: Some(asked),
    };
    let target = habitat_core::PackageTarget::X86_64Linux;
    let err = install_all(
        &world.root,
        &[request],
        &world.keys,
        &UnpackLimits::default(),
        target,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("IDENT") && err.contains("`core/hello/1.2.3/20990101000000` was asked for"),
        "{err}"
    );
    assert_unchanged(&before, &snapshot(world.path()));
    let right = Request {
        path: hart,
        expected: Some("core/hello/1.2.3/20200102030405".parse().unwrap()),
    };
    install_all(
        &world.root,
        &[right],
        &world.keys,
        &UnpackLimits::default(),
        target,
    )
    .unwrap();
}

#[test]
fn install_all_stages_several_at_once_and_reports_the_first_failure_leaving_nothing() {
    use habitat_core::install_set::{Outcome, Request, install_all, install_all_reporting};
    let world = World::new();
    let target = habitat_core::PackageTarget::X86_64Linux;
    let good: Vec<PathBuf> = (1..=6)
        .map(|i| packed(&world, &format!("core/good{i}/1.0.0/20200102030405")))
        .collect();
    let damaged = |name: &str| {
        let hart = packed(&world, &format!("core/{name}/1.0.0/20200102030405"));
        let mut bytes = fs::read(&hart).unwrap();
        let at = payload_start(&bytes) + 100;
        bytes[at] ^= 0x01;
        fs::write(&hart, bytes).unwrap();
        hart
    };
    let (bad1, bad2) = (damaged("bad1"), damaged("bad2"));
    let before = snapshot(world.path());
    let mut set: Vec<Request> = good.iter().cloned().map(Request::from).collect();
    set.insert(2, Request::from(bad1.clone()));
    set.push(Request::from(bad2));
    let err = install_all(
        &world.root,
        &set,
        &world.keys,
        &UnpackLimits::default(),
        target,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(&bad1.display().to_string()), "{err}");
    // Staging may have made the parent directories; no package and no staging directory is
    // left in them.
    let after = snapshot(world.path());
    let added: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert!(
        added
            .iter()
            .all(|p| ["root/hab", "root/hab/pkgs", "root/hab/pkgs/core"]
                .contains(&p.to_string_lossy().as_ref())),
        "{added:?}"
    );
    // (Whether staging got as far as making it depends on timing.)
    let core = world.root.pkgs_dir().join("core");
    assert!(
        !core.exists() || names(&core).is_empty(),
        "{:?}",
        names(&core)
    );

    // Without the damaged ones: every package is reported once as staged, then installed.
    let set: Vec<Request> = good.iter().cloned().map(Request::from).collect();
    let mut reported = Vec::new();
    let outcomes = install_all_reporting(
        &world.root,
        &set,
        &world.keys,
        &UnpackLimits::default(),
        target,
        |ident| reported.push(ident.to_string()),
    )
    .unwrap();
    reported.sort();
    let expected: Vec<String> = (1..=6)
        .map(|i| format!("core/good{i}/1.0.0/20200102030405"))
        .collect();
    assert_eq!(reported, expected);
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Installed(_))));
    assert_eq!(outcomes.len(), 6);
}
