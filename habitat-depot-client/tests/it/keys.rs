//! Public and secret origin keys: upload, list, fetch as keys, as text and into a key cache.

use habitat_core::keys::{PublicKey, SecretKey};
use habitat_core::{KeyCache, OriginName};
use habitat_depot_client::{Error, UploadOutcome};

use super::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_and_secret_keys() {
    let depot = TestDepot::start().await;
    let alice = depot.client(Some(&depot.user("alice").await));
    let bob = depot.client(Some(&depot.user("bob").await));
    let anonymous = depot.client(None);
    let acme: OriginName = "acme".parse().unwrap();
    alice.create_origin(&acme, None).await.unwrap();

    let err = anonymous.public_key(&acme, None).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string().contains("origin `acme` has no public key"),
        "{err}"
    );

    let key = signing_key("acme");
    let public = key.public_key();
    let revision = public.name().revision().to_owned();
    assert_eq!(
        alice.upload_public_key(&public).await.unwrap(),
        UploadOutcome::Created
    );
    assert_eq!(
        alice.upload_public_key(&public).await.unwrap(),
        UploadOutcome::AlreadyPresent
    );
    let err = bob.upload_public_key(&public).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");

    let listed = anonymous.public_keys(&acme).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].origin, acme);
    assert_eq!(listed[0].revision, revision);
    assert_eq!(listed[0].location, format!("/origins/acme/keys/{revision}"));

    assert_eq!(anonymous.public_key(&acme, None).await.unwrap(), public);
    assert_eq!(
        anonymous.public_key(&acme, Some(&revision)).await.unwrap(),
        public
    );
    let text = anonymous
        .public_key_text(&acme, Some(&revision))
        .await
        .unwrap();
    assert_eq!(PublicKey::parse(&text).unwrap(), public);
    let err = anonymous
        .public_key(&acme, Some("20000101000000"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = anonymous
        .public_key(&acme, Some("latest!"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");

    let cache = KeyCache::new(depot.scratch("cache"));
    let path = anonymous
        .download_public_key(&acme, None, &cache)
        .await
        .unwrap();
    assert_eq!(path, cache.dir().join(format!("acme-{revision}.pub")));
    assert_eq!(cache.latest_public("acme").unwrap(), public);
    // Again: the identical file is fine.
    let paths = anonymous.download_public_keys(&acme, &cache).await.unwrap();
    assert_eq!(paths, vec![path]);

    // Secret keys: administrators only, and never in an error.
    alice.upload_secret_key(&key).await.unwrap();
    let fetched: SecretKey = alice.latest_secret_key(&acme).await.unwrap();
    assert_eq!(fetched, key);
    let err = bob.latest_secret_key(&acme).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let err = bob.upload_secret_key(&key).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let path = alice
        .download_latest_secret_key(&acme, &cache)
        .await
        .unwrap();
    assert_eq!(path, cache.dir().join(format!("acme-{revision}.sig.key")));
    assert_eq!(cache.latest_secret("acme").unwrap(), key);

    // A secret key that does not match the public key of its revision is 422.
    let other = signing_key("acme");
    if other.name() == key.name() {
        let err = alice.upload_secret_key(&other).await.unwrap_err();
        assert_eq!(err.code(), Some("key_mismatch"), "{err}");
    }

    // A key of an origin that does not exist: the depot's 404.
    let err = alice
        .upload_public_key(&signing_key("elsewhere").public_key())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http { status: 404, .. }), "{err}");
}
