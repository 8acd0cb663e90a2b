//! The bytes `pack` and `keys` write, re-parsed field by field (docs/formats.md, "The `.hart`
//! artifact" and "Key files").

use std::fs;
use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use blake2::Digest;
use blake2::digest::consts::U32;
use habitat_core::pack::pack;
use habitat_core::{KeyCache, PublicKey, SecretKey};

use crate::install::{source_tree, spec};
use crate::support::{World, hex, unxz};

const IDENT: &str = "core/hello/1.2.3/20200102030405";
const PKG: &str = "hab/pkgs/core/hello/1.2.3/20200102030405";

fn blake2b_256(bytes: &[u8]) -> [u8; 32] {
    blake2::Blake2b::<U32>::digest(bytes).into()
}

/// The members of a tar: path (as written) and entry type.
fn members(tar: &[u8]) -> Vec<(String, tar::EntryType)> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            (path, entry.header().entry_type())
        })
        .collect()
}

/// Packs the standard source tree and returns the artifact's bytes.
fn packed(world: &World, out: &str) -> Vec<u8> {
    let src = tempfile::tempdir().unwrap();
    source_tree(src.path());
    let out = world.out().join(out);
    fs::create_dir(&out).unwrap();
    let hart = pack(src.path(), &out, &spec(IDENT), &world.key).unwrap();
    assert_eq!(
        hart,
        out.join("core-hello-1.2.3-20200102030405-x86_64-linux.hart")
    );
    // The temporary file is gone.
    assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
    fs::read(hart).unwrap()
}

/// Splits an artifact into its five header lines and the payload.
fn split(bytes: &[u8]) -> (Vec<&str>, &[u8]) {
    let mut rest = bytes;
    let mut lines = Vec::new();
    for _ in 0..5 {
        let end = rest.iter().position(|b| *b == b'\n').unwrap();
        lines.push(std::str::from_utf8(&rest[..end]).unwrap());
        rest = &rest[end + 1..];
    }
    (lines, rest)
}

#[test]
fn packed_artifact_header_parses_field_by_field() {
    let world = World::new();
    let bytes = packed(&world, "a");
    let (lines, payload) = split(&bytes);
    assert_eq!(lines[0], "HART-1");
    assert_eq!(lines[1], world.key.name().to_string());
    assert!(lines[1].starts_with("core-") && lines[1].len() == "core-".len() + 14);
    assert_eq!(lines[2], "BLAKE2b");
    let signed = BASE64.decode(lines[3]).unwrap();
    assert_eq!(signed.len(), 128);
    let digest = hex(&blake2b_256(payload));
    assert_eq!(&signed[64..], digest.as_bytes());
    assert_eq!(lines[4], "");
    // The first 64 bytes are an Ed25519 signature of those 64 hex bytes.
    let message = world.key.public_key().open(&signed).unwrap();
    assert_eq!(message, digest.as_bytes());
    let mut forged = signed.clone();
    forged[0] ^= 1;
    assert!(world.key.public_key().open(&forged).is_err());
    // The library agrees on the hash.
    assert_eq!(
        habitat_core::Blake2bHash::digest(payload).to_string(),
        digest
    );
}

#[test]
fn packed_payload_is_xz_over_an_ordered_tar() {
    use tar::EntryType::{Directory as D, Regular as F, Symlink as L};
    let world = World::new();
    let bytes = packed(&world, "a");
    let (_, payload) = split(&bytes);
    assert_eq!(&payload[..6], [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]);
    let tar = unxz(payload);
    let found = members(&tar);
    let expected: Vec<(String, tar::EntryType)> = [
        ("hab", D),
        ("hab/pkgs", D),
        ("hab/pkgs/core", D),
        ("hab/pkgs/core/hello", D),
        ("hab/pkgs/core/hello/1.2.3", D),
        (PKG, D),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_owned(), t))
    .chain(
        [
            ("IDENT", F),
            ("TARGET", F),
            ("PATH", F),
            ("MANIFEST", F),
            ("bin", D),
            ("bin/hello", F),
            ("default.toml", F),
            ("share", D),
            ("share/doc", D),
            ("share/doc/hello", D),
            ("share/doc/hello/README", F),
            ("share/readme", L),
        ]
        .into_iter()
        .map(|(p, t)| (format!("{PKG}/{p}"), t)),
    )
    .collect();
    // Directory names may carry a trailing `/`, as GNU tar writes them.
    let normalized: Vec<(String, tar::EntryType)> = found
        .iter()
        .map(|(p, t)| (p.trim_end_matches('/').to_owned(), *t))
        .collect();
    assert_eq!(normalized, expected);

    // The tar passes the same checks install applies, and says what was packed.
    let metadata =
        habitat_core::archive::check_tar(&tar[..], &habitat_core::UnpackLimits::default()).unwrap();
    assert_eq!(metadata.ident.to_string(), IDENT);
    assert_eq!(metadata.target.to_string(), "x86_64-linux");
    assert_eq!(metadata.config, "port = 8080");

    // Packing again gives the same members in the same order.
    let again = packed(&world, "b");
    let (_, payload) = split(&again);
    assert_eq!(members(&unxz(payload)), found);
}

