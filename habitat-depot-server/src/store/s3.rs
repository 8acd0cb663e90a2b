//! An S3-compatible artifact store (AWS S3, MinIO, Garage, RustFS, …): one object per artifact at
//! `<prefix>/<checksum>.hart`, for the scale-out configuration (docs/operations.md, "S3-compatible
//! artifact store").
//!
//! No artifact is ever held whole in memory: `put` reads the local file one part at a time into
//! a multipart upload with at most [`PARTS_IN_FLIGHT`] parts being sent while the next is read,
//! so an upload holds at most `(PARTS_IN_FLIGHT + 1) × part size` bytes; `open` is a ranged GET
//! whose body streams to the caller as it arrives. S3 makes an object visible only when its PUT
//! or its multipart upload completes, so readers see the whole artifact or nothing.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use futures_util::{StreamExt, TryStreamExt};
use habitat_core::Blake2bHash;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path as Key;
use object_store::{
    ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};
use tokio::io::AsyncReadExt;
use tokio_util::io::StreamReader;

use super::files::backend as file_error;
use super::{ArtifactReader, ArtifactStore, StoreError, StoreResult};
pub use crate::settings::S3Settings;
use crate::settings::{SettingsError, read_secret_file};

/// Parts of one upload being sent at once; the next part is read while they are.
pub const PARTS_IN_FLIGHT: usize = 2;

/// S3 refuses multipart uploads of more parts than this.
const MAX_PARTS: u64 = 10_000;

const MIB: u64 = 1024 * 1024;

impl S3Settings {
    /// The credentials to sign with, from the settings, their files or `env`; `None` when none
    /// are given anywhere.
    fn credentials(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> StoreResult<Option<(String, String, Option<String>)>> {
        let key_id = secret_value(
            &self.access_key_id,
            &self.access_key_id_file,
            "AWS_ACCESS_KEY_ID",
            &env,
        )?;
        let secret = secret_value(
            &self.secret_access_key,
            &self.secret_access_key_file,
            "AWS_SECRET_ACCESS_KEY",
            &env,
        )?;
        match (key_id, secret) {
            (None, None) => Ok(None),
            (Some((key_id, _)), Some((secret, from_env))) => {
                // A session token belongs to the temporary keys of the same environment.
                let token = if from_env {
                    env("AWS_SESSION_TOKEN")
                } else {
                    None
                };
                Ok(Some((key_id, secret, token)))
            }
            (Some(_), None) => Err(StoreError::Invalid(
                "an S3 access key id is given but no secret access key".into(),
            )),
            (None, Some(_)) => Err(StoreError::Invalid(
                "an S3 secret access key is given but no access key id".into(),
            )),
        }
    }
}

/// A value from the settings, else from its file, else from the variable `var`; whether it
/// came from the environment.
fn secret_value(
    value: &Option<String>,
    file: &Option<PathBuf>,
    var: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> StoreResult<Option<(String, bool)>> {
    if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
        return Ok(Some((value.clone(), false)));
    }
    if let Some(path) = file {
        let text = read_secret_file(path).map_err(|e| match e {
            SettingsError::Read { path, error } => {
                StoreError::backend(format!("cannot read `{}`", path.display()), error)
            }
            other => StoreError::Invalid(other.to_string()),
        })?;
        return Ok(Some((text, false)));
    }
    Ok(env(var).filter(|v| !v.is_empty()).map(|v| (v, true)))
}

/// The variables the standard AWS credential providers read, passed on when no keys are given.
const PROVIDER_VARIABLES: &[&str] = &[
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

/// `https://host` becomes `https://BUCKET.host`, for virtual-hosted requests to an endpoint.
fn virtual_hosted(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, host)) if !host.starts_with(&format!("{bucket}.")) => {
            format!("{scheme}://{bucket}.{host}")
        }
        _ => endpoint.to_owned(),
    }
}

/// Artifacts as objects in an S3 bucket.
#[derive(Clone)]
pub struct S3Artifacts {
    store: AmazonS3,
    bucket: String,
    prefix: Key,
    part_size: u64,
}

impl fmt::Debug for S3Artifacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the client: its configuration holds the credentials.
        f.debug_struct("S3Artifacts")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix.as_ref())
            .field("part_size", &self.part_size)
            .finish()
    }
}

