//! Key files (`KeyFile`, `PublicKey`, `SecretKey`, `NamedRevision`): parsing never panics;
//! `KeyFile::parse` succeeds exactly when one of `PublicKey::parse` / `SecretKey::parse` does,
//! and gives the same key; a parsed key's `to_file_string()` re-parses to an equal key and is
//! a fixed point; a secret key signs what its public half opens; every named revision
//! round-trips through `Display`. Input: the text of a key file.

#![no_main]

use habitat_core::keys::{KeyFile, NamedRevision, PublicKey, SecretKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines().take(8) {
        check_named_revision(line);
    }

    let public = PublicKey::parse(text).ok();
    let secret = SecretKey::parse(text).ok();
    assert!(
        public.is_none() || secret.is_none(),
        "one text parsed as both kinds"
    );
    match KeyFile::parse(text) {
        Ok(KeyFile::Public(key)) => {
            assert_eq!(Some(&key), public.as_ref());
            check_public(&key);
        }
        Ok(KeyFile::Secret(key)) => {
            assert_eq!(Some(&key), secret.as_ref());
            check_secret(&key);
        }
        Err(e) => assert!(
            public.is_none() && secret.is_none(),
            "KeyFile::parse failed ({e}) where a kind-specific parser succeeded"
        ),
    }
});

fn check_named_revision(line: &str) {
    let Ok(name) = line.parse::<NamedRevision>() else {
        return;
    };
    assert_eq!(name.to_string(), line);
    assert_eq!(line.parse::<NamedRevision>().ok().as_ref(), Some(&name));
    assert_eq!(name.revision().len(), 14);
    assert!(name.revision().bytes().all(|b| b.is_ascii_digit()));
    assert!(!name.name().is_empty());
    // The name becomes part of a file name in the key cache.
    assert!(!name.name().contains('/') && !name.name().starts_with('.'));
}

fn check_public(key: &PublicKey) {
    let text = key.to_file_string();
    let again =
        PublicKey::parse(&text).unwrap_or_else(|e| panic!("`{text}` does not re-parse: {e}"));
    assert_eq!(&again, key);
    assert_eq!(again.to_file_string(), text);
    assert!(matches!(KeyFile::parse(&text), Ok(KeyFile::Public(k)) if &k == key));
    assert_eq!(key.file_name(), format!("{}.pub", key.name()));
}

fn check_secret(key: &SecretKey) {
    let text = key.to_file_string();
    let again =
        SecretKey::parse(&text).unwrap_or_else(|e| panic!("secret key does not re-parse: {e}"));
    assert_eq!(&again, key);
    assert_eq!(again.to_file_string(), text);
    assert!(matches!(KeyFile::parse(&text), Ok(KeyFile::Secret(k)) if &k == key));
    let message = b"0f2c5f4de145c7f78601caae9c7b8767098413d05739de913c012922b7eed760";
    let signed = key.sign_combined(message);
    let public = key.public_key();
    assert_eq!(public.open(&signed).ok(), Some(&message[..]));
    check_public(&public);
}