#[test]
fn key_files_parse_field_by_field() {
    let secret = SecretKey::generate(&"core".parse().unwrap()).unwrap();
    let public = secret.public_key();
    let name = secret.name().to_string();

    let text = public.to_file_string();
    assert!(!text.ends_with('\n'));
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], "SIG-PUB-1");
    assert_eq!(lines[1], name);
    assert_eq!(lines[2], "");
    let bytes = BASE64.decode(lines[3]).unwrap();
    assert_eq!(bytes.len(), 32);
    assert_eq!(bytes, public.as_bytes());

    let text = secret.to_file_string();
    assert!(!text.ends_with('\n'));
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], "SIG-SEC-1");
    assert_eq!(lines[1], name);
    assert_eq!(lines[2], "");
    let bytes = BASE64.decode(lines[3]).unwrap();
    assert_eq!(bytes.len(), 64);
    // libsodium's layout: the seed, then the public key.
    assert_eq!(&bytes[32..], public.as_bytes());

    // The key cache writes exactly these bytes, under the documented names.
    let dir = tempfile::tempdir().unwrap();
    let cache = KeyCache::new(dir.path());
    let pub_path = cache.write_public(&public).unwrap();
    let sec_path = cache.write_secret(&secret).unwrap();
    assert_eq!(pub_path, dir.path().join(format!("{name}.pub")));
    assert_eq!(sec_path, dir.path().join(format!("{name}.sig.key")));
    let mut written = String::new();
    fs::File::open(&pub_path)
        .unwrap()
        .read_to_string(&mut written)
        .unwrap();
    assert_eq!(written, public.to_file_string());
    assert_eq!(
        fs::read_to_string(&sec_path).unwrap(),
        secret.to_file_string()
    );
    // And they read back, with or without a trailing newline.
    assert_eq!(PublicKey::parse(&written).unwrap(), public);
    assert_eq!(PublicKey::parse(&format!("{written}\n")).unwrap(), public);
    assert_eq!(SecretKey::parse(&secret.to_file_string()).unwrap(), secret);
}

#[test]
fn packed_manifest_is_written_unless_the_source_has_one() {
    let world = World::new();
    let bytes = packed(&world, "a");
    let (_, payload) = split(&bytes);
    let metadata = habitat_core::archive::check_tar(
        &unxz(payload)[..],
        &habitat_core::UnpackLimits::default(),
    )
    .unwrap();
    // Habitat's tools refuse an artifact without one; ours names the package and its place.
    assert!(
        metadata.manifest.starts_with("core hello\n=========="),
        "{}",
        metadata.manifest
    );
    for line in [
        "Version: 1.2.3",
        "Release: 20200102030405",
        "Target: x86_64-linux",
        &format!("Path: /{PKG}"),
    ] {
        assert!(
            metadata.manifest.contains(line),
            "{line} in {}",
            metadata.manifest
        );
    }

    // A MANIFEST of the source's own is packed as it is, once.
    let src = tempfile::tempdir().unwrap();
    source_tree(src.path());
    fs::write(src.path().join("MANIFEST"), "# hello\n\nmine\n").unwrap();
    let out = world.out().join("own");
    fs::create_dir(&out).unwrap();
    let hart = pack(src.path(), &out, &spec(IDENT), &world.key).unwrap();
    let bytes = fs::read(hart).unwrap();
    let tar = unxz(split(&bytes).1);
    let manifests = members(&tar)
        .into_iter()
        .filter(|(p, _)| p.ends_with("/MANIFEST"))
        .count();
    assert_eq!(manifests, 1);
    let metadata =
        habitat_core::archive::check_tar(&tar[..], &habitat_core::UnpackLimits::default()).unwrap();
    assert_eq!(metadata.manifest, "# hello\n\nmine");
}

#[test]
fn pack_refuses_invalid_default_toml_with_its_line_and_column() {
    let world = World::new();
    let src = tempfile::tempdir().unwrap();
    source_tree(src.path());
    fs::write(
        src.path().join("default.toml"),
        "port = 8080\nname = \"unterminated\n",
    )
    .unwrap();
    let out = world.out().join("bad");
    fs::create_dir(&out).unwrap();
    let err = pack(src.path(), &out, &spec(IDENT), &world.key)
        .unwrap_err()
        .to_string();
    let file = src.path().join("default.toml");
    assert!(err.contains(&format!("`{}`", file.display())), "{err}");
    assert!(
        err.contains("not valid TOML at line 2, column 21: invalid basic string"),
        "{err}"
    );
    // Nothing signed, nothing left behind.
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
}
