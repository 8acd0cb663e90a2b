//! Artifact transfers: uploads streamed from a file, downloads streamed into a temp file
//! beside their destination (resumed with `Range` when a partial file is there), both with a
//! progress callback and the client's retries.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use futures_util::TryStreamExt;
use habitat_core::hash::Hasher;
use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, PackageTarget};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderMap, RANGE};
use reqwest::{Body, Method, Response, StatusCode, Url};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio_util::io::ReaderStream;

use crate::api::packages::{with_query, with_target};
use crate::blocking;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::retry::{Attempts, Next, Retry};

/// Bytes read from the file per chunk of an upload.
const UPLOAD_CHUNK: usize = 128 << 10;

/// How long the depot gets to refuse an upload before its body (see [`Client::upload`]): its
/// early checks are a few lookups.
const EARLY_ANSWER_WAIT: Duration = Duration::from_secs(3);

/// Bytes gathered before one write of a download.
const WRITE_BUFFER: usize = 1 << 20;

/// How far a transfer has come: called after every chunk, `done` never decreasing within an
/// attempt (a retried upload starts again from 0; a resumed download from what it has).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes transferred (for a resumed download, including those already on disk).
    pub done: u64,
    /// The whole size, when known.
    pub total: Option<u64>,
}

/// What an upload achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadOutcome {
    /// The depot stored it (201), or a retried upload met its own earlier success.
    Created,
    /// The depot already had this very file (same checksum); nothing was stored. This is what
    /// `hab pkg upload` skips.
    AlreadyPresent,
}

/// A finished download.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// The file, named as the depot's `X-Filename` says, in the destination directory.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// BLAKE2b-256 of the whole file (checked against the depot's `ETag` when it sends one).
    pub checksum: Blake2bHash,
    /// Bytes that were already on disk from an interrupted download (0: a fresh one).
    pub resumed_from: u64,
}

impl Client {
    /// `POST /v1/depot/pkgs/{o}/{n}/{v}/{r}?checksum=&target=&forced=`: uploads the artifact
    /// at `path`, streamed from disk (never read into memory), calling `progress` as it goes.
    ///
    /// `checksum` is the file's BLAKE2b-256; when `None` it is computed first (one more read
    /// of the file). Unless `forced`, the depot is asked first whether it holds the package,
    /// and the identical file is not sent again: [`UploadOutcome::AlreadyPresent`], as is a
    /// 409 for the identical file. Uploads are retried like reads (re-sent from the file); a
    /// retry that meets 409 with the same checksum met its own earlier attempt:
    /// [`UploadOutcome::Created`].
    ///
    /// A depot refuses some uploads before reading their body (no token, no role, an
    /// existing package, too large) and closes the connection, which can cut the answer off.
    /// When a transfer is cut off, the depot is asked again with the same request but a body
    /// that never comes: its early answer, if it has one, is the result.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; 401 without a token; 403 below `member` or
    /// for an unknown origin; 409 when the depot holds another file under this ident
    /// (published artifacts are immutable); 413 past the depot's limit; 422 with code
    /// `unknown_signing_key` (upload the public key first), `checksum_mismatch`,
    /// `invalid_signature`, `ident_mismatch` ...; 501 for a target the depot does not accept.
    pub async fn upload<P: FnMut(Progress)>(
        &self,
        path: &Path,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
        checksum: Option<Blake2bHash>,
        forced: bool,
        mut progress: P,
    ) -> Result<UploadOutcome> {
        let size = tokio::fs::metadata(path)
            .await
            .map_err(Error::io("read", path))?
            .len();
        let checksum = match checksum {
            Some(checksum) => checksum,
            None => {
                let owned = path.to_owned();
                blocking(path.to_owned(), move || Ok(Blake2bHash::of_file(&owned)?)).await?
            }
        };
        // Another file under this ident is refused before the body is read: no need to send it.
        let mut refused_first = false;
        if !forced {
            match self.package(ident, target).await {
                Ok(there) if there.checksum == checksum => {
                    return Ok(UploadOutcome::AlreadyPresent);
                }
                Ok(_) => refused_first = true,
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(err),
            }
        }

        let url = self.upload_url(ident, target, &checksum, forced);
        let mut attempts = Attempts::new(&self.retry, Retry::Always, &url);
        // Whether an earlier attempt may have reached the depot whole.
        let mut cut_off = false;
        loop {
            attempts.start();
            let ask_first = std::mem::take(&mut refused_first);
            let result = self
                .upload_attempt(&url, path, size, ask_first, &mut cut_off, &mut progress)
                .await?;
            let response = match attempts.after(result).await? {
                Next::Retry => continue,
                Next::Response(response) => response,
            };
            let status = response.status();
            if status.is_success() {
                return Ok(UploadOutcome::Created);
            }
            let err = self.http_error(&Method::POST, response).await;
            if status != StatusCode::CONFLICT {
                return Err(err);
            }
            return self
                .after_conflict(ident, target, checksum, cut_off, err)
                .await;
        }
    }

