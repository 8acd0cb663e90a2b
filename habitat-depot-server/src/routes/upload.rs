//! `POST /v1/depot/pkgs/{o}/{n}/{v}/{r}?checksum=&target=&forced=`: package upload, with the
//! checks of API.md ("Upload checks, in order (first failure wins)") in that order.
//!
//! The body streams into a temp file in the data directory while it is hashed, so memory stays
//! bounded whatever the artifact's size. The file is moved into the artifact store only after
//! it has been verified, and the row is committed only after the move: a rejected upload leaves
//! no row, no artifact and (the temp file being dropped) no temp file.

use std::path::Path as FsPath;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_LENGTH, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use habitat_core::archive::UnpackLimits;
use habitat_core::artifact::Artifact;
use habitat_core::hash::Hasher;
use habitat_core::keys::PublicKey;
use habitat_core::metadata::verify_and_read;
use habitat_core::{
    Blake2bHash, FullyQualifiedIdent, OriginName, PackageMetadata, PackageTarget, VerifiedArtifact,
};
use serde::Deserialize;
use tempfile::NamedTempFile;
use time::OffsetDateTime;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::common;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::TargetQuery;
use crate::store::{Account, Origin, Package, Role, StoreError};

/// Bytes gathered before one write to the temp file.
const WRITE_BUFFER: usize = 1 << 20;

/// Nothing of its own: `packages.rs` registers [`upload`] on the package path, beside the
/// other methods of that path.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
}

/// The path of the upload route; its parameter names are the ones `packages.rs` registers.
#[derive(Deserialize)]
pub(super) struct UploadPath {
    origin: String,
    name: String,
    version: String,
    release: String,
}

/// `?checksum=&target=&forced=`, all optional.
#[derive(Deserialize)]
pub(super) struct UploadQuery {
    checksum: Option<String>,
    target: Option<String>,
    forced: Option<String>,
}

