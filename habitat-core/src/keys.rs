//! Origin signing keys: `SIG-PUB-1` and `SIG-SEC-1` files (docs/formats.md, "Key files").
//!
//! ```
//! use habitat_core::keys::{SecretKey, PublicKey};
//!
//! let secret = SecretKey::generate(&"core".parse()?)?;
//! let public: PublicKey = secret.public_key();
//! let text = public.to_file_string();
//! assert_eq!(PublicKey::parse(&text)?, public);
//! # Ok::<(), habitat_core::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::ident::OriginName;

mod cache;
pub use cache::KeyCache;

/// Length of a libsodium "combined" signed message over a 64-character hex digest.
pub const COMBINED_SIGNATURE_LEN: usize = Signature::BYTE_SIZE + 64;

/// The first line of a public signing key file.
pub const PUBLIC_KIND: &str = "SIG-PUB-1";
/// The first line of a secret signing key file.
pub const SECRET_KIND: &str = "SIG-SEC-1";

/// A key name with its revision, `<name>-<YYYYMMDDhhmmss>`; the name is greedy, so
/// `origin-key-valid-20160509190508` has name `origin-key-valid`.
///
/// The name must also be safe as a file name: no `/`, `\`, whitespace or control characters,
/// and it cannot start with `.`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamedRevision {
    name: String,
    revision: String,
}

impl NamedRevision {
    /// A new revision of `name` stamped now.
    pub fn now(name: &OriginName) -> Self {
        Self {
            name: name.to_string(),
            revision: crate::timestamp::compact_now(),
        }
    }

    /// The key's name (for origin keys, the origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 14-digit revision.
    pub fn revision(&self) -> &str {
        &self.revision
    }
}

impl fmt::Display for NamedRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.name, self.revision)
    }
}

impl FromStr for NamedRevision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidValue {
            what: "named revision",
            input: s.into(),
            reason,
        };
        let (name, revision) = s
            .rsplit_once('-')
            .ok_or_else(|| invalid("expected <name>-<revision>"))?;
        if revision.len() != 14 || !revision.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("the revision must be 14 digits (YYYYMMDDhhmmss)"));
        }
        if name.is_empty() {
            return Err(invalid("the name is empty"));
        }
        if name.starts_with('.')
            || name
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                "the name must not contain `/`, `\\`, whitespace or start with `.`",
            ));
        }
        Ok(Self {
            name: name.into(),
            revision: revision.into(),
        })
    }
}

impl Serialize for NamedRevision {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NamedRevision {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The four lines of a key file, checked for shape; `kind` must equal `expected`.
fn parse_key_file(text: &str, expected: &str) -> Result<(NamedRevision, Vec<u8>)> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let kind = lines.next().unwrap_or_default();
    if kind != PUBLIC_KIND && kind != SECRET_KIND {
        return Err(Error::UnsupportedKeyKind(kind.chars().take(64).collect()));
    }
    let malformed = |name: &str, reason: String| Error::MalformedKey {
        name: name.into(),
        reason,
    };
    if kind != expected {
        return Err(malformed(
            "file",
            format!("expected a {expected} key, found {kind}"),
        ));
    }
    let name_line = lines
        .next()
        .ok_or_else(|| malformed("file", "line 2 (name) is missing".into()))?;
    let name: NamedRevision = name_line.parse()?;
    let shown = name.to_string();
    match lines.next() {
        Some("") => {}
        _ => return Err(malformed(&shown, "line 3 must be blank".into())),
    }
    let body = lines
        .next()
        .ok_or_else(|| malformed(&shown, "line 4 (key) is missing".into()))?;
    if lines.next().is_some() {
        return Err(malformed(&shown, "unexpected text after line 4".into()));
    }
    let bytes = BASE64
        .decode(body.trim())
        .map_err(|e| malformed(&shown, format!("line 4 is not valid base64: {e}")))?;
    Ok((name, bytes))
}

fn key_file_string(kind: &str, name: &NamedRevision, bytes: &[u8]) -> String {
    format!("{kind}\n{name}\n\n{}", BASE64.encode(bytes))
}

/// A public signing key with its name: what verifies artifacts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    name: NamedRevision,
    key: VerifyingKey,
}