/// The certificates of the `ca_file` setting: at least one.
fn ca_certificates(path: &Path) -> StoreResult<Vec<object_store::Certificate>> {
    let invalid = |detail: String| {
        StoreError::Invalid(format!(
            "S3 settings: cannot use the CA file `{}`: {detail}",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    let certs =
        object_store::Certificate::from_pem_bundle(&pem).map_err(|e| invalid(e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid("it holds no PEM certificate".to_owned()));
    }
    Ok(certs)
}

impl S3Artifacts {
    /// A store for the bucket in `settings`. Nothing is sent yet: [`ArtifactStore::ping`]
    /// checks that the bucket answers. Fails on invalid settings and on credentials that are
    /// half given or whose file cannot be read.
    pub fn open(settings: &S3Settings) -> StoreResult<Self> {
        Self::open_with_env(settings, |name| std::env::var(name).ok())
    }

    fn open_with_env(
        settings: &S3Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> StoreResult<Self> {
        let invalid = |text: String| StoreError::Invalid(format!("S3 settings: {text}"));
        let bucket = settings.bucket.clone();
        if bucket.is_empty() || bucket.contains('/') {
            return Err(invalid(format!("`{bucket}` is not a bucket name")));
        }
        if !(5..=5120).contains(&settings.part_size_mib) {
            return Err(invalid(format!(
                "a part size of `{}` MiB is outside 5 to 5120",
                settings.part_size_mib
            )));
        }
        let prefix = match settings.prefix.as_deref() {
            Some(prefix) => Key::parse(prefix).map_err(|e| {
                StoreError::backend(
                    format!("S3 settings: `{prefix}` is not a key prefix"),
                    object_store::Error::from(e),
                )
            })?,
            None => Key::default(),
        };
        let path_style = settings.is_path_style();
        let mut allow_http = false;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_region(&settings.region)
            .with_virtual_hosted_style_request(!path_style);
        if let Some(endpoint) = settings.endpoint.as_deref() {
            let endpoint = endpoint.trim_end_matches('/');
            allow_http = endpoint.starts_with("http://");
            if !allow_http && !endpoint.starts_with("https://") {
                return Err(invalid(format!(
                    "the endpoint `{endpoint}` is not an http:// or https:// URL"
                )));
            }
            builder = builder.with_endpoint(if path_style {
                endpoint.to_owned()
            } else {
                virtual_hosted(endpoint, &bucket)
            });
        }
        match settings.credentials(&env)? {
            Some((key_id, secret, token)) => {
                builder = builder
                    .with_access_key_id(key_id)
                    .with_secret_access_key(secret);
                if let Some(token) = token {
                    builder = builder.with_token(token);
                }
            }
            None => {
                for name in PROVIDER_VARIABLES {
                    if let (Some(value), Ok(key)) = (
                        env(name),
                        name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>(),
                    ) {
                        builder = builder.with_config(key, value);
                    }
                }
            }
        }
        // No limit on a whole request: a download streams as slowly as its client reads. A
        // connection that stalls for two minutes fails instead.
        let mut client = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_timeout_disabled()
            .with_connect_timeout(Duration::from_secs(5))
            .with_read_timeout(Duration::from_secs(120));
        if let Some(path) = settings.ca_file.as_deref() {
            for certificate in ca_certificates(path)? {
                client = client.with_root_certificate(certificate);
            }
        }
        let retry = RetryConfig {
            backoff: Default::default(),
            max_retries: 5,
            retry_timeout: Duration::from_secs(60),
        };
        let store = builder
            .with_client_options(client)
            .with_retry(retry)
            .build()
            .map_err(|e| StoreError::backend(format!("S3 settings: bucket `{bucket}`"), e))?;
        Ok(Self {
            store,
            bucket,
            prefix,
            part_size: settings.part_size_mib * MIB,
        })
    }

    /// The key of an artifact: `<prefix>/<checksum>.hart`.
    pub fn key_of(&self, checksum: &Blake2bHash) -> String {
        self.key(checksum).to_string()
    }

    fn key(&self, checksum: &Blake2bHash) -> Key {
        self.prefix.clone().join(format!("{checksum}.hart"))
    }

    /// The checksum named by a key directly under the prefix (`None` for any other key).
    fn checksum_of(&self, key: &Key) -> Option<Blake2bHash> {
        let mut parts = key.prefix_match(&self.prefix)?;
        let name = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        name.as_ref().strip_suffix(".hart")?.parse().ok()
    }

    /// The part size for an artifact of `size` bytes: the configured one, raised in whole MiB
    /// when the artifact would need more than [`MAX_PARTS`] parts.
    fn part_size_for(&self, size: u64) -> u64 {
        let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
        self.part_size.max(needed)
    }

    /// A [`StoreError::Backend`] naming the bucket and key, with the S3 error code spelled out
    /// when it is one an operator can act on.
    fn failure(&self, action: &str, key: Option<&Key>, e: object_store::Error) -> StoreError {
        let place = match key {
            Some(key) => format!("s3://{}/{key}", self.bucket),
            None => format!("s3://{}/{}", self.bucket, self.prefix),
        };
        let text = e.to_string();
        let code = error_code(&text);
        let refused = matches!(
            &e,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || text.contains("403 Forbidden")
            || text.contains("401 Unauthorized");
        let reason: Option<String> = match code {
            Some("NoSuchBucket") => Some(format!("the bucket `{}` does not exist", self.bucket)),
            Some(
                code @ ("InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "NotSignedUp"
                | "InvalidToken"
                | "ExpiredToken"
                | "InvalidSecurity"),
            ) => Some(format!(
                "the credentials were refused ({code}): check the access key id and the secret \
                 access key"
            )),
            Some(code) if refused => Some(format!(
                "the credentials were refused or lack permission ({code}): check the access key \
                 id, the secret access key and the bucket's policy"
            )),
            None if refused => Some("the credentials were refused".to_owned()),
            _ => None,
        };
        let context = match reason {
            Some(reason) => format!("cannot {action} `{place}`: {reason}"),
            None => format!("cannot {action} `{place}`"),
        };
        StoreError::backend(context, e)
    }

    /// Reads `file` (of `size` bytes) into `upload` one part at a time.
    async fn send_parts(
        &self,
        file: &mut tokio::fs::File,
        local: &Path,
        upload: &mut WriteMultipart,
        part_size: u64,
        size: u64,
        key: &Key,
    ) -> StoreResult<()> {
        let capacity = usize::try_from(part_size).map_err(|_| {
            StoreError::Invalid(format!("a part of {part_size} bytes is too large"))
        })?;
        let mut sent = 0u64;
        while sent < size {
            let mut part = BytesMut::with_capacity(capacity);
            while part.len() < capacity {
                // `read_buf` fills the spare capacity only: the part never grows past it.
                let read = file
                    .read_buf(&mut part)
                    .await
                    .map_err(|e| file_error("read", local, e))?;
                if read == 0 {
                    break;
                }
            }
            if part.is_empty() {
                break;
            }
            sent += part.len() as u64;
            upload
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(|e| self.failure("upload a part of", Some(key), e))?;
            upload.put(part.freeze());
        }
        if sent == size {
            Ok(())
        } else {
            Err(StoreError::Invalid(format!(
                "`{}` changed while it was uploaded ({sent} bytes read, {size} expected)",
                local.display()
            )))
        }
    }

    /// The GET behind [`ArtifactStore::open`] and [`ArtifactStore::open_range`]: from `offset`
    /// to the end, or `length` bytes of it (a range past the end is cut by the service).
    async fn get(
        &self,
        checksum: &Blake2bHash,
        offset: u64,
        length: Option<u64>,
    ) -> StoreResult<Option<ArtifactReader>> {
        let key = self.key(checksum);
        let range = match length {
            Some(length) => Some(GetRange::Bounded(offset..offset.saturating_add(length))),
            None => (offset > 0).then_some(GetRange::Offset(offset)),
        };
        if length == Some(0) {
            // An empty range is no valid `Range`: only the object's size is asked.
            return match self.store.head(&key).await {
                Ok(meta) => Ok(Some(ArtifactReader {
                    size: meta.size,
                    reader: Box::pin(tokio::io::empty()),
                })),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.failure("read", Some(&key), e)),
            };
        }
        let options = GetOptions {
            range,
            ..Default::default()
        };
        match self.store.get_opts(&key, options).await {
            Ok(result) => {
                let size = result.meta.size;
                let stream = result.into_stream().map_err(io::Error::from);
                Ok(Some(ArtifactReader {
                    size,
                    reader: Box::pin(StreamReader::new(stream)),
                }))
            }
            Err(e @ object_store::Error::NotFound { .. }) => {
                if error_code(&e.to_string()) == Some("NoSuchBucket") {
                    Err(self.failure("read", Some(&key), e))
                } else {
                    Ok(None)
                }
            }
            // S3 answers 416 for a range starting at or past the end; like a file, such an
            // artifact opens with nothing left to read.
            Err(e) if offset > 0 => match self.store.head(&key).await {
                Ok(meta) if offset >= meta.size => Ok(Some(ArtifactReader {
                    size: meta.size,
                    reader: Box::pin(tokio::io::empty()),
                })),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                _ => Err(self.failure("read", Some(&key), e)),
            },
            Err(e) => Err(self.failure("read", Some(&key), e)),
        }
    }
}

/// The `<Code>` of an S3 error response quoted in an error's text.
fn error_code(text: &str) -> Option<&str> {
    let start = text.find("<Code>")? + "<Code>".len();
    let length = text[start..].find("</Code>")?;
    Some(&text[start..start + length])
}

#[async_trait]
impl ArtifactStore for S3Artifacts {
    /// Lists at most one key under the prefix: fails when the service does not answer, the
    /// bucket does not exist or the credentials are refused.
    async fn ping(&self) -> StoreResult<()> {
        let prefix = (!self.prefix.as_ref().is_empty()).then(|| format!("{}/", self.prefix));
        let options = PaginatedListOptions {
            max_keys: Some(1),
            ..Default::default()
        };
        self.store
            .list_paginated(prefix.as_deref(), options)
            .await
            .map(|_| ())
            .map_err(|e| self.failure("list", None, e))
    }

    /// Uploads `local` (which stays where it is) unless an object of the same size is already
    /// stored under `checksum`: a single PUT up to one part's size, a multipart upload beyond.
    /// A failed multipart upload is aborted, so no parts are left behind in the bucket.
    async fn put(&self, checksum: &Blake2bHash, local: &Path) -> StoreResult<()> {
        let key = self.key(checksum);
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| file_error("open", local, e))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| file_error("read", local, e))?
            .len();
        match self.store.head(&key).await {
            // Content-addressed: the same size under the same checksum is the same artifact.
            Ok(meta) if meta.size == size => return Ok(()),
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.failure("look up", Some(&key), e)),
        }
        let part_size = self.part_size_for(size);
        if size <= part_size {
            // At most one part: read whole, within the same bound as a multipart upload.
            let mut body = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            (&mut file)
                .take(size)
                .read_to_end(&mut body)
                .await
                .map_err(|e| file_error("read", local, e))?;
            if body.len() as u64 != size {
                return Err(StoreError::Invalid(format!(
                    "`{}` changed while it was uploaded",
                    local.display()
                )));
            }
            self.store
                .put(&key, PutPayload::from(body))
                .await
                .map_err(|e| self.failure("upload", Some(&key), e))?;
        } else {
            let upload = self
                .store
                .put_multipart(&key)
                .await
                .map_err(|e| self.failure("start an upload of", Some(&key), e))?;
            let part_bytes = usize::try_from(part_size).unwrap_or(usize::MAX);
            let mut upload = WriteMultipart::new_with_chunk_size(upload, part_bytes);
            if let Err(e) = self
                .send_parts(&mut file, local, &mut upload, part_size, size, &key)
                .await
            {
                if let Err(abort) = upload.abort().await {
                    tracing::warn!(
                        bucket = %self.bucket,
                        key = %key,
                        error = %abort,
                        "cannot abort a failed multipart upload"
                    );
                }
                return Err(e);
            }
            upload
                .finish()
                .await
                .map_err(|e| self.failure("complete the upload of", Some(&key), e))?;
        }
        tracing::debug!(bucket = %self.bucket, key = %key, size, "artifact stored");
        Ok(())
    }

    /// A GET of the bytes from `offset` on, streamed as they arrive.
    async fn open(
        &self,
        checksum: &Blake2bHash,
        offset: u64,
    ) -> StoreResult<Option<ArtifactReader>> {
        self.get(checksum, offset, None).await
    }

    /// A GET of `length` bytes from `offset` (`Range: bytes=OFFSET-LAST`): the service sends
    /// only them.
    async fn open_range(
        &self,
        checksum: &Blake2bHash,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<ArtifactReader>> {
        self.get(checksum, offset, Some(length)).await
    }

    async fn delete(&self, checksum: &Blake2bHash) -> StoreResult<()> {
        let key = self.key(checksum);
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failure("delete", Some(&key), e)),
        }
    }

    /// Every key directly under the prefix that is `<checksum>.hart`, page by page; other keys
    /// are not the depot's and are left out.
    async fn list(&self) -> StoreResult<Vec<(Blake2bHash, u64)>> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let mut objects = self.store.list(prefix);
        let mut found = Vec::new();
        while let Some(object) = objects.next().await {
            let object = object.map_err(|e| self.failure("list", None, e))?;
            if let Some(checksum) = self.checksum_of(&object.location) {
                found.push((checksum, object.size));
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_text: &str) -> Result<S3Settings, String> {
        toml::from_str(toml_text).map_err(|e| e.message().to_owned())
    }

    #[test]
    fn settings_have_defaults_and_refuse_unknown_keys() {
        let parsed = settings("bucket = \"hab\"").unwrap();
        assert_eq!(parsed, S3Settings::from_url("s3://hab").unwrap());
        assert_eq!(parsed.region, "us-east-1");
        assert_eq!(parsed.part_size_mib, 8);
        assert!(!parsed.is_path_style());
        let local = settings("bucket = \"hab\"\nendpoint = \"http://127.0.0.1:9000\"").unwrap();
        assert!(local.is_path_style());
        let virtual_hosted =
            settings("bucket = \"hab\"\nendpoint = \"https://s3.example.com\"\npath_style = false")
                .unwrap();
        assert!(!virtual_hosted.is_path_style());
        assert!(settings("bucket = \"hab\"\nacess_key_id = \"x\"").is_err());
        assert!(settings("prefix = \"x\"").is_err());
    }

    #[test]
    fn urls_give_bucket_and_prefix() {
        let parsed = S3Settings::from_url("s3://hab/depot/artifacts/").unwrap();
        assert_eq!(parsed.bucket, "hab");
        assert_eq!(parsed.prefix.as_deref(), Some("depot/artifacts"));
        assert_eq!(S3Settings::from_url("s3://hab/").unwrap().prefix, None);
        for bad in ["hab", "s3://", "s3:///x", "https://hab/x"] {
            assert!(S3Settings::from_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let mut parsed = S3Settings::from_url("s3://hab").unwrap();
        parsed.secret_access_key = Some("very-secret-value".into());
        assert!(!format!("{parsed:?}").contains("very-secret-value"));
        let store = S3Artifacts::open_with_env(
            &S3Settings {
                access_key_id: Some("id".into()),
                ..parsed
            },
            |_| None,
        )
        .unwrap();
        assert!(!format!("{store:?}").contains("very-secret-value"));
    }

    #[test]
    fn credentials_come_from_settings_then_files_then_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        let secret_file = dir.path().join("secret");
        std::fs::write(&key_file, "file-id\n").unwrap();
        std::fs::write(&secret_file, "file-secret\n").unwrap();
        let env = |name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("env-id".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("env-secret".to_owned()),
            "AWS_SESSION_TOKEN" => Some("env-token".to_owned()),
            _ => None,
        };
        let mut given = S3Settings::from_url("s3://hab").unwrap();
        assert_eq!(
            given.credentials(env).unwrap(),
            Some((
                "env-id".into(),
                "env-secret".into(),
                Some("env-token".into())
            ))
        );
        assert_eq!(given.credentials(|_| None).unwrap(), None);
        given.access_key_id_file = Some(key_file);
        given.secret_access_key_file = Some(secret_file);
        assert_eq!(
            given.credentials(env).unwrap(),
            Some(("file-id".into(), "file-secret".into(), None))
        );
        given.access_key_id = Some("inline-id".into());
        given.secret_access_key = Some("inline-secret".into());
        assert_eq!(
            given.credentials(env).unwrap(),
            Some(("inline-id".into(), "inline-secret".into(), None))
        );
        given.secret_access_key = None;
        given.secret_access_key_file = Some(dir.path().join("missing"));
        let error = given.credentials(env).unwrap_err().to_string();
        assert!(error.contains("missing"), "{error}");
        let half = S3Settings {
            access_key_id: Some("id".into()),
            ..S3Settings::from_url("s3://hab").unwrap()
        };
        assert!(half.credentials(|_| None).is_err());
    }

    #[test]
    fn invalid_settings_are_refused() {
        let base = || S3Settings {
            access_key_id: Some("id".into()),
            secret_access_key: Some("secret".into()),
            ..S3Settings::from_url("s3://hab").unwrap()
        };
        let open = |s: S3Settings| S3Artifacts::open_with_env(&s, |_| None).map(|_| ());
        assert!(open(base()).is_ok());
        assert!(
            open(S3Settings {
                part_size_mib: 4,
                ..base()
            })
            .is_err()
        );
        assert!(
            open(S3Settings {
                endpoint: Some("ftp://x".into()),
                ..base()
            })
            .is_err()
        );
        assert!(
            open(S3Settings {
                prefix: Some("a//b".into()),
                ..base()
            })
            .is_err()
        );
        assert!(
            open(S3Settings {
                bucket: "a/b".into(),
                ..base()
            })
            .is_err()
        );
        let empty = tempfile::NamedTempFile::new().unwrap();
        let refused = open(S3Settings {
            ca_file: Some(empty.path().to_owned()),
            ..base()
        })
        .unwrap_err();
        assert!(
            refused.to_string().contains("holds no PEM certificate"),
            "{refused}"
        );
        let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
        if bundle.is_file() {
            assert!(
                open(S3Settings {
                    ca_file: Some(bundle.to_owned()),
                    ..base()
                })
                .is_ok()
            );
        }
    }

    #[test]
    fn keys_and_checksums() {
        let store = |prefix: Option<&str>| {
            S3Artifacts::open_with_env(
                &S3Settings {
                    prefix: prefix.map(str::to_owned),
                    access_key_id: Some("id".into()),
                    secret_access_key: Some("secret".into()),
                    ..S3Settings::from_url("s3://hab").unwrap()
                },
                |_| None,
            )
            .unwrap()
        };
        let checksum = Blake2bHash::digest(b"artifact");
        let nested = store(Some("depot/a"));
        let key = nested.key_of(&checksum);
        assert_eq!(key, format!("depot/a/{checksum}.hart"));
        assert_eq!(nested.checksum_of(&Key::from(key)), Some(checksum));
        for foreign in [
            format!("depot/a/sub/{checksum}.hart"),
            format!("depot/ab/{checksum}.hart"),
            format!("{checksum}.hart"),
            "depot/a/notes.txt".to_owned(),
            "depot/a/abc.hart".to_owned(),
        ] {
            assert_eq!(
                nested.checksum_of(&Key::from(foreign.as_str())),
                None,
                "{foreign}"
            );
        }
        let top = store(None);
        assert_eq!(top.key_of(&checksum), format!("{checksum}.hart"));
        assert_eq!(
            top.checksum_of(&Key::from(format!("{checksum}.hart"))),
            Some(checksum)
        );
    }

    #[test]
    fn part_sizes_stay_within_the_part_limit() {
        let store = S3Artifacts::open_with_env(
            &S3Settings {
                access_key_id: Some("id".into()),
                secret_access_key: Some("secret".into()),
                ..S3Settings::from_url("s3://hab").unwrap()
            },
            |_| None,
        )
        .unwrap();
        assert_eq!(store.part_size_for(1), 8 * MIB);
        assert_eq!(store.part_size_for(80_000 * MIB), 8 * MIB);
        let huge = 200_000 * MIB;
        let part = store.part_size_for(huge);
        assert_eq!(part % MIB, 0);
        assert!(huge.div_ceil(part) <= MAX_PARTS);
    }

    #[test]
    fn virtual_hosted_endpoints_name_the_bucket() {
        assert_eq!(
            virtual_hosted("https://s3.example.com", "hab"),
            "https://hab.s3.example.com"
        );
        assert_eq!(
            virtual_hosted("https://hab.s3.example.com", "hab"),
            "https://hab.s3.example.com"
        );
    }

    #[test]
    fn error_codes_are_found_in_responses() {
        let text = "Generic S3 error: <?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>\
                    <Message>x</Message></Error>";
        assert_eq!(error_code(text), Some("NoSuchBucket"));
        assert_eq!(error_code("connection refused"), None);
    }
}