/// The upload handler; `packages.rs` registers it on the package path.
///
/// The body is taken raw (not through a size-limited extractor), so the router's default body
/// limit does not apply: the upload limit is `settings.max_upload_bytes`, checked here.
pub(super) async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<UploadPath>, PathRejection>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    // 1. The request: a fully qualified ident, a known target, well-formed parameters.
    let Path(path) = path.map_err(|e| ApiError::unprocessable("invalid_value", e.body_text()))?;
    let ident = common::ident(&path.origin, &path.name, &path.version, &path.release)?;
    let Query(query) =
        query.map_err(|e| ApiError::unprocessable("invalid_value", e.body_text()))?;
    let target = TargetQuery {
        target: query.target,
    }
    .target()?;
    let expected = query
        .checksum
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<Blake2bHash>()
                .map_err(|e| ApiError::unprocessable("invalid_checksum", e.to_string()))
        })
        .transpose()?;
    let forced = forced(query.forced.as_deref())?;

    // 2. Who: a token, and at least `member` in an existing origin.
    let account = caller.account()?;
    let origin = uploading_origin(&state, account, ident.origin()).await?;

    // 3. Published artifacts are immutable; a forced upload must be byte-identical.
    let existing = state.metadata.package(&ident, target).await?;
    if let Some(existing) = &existing {
        if !forced {
            return Err(ApiError::conflict(format!(
                "package `{ident}` for `{target}` already exists; published artifacts are \
                 immutable"
            )));
        }
        // The client announced another file: no need to receive it to know.
        if expected.is_some_and(|c| c != existing.checksum) {
            return Err(not_identical(&ident, target, existing));
        }
    }

    // 4. and 5. The size limit, up front when the length is announced and while streaming
    // (`hab` sends chunked bodies), then the announced checksum.
    let limit = state.settings.max_upload_bytes;
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    let received = receive(&state, body, limit).await?;
    if let Some(expected) = expected
        && expected != received.checksum
    {
        return Err(ApiError::unprocessable(
            "checksum_mismatch",
            format!(
                "the uploaded file has checksum `{}`, not `{expected}` as given in ?checksum=",
                received.checksum
            ),
        ));
    }
    if let Some(existing) = &existing {
        // A forced upload of the identical file: nothing new to store.
        return if existing.checksum == received.checksum {
            Ok(created(&ident, target))
        } else {
            Err(not_identical(&ident, target, existing))
        };
    }

    // 6. and 7. Header, signer, signature, payload hash, safe archive, IDENT and TARGET.
    let (verified, metadata) = check_artifact(&state, &ident, target, received.file.path()).await?;

    // 8. Only now: the artifact into the store, then the row (with `unstable`) in one
    // transaction. A crash between the two leaves an orphan artifact (fsck), never a row
    // without its artifact.
    state
        .artifacts
        .put(&received.checksum, verified.path())
        .await?;
    let is_a_service = metadata.is_a_service();
    let package = Package {
        id: 0,
        ident: ident.clone(),
        target,
        checksum: received.checksum,
        size: received.size,
        visibility: origin.default_package_visibility,
        manifest: metadata.manifest,
        config: metadata.config,
        is_a_service,
        deps: metadata.deps,
        tdeps: metadata.tdeps,
        build_deps: metadata.build_deps,
        build_tdeps: metadata.build_tdeps,
        exposes: metadata.exposes,
        owner: account.name.clone(),
        created_at: OffsetDateTime::now_utc(),
    };
    match state.metadata.insert_package(&package).await {
        Ok(stored) => {
            tracing::info!(
                target: "hab_depot::upload",
                ident = %stored.ident,
                target = %stored.target,
                checksum = %stored.checksum,
                size = stored.size,
                owner = %stored.owner,
                "package uploaded"
            );
            Ok(created(&ident, target))
        }
        Err(StoreError::Conflict(_)) => {
            // Another upload of this (ident, target) committed first.
            discard_loser(&state, &ident, target, &received.checksum).await;
            Err(ApiError::conflict(format!(
                "package `{ident}` for `{target}` already exists (uploaded concurrently); \
                 published artifacts are immutable"
            )))
        }
        Err(other) => Err(other.into()),
    }
}

/// `?forced=`: absent, empty, `true` or `false`.
fn forced(value: Option<&str>) -> ApiResult<bool> {
    match value {
        None | Some("" | "false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::unprocessable(
            "invalid_value",
            format!("?forced= must be `true` or `false`, not `{other}`"),
        )),
    }
}

/// The origin, if it exists and the caller is at least `member` there; 403 otherwise (an
/// unknown origin included: there is nothing to upload into).
async fn uploading_origin(
    state: &AppState,
    account: &Account,
    origin: &OriginName,
) -> ApiResult<Origin> {
    let Some(found) = state.metadata.origin(origin).await? else {
        return Err(ApiError::forbidden(format!(
            "origin `{origin}` does not exist; create it first with `hab origin create {origin}`"
        )));
    };
    match state.metadata.role(origin, account.id).await? {
        Some(role) if role >= Role::Member => Ok(found),
        _ => Err(ApiError::forbidden(format!(
            "`{}` needs role `{}` or higher in origin `{origin}` to upload packages",
            account.name,
            Role::Member.as_str()
        ))),
    }
}

fn not_identical(
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
    existing: &Package,
) -> ApiError {
    ApiError::conflict(format!(
        "package `{ident}` for `{target}` already exists with checksum `{}`; published artifacts \
         are immutable, a forced upload is accepted only for the identical file",
        existing.checksum
    ))
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the upload is larger than this depot's limit of {limit} bytes"),
    )
}

/// The body, received into a temp file in the data directory.
struct Received {
    /// Removed when dropped, unless the artifact store has moved it away.
    file: NamedTempFile,
    /// BLAKE2b-256 of the whole file.
    checksum: Blake2bHash,
    /// Its size in bytes.
    size: u64,
}

