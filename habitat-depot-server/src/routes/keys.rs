//! Origin keys (docs/api.md, "Origin keys"): public keys anyone may read, uploaded by
//! administrators; secret keys stored encrypted with the server key. The seed-era
//! `/depot/views/{c}/origins/{o}/keys[/{rev}]` routes answer exactly like their twins.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use habitat_core::OriginName;
use habitat_core::keys::{NamedRevision, PublicKey, SecretKey};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common;
use crate::AppState;
use crate::auth::Caller;
use crate::authz::{self, Action, authorize};
use crate::error::{ApiError, ApiResult};
use crate::store::{AuditRecord, OriginKey, SecretOriginKey};
use crate::sync::pull;

/// Key files are a few hundred bytes; anything this large is not one.
pub(crate) const KEY_BODY_LIMIT: usize = 64 * 1024;

pub(super) fn routes() -> Router<AppState> {
    let list: MethodRouter<AppState> = get(list_keys);
    let latest: MethodRouter<AppState> = get(latest_key);
    let one: MethodRouter<AppState> = get(public_key)
        .post(upload_public_key)
        .layer(DefaultBodyLimit::max(KEY_BODY_LIMIT));
    Router::new()
        .route("/depot/origins/{origin}/keys", list.clone())
        .route("/depot/origins/{origin}/keys/latest", latest.clone())
        .route("/depot/origins/{origin}/keys/{revision}", one.clone())
        .route("/depot/views/{channel}/origins/{origin}/keys", list)
        .route(
            "/depot/views/{channel}/origins/{origin}/keys/latest",
            latest,
        )
        .route(
            "/depot/views/{channel}/origins/{origin}/keys/{revision}",
            one,
        )
        .route(
            "/depot/origins/{origin}/secret_keys/latest",
            get(latest_secret_key),
        )
        .route(
            "/depot/origins/{origin}/secret_keys/{revision}",
            post(upload_secret_key).layer(DefaultBodyLimit::max(KEY_BODY_LIMIT)),
        )
        // Builder's origin secrets (encrypted with the origin's encryption key, handed to
        // builds): this depot builds nothing, so it keeps neither; the routes the stock
        // clients call say so instead of "no such route".
        .route(
            "/depot/origins/{origin}/encryption_key",
            get(no_origin_secrets),
        )
        .route(
            "/depot/origins/{origin}/secret",
            get(no_origin_secrets).post(no_origin_secrets),
        )
        .route(
            "/depot/origins/{origin}/secret/{name}",
            axum::routing::delete(no_origin_secrets),
        )
}

/// The answer of the origin-secret routes: 404 for an unknown origin, else 404 `no_secrets`
/// saying that this depot keeps no origin secrets and no encryption key (docs/api.md,
/// "Origin secrets").
async fn no_origin_secrets(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let origin = path
        .iter()
        .find(|(key, _)| key == "origin")
        .map(|(_, value)| value.as_str())
        .unwrap_or_default();
    let origin = common::origin(origin)?;
    authorize(&state, &caller, &origin, Action::Read).await?;
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "no_secrets",
        format!(
            "this depot keeps no origin secrets and no origin encryption key (origin `{origin}`): \
             it builds no packages, so give secrets to your builds another way"
        ),
    ))
}

/// The path of every key route; `channel` is there only on the seed-era `views` aliases.
#[derive(Deserialize)]
struct KeyPath {
    channel: Option<String>,
    origin: String,
    revision: Option<String>,
}

impl KeyPath {
    /// The origin (422 when invalid). The seed-era channel segment is validated the same way
    /// but otherwise ignored: keys belong to origins, not channels.
    fn origin(&self) -> ApiResult<OriginName> {
        if let Some(name) = &self.channel {
            common::channel(name)?;
        }
        common::origin(&self.origin)
    }

    /// The revision segment (422 unless 14 digits).
    fn revision(&self) -> ApiResult<&str> {
        revision(self.revision.as_deref().unwrap_or_default())
    }
}

/// A key revision from a path segment: 14 digits, `YYYYMMDDhhmmss` (422 otherwise).
fn revision(text: &str) -> ApiResult<&str> {
    if text.len() == 14 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text)
    } else {
        Err(ApiError::unprocessable(
            "invalid_value",
            format!("`{text}` is not a key revision: expected 14 digits (YYYYMMDDhhmmss)"),
        ))
    }
}

