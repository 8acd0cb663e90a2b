//! Origin keys: public keys (and their seed-era `views` aliases) and secret keys, with their
//! statuses, headers and who may call them.

use habitat_core::keys::{PublicKey, SecretKey};
use habitat_depot_server::store::Role;
use reqwest::header::HeaderMap;
use reqwest::{Body, Method, StatusCode};
use serde_json::{Value, json};

use super::origins::Team;
use super::support::*;

/// A key pair of `origin` whose files name `revision` (the name line is not signed, so a fresh
/// key can carry any revision).
struct Key {
    revision: String,
    public: String,
    secret: String,
}

fn key(origin: &str, revision: &str) -> Key {
    let secret = SecretKey::generate(&origin.parse().unwrap()).unwrap();
    let rename = |text: String| {
        let (kind, rest) = text.split_once('\n').unwrap();
        let (_, rest) = rest.split_once('\n').unwrap();
        format!("{kind}\n{origin}-{revision}\n{rest}")
    };
    let key = Key {
        revision: revision.to_owned(),
        public: rename(secret.public_key().to_file_string()),
        secret: rename(secret.to_file_string()),
    };
    assert_eq!(
        PublicKey::parse(&key.public).unwrap().name().revision(),
        revision
    );
    assert_eq!(
        SecretKey::parse(&key.secret).unwrap().name().revision(),
        revision
    );
    key
}

/// Status, headers and body text of a request.
async fn fetch(
    depot: &TestDepot,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Body>,
) -> (StatusCode, HeaderMap, String) {
    let mut request = depot.request(method, path, token);
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

/// Posts a public key file to `/depot/origins/{origin}/keys/{revision}`.
async fn post_key(
    depot: &TestDepot,
    token: &str,
    origin: &str,
    revision: &str,
    text: &str,
) -> (StatusCode, HeaderMap, String) {
    let path = format!("/depot/origins/{origin}/keys/{revision}");
    fetch(
        depot,
        Method::POST,
        &path,
        Some(token),
        Some(text.to_owned().into()),
    )
    .await
}

/// Revisions listed for `core`, newest first.
async fn revisions(depot: &TestDepot) -> Vec<String> {
    let list = send(
        depot.request(Method::GET, "/depot/origins/core/keys", None),
        StatusCode::OK,
    )
    .await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|k| k["revision"].as_str().unwrap().to_owned())
        .collect()
}

