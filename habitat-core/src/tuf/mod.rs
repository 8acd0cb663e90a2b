//! The Update Framework (TUF): the metadata a depot signs about what its channels hold and
//! which origin keys are genuine, and the checks a client makes on it.
//!
//! - [`metadata`]: the documents (root, targets and bins, snapshot, timestamp).
//! - [`layout`]: where the depot puts things (bins, target paths, the channel index).
//! - This module: canonical JSON, signing, and verifying a threshold of signatures.
//!
//! The choices (roles, keys, expiries, paths) are described in docs/security.md.

pub mod layout;
pub mod metadata;

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{Signer, SigningKey, Verifier};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use metadata::{
    DelegatedRole, Delegations, Key, MetaFile, Role, RoleKeys, Root, SPEC_VERSION, Signature,
    Signed, Snapshot, TargetFile, Targets, Timestamp,
};

/// What TUF metadata can be refused for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TufError {
    /// Not JSON, or not the shape of the document expected.
    #[error("malformed `{role}` metadata: {reason}")]
    Malformed {
        /// The role read.
        role: String,
        /// What was wrong.
        reason: String,
    },
    /// The document is of another role than expected.
    #[error("expected `{expected}` metadata, got `{found}`")]
    WrongType {
        /// The role expected.
        expected: &'static str,
        /// The `_type` found.
        found: String,
    },
    /// Too few of the role's keys signed.
    #[error("`{role}` metadata has {valid} valid signature(s) of the {threshold} required")]
    Threshold {
        /// The role checked.
        role: String,
        /// Valid signatures by distinct keys of the role.
        valid: u32,
        /// How many the role requires.
        threshold: u32,
    },
    /// A document that cannot be used for another reason (the string says which).
    #[error("{0}")]
    Invalid(String),
}

/// The OLPC canonical JSON of a value: what signatures are made over.
pub fn canonical_json(value: &impl Serialize) -> Result<Vec<u8>, TufError> {
    let mut bytes = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut bytes, olpc_cjson::CanonicalFormatter::new());
    value
        .serialize(&mut serializer)
        .map_err(|e| TufError::Invalid(format!("cannot write canonical JSON: {e}")))?;
    Ok(bytes)
}

/// Signs `document` with each key, giving the signed form.
pub fn sign<T: Role>(document: T, keys: &[&SigningKey]) -> Result<Signed<T>, TufError> {
    let bytes = canonical_json(&document)?;
    let signatures = keys
        .iter()
        .map(|key| Signature {
            keyid: Key::ed25519(&key.verifying_key()).id(),
            sig: crate::hash::hex(&key.sign(&bytes).to_bytes()),
        })
        .collect();
    Ok(Signed {
        signatures,
        signed: document,
    })
}

/// A signed document as read, before its signatures are checked: the `signed` part is kept as
/// JSON so that fields this build does not know stay in the bytes the signatures cover.
#[derive(Debug)]
pub struct Unverified<T> {
    signatures: Vec<Signature>,
    canonical: Vec<u8>,
    document: T,
}

#[derive(serde::Deserialize)]
struct RawSigned {
    signatures: Vec<Signature>,
    signed: serde_json::Value,
}

impl<T: Role + DeserializeOwned> Unverified<T> {
    /// Parses a document of role type `T` (its `_type` must match).
    pub fn parse(bytes: &[u8]) -> Result<Self, TufError> {
        let malformed = |reason: String| TufError::Malformed {
            role: T::TYPE.into(),
            reason,
        };
        let raw: RawSigned = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        let canonical = canonical_json(&raw.signed)?;
        let document: T =
            serde_json::from_value(raw.signed).map_err(|e| malformed(e.to_string()))?;
        if document.type_name() != T::TYPE {
            return Err(TufError::WrongType {
                expected: T::TYPE,
                found: document.type_name().into(),
            });
        }
        Ok(Self {
            signatures: raw.signatures,
            canonical,
            document,
        })
    }

    /// The document, not yet trusted: for reading what a root says about its own keys.
    pub fn peek(&self) -> &T {
        &self.document
    }

