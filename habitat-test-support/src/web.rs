//! A browser without a browser: an HTTP client that keeps cookies, does not follow redirects,
//! and posts forms with the form token of the last page it read, for testing the web pages
//! at the HTTP level. (The real browser tests drive Chromium.)

use reqwest::header::{LOCATION, ORIGIN};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};

use crate::TestDepot;

/// A page as fetched: its status, `Location` and body.
#[derive(Debug)]
pub struct Page {
    /// The status.
    pub status: StatusCode,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// The body.
    pub body: String,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The value of the first `name="csrf"` hidden field.
    pub fn csrf(&self) -> Option<String> {
        let at = self.body.find("name=\"csrf\" value=\"")?;
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        Some(rest[..rest.find('"')?].to_owned())
    }
}

/// One browser's cookies and its last form token.
pub struct WebClient {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    client: Client,
    csrf: std::sync::Mutex<Option<String>>,
}

impl WebClient {
    /// A fresh browser for `depot`.
    pub fn new(depot: &TestDepot) -> Self {
        let base = depot.url.trim_end_matches("/v1").to_owned();
        let client = Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .expect("an HTTP client");
        Self {
            base,
            client,
            csrf: std::sync::Mutex::new(None),
        }
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.expect("a body");
        Page {
            status,
            location,
            body,
            headers,
        }
    }

    /// `GET path`; remembers the page's form token.
    pub async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the depot answers");
        let page = Self::page(response).await;
        if let Some(token) = page.csrf() {
            *self.csrf.lock().expect("not poisoned") = Some(token);
        }
        page
    }

    /// Posts a form to `path` as the depot's own page would (same `Origin`, the last page's
    /// form token added as `csrf`).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf.lock().expect("not poisoned").clone();
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if let Some(token) = token.as_deref() {
            form.push(("csrf", token));
        }
        self.post_raw(path, &form, Some(&self.base)).await
    }

    /// Posts `fields` exactly as given, with `origin` as the `Origin` header if any.
    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        Self::page(request.send().await.expect("the depot answers")).await
    }

    /// Posts a `multipart/form-data` form to `path` as the depot's own page would (same
    /// `Origin`, the last page's form token added as `csrf`): `fields` as text parts, `files` as
    /// file parts `(field, file name, content)`.
    pub async fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> Page {
        let token = self.csrf.lock().expect("not poisoned").clone();
        let mut texts: Vec<(&str, &str)> = fields.to_vec();
        if let Some(token) = token.as_deref() {
            texts.push(("csrf", token));
        }
        self.post_multipart_raw(path, &texts, files, Some(&self.base))
            .await
    }

    /// Posts a `multipart/form-data` form with `fields` exactly as given (no form token added),
    /// and `origin` as the `Origin` header if any.
    pub async fn post_multipart_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
        origin: Option<&str>,
    ) -> Page {
        const BOUNDARY: &str = "hab-test-boundary-7d1f0c";
        let mut body: Vec<u8> = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        for (name, file_name, content) in files {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                     filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        Self::page(request.send().await.expect("the depot answers")).await
    }

    /// Signs in with an access token through the sign-in page.
    pub async fn sign_in_with_token(&self, token: &str) {
        self.get("/login").await;
        let page = self.post("/login/token", &[("token", token)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }
}
