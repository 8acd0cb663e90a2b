//! The request-and-assert steps of the API tests: send, check the status, read the JSON body,
//! check an error's code and message.

use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

/// Asserts the status and returns the JSON body (Null when empty, a string when not JSON).
#[track_caller]
pub fn expect_status(status: StatusCode, expected: StatusCode, body: &str) -> Value {
    assert_eq!(status, expected, "body: {body}");
    if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()))
    }
}

/// Sends and checks the status; returns the JSON body.
pub async fn send(builder: RequestBuilder, expected: StatusCode) -> Value {
    let response = builder.send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    expect_status(status, expected, &body)
}

/// Sends, checks the status and that the body is an error with `code`; returns the body.
pub async fn send_error(builder: RequestBuilder, expected: StatusCode, code: &str) -> Value {
    let body = send(builder, expected).await;
    assert_error(&body, code);
    body
}

/// An error body must carry a code and a message.
#[track_caller]
pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// An error body's message must contain `needle`.
#[track_caller]
pub fn assert_message_contains(body: &Value, needle: &str) {
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "`{needle}` not in {body}");
}
