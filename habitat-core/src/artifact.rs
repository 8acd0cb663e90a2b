//! The `.hart` artifact: a five-line header, then an xz-compressed tar (docs/formats.md, "The
//! `.hart` artifact").
//!
//! ```no_run
//! use habitat_core::{artifact, keys::KeyCache};
//!
//! let keys = KeyCache::new("/hab/cache/keys");
//! let verified = artifact::verify("core-redis-4.0.14-20190319155852-x86_64-linux.hart".as_ref(), &keys)?;
//! println!("signed by {}, payload {}", verified.signer(), verified.payload_hash());
//! # Ok::<(), habitat_core::Error>(())
//! ```

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::{Error, IoContext, Result};
use crate::hash::{BUF_SIZE, Blake2bHash, HashingReader};
use crate::ident::FullyQualifiedIdent;
use crate::keys::{COMBINED_SIGNATURE_LEN, KeyCache, NamedRevision, PublicKey, SecretKey};

/// Line 1 of every artifact.
pub const FORMAT_VERSION: &str = "HART-1";
/// Line 3 of every artifact.
pub const HASH_TYPE: &str = "BLAKE2b";
/// The longest header line read; a real one is under 200 bytes.
const MAX_HEADER_LINE: u64 = 1024;

/// The parsed header of an artifact. Parsing proves nothing about the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactHeader {
    signer: NamedRevision,
    signed: Vec<u8>,
    len: u64,
}

impl ArtifactHeader {
    /// The key that signed the artifact, as named on line 2.
    pub fn signer(&self) -> &NamedRevision {
        &self.signer
    }

    /// The decoded line 4: the combined signature (`signature || message`).
    pub fn signed_message(&self) -> &[u8] {
        &self.signed
    }

    /// The header's length in bytes, which is where the payload starts.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Never true: a header always has its five lines.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Reads and checks a header; the first failing line gives the error. At most
    /// 1 KiB are read for any line, so a file with no newline is not read
    /// into memory.
    pub fn read(reader: &mut impl BufRead) -> Result<Self> {
        let mut len = 0u64;
        let mut line = |n: usize, what: &str| -> Result<String> {
            let mut buf = Vec::new();
            let read = reader
                .by_ref()
                .take(MAX_HEADER_LINE)
                .read_until(b'\n', &mut buf)
                .map_err(|e| header_error(n, format!("cannot read the {what}: {e}")))?;
            len += read as u64;
            if read == 0 {
                return Err(header_error(n, format!("the {what} is missing")));
            }
            if buf.last() != Some(&b'\n') {
                let reason = if read as u64 == MAX_HEADER_LINE {
                    format!("the {what} is longer than {MAX_HEADER_LINE} bytes")
                } else {
                    format!("the {what} ends without a newline")
                };
                return Err(header_error(n, reason));
            }
            let text = String::from_utf8(buf)
                .map_err(|_| header_error(n, format!("the {what} is not UTF-8")))?;
            Ok(text.trim().to_owned())
        };

        let format = line(1, "format version")?;
        if format != FORMAT_VERSION {
            return Err(header_error(
                1,
                format!("unsupported format `{format}` (expected {FORMAT_VERSION})"),
            ));
        }
        let signer = line(2, "signing key name")?;
        let signer: NamedRevision = signer
            .parse()
            .map_err(|e: Error| header_error(2, e.to_string()))?;
        let hash_type = line(3, "hash type")?;
        if hash_type != HASH_TYPE {
            return Err(header_error(
                3,
                format!("unsupported hash type `{hash_type}` (expected {HASH_TYPE})"),
            ));
        }
        let signature = line(4, "signature")?;
        let signed = BASE64
            .decode(&signature)
            .map_err(|e| header_error(4, format!("the signature is not valid base64: {e}")))?;
        let blank = line(5, "blank separator line")?;
        if !blank.is_empty() {
            return Err(header_error(
                5,
                "expected a blank line before the payload".into(),
            ));
        }
        Ok(Self {
            signer,
            signed,
            len,
        })
    }