impl PublicKey {
    /// Parses the text of a `SIG-PUB-1` file.
    pub fn parse(text: &str) -> Result<Self> {
        let (name, bytes) = parse_key_file(text, PUBLIC_KIND)?;
        let malformed = |reason: String| Error::MalformedKey {
            name: name.to_string(),
            reason,
        };
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| malformed(format!("a public key has 32 bytes, found {}", bytes.len())))?;
        let key = VerifyingKey::from_bytes(&array)
            .map_err(|_| malformed("not a valid Ed25519 public key".into()))?;
        if key.is_weak() {
            return Err(malformed("a weak (small-order) Ed25519 public key".into()));
        }
        Ok(Self { name, key })
    }

    /// The key's named revision.
    pub fn name(&self) -> &NamedRevision {
        &self.name
    }

    /// The 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// The file content (no trailing newline).
    pub fn to_file_string(&self) -> String {
        key_file_string(PUBLIC_KIND, &self.name, self.key.as_bytes())
    }

    /// The file name, `<name>-<revision>.pub`.
    pub fn file_name(&self) -> String {
        format!("{}.pub", self.name)
    }

    /// Opens a libsodium "combined" signed message (`signature || message`), verifying the
    /// signature strictly, and returns the message.
    pub fn open<'a>(&self, signed: &'a [u8]) -> Result<&'a [u8]> {
        let bad = || Error::BadSignature {
            signer: self.name.clone(),
        };
        if signed.len() < Signature::BYTE_SIZE {
            return Err(bad());
        }
        let (signature, message) = signed.split_at(Signature::BYTE_SIZE);
        let signature = Signature::from_slice(signature).map_err(|_| bad())?;
        self.key
            .verify_strict(message, &signature)
            .map_err(|_| bad())?;
        Ok(message)
    }
}

/// A secret signing key with its name: what signs artifacts. Its bytes are zeroed on drop.
#[derive(Clone)]
pub struct SecretKey {
    name: NamedRevision,
    key: SigningKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.key.to_keypair_bytes() == other.key.to_keypair_bytes()
    }
}

impl Eq for SecretKey {}

impl SecretKey {
    /// Generates a new key for an origin, with revision "now".
    pub fn generate(origin: &OriginName) -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::MalformedKey {
            name: origin.to_string(),
            reason: format!("no randomness from the operating system: {e}"),
        })?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(Self {
            name: NamedRevision::now(origin),
            key,
        })
    }

    /// Parses the text of a `SIG-SEC-1` file; the public half must match the seed.
    pub fn parse(text: &str) -> Result<Self> {
        let (name, bytes) = parse_key_file(text, SECRET_KIND)?;
        let malformed = |reason: String| Error::MalformedKey {
            name: name.to_string(),
            reason,
        };
        let array: [u8; 64] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| malformed(format!("a secret key has 64 bytes, found {}", bytes.len())))?;
        let key = SigningKey::from_keypair_bytes(&array)
            .map_err(|_| malformed("its public half does not match its seed".into()))?;
        Ok(Self { name, key })
    }

    /// The key's named revision.
    pub fn name(&self) -> &NamedRevision {
        &self.name
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The file content (no trailing newline): base64 of seed followed by public key.
    pub fn to_file_string(&self) -> String {
        key_file_string(SECRET_KIND, &self.name, &self.key.to_keypair_bytes())
    }

    /// The file name, `<name>-<revision>.sig.key`.
    pub fn file_name(&self) -> String {
        format!("{}.sig.key", self.name)
    }

    /// Signs a message in libsodium's "combined" form: `signature (64 bytes) || message`.
    pub fn sign_combined(&self, message: &[u8]) -> Vec<u8> {
        let mut out = self.key.sign(message).to_bytes().to_vec();
        out.extend_from_slice(message);
        out
    }
}

/// A key file of either kind, as read from `hab origin key import`.
#[derive(Debug)]
pub enum KeyFile {
    /// A `SIG-PUB-1` key.
    Public(PublicKey),
    /// A `SIG-SEC-1` key.
    Secret(SecretKey),
}

impl KeyFile {
    /// Parses a key file, choosing the kind by its first line.
    pub fn parse(text: &str) -> Result<Self> {
        match text.split('\n').next().map(|l| l.trim_end_matches('\r')) {
            Some(SECRET_KIND) => SecretKey::parse(text).map(Self::Secret),
            _ => PublicKey::parse(text).map(Self::Public),
        }
    }