    /// `POST /v1/depot/pkgs/{o}/{n}/{v}/{r}?checksum=&target=[&forced=true]`.
    fn upload_url(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
        checksum: &Blake2bHash,
        forced: bool,
    ) -> Url {
        let checksum_text = checksum.to_string();
        let mut query = vec![
            ("checksum", checksum_text.as_str()),
            ("target", target.as_str()),
        ];
        if forced {
            query.push(("forced", "true"));
        }
        with_query(self.package_url(ident, &[]), &query)
    }

    /// One attempt at an upload: the depot's early answer when `ask_first` (it was expected to
    /// refuse) and it has one, else the file sent; a transfer cut off (not one that never
    /// connected) sets `cut_off` and falls back on the early answer, if there is one.
    async fn upload_attempt<P: FnMut(Progress)>(
        &self,
        url: &Url,
        path: &Path,
        size: u64,
        ask_first: bool,
        cut_off: &mut bool,
        progress: &mut P,
    ) -> Result<std::result::Result<Response, reqwest::Error>> {
        if ask_first && let Some(response) = self.early_answer(url, size).await {
            return Ok(Ok(response));
        }
        Ok(match self.send_file(url, path, size, progress).await? {
            Err(err) if !err.is_connect() => {
                *cut_off = true;
                match self.early_answer(url, size).await {
                    Some(response) => Ok(response),
                    None => Err(err),
                }
            }
            other => other,
        })
    }

    /// A 409 to an upload: the depot holds a package under this ident. The same file is
    /// success (created by an earlier attempt that was `cut_off`, else already present);
    /// another file is the error `err`.
    async fn after_conflict(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
        checksum: Blake2bHash,
        cut_off: bool,
        err: Error,
    ) -> Result<UploadOutcome> {
        match self.package(ident, target).await {
            Ok(there) if there.checksum == checksum && cut_off => Ok(UploadOutcome::Created),
            Ok(there) if there.checksum == checksum => Ok(UploadOutcome::AlreadyPresent),
            _ => Err(err),
        }
    }

