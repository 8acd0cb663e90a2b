//! Hostile archives (docs/formats.md, "The install layout"): each is a real tar built here, refused
//! by
//! `check_tar` and by `FsRoot::stage` with the same error naming the member, and staging one
//! leaves the world exactly as it was.

use std::fs;

use habitat_core::archive::check_tar;
use habitat_core::{Error, UnpackLimits};
use tar::EntryType;

use crate::support::{IDENT, PKG, TarBytes, World, assert_unchanged};

/// The error a hostile archive must produce.
enum Expect<'a> {
    /// `UnsafeMember` naming `member` exactly as it appears in the archive.
    Unsafe { member: &'a str, reason: &'a str },
    /// `ArchiveLimit` for `what`.
    Limit { what: &'a str, limit: u64 },
    /// `Metadata` about `file`.
    Metadata { file: &'a str, reason: &'a str },
}

impl Expect<'_> {
    #[track_caller]
    fn check(&self, err: &Error) {
        let text = err.to_string();
        match (self, err) {
            (
                Expect::Unsafe { member, reason },
                Error::UnsafeMember {
                    member: m,
                    reason: r,
                },
            ) => {
                assert_eq!(m, member, "{text}");
                assert!(r.contains(reason), "`{text}` lacks `{reason}`");
                assert!(text.contains(&format!("`{member}`")), "{text}");
            }
            (Expect::Limit { what, limit }, Error::ArchiveLimit { what: w, limit: l }) => {
                assert_eq!((w, l), (what, limit), "{text}");
                assert!(text.contains(&format!("{limit} {what}")), "{text}");
            }
            (Expect::Metadata { file, reason }, Error::Metadata { file: f, reason: r }) => {
                assert_eq!(f, file, "{text}");
                assert!(r.contains(reason), "`{text}` lacks `{reason}`");
                assert!(text.contains(&format!("`{file}`")), "{text}");
            }
            _ => panic!("unexpected error kind: {err:?} ({text})"),
        }
    }
}

/// Asserts that `check_tar` refuses `tar` as expected, and that staging it (xz-compressed and
/// signed) fails with the same error in an empty root and in one that already holds a package,
/// leaving both exactly as they were.
#[track_caller]
fn refused_with(tar: &[u8], limits: &UnpackLimits, expect: Expect<'_>) {
    let checked = check_tar(tar, limits).expect_err("check_tar accepted a hostile archive");
    expect.check(&checked);
    for populated in [false, true] {
        let world = World::new();
        if populated {
            let other = world
                .root
                .path()
                .join("hab/pkgs/core/bar/1.0.0/20190101000000");
            fs::create_dir_all(&other).unwrap();
            fs::write(other.join("IDENT"), "core/bar/1.0.0/20190101000000\n").unwrap();
            fs::create_dir_all(world.root.path().join("etc")).unwrap();
        }
        let hart = world.sign(tar, "hostile");
        let before = world.snapshot();
        let err = world
            .stage(&hart, limits)
            .expect_err("stage accepted a hostile archive");
        expect.check(&err);
        assert_eq!(err.to_string(), checked.to_string());
        assert_unchanged(&before, &world.snapshot());
    }
}

#[track_caller]
fn refused(tar: &[u8], expect: Expect<'_>) {
    refused_with(tar, &UnpackLimits::default(), expect);
}

fn member(rel: &str) -> String {
    format!("{PKG}/{rel}")
}

#[test]
fn absolute_path_is_refused_after_stripping_one_slash() {
    for name in ["//etc/x", &format!("//{PKG}/x")] {
        let tar = TarBytes::package().file(name, b"owned").finish();
        refused(
            &tar,
            Expect::Unsafe {
                member: name,
                reason: "absolute path",
            },
        );
    }
}

#[test]
fn one_leading_slash_is_accepted() {
    let tar = TarBytes::new()
        .dir("/hab/")
        .dir("/hab/pkgs/")
        .file(&format!("/{PKG}/IDENT"), format!("{IDENT}\n").as_bytes())
        .file(&format!("/{PKG}/TARGET"), b"x86_64-linux\n")
        .file(&format!("/{PKG}/bin/hello"), b"hello\n")
        .finish();
    let metadata = check_tar(&tar[..], &UnpackLimits::default()).unwrap();
    assert_eq!(metadata.ident.to_string(), IDENT);

    let world = World::new();
    let hart = world.sign(&tar, "slash");
    let staged = world.stage(&hart, &UnpackLimits::default()).unwrap();
    assert_eq!(staged.commit().unwrap().to_string(), IDENT);
    let dir = world.root.path().join(PKG);
    assert_eq!(fs::read(dir.join("bin/hello")).unwrap(), b"hello\n");
    assert_eq!(
        fs::read_to_string(dir.join("IDENT")).unwrap(),
        "core/foo/1.0.0/20200101000000\n"
    );
}

