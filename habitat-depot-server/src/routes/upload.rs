//! `POST /v1/depot/pkgs/{o}/{n}/{v}/{r}?checksum=&target=&forced=`: package upload, with the
//! checks of docs/api.md ("Upload") in that order.
//!
//! The route parses the request, checks the caller's role, and receives the body: it streams
//! into a temp file in the data directory while it is hashed, so memory stays bounded whatever
//! the artifact's size. Everything else is [`crate::ingest`]'s: the checks of the file, then
//! the artifact store and the row. A rejected upload leaves no row, no artifact and (the temp
//! file being dropped) no temp file.

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_LENGTH, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use habitat_core::hash::Hasher;
use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, PackageTarget};
use serde::Deserialize;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::common;
use crate::AppState;
use crate::auth::Caller;
use crate::authz::{Action, authorize};
use crate::error::{ApiError, ApiResult};
use crate::ingest::{self, Claim, IngestError, Ingested, Received, Source};
use crate::json::TargetQuery;
use crate::store::AuditRecord;

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
    let permit = authorize(&state, &caller, ident.origin(), Action::Upload).await?;
    let account = permit.account()?;
    // Uploads land in `unstable`: not into a mirrored one.
    crate::authz::check_not_mirrored(&state, ident.origin(), &ChannelName::unstable())?;
    // The upload cap (`max_concurrent_uploads`): held until this upload is answered.
    let _slot = match state.limits.upload_slot(account) {
        Ok(slot) => slot,
        Err(refused) => return Ok(refused),
    };

    // 3. Published artifacts are immutable; a forced upload must be byte-identical. Checked
    // before the body is received; a rival upload that commits meanwhile loses `ingest`'s insert.
    let claim = Claim {
        ident,
        target,
        checksum: expected,
        forced,
        source: Source::Upload {
            account: account.clone(),
        },
    };
    let prechecked = ingest::precheck(&state, &claim).await?;

    // 4. The size limit, up front when the length is announced and while streaming (`hab`
    // sends chunked bodies).
    let limit = state.settings.max_upload_bytes;
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    let received = receive(&state, body, limit).await?;

    // 5. to 8. Every check of the file, then the artifact and the row.
    let ingested = ingest::ingest(&state, received, &claim, prechecked).await?;
    if let Ingested::Stored(stored) = &ingested {
        tracing::info!(
            target: "hab_depot::upload",
            ident = %stored.ident,
            target = %stored.target,
            checksum = %stored.checksum,
            size = stored.size,
            owner = %stored.owner,
            "package uploaded"
        );
        crate::audit::record(
            &state,
            AuditRecord::new("upload", &account.name)
                .origin(stored.ident.origin())
                .ident(&stored.ident)
                .target(stored.target),
        )
        .await?;
    }
    Ok(created(&claim.ident, claim.target))
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

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the upload is larger than this depot's limit of {limit} bytes"),
    )
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

/// An ingest error as the client sees it: the status and code of docs/api.md ("Upload"), the
/// error's own message. Errors that are ours are 500, their details in the log.
impl From<IngestError> for ApiError {
    fn from(err: IngestError) -> Self {
        use IngestError as I;
        let err = match err {
            I::Store(store) => return store.into(),
            other => other,
        };
        let code = match &err {
            I::Exists { .. } | I::NotIdentical { .. } | I::StoredConcurrently { .. } => {
                return Self::conflict(err.to_string());
            }
            I::UnknownOrigin { .. } => return Self::forbidden(err.to_string()),
            I::UnsupportedTarget { .. } => {
                return Self::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "unsupported_target",
                    err.to_string(),
                );
            }
            I::ChecksumMismatch { .. } => "checksum_mismatch",
            I::ForeignSigner { .. } | I::KeyNotUploaded { .. } => "unknown_signing_key",
            I::IdentMismatch { .. } => "ident_mismatch",
            I::TargetMismatch { .. } => "target_mismatch",
            I::Rejected(artifact) => rejection_code(artifact),
            _ => return Self::internal(crate::error::Chain(&err)),
        };
        Self::unprocessable(code, err.to_string())
    }
}

/// The code of an artifact failing one of its own checks.
fn rejection_code(err: &habitat_core::Error) -> &'static str {
    use habitat_core::Error as E;
    match err {
        E::MalformedHeader { .. } => "invalid_artifact",
        E::BadSignature { .. } => "invalid_signature",
        E::PayloadHashMismatch { .. } => "payload_hash_mismatch",
        E::ArchiveLimit { what, .. } if *what == habitat_core::archive::UNPACKED_BYTES => {
            "unpacked_too_large"
        }
        E::UnsafeMember { .. } | E::ArchiveLimit { .. } => "unsafe_archive",
        E::CorruptPayload(_) => "corrupt_payload",
        E::Metadata { .. } => "invalid_metadata",
        _ => "invalid_artifact",
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

    /// The answer to `err`: its status and code, and the error's own message.
    #[track_caller]
    fn answers(err: IngestError, status: StatusCode, code: &str) {
        let message = err.to_string();
        let answer = ApiError::from(err);
        assert_eq!((answer.status, answer.code), (status, code), "{message}");
        assert_eq!(answer.message, message);
    }

    #[test]
    fn ingest_errors_answer_with_the_status_and_code_of_their_check() {
        let ident: FullyQualifiedIdent = "acme/hello/1.0.0/20240101000000".parse().unwrap();
        let target = PackageTarget::X86_64Linux;
        let signer: habitat_core::NamedRevision = "other-20240101000000".parse().unwrap();
        let checksum = Blake2bHash::digest(b"a file");
        let conflict = StatusCode::CONFLICT;
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        answers(
            IngestError::Exists {
                ident: ident.clone(),
                target,
            },
            conflict,
            "conflict",
        );
        answers(
            IngestError::NotIdentical {
                ident: ident.clone(),
                target,
                stored: checksum,
            },
            conflict,
            "conflict",
        );
        answers(
            IngestError::StoredConcurrently {
                ident: ident.clone(),
                target,
            },
            conflict,
            "conflict",
        );
        answers(
            IngestError::ChecksumMismatch {
                claimed: checksum,
                received: Blake2bHash::digest(b"another file"),
            },
            unprocessable,
            "checksum_mismatch",
        );
        answers(
            IngestError::ForeignSigner {
                ident: ident.clone(),
                signer: signer.clone(),
            },
            unprocessable,
            "unknown_signing_key",
        );
        answers(
            IngestError::KeyNotUploaded {
                origin: ident.origin().clone(),
                signer,
            },
            unprocessable,
            "unknown_signing_key",
        );
        answers(
            IngestError::Rejected(habitat_core::Error::PayloadHashMismatch {
                actual: "a".repeat(64),
                signed: "b".repeat(64),
            }),
            unprocessable,
            "payload_hash_mismatch",
        );
        answers(
            IngestError::TargetMismatch {
                found: PackageTarget::X86_64Windows,
                claimed: target,
            },
            unprocessable,
            "target_mismatch",
        );
        answers(
            IngestError::UnsupportedTarget {
                target,
                accepted: Vec::new(),
            },
            StatusCode::NOT_IMPLEMENTED,
            "unsupported_target",
        );
        answers(
            IngestError::UnknownOrigin {
                origin: ident.origin().clone(),
            },
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
}
