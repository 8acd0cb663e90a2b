//! Browser sessions and the forms' protection against cross-site requests.
//!
//! Two cookies, both `HttpOnly` and `SameSite=Lax`, `Secure` with the `__Host-` prefix when the
//! public URL is https:
//! - the browser cookie, a random id set on the first page a browser sees: it binds an in-flight
//!   sign-in to the browser that started it, and keys the form token of signed-out pages;
//! - the session cookie, a random secret set on sign-in, stored only as its BLAKE2b hash (so
//!   every process of a scale-out depot accepts it), with an idle and an absolute expiry.
//!
//! Every state-changing form carries a token derived from the session secret (or, signed out,
//! from the browser id) and is refused unless it matches and the request's `Origin` and
//! `Sec-Fetch-Site` say it came from the depot itself. The `/v1` API never reads these cookies.
//! Page handlers take a posted form only through [`Posted`] (urlencoded) or
//! [`PostedMultipart`], which make those checks before the handler runs.

use axum::body::Body;
use axum::extract::{Form, FromRequest, FromRequestParts, Multipart, RawForm, Request, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use habitat_core::Blake2bHash;
use time::{Duration, OffsetDateTime};

use crate::AppState;
use crate::auth::Caller;
use crate::store::{Account, StoreResult};
use crate::web::{WebError, WebResult};

/// How often, at most, a session's last use is written (each write is a store round trip).
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// Who is looking at a page: an account signed in by its session cookie, or nobody; and the
/// token its forms must carry. Every page handler takes one (the web layer puts it in each
/// request).
#[derive(Clone, Debug)]
pub struct Viewer {
    account: Option<Account>,
    csrf: String,
    session: Option<Blake2bHash>,
    browser: String,
}

impl Viewer {
    /// The signed-in account, if any.
    pub fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }

    /// The viewer as the policy sees callers ([`crate::authz::authorize`]).
    pub fn caller(&self) -> Caller {
        Caller(self.account.clone())
    }

    /// The value every form must post in its `csrf` field.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// The browser cookie's id (binds an in-flight sign-in to this browser).
    pub fn browser_id(&self) -> &str {
        &self.browser
    }

    /// The hash of the session cookie's secret, when signed in.
    pub(crate) fn session_hash(&self) -> Option<&Blake2bHash> {
        self.session.as_ref()
    }

    /// Checks a posted form: its `csrf` field must be this viewer's token, and the request must
    /// come from the depot's own pages (`Sec-Fetch-Site`, then `Origin`, against the public
    /// URL or, without one, the request's `Host`). Page handlers do not call it: they take their
    /// form through [`Posted`] or [`PostedMultipart`], which do.
    pub fn check_form(
        &self,
        settings: &crate::settings::Settings,
        headers: &HeaderMap,
        token: &str,
    ) -> Result<(), FormRefused> {
        if let Some(site) = headers.get("sec-fetch-site")
            && !matches!(site.as_bytes(), b"same-origin" | b"none")
        {
            return Err(FormRefused::CrossSite);
        }
        if let Some(origin) = headers.get(ORIGIN) {
            let expected = own_origin(settings, headers);
            if expected.is_none_or(|e| origin.as_bytes() != e.as_bytes()) {
                return Err(FormRefused::CrossSite);
            }
        }
        if token.is_empty() || !ct_eq(token.as_bytes(), self.csrf.as_bytes()) {
            return Err(FormRefused::Token);
        }
        Ok(())
    }
}

/// Why a posted form was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormRefused {
    /// The request came from another site.
    #[error("this form was posted from another site; reload the page and submit it again")]
    CrossSite,
    /// The form token is missing or stale.
    #[error(
        "this form has expired (its security token does not match your session); reload the \
         page and submit it again"
    )]
    Token,
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The web layer always runs first; without it, nobody is signed in and no form passes.
        Ok(parts.extensions.get::<Viewer>().cloned().unwrap_or(Viewer {
            account: None,
            csrf: String::new(),
            session: None,
            browser: String::new(),
        }))
    }
}