/// Streams the body into a temp file while hashing and counting it; 413 as soon as it passes
/// `limit`. On any error the temp file is dropped, hence removed.
async fn receive(state: &AppState, body: Body, limit: u64) -> ApiResult<Received> {
    let dir = state.tmp_dir.clone();
    let (file, handle) = tokio::task::spawn_blocking(move || {
        let file = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&dir)
            .map_err(|e| format!("cannot create a temp file in `{}`: {e}", dir.display()))?;
        let handle = file
            .as_file()
            .try_clone()
            .map_err(|e| format!("cannot open `{}`: {e}", file.path().display()))?;
        Ok::<_, String>((file, handle))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let write_error = |e: std::io::Error| {
        ApiError::internal(format!("cannot write `{}`: {e}", file.path().display()))
    };

    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(handle));
    let mut hasher = Hasher::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(format!("the upload body could not be read to its end: {e}"))
        })?;
        size = size.saturating_add(chunk.len() as u64);
        if size > limit {
            return Err(too_large(limit));
        }
        hasher.update(&chunk);
        writer.write_all(&chunk).await.map_err(write_error)?;
    }
    // Flushing waits for the last write to land, so the file is complete for the checks.
    writer.flush().await.map_err(write_error)?;
    drop(writer);
    Ok(Received {
        file,
        checksum: hasher.finish(),
        size,
    })
}

/// Checks 6 and 7: the header parses; its signer is a key uploaded to the package's origin; the
/// signature and payload hash verify; the payload is a safe archive (walked once, writing
/// nothing) whose IDENT and TARGET are the upload's, and the target is accepted here.
async fn check_artifact(
    state: &AppState,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
    path: &FsPath,
) -> ApiResult<(VerifiedArtifact, PackageMetadata)> {
    let owned = path.to_owned();
    let header = blocking(move || Artifact::open(&owned).map(|a| a.header().clone())).await?;
    let signer = header.signer();
    let origin = ident.origin();
    if signer.name() != origin.as_str() {
        return Err(ApiError::unprocessable(
            "unknown_signing_key",
            format!(
                "the artifact is signed by `{signer}`, which is not a key of origin `{origin}`: \
                 packages of `{origin}` must be signed with a key of `{origin}`"
            ),
        ));
    }
    let stored = state
        .metadata
        .public_key(origin, signer.revision())
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_signing_key",
                format!(
                    "key `{signer}` is not uploaded to origin `{origin}`: upload it first with \
                     `hab origin key upload {origin}` (or `hab origin key upload --pubfile \
                     {signer}.pub`)"
                ),
            )
        })?;
    let key = PublicKey::parse(&stored.body).map_err(|e| {
        ApiError::internal(format!("stored public key `{signer}` does not parse: {e}"))
    })?;

    let owned = path.to_owned();
    let (verified, metadata) =
        blocking(move || verify_and_read(&owned, &key, &UPLOAD_LIMITS)).await?;

    if metadata.ident != *ident {
        return Err(ApiError::unprocessable(
            "ident_mismatch",
            format!(
                "the artifact's IDENT is `{}`, but it is uploaded as `{ident}`",
                metadata.ident
            ),
        ));
    }
    if metadata.target != target {
        return Err(ApiError::unprocessable(
            "target_mismatch",
            format!(
                "the artifact's TARGET is `{found}`, but it is uploaded for target `{target}`: \
                 upload it with ?target={found}",
                found = metadata.target,
            ),
        ));
    }
    if !state.settings.targets.contains(&target) {
        let accepted: Vec<&str> = state.settings.targets.iter().map(|t| t.as_str()).collect();
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "unsupported_target",
            format!(
                "this depot does not accept packages for `{target}` (it accepts: {})",
                if accepted.is_empty() {
                    "none".to_owned()
                } else {
                    accepted.join(", ")
                }
            ),
        ));
    }
    Ok((verified, metadata))
}

