//! Retries against a tiny hand-written HTTP server on 127.0.0.1:0 that answers from a script:
//! 503 then 200, 429 with `Retry-After`, 400 (never retried), broken connections, a closed
//! port.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use habitat_core::{Blake2bHash, FullyQualifiedIdent, OriginName, PackageTarget};
use habitat_depot_client::{Client, Error, RetryPolicy, Token, UploadOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    /// `GET /v1/status`.
    line: String,
    /// The head, lowercased.
    head: String,
    /// The head as sent.
    raw: String,
    /// Body bytes received.
    body: usize,
}

/// What the server does for one request.
enum Answer {
    /// Reads the body, writes these bytes and closes the connection.
    Raw(Vec<u8>),
    /// Reads the body, writes these bytes and drops the connection, whatever they say.
    Cut(Vec<u8>),
    /// Writes these bytes as soon as the head is read, without waiting for the body.
    Early(Vec<u8>),
}

/// A response with `Connection: close`.
fn respond(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut text = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    Answer::Raw(bytes)
}

fn json_error(status: &str, code: &str, message: &str) -> Answer {
    let body = format!(r#"{{"code":"{code}","message":"{message}"}}"#);
    respond(
        status,
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
}

/// A server answering request `n` (0-based, counted when its head arrives) with
/// `script(n, &head)`; returns its base URL and the requests it saw.
async fn server(
    script: impl Fn(usize, &Seen) -> Answer + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let script = Arc::new(script);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(handle(stream, log.clone(), script.clone()));
        }
    });
    (format!("http://{addr}"), seen)
}

async fn handle(
    mut stream: tokio::net::TcpStream,
    log: Arc<Mutex<Vec<Seen>>>,
    script: Arc<impl Fn(usize, &Seen) -> Answer>,
) {
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    let end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let raw = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let head = raw.to_lowercase();
    let line = raw
        .lines()
        .next()
        .unwrap_or_default()
        .rsplit_once(' ')
        .map(|(l, _)| l.to_owned())
        .unwrap_or_default();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut request = Seen {
        line,
        head,
        raw,
        body: buffer.len() - end - 4,
    };
    let n = {
        let mut log = log.lock().unwrap();
        log.push(request.clone());
        log.len() - 1
    };
    let answer = script(n, &request);
    if let Answer::Early(bytes) = &answer {
        let _ = stream.write_all(bytes).await;
        let _ = stream.shutdown().await;
        return;
    }
    while request.body < length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(k) => request.body += k,
        }
    }
    log.lock().unwrap()[n].body = request.body;
    match answer {
        Answer::Raw(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Answer::Cut(bytes) | Answer::Early(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.flush().await;
        }
    }
}

/// `answer` sent without waiting for the body.
fn early(answer: Answer) -> Answer {
    match answer {
        Answer::Raw(bytes) | Answer::Cut(bytes) | Answer::Early(bytes) => Answer::Early(bytes),
    }
}

fn client(base: &str, attempts: u32) -> Client {
    Client::builder(base.parse().unwrap())
        .retry(RetryPolicy::new(attempts, Duration::from_millis(10)))
        .no_proxy()
        .build()
        .unwrap()
}

fn count(seen: &Mutex<Vec<Seen>>) -> usize {
    seen.lock().unwrap().len()
}

#[tokio::test]
async fn retries_503_then_succeeds() {
    let (base, seen) = server(|n, _| {
        if n < 2 {
            json_error(
                "503 Service Unavailable",
                "unavailable",
                "the metadata store does not answer",
            )
        } else {
            respond("200 OK", &[], b"")
        }
    })
    .await;
    client(&base, 3).status().await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.line == "GET /v1/status"), "{seen:?}");
}