    /// The depot's answer to an upload request before any of its body: sends the headers of
    /// the upload with a body that never comes, and waits [`EARLY_ANSWER_WAIT`]. `None` when
    /// the depot waits for the body (its early checks pass) or cannot be reached. Harmless: a
    /// depot stores nothing before the whole body has arrived.
    async fn early_answer(&self, url: &Url, size: u64) -> Option<Response> {
        let never = futures_util::stream::pending::<std::result::Result<Bytes, std::io::Error>>();
        let request = self
            .request(Method::POST, url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(Body::wrap_stream(never));
        match tokio::time::timeout(EARLY_ANSWER_WAIT, request.send()).await {
            Ok(Ok(response)) if !response.status().is_success() => Some(response),
            _ => None,
        }
    }

    /// One attempt at sending the file; progress is reported from here, on the caller's task,
    /// as the body stream (owned by the HTTP client) reads the file.
    async fn send_file<P: FnMut(Progress)>(
        &self,
        url: &Url,
        path: &Path,
        size: u64,
        progress: &mut P,
    ) -> Result<std::result::Result<Response, reqwest::Error>> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(Error::io("open", path))?;
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let mut sent = 0u64;
        let body = ReaderStream::with_capacity(file, UPLOAD_CHUNK).map_ok(move |chunk| {
            sent += chunk.len() as u64;
            // The receiver outlives the request unless the caller dropped the upload.
            let _ = sender.send(sent);
            chunk
        });
        let request = self
            .request(Method::POST, url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(Body::wrap_stream(body));
        let total = Some(size);
        progress(Progress { done: 0, total });
        let send = request.send();
        tokio::pin!(send);
        let result = loop {
            tokio::select! {
                result = &mut send => break result,
                Some(done) = receiver.recv() => progress(Progress { done, total }),
            }
        };
        while let Ok(done) = receiver.try_recv() {
            progress(Progress { done, total });
        }
        Ok(result)
    }

    /// Downloads the artifact of `ident` for `target` (from `channel`, if given: then it must
    /// be in that channel) into `dest_dir`, calling `progress` as it goes. Returns the file,
    /// named by the depot's `X-Filename`.
    ///
    /// The bytes stream into `dest_dir/.<archive name>.part`, which is renamed into place only
    /// once complete and, when the depot sends an `ETag`, checked against it. A broken
    /// connection is retried from where it stopped (`Range`), and so is a later call after an
    /// interrupted one.
    ///
    /// # Errors
    /// 404 when the package does not exist (in that channel) or the caller may not see it;
    /// [`Error::UnsafeFileName`] for an `X-Filename` with `/` or `..` or not ending in
    /// `.hart`; [`Error::ChecksumMismatch`]; [`Error::Io`] naming the file.
    pub async fn download<P: FnMut(Progress)>(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
        channel: Option<&ChannelName>,
        dest_dir: &Path,
        mut progress: P,
    ) -> Result<Downloaded> {
        let url = self.download_url(ident, target, channel);
        let archive_name = ident.archive_name(target);
        tokio::fs::create_dir_all(dest_dir)
            .await
            .map_err(Error::io("create directory", dest_dir))?;
        let mut part = PartFile::new(dest_dir.join(format!(".{archive_name}.part")));
        let mut attempts = Attempts::new(&self.retry, Retry::Always, &url);
        loop {
            attempts.start();
            // 1. Ask for what the partial file lacks; 2. see where the answer's body goes.
            let Answer {
                mut response,
                name,
                announced,
                start,
                total,
            } = match self
                .request_rest(&url, &archive_name, &mut part, &mut attempts)
                .await?
            {
                Some(answer) => answer,
                None => continue,
            };
            // 3. Stream it to disk, hashing as it comes.
            let (size, found) =
                match receive(&mut response, &part.path, start, total, &mut progress).await? {
                    Received::Broken(err) => {
                        // Keep what arrived: the next attempt resumes from it.
                        attempts.broken(err).await?;
                        continue;
                    }
                    Received::Short { done, total } => {
                        let reason = format!("the body ended after {done} of {total} bytes");
                        attempts.failed(false, reason.into()).await?;
                        continue;
                    }
                    Received::Complete { size, checksum } => (size, checksum),
                };
            // 4. Check it against the depot's ETag, then move it into place.
            let path = dest_dir.join(name);
            if !part.place(announced, found, start > 0, &path).await? {
                continue;
            }
            return Ok(Downloaded {
                path,
                size,
                checksum: found,
                resumed_from: start,
            });
        }
    }

    /// Asks for the bytes the partial file lacks (`Range` when it has some) and reads where
    /// the answer's body goes; `None` to ask again (a retry, or the partial file was thrown
    /// away). A range the depot cannot serve, or serves wrongly, throws the partial file away
    /// once; a 206 for another range after that is an error.
    async fn request_rest(
        &self,
        url: &Url,
        archive_name: &str,
        part: &mut PartFile,
        attempts: &mut Attempts<'_>,
    ) -> Result<Option<Answer>> {
        let offset = part.len().await;
        let mut request = self.request(Method::GET, url.clone());
        if offset > 0 {
            request = request.header(RANGE, format!("bytes={offset}-"));
        }
        let response = match attempts.after(request.send().await).await? {
            Next::Retry => return Ok(None),
            Next::Response(response) => response,
        };
        let status = response.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE && offset > 0 && part.discard().await? {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.http_error(&Method::GET, response).await);
        }
        let name = file_name(response.headers(), url, archive_name)?;
        let announced = etag(response.headers());
        let Some((start, total)) = body_range(&response, offset) else {
            // Not the range asked for: start over, once.
            if part.discard().await? {
                return Ok(None);
            }
            return Err(Error::Decode {
                url: url.to_string(),
                reason: format!("a 206 answer without the range `bytes={offset}-`"),
            });
        };
        Ok(Some(Answer {
            response,
            name,
            announced,
            start,
            total,
        }))
    }

    /// `GET .../download?target=`, through `channel` when given.
    fn download_url(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
        channel: Option<&ChannelName>,
    ) -> Url {
        let url = match channel {
            Some(channel) => self.channel_package_url(ident, channel, &["download"]),
            None => self.package_url(ident, &["download"]),
        };
        with_target(url, target)
    }
}

/// The partial file of a download, beside its destination. It is thrown away and started
/// afresh at most once per download (stale, refused by the depot, or not this artifact's).
struct PartFile {
    path: PathBuf,
    discarded: bool,
}

