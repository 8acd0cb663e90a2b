//! Origin keys and signed packages made on the spot.

use std::path::{Path, PathBuf};

use habitat_core::keys::SecretKey;
use habitat_core::pack::{PackSpec, pack};
use habitat_core::{FullyQualifiedIdent, KeyCache, OriginName, PackageTarget};

/// A signing key for an origin, its public key file text, and a key cache holding it.
pub struct OriginKeys {
    /// The signing key.
    pub secret: SecretKey,
    /// Its public key file, as uploaded to the origin.
    pub public_text: String,
    /// A key cache holding both halves.
    pub cache: KeyCache,
}

/// A new signing key for `origin`, both halves written to a key cache in `dir/keys-<origin>`.
pub fn origin_keys(dir: &Path, origin: &str) -> OriginKeys {
    let secret = signing_key(origin);
    let cache = KeyCache::new(dir.join(format!("keys-{origin}")));
    cache.write_public(&secret.public_key()).unwrap();
    cache.write_secret(&secret).unwrap();
    OriginKeys {
        public_text: secret.public_key().to_file_string(),
        secret,
        cache,
    }
}

/// A new signing key for `origin`.
pub fn signing_key(origin: &str) -> SecretKey {
    SecretKey::generate(&origin.parse::<OriginName>().unwrap()).unwrap()
}

/// Packs a small package `ident` (fully qualified) with these TDEPS (also its DEPS), signed by
/// `key`, into `dir/out`: one program, `bin/run`.
pub fn artifact(dir: &Path, ident: &str, tdeps: &[&str], key: &SecretKey) -> PathBuf {
    let ident: FullyQualifiedIdent = ident.parse().unwrap();
    let src = dir.join(format!("src-{}", ident.to_string().replace('/', "-")));
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(src.join("bin/run"), format!("#!/bin/sh\necho {ident}\n")).unwrap();
    pack_into(&src, &dir.join("out"), ident, tdeps, key)
}

/// Packs `ident` with these TDEPS (also its DEPS), signed by `key`, into `dir/out-<n>`, like
/// a built package: a program, `MANIFEST`, `EXPOSES`, `BINDS`, `BINDS_OPTIONAL`, `SVC_USER`,
/// and `filler` bytes that do not compress (so transfers take several chunks). `salt` goes into the program, so that two
/// artifacts of one ident can differ.
pub fn rich_artifact(
    dir: &Path,
    ident: &str,
    tdeps: &[&str],
    key: &SecretKey,
    filler: usize,
    salt: &str,
) -> PathBuf {
    let ident: FullyQualifiedIdent = ident.parse().unwrap();
    let tag = format!("{}-{salt}", ident.to_string().replace('/', "-"));
    let src = dir.join(format!("src-{tag}"));
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(
        src.join("bin/run"),
        format!("#!/bin/sh\necho {ident} {salt}\n"),
    )
    .unwrap();
    std::fs::write(src.join("MANIFEST"), format!("# {ident}\n")).unwrap();
    std::fs::write(src.join("EXPOSES"), "8080\n").unwrap();
    std::fs::write(src.join("BINDS"), "database=port host\n").unwrap();
    std::fs::write(src.join("BINDS_OPTIONAL"), "cache=port\n").unwrap();
    std::fs::write(src.join("SVC_USER"), "hab\n").unwrap();
    std::fs::write(src.join("filler"), noise(filler)).unwrap();
    pack_into(&src, &dir.join(format!("out-{tag}")), ident, tdeps, key)
}

/// Packs `src` as `ident` for x86_64-linux into `out`.
fn pack_into(
    src: &Path,
    out: &Path,
    ident: FullyQualifiedIdent,
    tdeps: &[&str],
    key: &SecretKey,
) -> PathBuf {
    std::fs::create_dir_all(out).unwrap();
    let tdeps: Vec<FullyQualifiedIdent> = tdeps.iter().map(|t| t.parse().unwrap()).collect();
    let spec = PackSpec {
        ident,
        target: PackageTarget::X86_64Linux,
        deps: tdeps.clone(),
        tdeps,
    };
    pack(src, out, &spec, key).unwrap()
}

/// Bytes xz cannot shrink (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
