//! Pieces several route modules share: parsing path segments, finding a package the caller may
//! see, its JSON, and download responses (with `Range` and `ETag`).

use axum::Json;
use axum::body::Body;
use axum::http::header::{
    ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use crate::AppState;
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::json::package_json;
use crate::store::Package;

/// An origin from a path segment (422 when invalid).
pub(super) fn origin(text: &str) -> ApiResult<OriginName> {
    Ok(text.parse()?)
}

/// A channel from a path segment (422 when invalid).
pub(super) fn channel(text: &str) -> ApiResult<ChannelName> {
    Ok(text.parse()?)
}

/// A fully qualified ident from four path segments (422 when invalid).
pub(crate) fn ident(
    origin: &str,
    name: &str,
    version: &str,
    release: &str,
) -> ApiResult<FullyQualifiedIdent> {
    Ok(format!("{origin}/{name}/{version}/{release}").parse()?)
}

/// The package (ident, target) if it exists and the caller may see it; 404 otherwise.
pub(crate) async fn find_package(
    state: &AppState,
    caller: &Caller,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
) -> ApiResult<Package> {
    let not_found = || ApiError::not_found(format!("package {ident} for {target} not found"));
    let package = state
        .metadata
        .package(ident, target)
        .await?
        .ok_or_else(not_found)?;
    if authz::sees_package(state, caller, &package).await? {
        Ok(package)
    } else {
        Err(not_found())
    }
}

/// The package's JSON, with its channels.
pub(super) async fn package_body(state: &AppState, package: &Package) -> ApiResult<Json<Value>> {
    let channels: Vec<ChannelName> = state
        .metadata
        .package_channels(package.id)
        .await?
        .into_iter()
        .map(|m| m.name)
        .collect();
    Ok(Json(package_json(package, &channels)))
}

/// The `.hart` bytes of a package, streamed from the artifact store, with the exact headers of
/// the API: `X-Filename`, `Content-Disposition`, `ETag`, and 206 for a satisfiable `Range`.
pub(crate) async fn download(
    state: &AppState,
    package: &Package,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let etag = format!("\"{}\"", package.checksum);
    if headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response());
    }
    let size = package.size;
    let range = match headers.get(RANGE) {
        Some(value) => match parse_range(value, size) {
            Some(range) => Some(range),
            None => {
                let mut response = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    "the requested range is not satisfiable",
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(CONTENT_RANGE, header(&format!("bytes */{size}")));
                return Ok(response);
            }
        },
        None => None,
    };
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let length = if size == 0 { 0 } else { end - start + 1 };
    // The store is asked for exactly the bytes answered (a ranged GET of S3 fetches no more).
    let opened = state
        .artifacts
        .open_range(&package.checksum, start, length)
        .await?
        .ok_or_else(|| {
            ApiError::internal(format!(
                "artifact {} of {} is missing from the store",
                package.checksum, package.ident
            ))
        })?;
    let body = Body::from_stream(ReaderStream::with_capacity(
        opened.reader.take(length),
        256 * 1024,
    ));

    let filename = package.ident.archive_name(package.target);
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(CONTENT_LENGTH, header(&length.to_string()));
    h.insert("x-filename", header(&filename));
    h.insert(
        CONTENT_DISPOSITION,
        header(&format!("attachment; filename=\"{filename}\"")),
    );
    h.insert(ETAG, header(&etag));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if range.is_some() {
        h.insert(
            CONTENT_RANGE,
            header(&format!("bytes {start}-{end}/{size}")),
        );
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}

/// Header values built here are ASCII (idents, numbers, hex), so they are always valid.
fn header(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// One `bytes=` range (`a-b`, `a-`, `-n`) within `size`, as inclusive bounds.
fn parse_range(value: &HeaderValue, size: u64) -> Option<(u64, u64)> {
    let spec = value.to_str().ok()?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok().filter(|n| *n > 0)?;
            (size.saturating_sub(n), size - 1)
        }
        (start, "") => (start.parse().ok()?, size - 1),
        (start, end) => (start.parse().ok()?, end.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && start < size).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |s: &str| parse_range(&HeaderValue::from_str(s).unwrap(), 100);
        assert_eq!(r("bytes=0-9"), Some((0, 9)));
        assert_eq!(r("bytes=90-"), Some((90, 99)));
        assert_eq!(r("bytes=-10"), Some((90, 99)));
        assert_eq!(r("bytes=95-200"), Some((95, 99)));
        assert_eq!(r("bytes=100-"), None);
        assert_eq!(r("bytes=5-1"), None);
        assert_eq!(r("bytes=0-1,5-6"), None);
        assert_eq!(r("items=0-1"), None);
        assert_eq!(r("bytes=-0"), None);
    }
}