#[test]
fn dot_dot_component_is_refused() {
    for name in [
        member("../../../../../../etc/x"),
        member("bin/../../20200101000001/x"),
        member(".."),
    ] {
        let tar = TarBytes::package().file(&name, b"owned").finish();
        refused(
            &tar,
            Expect::Unsafe {
                member: &name,
                reason: "`..` in the path",
            },
        );
    }
}

#[test]
fn symlink_with_absolute_target_is_refused() {
    let name = member("lnk");
    let tar = TarBytes::package().symlink(&name, "/etc/passwd").finish();
    refused(
        &tar,
        Expect::Unsafe {
            member: &name,
            reason: "links to the absolute path `/etc/passwd`",
        },
    );
}

#[test]
fn symlink_escaping_through_dot_dot_is_refused() {
    for (rel, target) in [
        ("lnk", "../../../../../../etc/passwd"),
        ("lnk", ".."),
        ("bin/lnk", "../.."),
        ("bin/lnk", "hello/../../../20200101000001"),
    ] {
        let name = member(rel);
        let tar = TarBytes::package().symlink(&name, target).finish();
        refused(
            &tar,
            Expect::Unsafe {
                member: &name,
                reason: &format!("links to `{target}`, outside the package"),
            },
        );
    }
}

#[test]
fn symlink_chain_escaping_is_refused() {
    // Each link alone stays inside; followed together, `x` is the package's parent.
    let (y, x) = (member("sub/y"), member("x"));
    let forward = TarBytes::package()
        .symlink(&y, "..")
        .symlink(&x, "sub/y/..")
        .finish();
    let backward = TarBytes::package()
        .symlink(&x, "sub/y/..")
        .symlink(&y, "..")
        .finish();
    // A link to the package directory itself, then `..` through it.
    let (d, z) = (member("d"), member("z"));
    let dot = TarBytes::package()
        .symlink(&d, ".")
        .symlink(&z, "d/..")
        .finish();
    for (tar, name, target) in [
        (forward, &x, "sub/y/.."),
        (backward, &x, "sub/y/.."),
        (dot, &z, "d/.."),
    ] {
        refused(
            &tar,
            Expect::Unsafe {
                member: name,
                reason: &format!("links to `{target}`, which leads outside the package"),
            },
        );
    }
}

#[test]
fn escaping_link_chain_is_named_as_in_the_archive() {
    // Regression: a link found escaping only once all links were followed was named by its
    // path inside the package (`x`), not as the archive spells it.
    let x = format!("/{PKG}/x");
    let tar = TarBytes::package()
        .symlink(&format!("/{PKG}/sub/y"), "..")
        .symlink(&x, "sub/y/..")
        .finish();
    refused(
        &tar,
        Expect::Unsafe {
            member: &x,
            reason: "links to `sub/y/..`, which leads outside the package",
        },
    );
}

#[test]
fn symlink_chain_staying_inside_is_accepted() {
    let tar = TarBytes::package()
        .symlink(&member("sub/y"), "..")
        .symlink(&member("x"), "sub/y/bin/hello")
        .finish();
    check_tar(&tar[..], &UnpackLimits::default()).unwrap();
}

#[test]
fn writing_through_an_archive_symlink_is_refused() {
    let through = |kind: EntryType, rel: &str| {
        let name = member(rel);
        let tar = TarBytes::package()
            .dir(&member("sub"))
            .symlink(&member("lnk"), "sub")
            .entry(kind, &name, "hello", b"", 0o644)
            .finish();
        refused(
            &tar,
            Expect::Unsafe {
                member: &name,
                reason: "would be written through the link `lnk`",
            },
        );
    };
    through(EntryType::Regular, "lnk/file");
    through(EntryType::Regular, "lnk/deeper/file");
    through(EntryType::Directory, "lnk/dir/");
    through(EntryType::Symlink, "lnk/link");
}

