//! Health, profile, access tokens, and what a bad or missing token gets.

use habitat_depot_client::{Error, Token};

use super::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_profile_and_tokens() {
    let depot = TestDepot::start().await;
    let token = depot.user("alice").await;
    let alice = depot.client(Some(&token));

    depot.client(None).status().await.unwrap();
    let profile = alice.profile().await.unwrap();
    assert_eq!(profile.name, "alice");
    assert_eq!(profile.email, None);
    assert!(alice.my_origins().await.unwrap().is_empty());
    assert!(alice.my_invitations().await.unwrap().is_empty());

    let created = alice.create_access_token("ci", Some(30)).await.unwrap();
    assert_eq!(created.info.name, "ci");
    assert!(created.info.expires_at.is_some());
    let secret = created.token.expose_secret().to_owned();
    assert!(secret.starts_with("hab_"), "{secret}");
    // Shown once, never in Debug.
    let shown = format!("{created:?}");
    assert!(!shown.contains(&secret[4..]), "{shown}");
    assert!(shown.contains("hab_…***"), "{shown}");

    let listed = alice.access_tokens().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.contains(&"ci") && names.contains(&"test"),
        "{names:?}"
    );

    // The new token works, until it is revoked.
    let ci = depot.client(Some(&created.token));
    assert_eq!(ci.profile().await.unwrap().name, "alice");
    alice.delete_access_token(&created.info.id).await.unwrap();
    let err = ci.profile().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert_eq!(err.code(), Some("unauthorized"));
    let text = err.to_string();
    assert!(text.contains("unknown or revoked token"), "{text}");
    assert!(!text.contains(&secret[4..]) && !format!("{err:?}").contains(&secret[4..]));

    // Someone else's id, or one already gone: 404.
    let err = alice
        .delete_access_token(&created.info.id)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = alice.delete_access_token("..").await.unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_bad_tokens_are_401_with_the_depot_message() {
    let depot = TestDepot::start().await;
    depot.user("alice").await;

    let err = depot.client(None).profile().await.unwrap_err();
    let Error::Http {
        status,
        code,
        message,
        method,
        url,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*status, 401);
    assert_eq!(code.as_deref(), Some("unauthorized"));
    assert!(message.contains("this request needs a token"), "{message}");
    assert_eq!(method, "GET");
    assert_eq!(url, &format!("{}/profile", depot.url));

    // A bad token is refused even on public routes, and never shown.
    let secret = "hab_bm90LWEtcmVhbC10b2tlbi1hdC1hbGwtcmVhbGx5";
    let bogus = Token::new(secret).unwrap();
    let client = depot.client(Some(&bogus));
    let err = client.status().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{client:?}"),
        format!("{client:#?}"),
        format!("{bogus} {bogus:?}"),
    ] {
        assert!(!shown.contains(&secret[4..]), "{shown}");
    }
    assert_eq!(format!("{bogus}"), "hab_…***");
}