    /// Checks that at least `role.threshold` distinct keys of `role`, found in `keys`, signed
    /// it (a threshold of 0 is refused), and gives the document.
    pub fn verify(
        self,
        role_name: &str,
        role: &RoleKeys,
        keys: &BTreeMap<String, Key>,
    ) -> Result<T, TufError> {
        check_threshold(&self.canonical, &self.signatures, role_name, role, keys)?;
        Ok(self.document)
    }

    /// Checks the signatures without consuming the document (a new root is checked against
    /// the old root's keys and then its own).
    pub fn check(
        &self,
        role_name: &str,
        role: &RoleKeys,
        keys: &BTreeMap<String, Key>,
    ) -> Result<(), TufError> {
        check_threshold(&self.canonical, &self.signatures, role_name, role, keys)
    }
}

fn check_threshold(
    canonical: &[u8],
    signatures: &[Signature],
    role_name: &str,
    role: &RoleKeys,
    keys: &BTreeMap<String, Key>,
) -> Result<(), TufError> {
    let mut signed_by = BTreeSet::new();
    for signature in signatures {
        if !role.keyids.contains(&signature.keyid) || signed_by.contains(&signature.keyid) {
            continue;
        }
        let Some(key) = keys.get(&signature.keyid) else {
            continue;
        };
        // A key listed under an id that is not its own does not count.
        if key.id() != signature.keyid {
            continue;
        }
        let (Some(verifying), Some(sig)) = (
            key.verifying_key(),
            crate::hash::from_hex::<64>(&signature.sig),
        ) else {
            continue;
        };
        if verifying
            .verify(canonical, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
        {
            signed_by.insert(signature.keyid.clone());
        }
    }
    let valid = u32::try_from(signed_by.len()).unwrap_or(u32::MAX);
    if role.threshold == 0 || valid < role.threshold {
        return Err(TufError::Threshold {
            role: role_name.into(),
            valid,
            threshold: role.threshold,
        });
    }
    Ok(())
}

/// The SHA-256 of bytes, hex: a target's or a metadata file's `sha256`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    crate::hash::hex(&sha2::Sha256::digest(bytes))
}

/// A target file's entry for bytes: their length, SHA-256 and BLAKE2b-256.
pub fn target_file(bytes: &[u8]) -> TargetFile {
    TargetFile {
        length: bytes.len() as u64,
        hashes: BTreeMap::from([
            ("sha256".to_string(), sha256_hex(bytes)),
            (
                "blake2b-256".to_string(),
                crate::Blake2bHash::digest(bytes).to_string(),
            ),
        ]),
    }
}

