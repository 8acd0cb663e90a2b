//! The request-and-assert steps of the API tests: send, check the status, read the JSON body,
//! check an error's code and message.

use habitat_core::keys::SecretKey;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::Value;

/// Creates origin `name` through the API of the depot at `url` (`http://…/v1`) as the holder
/// of `token`; it must answer 201.
pub async fn create_origin_at(client: &Client, url: &str, token: &str, name: &str) {
    let response = client
        .post(format!("{url}/depot/origins"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "create origin {name}"
    );
}

/// Uploads the public half of `key` to its origin through the API of the depot at `url`
/// (`http://…/v1`) as the holder of `token`; it must answer 201.
pub async fn upload_public_key_at(client: &Client, url: &str, token: &str, key: &SecretKey) {
    let name = key.name();
    let (origin, revision) = (name.name(), name.revision());
    let response = client
        .post(format!("{url}/depot/origins/{origin}/keys/{revision}"))
        .bearer_auth(token)
        .body(key.public_key().to_file_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "upload key {name}");
}

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

/// One request of a table of cases and the answer it must get: `method path` (under /v1), as
/// the holder of a token or anonymously, with a body or none; the status, and for an error the
/// code its body must carry.
#[derive(Clone, Debug)]
pub struct Call<'a> {
    /// The method.
    pub method: Method,
    /// The path under /v1, with its query.
    pub path: String,
    /// The caller's token; `None`: anonymous.
    pub token: Option<&'a str>,
    /// The body, and whether it is JSON.
    pub body: Option<(Vec<u8>, bool)>,
    /// The status expected.
    pub status: StatusCode,
    /// The error code expected, if any.
    pub code: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// `method path`, anonymous, no body, expected to answer 200.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            token: None,
            body: None,
            status: StatusCode::OK,
            code: None,
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    /// `PUT path`.
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::PUT, path)
    }

    /// `DELETE path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// Sent with `token` (`None`: anonymous).
    pub fn by(self, token: Option<&'a str>) -> Self {
        Self { token, ..self }
    }

    /// Sent as the holder of `token`.
    pub fn as_(self, token: &'a str) -> Self {
        self.by(Some(token))
    }

    /// With this body.
    pub fn body(self, body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: Some((body.into(), false)),
            ..self
        }
    }

    /// With this JSON body.
    pub fn json(self, body: &Value) -> Self {
        Self {
            body: Some((body.to_string().into_bytes(), true)),
            ..self
        }
    }

    /// Expected to answer `status` (whatever the body).
    pub fn answers(self, status: StatusCode) -> Self {
        Self {
            status,
            code: None,
            ..self
        }
    }

    /// Expected to answer `status` with an error body carrying `code`.
    pub fn fails(self, status: StatusCode, code: &'a str) -> Self {
        Self {
            status,
            code: Some(code),
            ..self
        }
    }

    /// Checks an answer against this case; returns the JSON body.
    #[track_caller]
    pub fn check(&self, status: StatusCode, body: &str) -> Value {
        let (method, path, token) = (&self.method, &self.path, self.token);
        assert_eq!(
            status, self.status,
            "{method} {path} as {token:?}: body: {body}"
        );
        let body = expect_status(status, self.status, body);
        if let Some(code) = self.code {
            assert_eq!(body["code"], code, "{method} {path} as {token:?}: {body}");
            assert_error(&body, code);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_FOUND: &str = r#"{"code": "not_found", "message": "no origin `x`"}"#;

    #[test]
    fn a_call_returns_the_json_body_of_the_expected_answer() {
        let call = Call::get("/depot/origins/x").fails(StatusCode::NOT_FOUND, "not_found");
        let body = call.check(StatusCode::NOT_FOUND, NOT_FOUND);
        assert_eq!(body["message"], "no origin `x`");
        assert_eq!(Call::get("/status").check(StatusCode::OK, ""), Value::Null);
        let text = Call::get("/x").check(StatusCode::OK, "plain");
        assert_eq!(text, Value::String("plain".into()));
    }

    #[test]
    #[should_panic(expected = "GET /depot/origins/x as Some(\"t\")")]
    fn a_call_answered_with_another_status_fails_naming_it() {
        let call = Call::get("/depot/origins/x")
            .as_("t")
            .answers(StatusCode::OK);
        call.check(StatusCode::NOT_FOUND, NOT_FOUND);
    }

    #[test]
    #[should_panic(expected = "forbidden")]
    fn a_call_answered_with_another_error_code_fails() {
        let call = Call::delete("/x").fails(StatusCode::NOT_FOUND, "forbidden");
        call.check(StatusCode::NOT_FOUND, NOT_FOUND);
    }

    #[test]
    #[should_panic(expected = "not_found")]
    fn an_error_without_a_message_fails() {
        assert_error(&serde_json::json!({"code": "not_found"}), "not_found");
    }

    #[test]
    fn message_parts_are_checked() {
        let body: Value = serde_json::from_str(NOT_FOUND).unwrap();
        assert_message_contains(&body, "`x`");
        let missing = std::panic::catch_unwind(|| assert_message_contains(&body, "`y`"));
        assert!(missing.is_err());
    }
}
