//! Status, profile, tokens.

use reqwest::{Method, StatusCode};

use super::support::*;

#[tokio::test]
async fn status_answers_when_both_stores_do() {
    let depot = TestDepot::start().await;
    let response = depot.get("/status", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let head = depot.request(Method::HEAD, "/status", None).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    // The artifact store disappears: 503 naming it.
    std::fs::remove_dir_all(depot.dir.path().join("data/artifacts")).unwrap();
    let body = send(depot.request(Method::GET, "/status", None), StatusCode::SERVICE_UNAVAILABLE).await;
    assert_error(&body, "unavailable");
    assert!(body["message"].as_str().unwrap().contains("artifact"), "{body}");
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
    let body = send(depot.request(Method::GET, "/profile", None), StatusCode::UNAUTHORIZED).await;
    assert_error(&body, "unauthorized");
}

#[tokio::test]
async fn profile_and_token_lifecycle() {
    let depot = TestDepot::start().await;
    let token = depot.user("alice").await;
    let profile = send(depot.request(Method::GET, "/profile", Some(&token)), StatusCode::OK).await;
    assert_eq!(profile["name"], "alice");
    assert!(profile["id"].is_string());

    let created = send(
        depot
            .request(Method::POST, "/profile/access-tokens", Some(&token))
            .json(&serde_json::json!({"name": "ci", "expires_in_days": 1})),
        StatusCode::CREATED,
    )
    .await;
    let second = created["token"].as_str().unwrap().to_owned();
    assert!(second.starts_with("hab_"));
    assert!(created["expires_at"].is_string());
    let list = send(depot.request(Method::GET, "/profile/access-tokens", Some(&second)), StatusCode::OK).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|t| t.get("token").is_none()), "secrets are never listed");

    // Someone else's token id is 404; one's own is 204, and then that token is 401.
    let bob = depot.user("bob").await;
    let id = created["id"].as_str().unwrap();
    send(depot.request(Method::DELETE, &format!("/profile/access-tokens/{id}"), Some(&bob)), StatusCode::NOT_FOUND).await;
    send(depot.request(Method::DELETE, &format!("/profile/access-tokens/{id}"), Some(&token)), StatusCode::NO_CONTENT).await;
    send(depot.request(Method::GET, "/profile", Some(&second)), StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let depot = TestDepot::start().await;
    depot.user("carol").await;
    let account = depot.state.metadata.account_by_name("carol").await.unwrap().unwrap();
    let (secret, hash) = habitat_depot_server::auth::new_token().unwrap();
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    depot.state.metadata.create_token(account.id, "old", &hash, Some(past)).await.unwrap();
    let body = send(depot.request(Method::GET, "/profile", Some(&secret)), StatusCode::UNAUTHORIZED).await;
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");
}

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let depot = TestDepot::start().await;
    let body = send(depot.request(Method::GET, "/nothing/here", None), StatusCode::NOT_FOUND).await;
    assert_error(&body, "not_found");
}