    /// The header bytes for a signer and a combined signature.
    fn render(signer: &NamedRevision, signed: &[u8]) -> String {
        format!(
            "{FORMAT_VERSION}\n{signer}\n{HASH_TYPE}\n{}\n\n",
            BASE64.encode(signed)
        )
    }
}

fn header_error(line: usize, reason: String) -> Error {
    Error::MalformedHeader { line, reason }
}

/// An artifact file whose header has been read but whose signature has not been checked.
#[derive(Debug)]
pub struct Artifact {
    path: PathBuf,
    header: ArtifactHeader,
    /// Positioned at the start of the payload.
    reader: BufReader<File>,
}

impl Artifact {
    /// Opens an artifact and reads its header.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).at("open", path)?;
        let mut reader = BufReader::with_capacity(BUF_SIZE, file);
        let header = ArtifactHeader::read(&mut reader)?;
        Ok(Self {
            path: path.to_owned(),
            header,
            reader,
        })
    }

    /// The header.
    pub fn header(&self) -> &ArtifactHeader {
        &self.header
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the signature with `key` (which must be the key named in the header) and returns
    /// the hash it signs. Reads nothing of the payload.
    pub fn signed_hash(&self, key: &PublicKey) -> Result<Blake2bHash> {
        if key.name() != self.header.signer() {
            return Err(Error::MalformedKey {
                name: key.name().to_string(),
                reason: format!("the artifact is signed by `{}`", self.header.signer()),
            });
        }
        let message = key.open(&self.header.signed)?;
        // Habitat signs the lowercase hex string of the digest.
        let text = std::str::from_utf8(message)
            .ok()
            .filter(|t| {
                t.len() == 64
                    && t.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
            .ok_or_else(|| {
                header_error(
                    4,
                    "the signed message is not a 64-character lowercase hex hash".into(),
                )
            })?;
        text.parse()
    }

    /// Verifies the signature with `key`, then hashes the payload in one streaming pass and
    /// compares it with the signed hash.
    pub fn verify(self, key: &PublicKey) -> Result<VerifiedArtifact> {
        let signed = self.signed_hash(key)?;
        let (actual, _) = HashingReader::new(self.reader)
            .finish()
            .at("read", &self.path)?;
        VerifiedArtifact::check(self.path, self.header, signed, actual)
    }

    /// Checks the signature with `key` and hands the payload to `consume` through a reader that
    /// hashes every byte it yields; whatever `consume` leaves unread is hashed afterwards. The
    /// artifact counts as verified only if the hash matches, so `consume` must treat what it
    /// produced as provisional until this returns `Ok`.
    pub fn verify_streaming<T>(
        self,
        key: &PublicKey,
        consume: impl FnOnce(&mut dyn Read) -> Result<T>,
    ) -> Result<(VerifiedArtifact, T)> {
        let signed = self.signed_hash(key)?;
        let mut reader = HashingReader::new(self.reader);
        let produced = consume(&mut reader);
        let (actual, _) = reader.finish().at("read", &self.path)?;
        // A payload that does not match its signature is reported as such even if `consume`
        // also failed on it: the hash mismatch is the root cause.
        let verified = VerifiedArtifact::check(self.path, self.header, signed, actual)?;
        Ok((verified, produced?))
    }

    /// The payload reader, for inspection without verification (`hab pkg info`).
    pub fn into_payload(self) -> BufReader<File> {
        self.reader
    }
}

/// An artifact whose signature and payload hash have been checked. Only verification in this
/// module can build one.
#[derive(Clone, Debug)]
pub struct VerifiedArtifact {
    path: PathBuf,
    header: ArtifactHeader,
    payload_hash: Blake2bHash,
}

impl VerifiedArtifact {
    fn check(
        path: PathBuf,
        header: ArtifactHeader,
        signed: Blake2bHash,
        actual: Blake2bHash,
    ) -> Result<Self> {
        if !actual.ct_eq(&signed) {
            return Err(Error::PayloadHashMismatch {
                actual: actual.to_string(),
                signed: signed.to_string(),
            });
        }
        Ok(Self {
            path,
            header,
            payload_hash: actual,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key that signed it.
    pub fn signer(&self) -> &NamedRevision {
        self.header.signer()
    }

    /// The verified payload hash.
    pub fn payload_hash(&self) -> Blake2bHash {
        self.payload_hash
    }

    /// The header.
    pub fn header(&self) -> &ArtifactHeader {
        &self.header
    }
}

/// Verifies an artifact with the key its header names, taken from `keys`.
pub fn verify(path: &Path, keys: &KeyCache) -> Result<VerifiedArtifact> {
    let artifact = Artifact::open(path)?;
    let key = keys.public_key(artifact.header().signer())?;
    artifact.verify(&key)
}

/// Checks that `signer` is a key of `ident`'s origin: a key's name is the origin it belongs to
/// (`{origin}-{revision}`), and a package may only be signed by a key of its own origin
/// (docs/formats.md). This is the rule alone: whether that key is trusted (in a key cache, or
/// uploaded to the depot) is each caller's own lookup.
///
/// Fails with [`Error::ForeignSigner`], naming the package and the signer.
pub fn check_signer(ident: &FullyQualifiedIdent, signer: &NamedRevision) -> Result<()> {
    if signer.name() == ident.origin().as_str() {
        Ok(())
    } else {
        Err(Error::ForeignSigner {
            ident: ident.clone(),
            signer: signer.clone(),
        })
    }
}

/// The checksum of an artifact: BLAKE2b-256 of the whole file, header included.
pub fn checksum(path: &Path) -> Result<Blake2bHash> {
    Blake2bHash::of_file(path)
}

/// The header length for a signer: every signature line has the same length.
pub(crate) fn header_len(signer: &NamedRevision) -> u64 {
    ArtifactHeader::render(signer, &[0; COMBINED_SIGNATURE_LEN]).len() as u64
}

/// Writes the header for `payload_hash` at the start of `file`, whose payload already sits at
/// offset [`header_len`].
pub(crate) fn write_header(
    file: &mut File,
    key: &SecretKey,
    payload_hash: &Blake2bHash,
) -> io::Result<()> {
    let signed = key.sign_combined(payload_hash.to_string().as_bytes());
    file.seek(SeekFrom::Start(0))?;
    file.write_all(ArtifactHeader::render(key.name(), &signed).as_bytes())
}

/// Signs a compressed tarball: writes `dst` as a `.hart` whose payload is the bytes of `src`,
/// atomically (nothing appears at `dst` unless the whole artifact was written).
pub fn sign(src: &Path, dst: &Path, key: &SecretKey) -> Result<Blake2bHash> {
    let dir = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".hart-")
        .tempfile_in(dir)
        .at("create temporary file in", dir)?;
    temp.as_file_mut()
        .seek(SeekFrom::Start(header_len(key.name())))
        .at("seek", temp.path())?;
    // One pass: the payload is hashed as it is copied after the header's (fixed-size) gap,
    // and the header is written into the gap last.
    let source = File::open(src).at("open", src)?;
    let mut hashing = HashingReader::new(source);
    io::copy(&mut hashing, temp.as_file_mut()).at("copy payload into", temp.path())?;
    let (payload_hash, _) = hashing.finish().at("read", src)?;
    write_header(temp.as_file_mut(), key, &payload_hash).at("write", temp.path())?;
    finish_file(temp, dst)?;
    Ok(payload_hash)
}

/// Makes a finished temporary file durable, readable (0644) and visible at `dst`.
pub(crate) fn finish_file(temp: tempfile::NamedTempFile, dst: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let file = temp.as_file();
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .at("set mode of", temp.path())?;
    file.sync_all().at("sync", temp.path())?;
    temp.persist(dst)
        .map_err(|e| e.error)
        .at("rename into", dst)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture, fixtures_dir};

    const HAPPY: &str = "happyhumans-possums-8.1.4-20160427165340-x86_64-linux.hart";
    const UNHAPPY: &str = "unhappyhumans-possums-8.1.4-20160427165340-x86_64-linux.hart";

    fn fixture_keys() -> KeyCache {
        KeyCache::new(fixtures_dir())
    }

    #[test]
    fn happy_fixture_verifies_with_habitats_numbers() {
        if fixture(HAPPY).is_none() {
            return;
        }
        let path = fixtures_dir().join(HAPPY);
        let verified = verify(&path, &fixture_keys()).unwrap();
        assert_eq!(verified.signer().to_string(), "happyhumans-20160424223347");
        assert_eq!(
            verified.payload_hash().to_string(),
            "0f2c5f4de145c7f78601caae9c7b8767098413d05739de913c012922b7eed760"
        );
        assert_eq!(
            checksum(&path).unwrap().to_string(),
            "74d368d3642721b5045929845f6a1146fad50c7ecab7ab547603965e45a29a82"
        );
    }

    #[test]
    fn unhappy_fixture_fails_on_the_payload_hash() {
        if fixture(UNHAPPY).is_none() {
            return;
        }
        let err = verify(&fixtures_dir().join(UNHAPPY), &fixture_keys()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "payload hash 813cf4243476d598a583c84ab52654626645820dd0dcc0a76da5296590c25363 \
             does not match signed hash 8805e5575ab8c029e6d258261379fbd02d4bb3d90e206847d4553a1bf7395d65"
        );
    }

    #[test]
    fn bogus_fixture_fails_at_line_2() {
        let Some(bytes) = fixture("bogus_and_corrupt.hart") else {
            return;
        };
        let err = ArtifactHeader::read(&mut &bytes[..]).unwrap_err();
        assert!(
            matches!(err, Error::MalformedHeader { line: 2, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("happyhumans-20160424223347-not-valid-identifier!")
        );
    }

    #[track_caller]
    fn header_fails_at(text: &[u8], line: usize, reason: &str) {
        let err = ArtifactHeader::read(&mut &text[..]).unwrap_err();
        match &err {
            Error::MalformedHeader { line: l, .. } if *l == line => {}
            _ => panic!("expected line {line}, got `{err}`"),
        }
        assert!(err.to_string().contains(reason), "`{err}` lacks `{reason}`");
    }

    #[test]
    fn header_errors_name_the_line() {
        header_fails_at(b"", 1, "format version is missing");
        header_fails_at(b"HART-2\n", 1, "unsupported format `HART-2`");
        header_fails_at(b"HART-1\n", 2, "signing key name is missing");
        header_fails_at(
            b"HART-1\ncore-20160101000000\nSHA256\n",
            3,
            "unsupported hash type `SHA256`",
        );
        header_fails_at(
            b"HART-1\ncore-20160101000000\nBLAKE2b\n!!\n\n",
            4,
            "not valid base64",
        );
        header_fails_at(
            b"HART-1\ncore-20160101000000\nBLAKE2b\nAAAA\nxx\n",
            5,
            "expected a blank line",
        );
        header_fails_at(
            b"HART-1\ncore-20160101000000\nBLAKE2b\nAAAA\n",
            5,
            "blank separator line is missing",
        );
        header_fails_at(b"HART-1", 1, "ends without a newline");
        header_fails_at(&[b'A'; 100_000], 1, "longer than 1024 bytes");
    }

    #[test]
    fn header_reads_a_bounded_amount() {
        let mut input = io::repeat(b'x').take(u64::MAX);
        let mut reader = BufReader::new(&mut input);
        ArtifactHeader::read(&mut reader).unwrap_err();
    }

    fn signed_fixture(dir: &Path, payload: &[u8]) -> (PathBuf, SecretKey, KeyCache) {
        let key = SecretKey::generate(&"core".parse().unwrap()).unwrap();
        let keys = KeyCache::new(dir.join("keys"));
        keys.write_public(&key.public_key()).unwrap();
        let src = dir.join("payload.tar.xz");
        std::fs::write(&src, payload).unwrap();
        let dst = dir.join("out.hart");
        sign(&src, &dst, &key).unwrap();
        (dst, key, keys)
    }

    #[test]
    fn signed_artifact_has_habitats_exact_format() {
        let dir = tempfile::tempdir().unwrap();
        let payload = b"not really xz, signing does not care";
        let (hart, key, keys) = signed_fixture(dir.path(), payload);
        let bytes = std::fs::read(&hart).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.splitn(6, '\n').collect();
        assert_eq!(lines[0], "HART-1");
        assert_eq!(lines[1], key.name().to_string());
        assert_eq!(lines[2], "BLAKE2b");
        let signed = BASE64.decode(lines[3]).unwrap();
        assert_eq!(signed.len(), 128);
        let hex = Blake2bHash::digest(payload).to_string();
        assert_eq!(&signed[64..], hex.as_bytes());
        assert_eq!(lines[4], "");
        assert_eq!(lines[5].as_bytes(), payload);
        assert_eq!(header_len(key.name()), (bytes.len() - payload.len()) as u64);
        verify(&hart, &keys).unwrap();
    }

    #[test]
    fn tampering_truncation_and_wrong_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (hart, key, keys) = signed_fixture(dir.path(), &[7u8; 5000]);
        let bytes = std::fs::read(&hart).unwrap();

        let tampered = dir.path().join("tampered.hart");
        let mut t = bytes.clone();
        *t.last_mut().unwrap() ^= 0xff;
        std::fs::write(&tampered, &t).unwrap();
        let err = verify(&tampered, &keys).unwrap_err();
        assert!(matches!(err, Error::PayloadHashMismatch { .. }), "{err}");

        let truncated = dir.path().join("truncated.hart");
        std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
        assert!(matches!(
            verify(&truncated, &keys).unwrap_err(),
            Error::PayloadHashMismatch { .. }
        ));

        let empty_keys = KeyCache::new(dir.path().join("nothing"));
        let err = verify(&hart, &empty_keys).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("no key `{}`", key.name())),
            "{err}"
        );

        // Another key under the same name: the signature does not verify.
        let other = SecretKey::generate(&"core".parse().unwrap()).unwrap();
        let wrong = KeyCache::new(dir.path().join("wrong"));
        let forged = PublicKey::parse(
            &other
                .public_key()
                .to_file_string()
                .replace(&other.name().to_string(), &key.name().to_string()),
        )
        .unwrap();
        wrong.write_public(&forged).unwrap();
        let err = verify(&hart, &wrong).unwrap_err();
        assert!(matches!(err, Error::BadSignature { .. }), "{err}");
        assert!(err.to_string().contains("signature does not verify"));
    }

    #[test]
    fn streaming_verification_hashes_what_the_consumer_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let (hart, key, _) = signed_fixture(dir.path(), &payload);
        let artifact = Artifact::open(&hart).unwrap();
        let (verified, first) = artifact
            .verify_streaming(&key.public_key(), |r| {
                let mut buf = [0u8; 10];
                r.read_exact(&mut buf).at("read", "test")?;
                Ok(buf)
            })
            .unwrap();
        assert_eq!(first[..], payload[..10]);
        assert_eq!(verified.payload_hash(), Blake2bHash::digest(&payload));
    }

    #[test]
    fn a_signer_must_be_a_key_of_the_package_origin() {
        let ident: FullyQualifiedIdent = "demo/app/1.0.0/20240101000000".parse().unwrap();
        let own: NamedRevision = "demo-20240101000000".parse().unwrap();
        check_signer(&ident, &own).unwrap();
        // A name that only starts with the origin is another origin's key.
        for other in ["other-20240101000000", "demo-x-20240101000000"] {
            let signer: NamedRevision = other.parse().unwrap();
            let err = check_signer(&ident, &signer).unwrap_err();
            assert!(matches!(err, Error::ForeignSigner { .. }), "{err}");
            assert_eq!(
                err.to_string(),
                format!(
                    "demo/app/1.0.0/20240101000000 is signed by `{other}`, which is not a key \
                     of origin `demo`"
                )
            );
        }
    }
}