/// A posted urlencoded form whose token and origin passed [`Viewer::check_form`], with the
/// viewer who posted it. The body is read into `T` first (a body that does not fit `T` gets
/// the 4xx answer of axum's `Form`), then the form's `csrf` field is checked (a form without
/// one has a wrong token): a refusal is the 403 "Form refused" page, and the handler never
/// runs. `T` holds the form's other fields; it ignores `csrf`.
pub struct Posted<T>(pub Viewer, pub T);

/// A posted form with no field but its token: `Posted<NoFields>`.
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// The form token of a posted form (the only field [`Posted`] reads itself).
#[derive(serde::Deserialize)]
struct FormToken {
    #[serde(default)]
    csrf: String,
}

/// `T` deserialized from urlencoded `bytes`, refused as a posted form body would be.
async fn form_body<T: serde::de::DeserializeOwned>(bytes: &bytes::Bytes) -> Result<T, Response> {
    let request = Request::post("/")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(bytes.clone()))
        .map_err(WebError::internal)
        .map_err(IntoResponse::into_response)?;
    let Form(value) = Form::<T>::from_request(request, &())
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(value)
}

/// Checks the token and origin of a form `viewer` posted with `headers`.
fn check_posted(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    token: &str,
) -> Result<(), Response> {
    viewer
        .check_form(&state.settings, headers, token)
        .map_err(|refused| WebError::from(refused).into_response())
}

impl<T> FromRequest<AppState> for Posted<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Ok(viewer) = Viewer::from_request_parts(&mut parts, state).await;
        let headers = parts.headers.clone();
        let RawForm(bytes) = RawForm::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form: T = form_body(&bytes).await?;
        let token: FormToken = form_body(&bytes).await?;
        check_posted(state, &viewer, &headers, &token.csrf)?;
        Ok(Self(viewer, form))
    }
}

/// The text fields of a multipart form, read by [`PostedMultipart`].
pub trait MultipartForm: Default + Send {
    /// Refuses a field before it is read as text (say, one too large to be what the form
    /// asks for); every field comes here, the form token too.
    fn admit(name: &str, bytes: &[u8]) -> WebResult<()>;

    /// Takes one UTF-8 text field other than the form token.
    fn set(&mut self, name: &str, text: String);
}

/// A posted multipart form whose token (its `csrf` field) and origin passed
/// [`Viewer::check_form`], with the viewer who posted it. Every field is read first (a field
/// that [`MultipartForm::admit`] refuses, or that is not UTF-8, is refused with its own page),
/// then the token is checked exactly as for [`Posted`].
pub struct PostedMultipart<T>(pub Viewer, pub T);

impl<T: MultipartForm> FromRequest<AppState> for PostedMultipart<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Ok(viewer) = Viewer::from_request_parts(&mut parts, state).await;
        let headers = parts.headers.clone();
        let multipart = Multipart::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (form, token) = multipart_fields::<T>(multipart)
            .await
            .map_err(IntoResponse::into_response)?;
        check_posted(state, &viewer, &headers, &token)?;
        Ok(Self(viewer, form))
    }
}

/// Reads every field of `multipart` into a `T`, and the form token.
async fn multipart_fields<T: MultipartForm>(mut multipart: Multipart) -> WebResult<(T, String)> {
    let bad = |message: String| WebError::new(StatusCode::BAD_REQUEST, "Cannot do that", message);
    let mut form = T::default();
    let mut token = String::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(format!("cannot read the form: {}", e.body_text())))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| bad(format!("cannot read the form: {}", e.body_text())))?;
        T::admit(&name, &bytes)?;
        let text = String::from_utf8(bytes.into())
            .map_err(|_| bad(format!("the form's field `{name}` is not UTF-8 text")))?;
        if name == "csrf" {
            token = text;
        } else {
            form.set(&name, text);
        }
    }
    Ok((form, token))
}

/// The scheme and host the depot's own pages are served from: the public URL's, or
/// `http://{Host}` without one.
pub fn own_origin(settings: &crate::settings::Settings, headers: &HeaderMap) -> Option<String> {
    match &settings.public_url {
        Some(url) => origin_of(url),
        None => headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(|host| format!("http://{host}")),
    }
}

/// `scheme://host[:port]` of a URL, without path.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