/// A body streamed in chunks with no Content-Length, as the stock client uploads keys.
fn chunked(text: &[u8]) -> Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        text.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    Body::wrap_stream(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn public_keys_upload_and_read_back() {
    let team = Team::start().await;
    let depot = &team.depot;
    let (old, new) = (key("core", "20200101000000"), key("core", "20240101000000"));
    // Upload order does not matter: newest is by revision.
    for k in [&new, &old] {
        let (status, headers, body) =
            post_key(depot, &team.administrator, "core", &k.revision, &k.public).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(
            headers["location"],
            format!("/v1/depot/origins/core/keys/{}", k.revision)
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body,
            json!({"origin": "core", "revision": k.revision, "location": format!("/origins/core/keys/{}", k.revision)})
        );
    }

    // Anyone reads them.
    let list = send(
        depot.request(Method::GET, "/depot/origins/core/keys", None),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        list,
        json!([
            {"origin": "core", "revision": "20240101000000", "location": "/origins/core/keys/20240101000000"},
            {"origin": "core", "revision": "20200101000000", "location": "/origins/core/keys/20200101000000"},
        ])
    );
    for (path, expected) in [
        ("/depot/origins/core/keys/20200101000000", &old),
        ("/depot/origins/core/keys/latest", &new),
    ] {
        let (status, headers, body) = fetch(depot, Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body, expected.public);
        assert_eq!(
            headers["x-filename"],
            format!("core-{}.pub", expected.revision)
        );
        assert_eq!(headers["content-type"], "application/octet-stream");
    }
    // The file served parses as the key uploaded.
    let (_, _, body) = fetch(
        depot,
        Method::GET,
        "/depot/origins/core/keys/20240101000000",
        Some(&team.outsider),
        None,
    )
    .await;
    assert_eq!(
        PublicKey::parse(&body).unwrap(),
        PublicKey::parse(&new.public).unwrap()
    );
}

#[tokio::test]
async fn seed_era_views_answer_like_their_twins() {
    let team = Team::start().await;
    let depot = &team.depot;
    let k = key("core", "20240101000000");
    // Uploading through the alias is uploading.
    let (status, headers, _) = fetch(
        depot,
        Method::POST,
        "/depot/views/stable/origins/core/keys/20240101000000",
        Some(&team.administrator),
        Some(k.public.clone().into()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        headers["location"],
        "/v1/depot/origins/core/keys/20240101000000"
    );

    for suffix in [
        "",
        "/latest",
        "/20240101000000",
        "/20990101000000",
        "/nonsense",
    ] {
        let twin = fetch(
            depot,
            Method::GET,
            &format!("/depot/origins/core/keys{suffix}"),
            None,
            None,
        )
        .await;
        let alias = fetch(
            depot,
            Method::GET,
            &format!("/depot/views/myview/origins/core/keys{suffix}"),
            None,
            None,
        )
        .await;
        assert_eq!(alias.0, twin.0, "{suffix}");
        assert_eq!(alias.2, twin.2, "{suffix}");
        assert_eq!(
            alias.1.get("x-filename"),
            twin.1.get("x-filename"),
            "{suffix}"
        );
    }
    // The channel segment is validated, and an unknown origin is 404 there too.
    let body = send(
        depot.request(
            Method::GET,
            "/depot/views/Not%20A%20Channel/origins/core/keys",
            None,
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_error(&body, "invalid_value");
    send(
        depot.request(
            Method::GET,
            "/depot/views/stable/origins/nope/keys/latest",
            None,
        ),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn uploading_a_public_key_needs_administrator() {
    let team = Team::start().await;
    let depot = &team.depot;
    let k = key("core", "20240101000000");
    let path = "/depot/origins/core/keys/20240101000000";
    team.assert_denied(
        Call::post(path).body(k.public.as_str()),
        Role::Administrator,
    )
    .await;
    assert!(
        revisions(depot).await.is_empty(),
        "a denied request changes nothing"
    );
    send(
        depot.request(Method::GET, path, None),
        StatusCode::NOT_FOUND,
    )
    .await;

    let (status, _, body) =
        post_key(depot, &team.administrator, "core", &k.revision, &k.public).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let newer = key("core", "20250101000000");
    let (status, _, _) = post_key(depot, &team.owner, "core", &newer.revision, &newer.public).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(revisions(depot).await, ["20250101000000", "20240101000000"]);
    let (status, _, body) = post_key(depot, &team.owner, "nope", &k.revision, &k.public).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// The stock client uploads the origin's public key before each package and takes 409 as
/// "already there"; a member, who may upload packages, must get that rather than 403.
#[tokio::test]
async fn members_learn_that_a_key_revision_exists() {
    let team = Team::start().await;
    let depot = &team.depot;
    let k = key("core", "20240101000000");
    post_key(depot, &team.administrator, "core", &k.revision, &k.public).await;
    let other = key("core", "20240101000000");
    for role in [
        Role::Member,
        Role::Maintainer,
        Role::Administrator,
        Role::Owner,
    ] {
        let (status, _, body) =
            post_key(depot, team.token(role), "core", &k.revision, &other.public).await;
        assert_eq!(status, StatusCode::CONFLICT, "{role:?}: {body}");
        assert_error(&serde_json::from_str(&body).unwrap(), "conflict");
    }
    for token in [&team.readonly, &team.outsider] {
        let (status, _, _) = post_key(depot, token, "core", &k.revision, &other.public).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // A new revision stays forbidden to a member.
    let newer = key("core", "20250101000000");
    let (status, _, _) =
        post_key(depot, &team.member, "core", &newer.revision, &newer.public).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Published keys do not change.
    let (_, _, body) = fetch(
        depot,
        Method::GET,
        "/depot/origins/core/keys/20240101000000",
        None,
        None,
    )
    .await;
    assert_eq!(body, k.public);
    assert_eq!(revisions(depot).await, ["20240101000000"]);
}

#[tokio::test]
async fn uploading_a_public_key_checks_the_file() {
    let team = Team::start().await;
    let depot = &team.depot;
    let admin = &team.administrator;
    let rev = "20240101000000";
    let k = key("core", rev);
    let path = format!("/depot/origins/core/keys/{rev}");
    let upload = |revision: &str, text: &[u8]| {
        Call::post(format!("/depot/origins/core/keys/{revision}"))
            .as_(admin)
            .body(text)
    };
    let mut calls: Vec<Call> = [
        ("garbage".to_owned(), "invalid_key"),
        (k.secret.clone(), "invalid_key"),
        (k.public.replace("SIG-PUB-1", "BOX-PUB-1"), "invalid_key"),
        (key("other", rev).public, "key_mismatch"),
        (key("core", "20230101000000").public, "key_mismatch"),
    ]
    .into_iter()
    .map(|(text, code)| upload(rev, text.as_bytes()).fails(UNPROCESSABLE, code))
    .collect();
    calls.push(upload(rev, &[0xff, 0xfe, 0x00]).fails(UNPROCESSABLE, "invalid_key"));
    for bad in ["2024", "latestx", "2024010100000x"] {
        calls.push(upload(bad, k.public.as_bytes()).fails(UNPROCESSABLE, "invalid_value"));
    }
    // Past 64 KiB: 413, with a Content-Length and streamed.
    let big = "x".repeat(65 * 1024);
    calls.push(
        upload(rev, big.as_bytes()).fails(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    );
    depot.check(&calls).await;
    let (status, _, _) = fetch(
        depot,
        Method::POST,
        &path,
        Some(admin),
        Some(chunked(big.as_bytes())),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(revisions(depot).await.is_empty(), "nothing was stored");

    // A streamed key of the right size is fine; a trailing newline too.
    let (status, _, body) = fetch(
        depot,
        Method::POST,
        &path,
        Some(admin),
        Some(chunked(format!("{}\n", k.public).as_bytes())),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(revisions(depot).await, [rev]);
    let (_, _, body) = fetch(depot, Method::GET, &path, None, None).await;
    assert_eq!(body, k.public);
}

#[tokio::test]
async fn reading_keys_that_do_not_exist() {
    let team = Team::start().await;
    let mut calls = vec![Call::get("/depot/origins/core/keys")];
    for path in [
        "/depot/origins/core/keys/latest",
        "/depot/origins/core/keys/20240101000000",
        "/depot/origins/nope/keys",
        "/depot/origins/nope/keys/latest",
    ] {
        calls.push(Call::get(path).fails(NOT_FOUND, "not_found"));
    }
    for path in [
        "/depot/origins/core/keys/2024",
        "/depot/origins/Not%20Valid/keys",
    ] {
        calls.push(Call::get(path).fails(UNPROCESSABLE, "invalid_value"));
    }
    calls.push(
        Call::get("/depot/origins/core/keys")
            .as_(BAD_TOKEN)
            .answers(UNAUTHORIZED),
    );
    let bodies = team.depot.check(&calls).await;
    assert_eq!(bodies[0], json!([]));
}

#[tokio::test]
async fn secret_key_round_trip_is_encrypted_at_rest() {
    let team = Team::start().await;
    let depot = &team.depot;
    let keys = origin_keys(depot.dir.path(), "core");
    let revision = keys.secret.name().revision().to_owned();
    let plaintext = keys.secret.to_file_string();
    let (status, _, body) = post_key(
        depot,
        &team.administrator,
        "core",
        &revision,
        &keys.public_text,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let path = format!("/depot/origins/core/secret_keys/{revision}");
    let body = send(
        depot
            .request(Method::POST, &path, Some(&team.administrator))
            .body(plaintext.clone()),
        StatusCode::OK,
    )
    .await;
    assert_eq!(body, json!({"origin": "core", "revision": revision}));

    let (status, headers, body) = fetch(
        depot,
        Method::GET,
        "/depot/origins/core/secret_keys/latest",
        Some(&team.owner),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, plaintext);
    assert_eq!(SecretKey::parse(&body).unwrap(), keys.secret);
    assert_eq!(headers["x-filename"], format!("core-{revision}.sig.key"));
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(headers["cache-control"], "no-store");

    // At rest: not the plaintext, nor any line of it; the server key opens it.
    let stored = depot
        .state
        .metadata
        .latest_secret_key(&"core".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revision, revision);
    let base64_line = plaintext.lines().nth(3).unwrap().as_bytes();
    assert!(
        !stored
            .encrypted
            .windows(base64_line.len())
            .any(|w| w == base64_line)
    );
    assert!(!stored.encrypted.windows(9).any(|w| w == b"SIG-SEC-1"));
    assert_eq!(
        depot.state.server_key.decrypt(&stored.encrypted).unwrap(),
        plaintext.as_bytes()
    );

    // Uploading it again (what `hab origin key upload --secret` does on a rerun) is fine.
    send(
        depot
            .request(Method::POST, &path, Some(&team.owner))
            .body(plaintext.clone()),
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn secret_keys_need_administrator() {
    let team = Team::start().await;
    let depot = &team.depot;
    let k = key("core", "20240101000000");
    let core = "core".parse().unwrap();
    let path = "/depot/origins/core/secret_keys/20240101000000";
    let latest = "/depot/origins/core/secret_keys/latest";

    depot
        .call(
            &Call::get(latest)
                .as_(&team.administrator)
                .fails(NOT_FOUND, "not_found"),
        )
        .await;
    team.assert_denied(
        Call::post(path).body(k.secret.as_str()),
        Role::Administrator,
    )
    .await;
    assert!(
        depot
            .state
            .metadata
            .latest_secret_key(&core)
            .await
            .unwrap()
            .is_none(),
        "a denied request changes nothing"
    );

    depot
        .call(
            &Call::post(path)
                .as_(&team.administrator)
                .body(k.secret.as_str()),
        )
        .await;
    team.assert_denied(Call::get(latest), Role::Administrator)
        .await;
    for role in [Role::Administrator, Role::Owner] {
        let (status, _, body) =
            fetch(depot, Method::GET, latest, Some(team.token(role)), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, k.secret);
    }
    // The newest revision wins.
    let newer = key("core", "20250101000000");
    depot
        .call(
            &Call::post("/depot/origins/core/secret_keys/20250101000000")
                .as_(&team.owner)
                .body(newer.secret.as_str()),
        )
        .await;
    let (_, headers, body) = fetch(depot, Method::GET, latest, Some(&team.owner), None).await;
    assert_eq!(body, newer.secret);
    assert_eq!(headers["x-filename"], "core-20250101000000.sig.key");

    depot
        .check(
            &[
                Call::post("/depot/origins/nope/secret_keys/20240101000000"),
                Call::get("/depot/origins/nope/secret_keys/latest"),
            ]
            .map(|call| {
                call.as_(&team.owner)
                    .body(k.secret.as_str())
                    .answers(NOT_FOUND)
            }),
        )
        .await;
}

#[tokio::test]
async fn uploading_a_secret_key_checks_the_file() {
    let team = Team::start().await;
    let depot = &team.depot;
    let rev = "20240101000000";
    let published = key("core", rev);
    post_key(depot, &team.administrator, "core", rev, &published.public).await;
    let path = format!("/depot/origins/core/secret_keys/{rev}");
    let upload = |path: &str, text: &str| Call::post(path).as_(&team.owner).body(text);
    let mut calls: Vec<Call> = [
        ("garbage".to_owned(), "invalid_key"),
        (published.public.clone(), "invalid_key"),
        (key("other", rev).secret, "key_mismatch"),
        (key("core", "20230101000000").secret, "key_mismatch"),
        // Of this origin and revision, but not the half of the public key published for it.
        (key("core", rev).secret, "key_mismatch"),
    ]
    .into_iter()
    .map(|(text, code)| upload(&path, &text).fails(UNPROCESSABLE, code))
    .collect();
    calls.push(
        upload("/depot/origins/core/secret_keys/2024", &published.secret)
            .fails(UNPROCESSABLE, "invalid_value"),
    );
    let big = "x".repeat(65 * 1024);
    calls.push(upload(&path, &big).fails(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    depot.check(&calls).await;
    assert!(
        depot
            .state
            .metadata
            .latest_secret_key(&"core".parse().unwrap())
            .await
            .unwrap()
            .is_none(),
        "nothing was stored"
    );

    // The matching half is accepted.
    depot.call(&upload(&path, &published.secret)).await;
}