/// One entry of the key list, as the stock client reads it.
fn key_json(key: &OriginKey) -> Value {
    json!({
        "origin": key.origin,
        "revision": key.revision,
        "location": format!("/origins/{}/keys/{}", key.origin, key.revision),
    })
}

/// A key file as a download: the stock client saves it under the name in `X-Filename`.
fn key_file(file_name: String, body: String) -> Response {
    let disposition = format!("attachment; filename=\"{file_name}\"");
    (
        [
            (CONTENT_TYPE, "application/octet-stream".to_owned()),
            (CONTENT_DISPOSITION, disposition),
        ],
        [("x-filename", file_name)],
        body,
    )
        .into_response()
}

/// A buffered request body: 413 past `limit` bytes (the route's `DefaultBodyLimit`), 400 when
/// it cannot be read.
pub(super) fn read_body(body: Result<Bytes, BytesRejection>, limit: usize) -> ApiResult<Bytes> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is larger than {} KiB", limit / 1024),
            )
        } else {
            ApiError::bad_request(format!(
                "cannot read the request body: {}",
                rejection.body_text()
            ))
        }
    })
}

/// The body of a key upload as text: 413 past [`KEY_BODY_LIMIT`], 422 when not UTF-8.
fn key_text(body: Result<Bytes, BytesRejection>) -> ApiResult<String> {
    let bytes = read_body(body, KEY_BODY_LIMIT)?;
    String::from_utf8(bytes.into())
        .map_err(|_| ApiError::unprocessable("invalid_key", "the key file is not UTF-8 text"))
}

fn invalid_key(err: habitat_core::Error) -> ApiError {
    ApiError::unprocessable("invalid_key", err.to_string())
}

/// The key's name and revision must be the ones in the URL.
fn check_name(name: &NamedRevision, origin: &OriginName, revision: &str) -> ApiResult<()> {
    if name.name() == origin.as_str() && name.revision() == revision {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "key_mismatch",
            format!("the key is `{name}`, but the URL names `{origin}-{revision}`"),
        ))
    }
}

async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<KeyPath>,
) -> ApiResult<Json<Vec<Value>>> {
    let origin = path.origin()?;
    pull::keys(&state, &origin).await?;
    authorize(&state, &caller, &origin, Action::Read).await?;
    let keys = state.metadata.public_keys(&origin).await?;
    Ok(Json(keys.iter().map(key_json).collect()))
}

async fn latest_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<KeyPath>,
) -> ApiResult<Response> {
    let origin = path.origin()?;
    pull::keys(&state, &origin).await?;
    authorize(&state, &caller, &origin, Action::Read).await?;
    // `public_keys` is newest first.
    let key = state
        .metadata
        .public_keys(&origin)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(format!("origin `{origin}` has no public key")))?;
    Ok(key_file(format!("{origin}-{}.pub", key.revision), key.body))
}

async fn public_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<KeyPath>,
) -> ApiResult<Response> {
    let origin = path.origin()?;
    let revision = path.revision()?;
    pull::key(&state, &origin, revision).await?;
    authorize(&state, &caller, &origin, Action::Read).await?;
    let key = state
        .metadata
        .public_key(&origin, revision)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("key `{origin}-{revision}` not found")))?;
    Ok(key_file(format!("{origin}-{revision}.pub"), key.body))
}

async fn upload_public_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<KeyPath>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let origin = path.origin()?;
    let revision = path.revision()?;
    let permit = authz::authorize_key_upload(&state, &caller, &origin, revision).await?;
    let text = key_text(body)?;
    let account = &permit.account()?.name;
    let stored = store_public_key(&state, &origin, Some(revision), &text, account).await?;
    let location = format!("/v1/depot/origins/{origin}/keys/{revision}");
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(key_json(&stored)),
    )
        .into_response())
}

async fn upload_secret_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((origin_text, revision_text)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let origin = common::origin(&origin_text)?;
    let revision = revision(&revision_text)?;
    let permit = authorize(&state, &caller, &origin, Action::ManageKeys).await?;
    let text = key_text(body)?;
    let account = &permit.account()?.name;
    let revision = store_secret_key(&state, &origin, Some(revision), &text, account).await?;
    // The stock client accepts only 200 here.
    Ok(Json(json!({ "origin": origin, "revision": revision })))
}

