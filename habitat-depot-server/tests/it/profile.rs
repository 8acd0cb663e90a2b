//! Status, profile, tokens.

use reqwest::{Method, StatusCode};

use super::support::*;

#[tokio::test]
async fn status_answers_when_both_stores_do() {
    let depot = TestDepot::start().await;
    depot
        .check(&[Call::get("/status"), Call::new(Method::HEAD, "/status")])
        .await;
    // The artifact store disappears: 503 naming it.
    depot.break_artifact_store().await;
    let body = depot
        .call(&Call::get("/status").fails(StatusCode::SERVICE_UNAVAILABLE, "unavailable"))
        .await;
    assert_message_contains(&body, "artifact");
}

#[tokio::test]
async fn bad_tokens_are_401_everywhere_even_on_public_routes() {
    let depot = TestDepot::start().await;
    for header in ["Bearer nope", "Basic abc", "Bearer ", "hab_xyz"] {
        let response = depot
            .client
            .get(format!("{}/status", depot.url))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_error(&body, "unauthorized");
    }
    depot
        .call(&Call::get("/profile").fails(UNAUTHORIZED, "unauthorized"))
        .await;
}

#[tokio::test]
async fn profile_and_token_lifecycle() {
    let depot = TestDepot::start().await;
    let token = depot.user("alice").await;
    let new_token = serde_json::json!({"name": "ci", "expires_in_days": 1});
    let [profile, created] = depot
        .check(&[
            Call::get("/profile").as_(&token),
            Call::post("/profile/access-tokens")
                .as_(&token)
                .json(&new_token)
                .answers(StatusCode::CREATED),
        ])
        .await
        .try_into()
        .unwrap();
    assert_eq!(profile["name"], "alice");
    assert!(profile["id"].is_string());
    let second = created["token"].as_str().unwrap().to_owned();
    assert!(second.starts_with("hab_"));
    assert!(created["expires_at"].is_string());
    let list = depot
        .call(&Call::get("/profile/access-tokens").as_(&second))
        .await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        list.iter().all(|t| t.get("token").is_none()),
        "secrets are never listed"
    );

    // Someone else's token id is 404; one's own is 204, and then that token is 401.
    let bob = depot.user("bob").await;
    let id = created["id"].as_str().unwrap();
    let revoke = || Call::delete(format!("/profile/access-tokens/{id}"));
    depot
        .check(&[
            revoke().as_(&bob).answers(NOT_FOUND),
            revoke().as_(&token).answers(NO_CONTENT),
            Call::get("/profile").as_(&second).answers(UNAUTHORIZED),
        ])
        .await;
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let depot = TestDepot::start().await;
    depot.user("carol").await;
    let account = depot
        .state
        .metadata
        .account_by_name("carol")
        .await
        .unwrap()
        .unwrap();
    let (secret, hash) = habitat_depot_server::auth::new_token().unwrap();
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    depot
        .state
        .metadata
        .create_token(account.id, "old", &hash, Some(past))
        .await
        .unwrap();
    let body = depot
        .call(&Call::get("/profile").as_(&secret).answers(UNAUTHORIZED))
        .await;
    assert_message_contains(&body, "expired");
}

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let depot = TestDepot::start().await;
    depot
        .call(&Call::get("/nothing/here").fails(NOT_FOUND, "not_found"))
        .await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    use tokio::io::AsyncReadExt;
    let depot = TestDepot::start_with(|s| s.idle_timeout_secs = 1).await;
    let addr = depot
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_owned();
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 64];
    // The server closes the connection (read returns 0 or an error) within the timeout and a margin.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), idle.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    // A real request still works.
    assert_eq!(depot.get("/status", None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let settings = habitat_depot_server::settings::Settings {
        data_dir: dir.path().into(),
        ..Default::default()
    };
    let (state, _bucket) = open_state(settings).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(habitat_depot_server::serve::serve(
        listener,
        habitat_depot_server::router(state),
        std::time::Duration::from_secs(30),
        async {
            let _ = stopped.await;
        },
    ));
    // A request whose head is sent but whose body is still arriving when shutdown starts.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"POST /v1/profile/access-tokens HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    conn.write_all(b"}").await.unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "the request was answered: {response}"
    );
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn errors_made_outside_handlers_are_json_too() {
    let depot = TestDepot::start().await;
    let token = depot.user("dora").await;
    // A body the extractor refuses (not JSON), and a method the route does not have.
    let response = depot
        .request(Method::POST, "/profile/access-tokens", Some(&token))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(status.is_client_error(), "{status}");
    assert!(
        body["code"].is_string() && body["message"].is_string(),
        "{body}"
    );
    let response = depot
        .request(Method::PUT, "/status", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.headers().contains_key("allow"), "headers are kept");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_error(&body, "method_not_allowed");
}

#[tokio::test]
async fn token_ids_are_never_reused() {
    // Regression: a deleted row's id came back, so a stale id could name another token.
    let depot = TestDepot::start().await;
    let token = depot.user("erin").await;
    let create = Call::post("/profile/access-tokens")
        .as_(&token)
        .json(&serde_json::json!({"name": "x"}))
        .answers(StatusCode::CREATED);
    let first = depot.call(&create).await;
    let id = first["id"].as_str().unwrap().to_owned();
    let [_, second] = depot
        .check(&[
            Call::delete(format!("/profile/access-tokens/{id}"))
                .as_(&token)
                .answers(NO_CONTENT),
            create.clone(),
        ])
        .await
        .try_into()
        .unwrap();
    assert_ne!(second["id"], first["id"]);
    assert!(
        !second["created_at"].as_str().unwrap().contains('.'),
        "whole seconds: {second}"
    );
}

#[test]
fn a_lost_server_key_is_an_error_not_a_new_key() {
    // Embedded only: the key is checked against the SQLite file beside it in the data directory.
    if Stores::from_env() != Stores::Embedded {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let settings = || habitat_depot_server::settings::Settings {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    drop(habitat_depot_server::AppState::open_embedded(settings()).unwrap());
    std::fs::remove_file(dir.path().join("data/server.key")).unwrap();
    let err = habitat_depot_server::AppState::open_embedded(settings())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("server.key` is missing"), "{err}");
    assert!(!dir.path().join("data/server.key").exists());
}

#[test]
fn a_database_from_a_newer_depot_is_refused() {
    // Embedded only: about the SQLite file (`postgres.rs` checks PostgreSQL's schema version).
    if Stores::from_env() != Stores::Embedded {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("depot.sqlite");
    drop(habitat_depot_server::store::sqlite::SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = habitat_depot_server::store::sqlite::SqliteStore::open(&path)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("schema version 99, newer than this hab-depot knows"),
        "{err}"
    );
}
