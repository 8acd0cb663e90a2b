//! Retries with exponential back-off: on connection errors, 5xx and 429 (honouring
//! `Retry-After`), never on other 4xx.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use reqwest::header::RETRY_AFTER;
use reqwest::{Response, StatusCode, Url};

use crate::error::{BoxError, Error, Result};

/// How often and how patiently a request is retried.
///
/// Attempt `n + 1` waits `base_delay × 2ⁿ⁻¹` (capped at `max_delay`, with jitter: between half
/// and all of it) after attempt `n` failed, or exactly what the depot's `Retry-After: SECONDS`
/// asks. A `Retry-After` longer than `max_delay` ends the retries: the depot's answer is
/// returned rather than ignoring its request to wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Four attempts, 500 ms first back-off, at most 30 s between attempts.
    fn default() -> Self {
        Self::new(4, Duration::from_millis(500))
    }
}

impl RetryPolicy {
    /// `attempts` in all (at least 1: the first try counts), backing off from `base_delay`, at
    /// most 30 s between attempts.
    pub const fn new(attempts: u32, base_delay: Duration) -> Self {
        Self {
            attempts: if attempts == 0 { 1 } else { attempts },
            base_delay,
            max_delay: Duration::from_secs(30),
        }
    }

    /// One attempt, no retries.
    pub const fn none() -> Self {
        Self::new(1, Duration::ZERO)
    }

    /// The longest wait between two attempts (back-off or `Retry-After`).
    pub const fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Attempts in all, the first one included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait before the first retry.
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The longest wait between two attempts.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The back-off after failed attempt `made` (1-based), jittered.
    fn backoff(&self, made: u32) -> Duration {
        let factor = 1u32.checked_shl(made.saturating_sub(1)).unwrap_or(u32::MAX);
        let full = self
            .base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        // Equal jitter, so that many clients failing together do not retry together. The
        // standard library's randomly keyed hasher is the entropy: this needs no more.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let half = full / 2;
        let extra = half.as_nanos() as u64;
        half + Duration::from_nanos(if extra == 0 { 0 } else { random % (extra + 1) })
    }
}

/// Which failures a request may be retried after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// GET, HEAD, PUT, DELETE, and uploads (re-sent from their file): connection errors, 5xx
    /// and 429.
    Always,
    /// Other requests: only when the depot provably did not act on them, that is when the
    /// connection could not be made or the answer is 429.
    Unsent,
}

/// What to do after an attempt.
pub(crate) enum Next {
    /// Use this response (a success, or an error status that is final).
    Response(Response),
    /// The back-off has been waited: send again.
    Retry,
}

/// The attempts at one request.
pub(crate) struct Attempts<'a> {
    policy: &'a RetryPolicy,
    mode: Retry,
    url: String,
    made: u32,
}

impl<'a> Attempts<'a> {
    pub(crate) fn new(policy: &'a RetryPolicy, mode: Retry, url: &Url) -> Self {
        Self {
            policy,
            mode,
            url: url.to_string(),
            made: 0,
        }
    }

    /// Counts an attempt about to be made.
    pub(crate) fn start(&mut self) {
        self.made += 1;
    }

    fn left(&self) -> bool {
        self.made < self.policy.attempts
    }

    /// Decides after an attempt: a response to use, a retry (after waiting), or a connection
    /// error once no attempts are left.
    pub(crate) async fn after(
        &mut self,
        result: std::result::Result<Response, reqwest::Error>,
    ) -> Result<Next> {
        match result {
            Ok(response) => {
                if !(self.left() && retryable_status(response.status(), self.mode)) {
                    return Ok(Next::Response(response));
                }
                let wait = match retry_after(&response) {
                    Some(wait) if wait > self.policy.max_delay => {
                        return Ok(Next::Response(response));
                    }
                    Some(wait) => wait,
                    None => self.policy.backoff(self.made),
                };
                drop(response);
                tokio::time::sleep(wait).await;
                Ok(Next::Retry)
            }
            Err(err) => self.broken(err).await.map(|()| Next::Retry),
        }
    }

    /// A connection that failed (to open, or mid-transfer): waits and returns `Ok` when another
    /// attempt may be made, else the connection error naming the URL.
    pub(crate) async fn broken(&mut self, err: reqwest::Error) -> Result<()> {
        if let Some(reason) = certificate_problem(&err) {
            // Asking again gets the same certificate.
            return Err(Error::Certificate {
                url: self.url.clone(),
                reason,
            });
        }
        let unsent = err.is_connect();
        self.failed(unsent, Box::new(err)).await
    }

    /// As [`Attempts::broken`] for any failure of the transfer; `unsent` when the depot
    /// cannot have received the request.
    pub(crate) async fn failed(&mut self, unsent: bool, source: BoxError) -> Result<()> {
        let retryable = self.mode == Retry::Always || unsent;
        if retryable && self.left() {
            tokio::time::sleep(self.policy.backoff(self.made)).await;
            Ok(())
        } else {
            Err(Error::Connection {
                url: self.url.clone(),
                attempts: self.made,
                source,
            })
        }
    }
}

/// What is wrong with the server's certificate, when that is why the connection failed.
fn certificate_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rustls::{CertificateError, Error as Tls};
    if let Some(Tls::InvalidCertificate(problem)) = err.downcast_ref::<Tls>() {
        return Some(match problem {
            CertificateError::UnknownIssuer => "it is issued by a certificate authority this \
                                                machine does not trust (unknown issuer)"
                .to_owned(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "it has expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "it is not valid yet (is this machine's clock right?)".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "it was not made for this host name".to_owned()
            }
            other => format!("{other:?}"),
        });
    }
    // An I/O error's `source` skips the error it wraps (which may be another I/O error).
    let wrapped = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .map(|inner| inner as &(dyn std::error::Error + 'static));
    wrapped
        .and_then(certificate_problem)
        .or_else(|| err.source().and_then(certificate_problem))
}

/// 429 always; 5xx for requests that may be repeated, except the permanent 501 and 505.
fn retryable_status(status: StatusCode, mode: Retry) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (mode == Retry::Always
            && status.is_server_error()
            && status != StatusCode::NOT_IMPLEMENTED
            && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
}

/// `Retry-After: SECONDS` (the HTTP-date form is not used by depots and falls back to the
/// back-off).
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let policy = RetryPolicy::new(10, Duration::from_millis(100))
            .with_max_delay(Duration::from_millis(1000));
        for (made, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let full = Duration::from_millis(full);
            for _ in 0..20 {
                let wait = policy.backoff(made);
                assert!(wait >= full / 2 && wait <= full, "{made}: {wait:?}");
            }
        }
        assert_eq!(RetryPolicy::none().backoff(1), Duration::ZERO);
        assert_eq!(RetryPolicy::new(0, Duration::ZERO).attempts(), 1);
    }

    #[test]
    fn statuses() {
        use Retry::*;
        for (status, always, unsent) in [
            (429, true, true),
            (500, true, false),
            (502, true, false),
            (503, true, false),
            (504, true, false),
            (501, false, false),
            (505, false, false),
            (400, false, false),
            (401, false, false),
            (404, false, false),
            (409, false, false),
            (422, false, false),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(retryable_status(status, Always), always, "{status}");
            assert_eq!(retryable_status(status, Unsent), unsent, "{status}");
        }
    }
}