/// Whether the depot's cookies must be `Secure` (and `__Host-` prefixed).
fn secure(settings: &crate::settings::Settings) -> bool {
    settings
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

/// The cookie names, `__Host-` prefixed when secure.
fn cookie_name(settings: &crate::settings::Settings, base: &str) -> String {
    if secure(settings) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

const BROWSER: &str = "hab_browser";
const SESSION: &str = "hab_session";

/// A cookie of the depot's: `HttpOnly`, `SameSite=Lax`, path `/`, `Secure` when the public URL
/// is https; `max_age` `None` is a browser-session cookie.
fn cookie(
    settings: &crate::settings::Settings,
    base: &str,
    value: String,
    max_age: Option<Duration>,
) -> HeaderValue {
    let mut c = Cookie::new(cookie_name(settings, base), value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(secure(settings));
    if let Some(age) = max_age {
        c.set_max_age(age);
    }
    // Cookie values here are base64url: always a valid header value.
    HeaderValue::from_str(&c.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that starts a session with `secret`.
pub(crate) fn session_cookie(settings: &crate::settings::Settings, secret: &str) -> HeaderValue {
    cookie(settings, SESSION, secret.to_owned(), None)
}

/// The `Set-Cookie` value that ends the session in the browser.
pub(crate) fn clear_session_cookie(settings: &crate::settings::Settings) -> HeaderValue {
    cookie(settings, SESSION, String::new(), Some(Duration::ZERO))
}

/// A new random secret (a session's, or a browser id), 32 bytes in base64url.
pub(crate) fn random_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a session secret or browser id.
pub(crate) fn secret_hash(secret: &str) -> Blake2bHash {
    Blake2bHash::digest(secret.as_bytes())
}

/// The form token of a session secret or, signed out, a browser id: a hash of it under its own
/// label, so the token reveals neither.
fn form_token(secret: &str) -> String {
    let hash = Blake2bHash::digest(format!("hab-depot form token\n{secret}").as_bytes());
    URL_SAFE_NO_PAD.encode(&hash.as_bytes()[..24])
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The cookies of a request, by name.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The web layer: resolves the cookies into a [`Viewer`] stored in the request, and sets the
/// browser cookie on the response when the browser had none. A missing, unknown or expired
/// session is simply signed out (and its cookie cleared).
pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let settings = &state.settings;
    let headers = request.headers();
    let (browser, new_browser) = match cookie_value(headers, &cookie_name(settings, BROWSER)) {
        Some(id) => (id, false),
        None => (random_secret().unwrap_or_default(), true),
    };
    let secret = cookie_value(headers, &cookie_name(settings, SESSION));
    let (account, session, stale) = match &secret {
        Some(secret) => match signed_in(&state, secret).await {
            Ok(Some((account, hash))) => (Some(account), Some(hash), false),
            Ok(None) => (None, None, true),
            Err(e) => {
                tracing::error!(error = %crate::error::Chain(&e), "cannot read a session");
                (None, None, false)
            }
        },
        None => (None, None, false),
    };
    let csrf = match (&secret, &account) {
        (Some(secret), Some(_)) => form_token(secret),
        _ => form_token(&browser),
    };
    request.extensions_mut().insert(Viewer {
        account,
        csrf,
        session,
        browser: browser.clone(),
    });
    let mut response = next.run(request).await;
    if new_browser {
        let value = cookie(settings, BROWSER, browser, Some(Duration::days(400)));
        response.headers_mut().append(SET_COOKIE, value);
    }
    if stale && !response.headers().contains_key(SET_COOKIE) {
        response
            .headers_mut()
            .append(SET_COOKIE, clear_session_cookie(settings));
    }
    response
}

/// The account of a session secret, if the session exists and has not expired (an expired one
/// is deleted); records its use at most once a minute.
async fn signed_in(state: &AppState, secret: &str) -> StoreResult<Option<(Account, Blake2bHash)>> {
    let hash = secret_hash(secret);
    let Some((session, account)) = state.metadata.session(&hash).await? else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc();
    let idle = Duration::minutes(state.settings.auth.session_idle_minutes as i64);
    if session.expires_at <= now || session.last_seen_at + idle <= now {
        state.metadata.delete_session(&hash).await?;
        return Ok(None);
    }
    if now - session.last_seen_at > TOUCH_EVERY {
        state.metadata.touch_session(session.id).await?;
    }
    Ok(Some((account, hash)))
}

/// Starts a session for `account`: stores its hash, and returns the `Set-Cookie` value.
pub async fn start(state: &AppState, account: &Account) -> Result<HeaderValue, StartError> {
    let secret = random_secret().map_err(StartError::Random)?;
    let expires_at =
        OffsetDateTime::now_utc() + Duration::hours(state.settings.auth.session_max_hours as i64);
    state
        .metadata
        .create_session(account.id, &secret_hash(&secret), expires_at)
        .await?;
    Ok(session_cookie(&state.settings, &secret))
}

/// Why a session cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The system's random source failed.
    #[error("cannot make a session secret: {0}")]
    Random(getrandom::Error),
    /// The store failed.
    #[error("cannot store the session")]
    Store(#[from] crate::store::StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn viewer() -> Viewer {
        Viewer {
            account: None,
            csrf: form_token("browser"),
            session: None,
            browser: "browser".into(),
        }
    }

    #[test]
    fn a_form_from_the_depot_itself_passes() {
        let settings = Settings {
            public_url: Some("https://depot.example.com/".into()),
            ..Settings::default()
        };
        let v = viewer();
        let h = headers(&[
            ("origin", "https://depot.example.com"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(v.check_form(&settings, &h, v.csrf_token()), Ok(()));
    }

    #[test]
    fn forms_from_elsewhere_or_with_a_wrong_token_are_refused() {
        let settings = Settings {
            public_url: Some("https://depot.example.com".into()),
            ..Settings::default()
        };
        let v = viewer();
        let token = v.csrf_token().to_owned();
        let cross = headers(&[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert_eq!(
            v.check_form(&settings, &cross, &token),
            Err(FormRefused::CrossSite)
        );
        let other_origin = headers(&[("origin", "https://evil.example")]);
        assert_eq!(
            v.check_form(&settings, &other_origin, &token),
            Err(FormRefused::CrossSite)
        );
        let same_site = headers(&[("sec-fetch-site", "same-site")]);
        assert_eq!(
            v.check_form(&settings, &same_site, &token),
            Err(FormRefused::CrossSite)
        );
        let ok = headers(&[("origin", "https://depot.example.com")]);
        assert_eq!(
            v.check_form(&settings, &ok, "forged"),
            Err(FormRefused::Token)
        );
        assert_eq!(v.check_form(&settings, &ok, ""), Err(FormRefused::Token));
    }

    #[test]
    fn without_a_public_url_the_host_is_the_origin() {
        let settings = Settings::default();
        let v = viewer();
        let h = headers(&[
            ("host", "127.0.0.1:9636"),
            ("origin", "http://127.0.0.1:9636"),
        ]);
        assert_eq!(v.check_form(&settings, &h, v.csrf_token()), Ok(()));
        let h = headers(&[
            ("host", "127.0.0.1:9636"),
            ("origin", "http://localhost:9636"),
        ]);
        assert_eq!(
            v.check_form(&settings, &h, v.csrf_token()),
            Err(FormRefused::CrossSite)
        );
    }

    #[test]
    fn cookies_are_secure_and_prefixed_only_on_https() {
        let https = Settings {
            public_url: Some("https://depot.example.com".into()),
            ..Settings::default()
        };
        let value = session_cookie(&https, "s3cret");
        let text = value.to_str().unwrap_or_default();
        assert!(text.starts_with("__Host-hab_session=s3cret"), "{text}");
        assert!(
            text.contains("Secure") && text.contains("HttpOnly"),
            "{text}"
        );
        assert!(
            text.contains("SameSite=Lax") && text.contains("Path=/"),
            "{text}"
        );
        let plain = session_cookie(&Settings::default(), "s3cret");
        let text = plain.to_str().unwrap_or_default();
        assert!(
            text.starts_with("hab_session=s3cret") && !text.contains("Secure"),
            "{text}"
        );
    }
}
