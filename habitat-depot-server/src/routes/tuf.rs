//! The depot's TUF repository (docs/api.md, "TUF repository"; docs/security.md): the signed
//! metadata files and the target documents they list, as a TUF client fetches them with
//! consistent snapshots. Everything here is public: the metadata lists public releases and
//! public keys only.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// The cache header of every versioned file and of targets (named by their hash): they never
/// change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The cache header of `timestamp.json`, which changes with every publish.
const NO_CACHE: &str = "no-cache";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/tuf/metadata/{file}", get(metadata))
        .route("/tuf/targets/{*path}", get(target))
}

/// A metadata file name, as a consistent-snapshot client asks for it.
#[derive(Debug, PartialEq, Eq)]
enum MetadataFile {
    /// `timestamp.json`: the newest timestamp.
    Timestamp,
    /// `{version}.{role}.json`: one version of root, targets, snapshot or a bin.
    Versioned {
        /// The version.
        version: u64,
        /// The role.
        role: String,
    },
    /// A well-formed name the repository does not have (`root.json`, `1.timestamp.json`,
    /// `1.other.json`).
    Unknown,
}

/// Whether `role` is a role with versioned files: `root`, `targets`, `snapshot`, or a bin
/// `bin-00` … `bin-ff`.
fn is_versioned_role(role: &str) -> bool {
    match role {
        "root" | "targets" | "snapshot" => true,
        _ => role.strip_prefix("bin-").is_some_and(|xx| {
            xx.len() == 2
                && xx
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }),
    }
}

/// Parses a metadata file name; `None` for a malformed one (no `.json`, characters no
/// metadata name has, a version that is not a number).
fn parse_metadata_file(file: &str) -> Option<MetadataFile> {
    let stem = file.strip_suffix(".json")?;
    if stem.is_empty()
        || !stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        return None;
    }
    if stem == "timestamp" {
        return Some(MetadataFile::Timestamp);
    }
    let Some((version, role)) = stem.split_once('.') else {
        return Some(MetadataFile::Unknown);
    };
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let version: u64 = version.parse().ok()?;
    if role == "timestamp" || !is_versioned_role(role) {
        return Some(MetadataFile::Unknown);
    }
    Some(MetadataFile::Versioned {
        version,
        role: role.to_owned(),
    })
}

/// `GET /v1/tuf/metadata/{file}`.
async fn metadata(State(state): State<AppState>, Path(file): Path<String>) -> ApiResult<Response> {
    let unknown = || ApiError::not_found(format!("no TUF metadata file `{file}`"));
    let parsed = parse_metadata_file(&file).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{file}` is not a TUF metadata file name (`timestamp.json` or \
             `{{version}}.{{role}}.json`)"
        ))
    })?;
    let (row, cache) = match parsed {
        MetadataFile::Timestamp => (state.metadata.tuf_latest("timestamp").await?, NO_CACHE),
        MetadataFile::Versioned { version, role } => (
            state.metadata.tuf_metadata(&role, version).await?,
            IMMUTABLE,
        ),
        MetadataFile::Unknown => return Err(unknown()),
    };
    let row = row.ok_or_else(unknown)?;
    Ok(file_response(row.body, "application/json", cache))
}

/// A target request's path split: the target path (`{dir}/{file name}`) and the hash it is
/// asked by (64 lowercase hex digits); `None` for a malformed one.
fn parse_target_path(path: &str) -> Option<(String, String)> {
    let (dir, last) = path.rsplit_once('/')?;
    let (hash, name) = last.split_once('.')?;
    if dir.is_empty()
        || name.is_empty()
        || hash.len() != 64
        || !hash.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    Some((format!("{dir}/{name}"), hash.to_ascii_lowercase()))
}

/// `GET /v1/tuf/targets/{dir}/{hash}.{file name}`: the target document whose SHA-256 or
/// BLAKE2b-256 is `hash`.
async fn target(State(state): State<AppState>, Path(path): Path<String>) -> ApiResult<Response> {
    let (target, hash) = parse_target_path(&path).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{path}` is not a TUF target request (`{{dir}}/{{hash}}.{{file name}}`, the hash \
             64 hex digits)"
        ))
    })?;
    let body = state
        .metadata
        .tuf_target_body(&target, &hash)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("no TUF target `{target}` with hash `{hash}`"))
        })?;
    let content_type = if target.ends_with(".json") {
        "application/json"
    } else if target.ends_with(".pub") {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    Ok(file_response(body, content_type, IMMUTABLE))
}

/// A file's bytes with its content type and cache header.
fn file_response(body: Vec<u8>, content_type: &'static str, cache: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_parse_as_a_consistent_snapshot_client_asks() {
        use MetadataFile::*;
        let versioned = |version, role: &str| {
            Some(Versioned {
                version,
                role: role.to_owned(),
            })
        };
        assert_eq!(parse_metadata_file("timestamp.json"), Some(Timestamp));
        assert_eq!(parse_metadata_file("1.root.json"), versioned(1, "root"));
        assert_eq!(
            parse_metadata_file("12.snapshot.json"),
            versioned(12, "snapshot")
        );
        assert_eq!(
            parse_metadata_file("3.targets.json"),
            versioned(3, "targets")
        );
        assert_eq!(parse_metadata_file("7.bin-0f.json"), versioned(7, "bin-0f"));
        for unknown in [
            "root.json",
            "snapshot.json",
            "2.timestamp.json",
            "1.bin-0g.json",
            "1.bin-100.json",
            "1.other.json",
        ] {
            assert_eq!(parse_metadata_file(unknown), Some(Unknown), "{unknown}");
        }
        for malformed in [
            "timestamp",
            "1.root.json.gz",
            ".json",
            "x.root.json",
            "-1.root.json",
            "99999999999999999999999.root.json",
            "1.root json.json",
        ] {
            assert_eq!(parse_metadata_file(malformed), None, "{malformed}");
        }
    }

    #[test]
    fn target_requests_name_a_path_and_a_hash() {
        let hash = "ab".repeat(32);
        assert_eq!(
            parse_target_path(&format!(
                "channels/core/stable/redis/{hash}.x86_64-linux.json"
            )),
            Some((
                "channels/core/stable/redis/x86_64-linux.json".to_owned(),
                hash.clone()
            ))
        );
        assert_eq!(
            parse_target_path(&format!(
                "keys/core/{}.core-20180119235000.pub",
                hash.to_uppercase()
            )),
            Some(("keys/core/core-20180119235000.pub".to_owned(), hash.clone()))
        );
        for malformed in [
            "keys/core/core-20180119235000.pub".to_owned(),
            format!("{hash}.x.json"),
            format!("keys/core/{hash}."),
            format!("keys/core/{}.x.pub", &hash[..63]),
            format!("keys/core/{}.x.pub", "zz".repeat(32)),
        ] {
            assert_eq!(parse_target_path(&malformed), None, "{malformed}");
        }
    }
}