#[test]
fn hard_link_is_refused() {
    let name = member("hard");
    let tar = TarBytes::package()
        .entry(EntryType::Link, &name, &member("bin/hello"), b"", 0o644)
        .finish();
    refused(
        &tar,
        Expect::Unsafe {
            member: &name,
            reason: "hard links are not allowed",
        },
    );
}

#[test]
fn device_entries_are_refused() {
    for kind in [EntryType::Char, EntryType::Block] {
        let name = member("dev/sda");
        let tar = TarBytes::package()
            .entry(kind, &name, "", b"", 0o600)
            .finish();
        refused(
            &tar,
            Expect::Unsafe {
                member: &name,
                reason: "device entries are not allowed",
            },
        );
    }
}

#[test]
fn fifo_is_refused() {
    let name = member("pipe");
    let tar = TarBytes::package()
        .entry(EntryType::Fifo, &name, "", b"", 0o600)
        .finish();
    refused(
        &tar,
        Expect::Unsafe {
            member: &name,
            reason: "fifo entries are not allowed",
        },
    );
}

#[test]
fn member_of_another_package_is_refused() {
    for name in [
        "hab/pkgs/core/bar/1.0.0/20190101000000/IDENT",
        "hab/pkgs/core/foo/1.0.0/20200101000001/bin/hello",
        "/hab/pkgs/other/foo/1.0.0/20200101000000/x",
    ] {
        let tar = TarBytes::package().file(name, b"owned").finish();
        refused(
            &tar,
            Expect::Unsafe {
                member: name,
                reason: &format!("outside the package directory of {IDENT}"),
            },
        );
    }
}

#[test]
fn member_outside_hab_pkgs_is_refused() {
    for name in [
        "etc/passwd",
        "etc/a/b/c/d/e/passwd",
        "hab/cache/keys/x",
        "x",
    ] {
        let tar = TarBytes::package().file(name, b"owned").finish();
        refused(
            &tar,
            Expect::Unsafe {
                member: name,
                reason: "outside hab/pkgs/ORIGIN/NAME/VERSION/RELEASE/",
            },
        );
    }
}

#[test]
fn directory_entry_outside_the_package_is_refused() {
    // Regression: these were named by their components joined with `/` (`etc`), not as the
    // archive spells them (`etc/`).
    for name in ["etc/", "hab/pkgs/core/bar/", "/hab/pkgs/core/foo/2.0.0/"] {
        let tar = TarBytes::package().dir(name).finish();
        refused(
            &tar,
            Expect::Unsafe {
                member: name,
                reason: &format!("outside the package directory of {IDENT}"),
            },
        );
    }
}

#[test]
fn duplicate_member_is_refused() {
    for (first, second) in [
        (EntryType::Regular, EntryType::Regular),
        (EntryType::Symlink, EntryType::Regular),
        (EntryType::Regular, EntryType::Directory),
        (EntryType::Directory, EntryType::Symlink),
    ] {
        let name = member("twice");
        let tar = TarBytes::package()
            .entry(first, &name, "bin", b"", 0o644)
            .entry(second, &name, "bin", b"", 0o644)
            .finish();
        refused(
            &tar,
            Expect::Unsafe {
                member: &name,
                reason: "appears twice",
            },
        );
    }
}

#[test]
fn too_many_entries_is_refused() {
    let tar = TarBytes::package()
        .file(&member("a"), b"a")
        .file(&member("b"), b"b")
        .finish();
    let limits = UnpackLimits {
        max_entries: 4,
        ..UnpackLimits::default()
    };
    refused_with(
        &tar,
        &limits,
        Expect::Limit {
            what: "entries",
            limit: 4,
        },
    );
    // Exactly at the limit is fine.
    let limits = UnpackLimits {
        max_entries: 5,
        ..UnpackLimits::default()
    };
    check_tar(&tar[..], &limits).unwrap();
}

#[test]
fn too_many_unpacked_bytes_is_refused() {
    let tar = TarBytes::package()
        .file(&member("big"), &[0; 4096])
        .finish();
    let limits = UnpackLimits {
        max_unpacked_bytes: 4096,
        ..UnpackLimits::default()
    };
    refused_with(
        &tar,
        &limits,
        Expect::Limit {
            what: "unpacked bytes",
            limit: 4096,
        },
    );
}

/// Zeros without end, counting how many were read.
struct Zeros<'a> {
    read: &'a std::cell::Cell<u64>,
}

impl std::io::Read for Zeros<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(0);
        self.read.set(self.read.get() + buf.len() as u64);
        Ok(buf.len())
    }
}