impl PartFile {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            discarded: false,
        }
    }

    /// Bytes already there (0 when there is no file).
    async fn len(&self) -> u64 {
        match tokio::fs::metadata(&self.path).await {
            Ok(meta) => meta.len(),
            Err(_) => 0,
        }
    }

    /// Checks the complete file against the checksum the depot announced, if any, and renames
    /// it to `path`. A file that does not match is removed; when it began with bytes kept from
    /// before (`resumed`), those may be the cause, and the answer is `false`: download it
    /// afresh, once.
    async fn place(
        &mut self,
        announced: Option<Blake2bHash>,
        found: Blake2bHash,
        resumed: bool,
        path: &Path,
    ) -> Result<bool> {
        if let Some(expected) = announced.filter(|e| *e != found) {
            remove(&self.path).await?;
            if resumed && !self.discarded {
                // The bytes kept from before were not this artifact's.
                self.discarded = true;
                return Ok(false);
            }
            return Err(Error::ChecksumMismatch {
                path: self.path.clone(),
                expected,
                found,
            });
        }
        tokio::fs::rename(&self.path, path)
            .await
            .map_err(Error::io("rename into place", path))?;
        Ok(true)
    }

    /// Removes the file to start over, unless that was done once already: then `false`.
    async fn discard(&mut self) -> Result<bool> {
        if self.discarded {
            return Ok(false);
        }
        self.discarded = true;
        remove(&self.path).await?;
        Ok(true)
    }
}

/// A successful answer to a download request.
struct Answer {
    response: Response,
    /// The file name the depot gives.
    name: String,
    /// The checksum the depot's `ETag` announces.
    announced: Option<Blake2bHash>,
    /// Where its body goes in the partial file.
    start: u64,
    /// The whole size, when known.
    total: Option<u64>,
}

/// Where a successful answer to a download request from `offset` puts its body: `(start,
/// whole size when known)`; `None` for a 206 that is not the range asked for.
fn body_range(response: &Response, offset: u64) -> Option<(u64, Option<u64>)> {
    if response.status() != StatusCode::PARTIAL_CONTENT {
        return Some((0, response.content_length()));
    }
    content_range(response.headers()).filter(|(start, _)| *start == offset)
}

/// How the body of one download attempt ended.
enum Received {
    /// The connection broke; what arrived is on disk.
    Broken(reqwest::Error),
    /// The body ended before the size announced.
    Short {
        /// Bytes in the file.
        done: u64,
        /// Bytes announced.
        total: u64,
    },
    /// All of it, synced: the file's size and checksum.
    Complete { size: u64, checksum: Blake2bHash },
}

/// Streams a download's body into the partial file from `start` (hashing what is there
/// before it), reporting progress after every chunk.
async fn receive<P: FnMut(Progress)>(
    response: &mut Response,
    part: &Path,
    start: u64,
    total: Option<u64>,
    progress: &mut P,
) -> Result<Received> {
    let (mut file, mut hasher) = open_part(part, start).await?;
    let mut done = start;
    progress(Progress { done, total });
    let broken = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                file.write_all(&chunk)
                    .await
                    .map_err(Error::io("write", part))?;
                hasher.update(&chunk);
                done += chunk.len() as u64;
                progress(Progress { done, total });
            }
            Ok(None) => break None,
            Err(err) => break Some(err),
        }
    };
    file.flush().await.map_err(Error::io("write", part))?;
    if let Some(err) = broken {
        return Ok(Received::Broken(err));
    }
    if let Some(total) = total.filter(|t| *t != done) {
        return Ok(Received::Short { done, total });
    }
    file.get_ref()
        .sync_all()
        .await
        .map_err(Error::io("sync", part))?;
    Ok(Received::Complete {
        size: done,
        checksum: hasher.finish(),
    })
}

/// Opens the partial file: truncated when starting from 0, else hashed up to `start` and
/// positioned there for appending.
async fn open_part(part: &Path, start: u64) -> Result<(BufWriter<tokio::fs::File>, Hasher)> {
    let mut hasher = Hasher::new();
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true);
    if start == 0 {
        options.create(true).truncate(true);
    } else {
        options.read(true);
    }
    let mut file = options.open(part).await.map_err(Error::io("open", part))?;
    if start > 0 {
        let mut buffer = vec![0u8; 256 << 10];
        let mut read = 0u64;
        while read < start {
            let want = buffer.len().min((start - read) as usize);
            let n = file
                .read(&mut buffer[..want])
                .await
                .map_err(Error::io("read", part))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            read += n as u64;
        }
        if read != start {
            return Err(Error::Io {
                action: "resume from",
                path: part.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("it shrank to {read} bytes"),
                ),
            });
        }
        // Writes go at `start`, whatever the file held past it.
        file.set_len(start)
            .await
            .map_err(Error::io("truncate", part))?;
    }
    Ok((BufWriter::with_capacity(WRITE_BUFFER, file), hasher))
}