/// Runs blocking artifact work (file reads, hashing, decompression) off the async threads.
/// Checks run on one decoder thread (each extra thread holds a whole 24 MiB xz block): many
/// uploads may be checked at once, and the server's memory must not grow with them.
const UPLOAD_LIMITS: UnpackLimits = UnpackLimits {
    max_unpacked_bytes: 16 << 30,
    max_entries: 1_000_000,
    decoder_threading_memory: 32 << 20,
};

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> habitat_core::Result<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
        .map_err(artifact_error)
}

/// A verification error as the client sees it: 422 with a code per failing check. I/O errors
/// are ours (500, details in the log: they name the temp file).
fn artifact_error(err: habitat_core::Error) -> ApiError {
    use habitat_core::Error as E;
    let err = match err {
        E::InArtifact { error, .. } => *error,
        other => other,
    };
    let code = match &err {
        E::MalformedHeader { .. } => "invalid_artifact",
        E::BadSignature { .. } => "invalid_signature",
        E::PayloadHashMismatch { .. } => "payload_hash_mismatch",
        E::UnsafeMember { .. } | E::ArchiveLimit { .. } => "unsafe_archive",
        E::CorruptPayload(_) => "corrupt_payload",
        E::Metadata { .. } => "invalid_metadata",
        E::Io { .. } | E::KeyNotFound { .. } | E::NoKeyForOrigin { .. } => {
            return ApiError::internal(err);
        }
        _ => "invalid_artifact",
    };
    let message = match &err {
        E::MalformedHeader { .. } => format!("not a valid .hart artifact: {err}"),
        E::PayloadHashMismatch { .. } => format!("{err}: the artifact was altered or truncated"),
        _ => err.to_string(),
    };
    ApiError::unprocessable(code, message)
}

/// After losing the insert race: the artifact just stored is removed unless it is the winner's
/// (same checksum). No other row can refer to it, since the checksum covers IDENT and TARGET.
async fn discard_loser(
    state: &AppState,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
    checksum: &Blake2bHash,
) {
    match state.metadata.package(ident, target).await {
        Ok(Some(winner)) if winner.checksum == *checksum => {}
        Ok(_) => {
            if let Err(e) = state.artifacts.delete(checksum).await {
                tracing::warn!(%ident, %checksum, error = %e, "cannot remove the artifact of a lost upload race; fsck will report it");
            }
        }
        Err(e) => {
            tracing::warn!(%ident, %checksum, error = %e, "cannot check the winner of an upload race; fsck will report an orphan if any");
        }
    }
}

/// 201: `Location` is the download URL, the body the path Builder answers.
fn created(ident: &FullyQualifiedIdent, target: PackageTarget) -> Response {
    let mut location = format!("/v1/depot/pkgs/{}/download", url_path(&ident.to_string()));
    if target != PackageTarget::default() {
        location.push_str(&format!("?target={target}"));
    }
    let mut response = (StatusCode::CREATED, format!("/pkgs/{ident}/download")).into_response();
    // Percent-encoded above, so always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// Percent-encodes everything but unreserved characters and `/` (versions may hold `+`, `%`,
/// `?`, `#` or non-ASCII characters).
fn url_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_percent_encoded() {
        assert_eq!(
            url_path("core/redis/4.0.14/20190319155852"),
            "core/redis/4.0.14/20190319155852"
        );
        assert_eq!(url_path("a/b/1.2.3+build5/1"), "a/b/1.2.3%2Bbuild5/1");
        assert_eq!(url_path("a/b/1.0-é?#%/1"), "a/b/1.0-%C3%A9%3F%23%25/1");
    }

    #[test]
    fn forced_values() {
        assert_eq!(forced(None), Ok(false));
        assert_eq!(forced(Some("")), Ok(false));
        assert_eq!(forced(Some("false")), Ok(false));
        assert_eq!(forced(Some("true")), Ok(true));
        assert_eq!(forced(Some("yes")).unwrap_err().code, "invalid_value");
    }
}