#[test]
fn a_stream_past_the_unpacked_limit_is_refused_while_it_is_read() {
    // A directory entry announcing 1 TiB of data counts as no file bytes: only the bound on the
    // stream itself stops it, and it must stop as soon as the bound is passed, not after
    // decompressing (here: reading) the whole announced size.
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(EntryType::Directory);
    header.set_path(member("big/")).unwrap();
    header.set_mode(0o755);
    header.set_size(1 << 40);
    header.set_cksum();
    let head = TarBytes::package().finish();
    // The package's members without the end-of-archive blocks, then the entry and its zeros.
    let mut prefix = head[..head.len() - 1024].to_vec();
    prefix.extend_from_slice(header.as_bytes());
    let read = std::cell::Cell::new(0);
    let stream = std::io::Read::chain(&prefix[..], Zeros { read: &read });
    let limits = UnpackLimits {
        max_unpacked_bytes: 1 << 20,
        ..UnpackLimits::default()
    };
    let err = check_tar(stream, &limits).unwrap_err();
    Expect::Limit {
        what: "unpacked bytes",
        limit: 1 << 20,
    }
    .check(&err);
    assert!(
        read.get() < 1 << 20,
        "read {} bytes past the tar headers",
        read.get()
    );

    // A stream that ends exactly at the bound is read to its end.
    let whole = TarBytes::package().finish();
    let limits = UnpackLimits {
        max_unpacked_bytes: whole.len() as u64,
        ..UnpackLimits::default()
    };
    check_tar(&whole[..], &limits).unwrap();
}

#[test]
fn ident_disagreeing_with_the_directory_is_refused() {
    let tar = TarBytes::new()
        .file(&member("IDENT"), b"core/foo/1.0.0/20200101000001\n")
        .file(&member("TARGET"), b"x86_64-linux\n")
        .file(&member("bin/hello"), b"hello\n")
        .finish();
    refused(
        &tar,
        Expect::Metadata {
            file: "IDENT",
            reason: &format!(
                "says `core/foo/1.0.0/20200101000001` but the package directory is hab/pkgs/{IDENT}"
            ),
        },
    );
}

#[test]
fn missing_ident_is_refused() {
    let tar = TarBytes::new()
        .file(&member("TARGET"), b"x86_64-linux\n")
        .file(&member("bin/hello"), b"hello\n")
        .finish();
    refused(
        &tar,
        Expect::Metadata {
            file: "IDENT",
            reason: "missing",
        },
    );
}

#[test]
fn member_replacing_an_implicit_directory_is_refused() {
    // Regression: `check_tar` (upload) accepted this, and install failed with an I/O error.
    // `sub/file` makes `sub` a directory even though the archive never lists it, so a later
    // `sub` of another kind cannot be unpacked.
    for kind in [EntryType::Symlink, EntryType::Regular] {
        let name = member("sub");
        let tar = TarBytes::package()
            .file(&member("sub/file"), b"x")
            .entry(kind, &name, "bin", b"", 0o644)
            .finish();
        refused(
            &tar,
            Expect::Unsafe {
                member: &name,
                reason: "earlier members lie inside it, so it must be a directory",
            },
        );
    }
}

#[test]
fn member_inside_a_file_is_refused() {
    // Regression: `check_tar` (upload) accepted this, and install failed with an I/O error:
    // `bin/hello` is a file, so nothing can be unpacked below it.
    let name = member("bin/hello/x");
    let tar = TarBytes::package().file(&name, b"x").finish();
    refused(
        &tar,
        Expect::Unsafe {
            member: &name,
            reason: "would be written inside the file `bin/hello`",
        },
    );
}

#[test]
fn directory_listed_after_its_members_is_accepted() {
    let tar = TarBytes::package()
        .file(&member("sub/file"), b"x")
        .dir(&member("sub/"))
        .dir(&member("bin/"))
        .finish();
    check_tar(&tar[..], &UnpackLimits::default()).unwrap();
    let world = World::new();
    let hart = world.sign(&tar, "late-directory");
    world
        .stage(&hart, &UnpackLimits::default())
        .unwrap()
        .commit()
        .unwrap();
    assert!(world.root.path().join(PKG).join("sub/file").is_file());
}