async fn remove(path: &Path) -> Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", path)(e)),
        _ => Ok(()),
    }
}

/// `X-Filename`, which must be a plain `.hart` file name; the archive name when absent.
fn file_name(headers: &HeaderMap, url: &Url, fallback: &str) -> Result<String> {
    let Some(value) = headers.get("x-filename") else {
        return Ok(fallback.to_owned());
    };
    let name = String::from_utf8_lossy(value.as_bytes()).into_owned();
    match unsafe_name(&name) {
        None => Ok(name),
        Some(reason) => Err(Error::UnsafeFileName {
            url: url.to_string(),
            name,
            reason,
        }),
    }
}

/// Why `name` cannot be a download's file name, if it cannot.
fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.contains('/') || name.contains('\\') {
        Some("it holds a path separator")
    } else if name.contains("..") {
        Some("it holds `..`")
    } else if name.starts_with('.') {
        Some("it is hidden")
    } else if name.chars().any(char::is_control) {
        Some("it holds control characters")
    } else if !name.ends_with(".hart") || name.len() == ".hart".len() {
        Some("it is not a `.hart` file name")
    } else if name.len() > 255 {
        Some("it is longer than 255 bytes")
    } else {
        None
    }
}

/// The checksum in `ETag: "<checksum>"`, when there is one.
fn etag(headers: &HeaderMap) -> Option<Blake2bHash> {
    let value = headers.get(ETAG)?.to_str().ok()?;
    let value = value.trim().trim_start_matches("W/").trim_matches('"');
    value.parse().ok()
}

/// `Content-Range: bytes START-END/TOTAL` as (START, TOTAL).
fn content_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let value = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = match total {
        "*" => None,
        total => Some(total.parse().ok()?),
    };
    Some((start.parse().ok()?, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    /// Callers run transfers on spawned tasks (parallel installs): the futures must be `Send`.
    #[test]
    fn futures_are_send() {
        fn send<T: Send>(_: T) {}
        let client = Client::new("http://127.0.0.1:9".parse().unwrap(), None).unwrap();
        let ident: FullyQualifiedIdent = "core/redis/4.0.14/20190319155852".parse().unwrap();
        let target = PackageTarget::X86_64Linux;
        let dir = Path::new("/nonexistent");
        send(client.download(&ident, target, None, dir, |_| {}));
        send(client.upload(dir, &ident, target, None, false, |_| {}));
        send(client.status());
        let origin = ident.origin().clone();
        send(client.all_packages(&crate::PackageListing::origin(origin.clone())));
        let cache = habitat_core::KeyCache::new(dir);
        send(client.download_public_key(&origin, None, &cache));
        send(client.latest(ident.as_ident(), target, None));
    }

    #[test]
    fn file_names() {
        assert_eq!(
            unsafe_name("core-redis-4.0.14-20190319155852-x86_64-linux.hart"),
            None
        );
        for (name, reason) in [
            ("../evil.hart", "path separator"),
            ("/etc/passwd", "path separator"),
            ("a\\b.hart", "path separator"),
            ("core-..-1-2.hart", "`..`"),
            (".hidden.hart", "hidden"),
            ("core-redis.tar", "not a `.hart`"),
            (".hart", "hidden"),
            ("a\nb.hart", "control"),
        ] {
            let found = unsafe_name(name).unwrap_or_else(|| panic!("{name:?} accepted"));
            assert!(found.contains(reason), "{name:?}: {found}");
        }
    }

    #[test]
    fn headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_RANGE,
            HeaderValue::from_static("bytes 100-999/1000"),
        );
        assert_eq!(content_range(&headers), Some((100, Some(1000))));
        headers.insert(CONTENT_RANGE, HeaderValue::from_static("bytes 5-9/*"));
        assert_eq!(content_range(&headers), Some((5, None)));
        headers.insert(CONTENT_RANGE, HeaderValue::from_static("items 5-9/10"));
        assert_eq!(content_range(&headers), None);

        let hash = Blake2bHash::digest(b"x");
        let quoted = HeaderValue::from_str(&format!("\"{hash}\"")).unwrap();
        headers.insert(ETAG, quoted);
        assert_eq!(etag(&headers), Some(hash));
        headers.insert(ETAG, HeaderValue::from_static("\"abc\""));
        assert_eq!(etag(&headers), None);
    }
}
