//! The parts of TUF metadata (spec 1.0.31 §4) the client reads, and the checks on one signed
//! document: its signatures against a role's keys and threshold, its type, its expiry.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A public key as metadata lists it; only `ed25519` keys are used.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct Key {
    pub keytype: String,
    pub scheme: String,
    pub keyval: KeyValue,
}

/// The key material.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct KeyValue {
    pub public: String,
}

/// A role's keys and threshold in root.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: u32,
}

/// What every role has.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Common {
    #[serde(rename = "_type")]
    pub kind: String,
    pub version: u64,
    pub expires: String,
}

/// `root`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Root {
    #[serde(flatten)]
    pub common: Common,
    pub keys: BTreeMap<String, Key>,
    pub roles: BTreeMap<String, RoleKeys>,
}

/// One entry of `meta` in timestamp and snapshot.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MetaFile {
    pub version: u64,
    #[serde(default)]
    pub length: Option<u64>,
    #[serde(default)]
    pub hashes: Option<BTreeMap<String, String>>,
}

/// `timestamp` and `snapshot`: a version and a `meta` map.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MetaList {
    #[serde(flatten)]
    pub common: Common,
    pub meta: BTreeMap<String, MetaFile>,
}

/// One target: its length and hashes.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct TargetFile {
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
}

/// A delegated role.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Delegation {
    pub name: String,
    pub keyids: Vec<String>,
    pub threshold: u32,
    #[serde(default)]
    pub terminating: bool,
    #[serde(default)]
    pub path_hash_prefixes: Option<Vec<String>>,
    #[serde(default)]
    pub paths: Option<Vec<String>>,
}

/// The delegations of a targets role.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Delegations {
    pub keys: BTreeMap<String, Key>,
    pub roles: Vec<Delegation>,
}

/// `targets` and the bins.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Targets {
    #[serde(flatten)]
    pub common: Common,
    pub targets: BTreeMap<String, TargetFile>,
    #[serde(default)]
    pub delegations: Option<Delegations>,
}

/// Why a document was refused (the caller adds role and depot).
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Not JSON of the role's shape.
    Decode(String),
    /// Fewer valid signatures than the threshold.
    Signatures { valid: u32, threshold: u32 },
}

/// A document whose signatures are not checked yet: the typed `signed` part, its canonical
/// bytes, and the signatures.
#[derive(Debug, Clone)]
pub(crate) struct Document<T> {
    pub signed: T,
    canonical: Vec<u8>,
    signatures: Vec<(String, String)>,
}

impl<T: DeserializeOwned> Document<T> {
    /// Parses a metadata file.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Refusal> {
        #[derive(Deserialize)]
        struct Envelope {
            signed: Value,
            signatures: Vec<Signature>,
        }
        #[derive(Deserialize)]
        struct Signature {
            keyid: String,
            sig: String,
        }
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|e| Refusal::Decode(e.to_string()))?;
        let mut canonical = Vec::new();
        write_canonical(&envelope.signed, &mut canonical).map_err(Refusal::Decode)?;
        let signed =
            T::deserialize(&envelope.signed).map_err(|e| Refusal::Decode(e.to_string()))?;
        Ok(Self {
            signed,
            canonical,
            signatures: envelope
                .signatures
                .into_iter()
                .map(|s| (s.keyid, s.sig))
                .collect(),
        })
    }

    /// Checks that at least `threshold` distinct keys of `keyids` (found in `keys`) signed.
    pub(crate) fn verify(
        &self,
        keys: &BTreeMap<String, Key>,
        keyids: &[String],
        threshold: u32,
    ) -> Result<(), Refusal> {
        let mut good: Vec<&str> = Vec::new();
        for (keyid, sig) in &self.signatures {
            if good.contains(&keyid.as_str()) || !keyids.contains(keyid) {
                continue;
            }
            let Some(key) = keys.get(keyid) else { continue };
            if verify_ed25519(key, &self.canonical, sig) {
                good.push(keyid);
            }
        }
        let valid = u32::try_from(good.len()).unwrap_or(u32::MAX);
        // A threshold of 0 would accept anything: never.
        if threshold == 0 || valid < threshold {
            return Err(Refusal::Signatures { valid, threshold });
        }
        Ok(())
    }
}

/// Whether `sig` (hex) is `key`'s Ed25519 signature of `message`.
fn verify_ed25519(key: &Key, message: &[u8], sig: &str) -> bool {
    if key.keytype != "ed25519" || key.scheme != "ed25519" {
        return false;
    }
    let (Some(public), Some(sig)) = (from_hex::<32>(&key.keyval.public), from_hex::<64>(sig))
    else {
        return false;
    };
    let Ok(public) = ed25519_dalek::VerifyingKey::from_bytes(&public) else {
        return false;
    };
    public
        .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

/// The expiry as a time, `None` when it is not RFC 3339.
pub(crate) fn expiry(common: &Common) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(&common.expires, &Rfc3339).ok()
}

/// OLPC canonical JSON: sorted keys, no whitespace, only `"` and `\` escaped, integers only.
pub(crate) fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => out.extend_from_slice(i.to_string().as_bytes()),
            (_, Some(u)) => out.extend_from_slice(u.to_string().as_bytes()),
            _ => return Err(format!("the number `{n}` is not an integer")),
        },
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for byte in s.bytes() {
        if byte == b'"' || byte == b'\\' {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out.push(b'"');
}

/// Exactly `N` bytes from `2 * N` hex digits.
fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}