#[test]
fn absolute_link_into_the_own_package_is_accepted_and_escaping_ones_are_not() {
    // Real packages carry links like `lib/libfoo.so -> /hab/pkgs/O/N/V/R/lib/libfoo.so.1`.
    let own = format!("/{PKG}/bin/hello");
    let tar = TarBytes::package()
        .symlink(&member("lib/hello"), &own)
        .finish();
    check_tar(&tar[..], &UnpackLimits::default()).unwrap();
    for target in [
        format!("/{PKG}/../../../../../../etc/passwd"),
        "/hab/pkgs/core/bar/1.0.0/20190101000000/x".into(),
    ] {
        let name = member("lib/hello");
        let tar = TarBytes::package().symlink(&name, &target).finish();
        let err = check_tar(&tar[..], &UnpackLimits::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("`{name}`")), "{target}: {err}");
    }
}

#[test]
fn pax_global_header_is_not_a_member() {
    // `git archive` and some tars start with a pax global header named `pax_global_header`.
    let tar = TarBytes::package()
        .entry(
            EntryType::XGlobalHeader,
            "pax_global_header",
            "",
            b"52 comment=abc\n",
            0o644,
        )
        .finish();
    check_tar(&tar[..], &UnpackLimits::default()).unwrap();
}

/// Builds a member whose name comes from a GNU long-name entry, so it may hold any byte.
fn long_named_member(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut tar = TarBytes::package().finish();
    tar.truncate(tar.len() - 1024); // drop the end-of-archive blocks
    let mut long = tar::Header::new_gnu();
    long.set_entry_type(EntryType::GNULongName);
    long.set_size(name.len() as u64 + 1);
    long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    long.set_cksum();
    tar.extend_from_slice(long.as_bytes());
    let mut body = name.to_vec();
    body.push(0);
    body.resize(body.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&body);
    let mut file = tar::Header::new_gnu();
    file.set_entry_type(EntryType::Regular);
    file.set_mode(0o644);
    file.set_size(data.len() as u64);
    file.as_old_mut().name[..5].copy_from_slice(b"dummy");
    file.set_cksum();
    tar.extend_from_slice(file.as_bytes());
    let mut data = data.to_vec();
    data.resize(data.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&data);
    tar.extend_from_slice(&[0; 1024]);
    tar
}

#[test]
fn names_no_file_system_can_hold_are_refused_on_upload_too() {
    // Regression (fuzz findings safe_install-1 and -4): the upload check accepted a NUL in a
    // path and a 256-byte name, which install then failed to create.
    let nul = long_named_member(format!("{PKG}/bin/a\0b").as_bytes(), b"x");
    let err = check_tar(&nul[..], &UnpackLimits::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("a NUL byte in the path"), "{err}");
    let long = long_named_member(format!("{PKG}/{}", "n".repeat(256)).as_bytes(), b"x");
    let err = check_tar(&long[..], &UnpackLimits::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("longer than 255 bytes"), "{err}");
    let ok = long_named_member(format!("{PKG}/{}", "n".repeat(255)).as_bytes(), b"x");
    check_tar(&ok[..], &UnpackLimits::default()).unwrap();
}

#[test]
fn a_directory_whose_parent_is_not_listed_installs() {
    // Regression (fuzz finding safe_install-2): `a/b/` without `a/` passed the upload check
    // and failed to install.
    let tar = TarBytes::package().dir(&member("a/b")).finish();
    check_tar(&tar[..], &UnpackLimits::default()).unwrap();
    let world = World::new();
    let hart = world.sign(&tar, "nested-dir.hart");
    let ident = world
        .stage(&hart, &UnpackLimits::default())
        .unwrap()
        .commit()
        .unwrap();
    assert!(world.root.package_dir(&ident).join("a/b").is_dir());
}

#[test]
fn a_time_beyond_the_platform_range_does_not_panic() {
    // Regression (fuzz finding safe_install-3): a base-256 mtime overflowed SystemTime and
    // panicked before the payload hash was even compared.
    let mut tar = TarBytes::package().finish();
    // The third member (bin/hello) gets an mtime of 2^88 seconds in base-256 form.
    let header = &mut tar[2 * 1024..2 * 1024 + 512];
    header[136..148].copy_from_slice(&[
        0x80, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    let mut fixed = tar::Header::from_byte_slice(header).clone();
    fixed.set_cksum();
    header.copy_from_slice(fixed.as_bytes());
    let world = World::new();
    let hart = world.sign(&tar, "future.hart");
    let ident = world
        .stage(&hart, &UnpackLimits::default())
        .unwrap()
        .commit()
        .unwrap();
    assert!(world.root.package_dir(&ident).join("bin/hello").is_file());
}