    /// The key's named revision.
    pub fn name(&self) -> &NamedRevision {
        match self {
            Self::Public(k) => k.name(),
            Self::Secret(k) => k.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fixture;
    use proptest::prelude::*;

    #[test]
    fn named_revisions() {
        let nr: NamedRevision = "origin-key-valid-20160509190508".parse().unwrap();
        assert_eq!(nr.name(), "origin-key-valid");
        assert_eq!(nr.revision(), "20160509190508");
        assert_eq!(nr.to_string(), "origin-key-valid-20160509190508");
        for bad in [
            "happyhumans-20160424223347-not-valid-identifier!",
            "core",
            "-20160424223347",
            "core-2016042422334",
            "core-201604242233470",
            "../../etc/passwd-20160424223347",
            "a b-20160424223347",
        ] {
            assert!(bad.parse::<NamedRevision>().is_err(), "{bad}");
        }
        let stamped = NamedRevision::now(&"core".parse().unwrap());
        assert_eq!(stamped.name(), "core");
        assert_eq!(stamped.revision().len(), 14);
        stamped.revision().parse::<u64>().unwrap();
    }

    #[test]
    fn real_habitat_key_pairs_load_and_match() {
        for base in [
            "happyhumans-20160424223347",
            "origin-key-valid-20160509190508",
        ] {
            let Some(public) = fixture(&format!("{base}.pub")) else {
                return;
            };
            let Some(secret) = fixture(&format!("{base}.sig.key")) else {
                return;
            };
            let public = PublicKey::parse(std::str::from_utf8(&public).unwrap()).unwrap();
            let secret = SecretKey::parse(std::str::from_utf8(&secret).unwrap()).unwrap();
            assert_eq!(secret.public_key(), public);
            assert_eq!(public.name().to_string(), base);
        }
    }

    #[test]
    fn written_key_files_are_byte_identical_to_habitats() {
        for file in [
            "happyhumans-20160424223347.pub",
            "origin-key-valid-20160509190508.sig.key",
        ] {
            let Some(bytes) = fixture(file) else { return };
            let text = std::str::from_utf8(&bytes).unwrap();
            let rewritten = match KeyFile::parse(text).unwrap() {
                KeyFile::Public(k) => k.to_file_string(),
                KeyFile::Secret(k) => k.to_file_string(),
            };
            assert_eq!(rewritten, text.trim_end_matches('\n'), "{file}");
        }
    }

    #[test]
    fn combined_signature_of_signme_matches_habitat() {
        let Some(secret) = fixture("origin-key-valid-20160509190508.sig.key") else {
            return;
        };
        let Some(data) = fixture("signme.dat") else {
            return;
        };
        let secret = SecretKey::parse(std::str::from_utf8(&secret).unwrap()).unwrap();
        let hex = crate::Blake2bHash::digest(&data).to_string();
        assert_eq!(
            hex,
            "20590a52c4f00588c500328b16d466c982a26fabaa5fa4dcc83052dd0a84f233"
        );
        let signed = secret.sign_combined(hex.as_bytes());
        assert_eq!(signed.len(), 128);
        assert_eq!(
            signed[..8],
            [0x94, 0x22, 0xe2, 0xeb, 0x02, 0x88, 0xda, 0x87]
        );
        assert_eq!(&signed[64..], hex.as_bytes());
        assert_eq!(secret.public_key().open(&signed).unwrap(), hex.as_bytes());
    }

    #[test]
    fn malformed_key_files_say_what_is_wrong() {
        let secret = SecretKey::generate(&"core".parse().unwrap()).unwrap();
        let good = secret.public_key().to_file_string();
        let cases: Vec<(String, &str)> = vec![
            (
                good.replace(PUBLIC_KIND, "BOX-PUB-1"),
                "unsupported key kind `BOX-PUB-1`",
            ),
            (
                good.replace(PUBLIC_KIND, SECRET_KIND),
                "a secret key has 64 bytes",
            ),
            (good.replacen("\n\n", "\nx\n", 1), "line 3 must be blank"),
            (
                format!("{PUBLIC_KIND}\ncore-1\n\nAAAA"),
                "named revision `core-1`",
            ),
            (
                format!("{PUBLIC_KIND}\ncore-20160424223347\n\n!!!"),
                "not valid base64",
            ),
            (
                format!("{PUBLIC_KIND}\ncore-20160424223347\n\nAAAA"),
                "32 bytes, found 3",
            ),
            (
                format!("{PUBLIC_KIND}\ncore-20160424223347"),
                "line 3 must be blank",
            ),
            (format!("{good}\nextra"), "unexpected text after line 4"),
        ];
        for (text, expected) in cases {
            let err = KeyFile::parse(&text).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{text:?}: `{err}` lacks `{expected}`"
            );
        }
        // A trailing newline is accepted on read.
        PublicKey::parse(&format!("{good}\n")).unwrap();
    }

    #[test]
    fn secret_key_whose_public_half_does_not_match_is_refused() {
        let a = SecretKey::generate(&"core".parse().unwrap()).unwrap();
        let b = SecretKey::generate(&"core".parse().unwrap()).unwrap();
        let mut bytes = a.key.to_keypair_bytes().to_vec();
        bytes[32..].copy_from_slice(b.public_key().as_bytes());
        let text = key_file_string(SECRET_KIND, a.name(), &bytes);
        let err = SecretKey::parse(&text).unwrap_err().to_string();
        assert!(err.contains("public half does not match"), "{err}");
    }

    #[test]
    fn tampered_message_does_not_open() {
        let key = SecretKey::generate(&"core".parse().unwrap()).unwrap();
        let mut signed = key.sign_combined(b"hello");
        *signed.last_mut().unwrap() ^= 1;
        assert!(matches!(
            key.public_key().open(&signed),
            Err(Error::BadSignature { .. })
        ));
        assert!(key.public_key().open(&signed[..10]).is_err());
    }

    proptest! {
        #[test]
        fn key_parsing_never_panics(text in "\\PC{0,200}") {
            let _ = KeyFile::parse(&text);
        }

        #[test]
        fn named_revision_parsing_never_panics(text in "\\PC{0,40}") {
            if let Ok(nr) = text.parse::<NamedRevision>() {
                prop_assert_eq!(nr.to_string(), text);
            }
        }
    }
}