impl TargetFile {
    /// Whether `bytes` have this length and every hash listed that this build can compute
    /// (`sha256`, `blake2b-256`); at least one must be listed.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        if bytes.len() as u64 != self.length {
            return false;
        }
        let actual = target_file(bytes);
        let mut checked = 0;
        for (algorithm, expected) in &self.hashes {
            match actual.hashes.get(algorithm) {
                Some(hash) if hash.eq_ignore_ascii_case(expected) => checked += 1,
                Some(_) => return false,
                None => {}
            }
        }
        checked > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::metadata::expiry;
    use time::OffsetDateTime;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn timestamp(version: u64) -> Timestamp {
        Timestamp {
            type_name: "timestamp".into(),
            spec_version: SPEC_VERSION.into(),
            version,
            expires: expiry(OffsetDateTime::UNIX_EPOCH, 1),
            meta: BTreeMap::from([(
                "snapshot.json".to_string(),
                MetaFile {
                    version: 3,
                    length: None,
                    hashes: None,
                },
            )]),
        }
    }

    fn keys_and_role(keys: &[&SigningKey], threshold: u32) -> (BTreeMap<String, Key>, RoleKeys) {
        let keys: BTreeMap<String, Key> = keys
            .iter()
            .map(|k| {
                let key = Key::ed25519(&k.verifying_key());
                (key.id(), key)
            })
            .collect();
        let role = RoleKeys {
            keyids: keys.keys().cloned().collect(),
            threshold,
        };
        (keys, role)
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let value = serde_json::json!({"b": 1, "a": {"d": "x\"y", "c": [true, null]}});
        let bytes = canonical_json(&value).expect("canonical");
        assert_eq!(
            String::from_utf8(bytes).expect("utf-8"),
            r#"{"a":{"c":[true,null],"d":"x\"y"},"b":1}"#
        );
    }

    #[test]
    fn a_signed_document_verifies_and_a_changed_one_does_not() {
        let (one, two) = (key(1), key(2));
        let (keys, role) = keys_and_role(&[&one, &two], 2);
        let signed = sign(timestamp(7), &[&one, &two]).expect("sign");
        let bytes = serde_json::to_vec(&signed).expect("json");
        let document = Unverified::<Timestamp>::parse(&bytes)
            .and_then(|u| u.verify("timestamp", &role, &keys))
            .expect("verifies");
        assert_eq!(document.version, 7);

        let tampered = String::from_utf8(bytes)
            .expect("utf-8")
            .replace("\"version\":7", "\"version\":8");
        let error = Unverified::<Timestamp>::parse(tampered.as_bytes())
            .and_then(|u| u.verify("timestamp", &role, &keys))
            .expect_err("a changed document");
        assert!(
            matches!(error, TufError::Threshold { valid: 0, .. }),
            "{error}"
        );
    }

    #[test]
    fn the_same_key_twice_counts_once_and_unknown_keys_not_at_all() {
        let (one, two, stranger) = (key(1), key(2), key(3));
        let (keys, role) = keys_and_role(&[&one, &two], 2);
        let mut signed = sign(timestamp(1), &[&one, &stranger]).expect("sign");
        signed.signatures.push(signed.signatures[0].clone());
        let bytes = serde_json::to_vec(&signed).expect("json");
        let error = Unverified::<Timestamp>::parse(&bytes)
            .and_then(|u| u.verify("timestamp", &role, &keys))
            .expect_err("one valid key of two");
        assert_eq!(
            error.to_string(),
            "`timestamp` metadata has 1 valid signature(s) of the 2 required"
        );
    }

    #[test]
    fn unknown_fields_stay_covered_by_the_signature() {
        let one = key(1);
        let (keys, role) = keys_and_role(&[&one], 1);
        let mut value = serde_json::to_value(timestamp(1)).expect("json");
        value["x-extension"] = serde_json::json!({"b": 2, "a": 1});
        let canonical = canonical_json(&value).expect("canonical");
        let signature = Signature {
            keyid: keys.keys().next().expect("a key").clone(),
            sig: crate::hash::hex(&one.sign(&canonical).to_bytes()),
        };
        let bytes =
            serde_json::to_vec(&serde_json::json!({"signatures": [signature], "signed": value}))
                .expect("json");
        Unverified::<Timestamp>::parse(&bytes)
            .and_then(|u| u.verify("timestamp", &role, &keys))
            .expect("an extension field does not break the signature");
    }

    #[test]
    fn a_document_of_another_role_is_refused() {
        let signed = sign(timestamp(1), &[&key(1)]).expect("sign");
        let bytes = serde_json::to_vec(&signed).expect("json");
        let error = Unverified::<Snapshot>::parse(&bytes).expect_err("not a snapshot");
        assert!(
            matches!(
                error,
                TufError::WrongType { .. } | TufError::Malformed { .. }
            ),
            "{error}"
        );
    }

    #[test]
    fn target_files_check_length_and_both_hashes() {
        let entry = target_file(b"hello");
        assert!(entry.matches(b"hello"));
        assert!(!entry.matches(b"hellO"));
        assert!(!entry.matches(b"hello!"));
        let mut unknown_only = entry.clone();
        unknown_only.hashes = BTreeMap::from([("md5".to_string(), "00".to_string())]);
        assert!(
            !unknown_only.matches(b"hello"),
            "no hash this build can check"
        );
    }
}