#[tokio::test]
async fn gives_up_after_the_configured_attempts_with_the_last_answer() {
    let (base, seen) = server(|_, _| {
        json_error(
            "503 Service Unavailable",
            "unavailable",
            "the artifact store does not answer",
        )
    })
    .await;
    let err = client(&base, 3).status().await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    assert_eq!(err.code(), Some("unavailable"));
    assert!(
        err.to_string()
            .contains("the artifact store does not answer"),
        "{err}"
    );
    assert_eq!(count(&seen), 3);
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let (base, seen) = server(|n, _| {
        if n == 0 {
            respond(
                "429 Too Many Requests",
                &[("retry-after", "1")],
                b"slow down",
            )
        } else {
            respond("200 OK", &[], b"")
        }
    })
    .await;
    let started = Instant::now();
    client(&base, 3).status().await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?}"
    );
    assert_eq!(count(&seen), 2);

    // A Retry-After longer than the policy allows: the 429 is the answer, at once.
    let (base, seen) = server(|_, _| {
        respond(
            "429 Too Many Requests",
            &[("retry-after", "3600")],
            b"come back later",
        )
    })
    .await;
    let started = Instant::now();
    let err = client(&base, 3).status().await.unwrap_err();
    assert_eq!(err.status(), Some(429), "{err}");
    assert!(err.to_string().contains("come back later"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(count(&seen), 1);
}

#[tokio::test]
async fn never_retries_4xx() {
    let (base, seen) = server(|_, _| json_error("400 Bad Request", "bad_request", "no way")).await;
    let err = client(&base, 5).status().await.unwrap_err();
    let Error::Http {
        status,
        code,
        message,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (*status, code.as_deref(), message.as_str()),
        (400, Some("bad_request"), "no way")
    );
    assert_eq!(count(&seen), 1);
}

#[tokio::test]
async fn posts_are_not_retried_after_the_depot_may_have_acted() {
    let (base, seen) =
        server(|_, _| respond("503 Service Unavailable", &[], b"<html>down</html>")).await;
    let acme: OriginName = "acme".parse().unwrap();
    let err = client(&base, 5)
        .create_origin(&acme, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    assert_eq!(err.code(), None);
    assert!(err.to_string().contains("<html>down</html>"), "{err}");
    assert_eq!(count(&seen), 1);

    // 429 means the depot did nothing: that is retried.
    let (base, seen) = server(|n, _| {
        if n == 0 {
            respond("429 Too Many Requests", &[], b"")
        } else {
            respond(
                "201 Created",
                &[("content-type", "application/json")],
                br#"{"name":"acme","owner":"alice","default_package_visibility":"public","created_at":"2024-01-01T00:00:00Z"}"#,
            )
        }
    })
    .await;
    let origin = client(&base, 3).create_origin(&acme, None).await.unwrap();
    assert_eq!(origin.owner, "alice");
    assert_eq!(count(&seen), 2);
}

#[tokio::test]
async fn a_closed_port_is_a_connection_error_naming_the_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let err = client(&base, 3).status().await.unwrap_err();
    let Error::Connection { url, attempts, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(url, &format!("{base}/v1/status"));
    assert_eq!(*attempts, 3);
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    // POSTs too: nothing was sent.
    let err = client(&base, 2)
        .create_origin(&"acme".parse().unwrap(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Connection { attempts: 2, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn error_bodies_are_scrubbed_of_the_token() {
    // A misbehaving proxy that echoes the request head into its error page.
    let (base, _) = server(|_, seen| respond("400 Bad Request", &[], seen.raw.as_bytes())).await;
    let secret = "hab_ZWNob2VkLWJhY2stYnktYS1wcm94eQ";
    let client = Client::builder(base.parse().unwrap())
        .token(Some(Token::new(secret).unwrap()))
        .no_proxy()
        .build()
        .unwrap();
    let err = client.profile().await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("Bearer ***"), "{shown}");
    assert!(!shown.contains(&secret[4..]), "{shown}");
}

#[tokio::test]
async fn uploads_are_resent_from_the_file() {
    let work = tempfile::tempdir().unwrap();
    let hart = work.path().join("acme-app.hart");
    std::fs::write(&hart, vec![7u8; 300 << 10]).unwrap();
    let (base, seen) = server(|n, _| match n {
        // Does the depot have it? No.
        0 => json_error("404 Not Found", "not_found", "package not found"),
        1 => json_error("502 Bad Gateway", "bad_gateway", "upstream reset"),
        _ => respond(
            "201 Created",
            &[],
            b"/pkgs/acme/app/1/20240101000000/download",
        ),
    })
    .await;
    let ident: FullyQualifiedIdent = "acme/app/1/20240101000000".parse().unwrap();
    let outcome = client(&base, 3)
        .upload(
            &hart,
            &ident,
            PackageTarget::X86_64Linux,
            None,
            false,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(outcome, UploadOutcome::Created);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    let checksum = Blake2bHash::of_file(&hart).unwrap();
    for upload in &seen[1..] {
        assert_eq!(
            upload.line,
            format!(
                "POST /v1/depot/pkgs/acme/app/1/20240101000000?checksum={checksum}&target=x86_64-linux"
            )
        );
        assert_eq!(upload.body, 300 << 10);
    }
}

#[tokio::test]
async fn a_retried_upload_that_meets_its_own_success_is_created() {
    let work = tempfile::tempdir().unwrap();
    let hart = work.path().join("acme-app.hart");
    std::fs::write(&hart, b"not really an artifact").unwrap();
    let checksum = Blake2bHash::of_file(&hart).unwrap();
    let package = format!(
        r#"{{"ident":{{"origin":"acme","name":"app","version":"1","release":"20240101000000"}},
            "target":"x86_64-linux","checksum":"{checksum}","manifest":"","config":"",
            "deps":[],"tdeps":[],"exposes":[]}}"#
    );
    let (base, seen) = server(move |n, _| match n {
        0 => json_error("404 Not Found", "not_found", "package not found"),
        // The first upload landed, but the connection broke before its answer.
        1 => Answer::Cut(Vec::new()),
        // Asked why, the depot says it has the package: the first upload had landed.
        2 => early(json_error(
            "409 Conflict",
            "conflict",
            "package already exists",
        )),
        _ => respond(
            "200 OK",
            &[("content-type", "application/json")],
            package.as_bytes(),
        ),
    })
    .await;
    let ident: FullyQualifiedIdent = "acme/app/1/20240101000000".parse().unwrap();
    let outcome = client(&base, 3)
        .upload(
            &hart,
            &ident,
            PackageTarget::X86_64Linux,
            Some(checksum),
            false,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(outcome, UploadOutcome::Created);
    let seen = seen.lock().unwrap();
    let lines: Vec<&str> = seen
        .iter()
        .map(|s| s.line.split('?').next().unwrap())
        .collect();
    let show = "GET /v1/depot/pkgs/acme/app/1/20240101000000";
    let upload = "POST /v1/depot/pkgs/acme/app/1/20240101000000";
    assert_eq!(lines, [show, upload, upload, show]);
}

#[tokio::test]
async fn broken_downloads_resume_with_range() {
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let checksum = Blake2bHash::digest(&content);
    let body = content.clone();
    let (base, seen) = server(move |n, request| {
        let etag = format!("\"{checksum}\"");
        let name = "acme-app-1-20240101000000-x86_64-linux.hart";
        if n == 0 {
            // Headers for the whole file, then a third of it, then the connection drops.
            let mut bytes = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-filename: {name}\r\netag: {etag}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            bytes.extend_from_slice(&body[..body.len() / 3]);
            return Answer::Cut(bytes);
        }
        let start: usize = request
            .head
            .lines()
            .find_map(|l| l.strip_prefix("range: bytes="))
            .and_then(|r| r.trim_end_matches('-').parse().ok())
            .unwrap_or(0);
        let range = format!("bytes {start}-{}/{}", body.len() - 1, body.len());
        respond(
            "206 Partial Content",
            &[("x-filename", name), ("etag", &etag), ("content-range", &range)],
            &body[start..],
        )
    })
    .await;
    let ident: FullyQualifiedIdent = "acme/app/1/20240101000000".parse().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let mut last = 0;
    let file = client(&base, 3)
        .download(&ident, PackageTarget::X86_64Linux, None, dest.path(), |p| {
            assert!(p.done >= last, "{} after {last}", p.done);
            last = p.done;
        })
        .await
        .unwrap();
    assert_eq!(std::fs::read(&file.path).unwrap(), content);
    assert_eq!(file.checksum, checksum);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let third = content.len() / 3;
    assert!(
        seen[1].head.contains(&format!("range: bytes={third}-")),
        "{:?}",
        seen[1]
    );
}

#[tokio::test]
async fn unsafe_download_names_are_refused() {
    for name in ["../../etc/evil.hart", "evil.sh", "a/b.hart", "..hart"] {
        let header = name.to_owned();
        let (base, _) =
            server(move |_, _| respond("200 OK", &[("x-filename", &header)], b"bytes")).await;
        let dest = tempfile::tempdir().unwrap();
        let ident: FullyQualifiedIdent = "acme/app/1/20240101000000".parse().unwrap();
        let err = client(&base, 1)
            .download(
                &ident,
                PackageTarget::X86_64Linux,
                None,
                dest.path(),
                |_| {},
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::UnsafeFileName { .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
        let left: Vec<_> = std::fs::read_dir(dest.path()).unwrap().collect();
        assert!(left.is_empty(), "{name}: {left:?}");
    }
}

#[tokio::test]
async fn checksum_mismatches_are_errors() {
    let (base, _) = server(|_, _| {
        let etag = format!("\"{}\"", Blake2bHash::digest(b"something else"));
        respond("200 OK", &[("etag", &etag)], b"these bytes")
    })
    .await;
    let dest = tempfile::tempdir().unwrap();
    let ident: FullyQualifiedIdent = "acme/app/1/20240101000000".parse().unwrap();
    let err = client(&base, 1)
        .download(
            &ident,
            PackageTarget::X86_64Linux,
            None,
            dest.path(),
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err:?}");
    let left: Vec<_> = std::fs::read_dir(dest.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_cut_off_upload_reports_the_depots_early_refusal() {
    let work = tempfile::tempdir().unwrap();
    let hart = work.path().join("acme-app.hart");
    std::fs::write(&hart, vec![1u8; 64 << 10]).unwrap();
    let (base, seen) = server(|n, _| match n {
        0 => json_error("404 Not Found", "not_found", "package not found"),
        // The depot refused before reading, and the refusal was lost with the connection.
        1 => Answer::Cut(Vec::new()),
        _ => early(json_error(
            "403 Forbidden",
            "forbidden",
            "`bob` needs role `member` or higher in origin `acme` to upload packages",
        )),
    })
    .await;
    let ident: FullyQualifiedIdent = "acme/app/1/20240101000000".parse().unwrap();
    let err = client(&base, 3)
        .upload(
            &hart,
            &ident,
            PackageTarget::X86_64Linux,
            None,
            false,
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(err.to_string().contains("needs role `member`"), "{err}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    // The question carried no body.
    assert_eq!(seen[2].body, 0);
    assert!(
        seen[2]
            .head
            .contains(&format!("content-length: {}", 64 << 10))
    );
}