/// The revision a key must have: the one a URL names, or (`None`, a key uploaded from a page)
/// its own, if it is a key of `origin`.
fn expected_revision<'a>(
    name: &'a NamedRevision,
    origin: &OriginName,
    revision: Option<&'a str>,
) -> ApiResult<&'a str> {
    let revision = revision.unwrap_or(name.revision());
    check_name(name, origin, revision)?;
    Ok(revision)
}

/// Stores public key file `text` for `origin` (its revision `revision`, or the key's own when
/// `None`); the caller is authorized already. 422 for a text that is not a public key of
/// `origin` at that revision, 409 when the revision exists.
pub(crate) async fn store_public_key(
    state: &AppState,
    origin: &OriginName,
    revision: Option<&str>,
    text: &str,
    account: &str,
) -> ApiResult<OriginKey> {
    let key = PublicKey::parse(text).map_err(invalid_key)?;
    let revision = expected_revision(key.name(), origin, revision)?;
    let stored = state
        .metadata
        .add_public_key(origin, revision, &key.to_file_string())
        .await?;
    crate::audit::record(
        state,
        AuditRecord::new("public_key_upload", account)
            .origin(origin)
            .ident(format!("{origin}-{revision}")),
    )
    .await?;
    Ok(stored)
}

/// Stores secret key file `text` for `origin`, encrypted with the server key (its revision
/// `revision`, or the key's own when `None`); the caller is authorized already. 422 for a text
/// that is not a secret key of `origin` at that revision, or one that does not match the public
/// key of that revision. Returns the revision.
pub(crate) async fn store_secret_key(
    state: &AppState,
    origin: &OriginName,
    revision: Option<&str>,
    text: &str,
    account: &str,
) -> ApiResult<String> {
    let key = SecretKey::parse(text).map_err(invalid_key)?;
    let revision = expected_revision(key.name(), origin, revision)?;
    // When the public half of this revision is already here, the secret key must match it, or
    // packages signed with it would not verify.
    if let Some(public) = state.metadata.public_key(origin, revision).await?
        && PublicKey::parse(&public.body).ok() != Some(key.public_key())
    {
        return Err(ApiError::unprocessable(
            "key_mismatch",
            format!("the secret key does not match the public key `{origin}-{revision}`"),
        ));
    }
    let encrypted = state
        .server_key
        .encrypt(key.to_file_string().as_bytes())
        .map_err(ApiError::internal)?;
    let revision = revision.to_owned();
    let stored = SecretOriginKey {
        origin: origin.clone(),
        revision: revision.clone(),
        encrypted,
    };
    state.metadata.put_secret_key(&stored).await?;
    crate::audit::record(
        state,
        AuditRecord::new("secret_key_upload", account)
            .origin(origin)
            .ident(format!("{origin}-{revision}")),
    )
    .await?;
    Ok(revision)
}

async fn latest_secret_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(origin_text): Path<String>,
) -> ApiResult<Response> {
    let origin = common::origin(&origin_text)?;
    authorize(&state, &caller, &origin, Action::ManageKeys).await?;
    let stored = state
        .metadata
        .latest_secret_key(&origin)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("origin `{origin}` has no secret key")))?;
    let plain = state.server_key.decrypt(&stored.encrypted).map_err(|e| {
        ApiError::internal(format!("secret key `{origin}-{}`: {e}", stored.revision))
    })?;
    let text = String::from_utf8(plain).map_err(|_| {
        ApiError::internal(format!(
            "secret key `{origin}-{}` is not UTF-8",
            stored.revision
        ))
    })?;
    let mut response = key_file(format!("{origin}-{}.sig.key", stored.revision), text);
    // A secret: no cache on the way may keep a copy.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions() {
        assert!(revision("20160509190508").is_ok());
        for bad in [
            "",
            "latest",
            "2016050919050",
            "201605091905089",
            "2016050919050x",
            "-0160509190508",
        ] {
            let err = revision(bad).unwrap_err();
            assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
    }
}
