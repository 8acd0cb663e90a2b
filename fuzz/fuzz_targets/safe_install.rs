//! Safe install (`FsRoot::stage`, `StagedPackage::commit`): the input tar is xz-compressed,
//! signed with a fixed key and staged into a fresh `FS_ROOT` that sits, with a sentinel
//! sibling, inside a scratch "world" directory. Whatever the tar holds:
//! - failure, or a staged package dropped without commit, leaves the world exactly as before;
//! - after a commit, everything new lies in `hab/pkgs/O/N/V/R` of the package (or is one of its
//!   parent directories), nothing that existed changed, and no link there resolves outside it
//!   (absolute targets resolved with `FS_ROOT` as the root, as in the container or chroot
//!   `FS_ROOT` is meant for; habitat-core accepts absolute links into the package's own
//!   `/hab/pkgs/O/N/V/R`);
//! - install accepts exactly what `archive::check_tar` (the upload check) accepts, with the
//!   same metadata.
//!
//! Input: an uncompressed tar; header checksums are repaired before use. The first runs found
//! four habitat-core bugs (a panic on a huge base-256 mtime, and three archives the upload
//! check accepted but install could not unpack: a NUL in a path, a directory whose parent is
//! not listed, a name over 255 bytes); all are fixed, so this target checks strictly.

#![no_main]

use std::fs;
use std::path::{Path, PathBuf};

use habitat_core::archive::check_tar;
use habitat_core::{FsRoot, PackageMetadata};
use habitat_fuzz::{LIMITS, Node, edit_tar_headers, link_escape, signed_hart, signer, snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Decided before the checksum repair so that it does not depend on it.
    let drop_staged = data.iter().fold(0u8, |a, b| a ^ b) & 1 == 1;
    let mut tar = data.to_vec();
    edit_tar_headers(&mut tar, |_| {});
    let checked = check_tar(&tar[..], &LIMITS);
    let hart = signed_hart(&tar);

    let world = habitat_fuzz::tempdir();
    let root = world.path().join("root");
    fs::create_dir_all(root.join("hab/cache")).expect("create FS_ROOT");
    fs::write(root.join("sentinel"), "FS_ROOT").expect("write a sentinel");
    fs::create_dir(world.path().join("outside")).expect("create a sibling");
    fs::write(world.path().join("outside/sentinel"), "outside").expect("write a sentinel");
    let before = snapshot(world.path());

    let fs_root = FsRoot::new(&root);
    let staged = fs_root.stage(&hart, &signer().keys, &LIMITS);
    let staged = match staged {
        Ok(staged) => staged,
        Err(e) => {
            assert_eq!(
                snapshot(world.path()),
                before,
                "failed stage ({e}) changed the world"
            );
            if checked.is_ok() {
                panic!("install refused what check_tar accepts: {e}");
            }
            return;
        }
    };
    let metadata: PackageMetadata = staged.metadata().clone();
    match &checked {
        Ok(expected) => assert_eq!(&metadata, expected),
        Err(e) => panic!("install accepted what check_tar refuses: {e}"),
    }
    if drop_staged {
        drop(staged);
        assert_eq!(
            snapshot(world.path()),
            before,
            "a dropped stage changed the world"
        );
        return;
    }
    let ident = staged.commit().expect("commit into a fresh FS_ROOT");
    assert_eq!(ident, metadata.ident);

    let package = Path::new("root").join(ident.install_path());
    let parents: Vec<PathBuf> = package.ancestors().skip(1).map(Path::to_owned).collect();
    let after = snapshot(world.path());
    for (path, node) in &before {
        assert_eq!(after.get(path), Some(node), "{} changed", path.display());
    }
    for (path, node) in &after {
        if before.contains_key(path) {
            continue;
        }
        if parents.contains(path) {
            assert!(
                matches!(node, Node::Directory(_)),
                "{} is not a directory",
                path.display()
            );
            continue;
        }
        assert!(
            path.starts_with(&package),
            "{} was written outside {}",
            path.display(),
            package.display()
        );
        if let Node::Symlink(target) = node {
            let link = path.strip_prefix("root").expect("checked above");
            let escape = link_escape(&root, &ident.install_path(), link);
            assert!(
                escape.is_none(),
                "link {} -> {}: {}",
                path.display(),
                target.display(),
                escape.unwrap_or_default()
            );
        }
    }
    assert!(
        matches!(after.get(&package.join("IDENT")), Some(Node::File(..))),
        "no IDENT in the installed package"
    );
});
