//! Rate limits and the per-account cap on concurrent uploads (docs/operations.md, "Rate
//! limits"), from the `[rate_limit]` settings; without that section nothing is limited.
//!
//! Each client has a budget of requests (keyed GCRA, the `governor` crate): a request that
//! carries a token is counted against the token (its BLAKE2b hash, never the secret), any
//! other against the client's address: the peer's, or the one a trusted proxy names in
//! `X-Forwarded-For`. IPv6 addresses count by their /64, which one host can fill with
//! addresses. Downloads and writes can have tighter budgets of their own, counted on top of the
//! general one. Over a budget, [`limit`] answers 429 `rate_limited` with `Retry-After`.
//!
//! Budgets live in this process's memory: each process of a scale-out depot counts its own
//! requests. A client whose budget is full again is forgotten by a sweep that runs every few
//! seconds (and sooner when many clients are known), so a spray of addresses cannot grow the
//! map past the clients of the last few seconds.
//!
//! [`Limits::upload_slot`] is the upload cap: an account with `max_concurrent_uploads` uploads
//! in progress is refused another with 429 `too_many_uploads`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
use prometheus_client::metrics::counter::Counter;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::settings::{RateLimitSettings, SettingsError};
use crate::store::Account;

/// Routes never limited: the liveness check and the metrics, which supervisors and scrapers
/// ask often from one address.
const EXEMPT: [&str; 2] = ["/v1/status/live", "/metrics"];

/// How often known clients are swept at most.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Known clients past which a sweep runs at once (checked every [`CHECK_SIZE_EVERY`] requests).
const SWEEP_PAST: usize = 50_000;

/// Requests between two looks at the number of known clients.
const CHECK_SIZE_EVERY: u64 = 1024;

/// Known clients past which, even after a sweep, every budget is forgotten: the clients of
/// the last seconds are that many, so the depot is being sprayed with addresses or tokens, and
/// memory matters more than their budgets.
const FORGET_PAST: usize = 1_000_000;

/// Whom a request is counted against.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    /// The BLAKE2b hash of the request's bearer token.
    Token([u8; 32]),
    /// The client's address (an IPv6 address masked to its /64).
    Address(IpAddr),
}

/// One budget per client, and the counter of the requests it refused.
struct Budget {
    quota: Quota,
    /// Read-locked by every check; write-locked only to forget every budget at once.
    limiter: RwLock<DefaultKeyedRateLimiter<Key>>,
    refused: Counter,
}

impl Budget {
    fn new(rate: f64, burst: u32, refused: Counter) -> Self {
        // Rates are checked positive and finite: the period is too (a rate past a billion a
        // second is one request a nanosecond).
        let period = Duration::try_from_secs_f64(1.0 / rate)
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        Self {
            quota,
            limiter: RwLock::new(DefaultKeyedRateLimiter::keyed(quota)),
            refused,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, DefaultKeyedRateLimiter<Key>> {
        self.limiter.read().unwrap_or_else(|e| e.into_inner())
    }

    /// `Ok`, or how long the client must wait.
    fn check(&self, key: &Key) -> Result<(), Duration> {
        let limiter = self.read();
        limiter.check_key(key).map_err(|not_until| {
            self.refused.inc();
            not_until.wait_time_from(limiter.clock().now())
        })
    }

    fn len(&self) -> usize {
        self.read().len()
    }

    /// Forgets the clients whose budget is full again; when even then more than
    /// [`FORGET_PAST`] are known, every one.
    fn sweep(&self) {
        let known = {
            let limiter = self.read();
            limiter.retain_recent();
            limiter.shrink_to_fit();
            limiter.len()
        };
        if known > FORGET_PAST {
            tracing::warn!(
                clients = known,
                "rate limits: too many clients in the last seconds; every budget is reset"
            );
            *self.limiter.write().unwrap_or_else(|e| e.into_inner()) =
                DefaultKeyedRateLimiter::keyed(self.quota);
        }
    }
}

/// What kind of request, for the tighter budgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Download,
    Write,
    Read,
}

impl Kind {
    fn of(method: &Method, route: &str) -> Self {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            if route.ends_with("/download") {
                Self::Download
            } else {
                Self::Read
            }
        } else {
            Self::Write
        }
    }
}

/// The limits of one depot process, from `[rate_limit]`; [`Limits::off`] without it.
pub struct Limits {
    requests: Option<Budget>,
    downloads: Option<Budget>,
    writes: Option<Budget>,
    trusted: Vec<IpNet>,
    uploads: Option<UploadCap>,
    /// Requests seen, to look at the number of known clients now and then.
    seen: AtomicU64,
    /// When the next sweep is due, in milliseconds since `started`.
    next_sweep: AtomicU64,
    started: Instant,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("on", &self.is_on())
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

impl Limits {
    /// No limits at all.
    pub fn off() -> Self {
        Self {
            requests: None,
            downloads: None,
            writes: None,
            trusted: Vec::new(),
            uploads: None,
            seen: AtomicU64::new(0),
            next_sweep: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// The limits `settings` ask for (none when absent), checked: a rate that is not positive,
    /// a burst below 1 or a proxy address that does not parse is an error naming the setting.
    /// Refusals are counted in `metrics` (`hab_depot_requests_limited_total`).
    pub fn from_settings(
        settings: Option<&RateLimitSettings>,
        metrics: &Metrics,
    ) -> Result<Self, SettingsError> {
        let Some(settings) = settings else {
            return Ok(Self::off());
        };
        settings.check()?;
        let one_second = |rate: f64| rate.ceil().clamp(1.0, f64::from(u32::MAX)) as u32;
        let burst = settings
            .burst
            .and_then(|b| u32::try_from(b).ok())
            .unwrap_or_else(|| one_second(settings.requests_per_second));
        let tighter = |rate: Option<f64>, reason| {
            rate.map(|rate| Budget::new(rate, one_second(rate).min(burst), metrics.limited(reason)))
        };
        Ok(Self {
            requests: Some(Budget::new(
                settings.requests_per_second,
                burst,
                metrics.limited("requests"),
            )),
            downloads: tighter(settings.downloads_per_second, "downloads"),
            writes: tighter(settings.writes_per_second, "writes"),
            trusted: settings.proxy_networks()?,
            uploads: settings
                .max_concurrent_uploads
                .and_then(|max| u32::try_from(max).ok())
                .map(|max| UploadCap {
                    max,
                    running: Arc::new(Mutex::new(HashMap::new())),
                    refused: metrics.limited("uploads"),
                }),
            seen: AtomicU64::new(0),
            next_sweep: AtomicU64::new(SWEEP_EVERY.as_millis() as u64),
            started: Instant::now(),
        })
    }

    /// Whether any request is limited.
    pub fn is_on(&self) -> bool {
        self.requests.is_some()
    }

    /// The clients whose budgets are known (for the tests of the sweep).
    pub fn known_clients(&self) -> usize {
        [&self.requests, &self.downloads, &self.writes]
            .into_iter()
            .flatten()
            .map(Budget::len)
            .sum()
    }

    /// Forgets the clients whose budgets are full again (they are as if never seen); when
    /// even then too many are known, forgets every budget.
    pub fn sweep(&self) {
        for budget in [&self.requests, &self.downloads, &self.writes]
            .into_iter()
            .flatten()
        {
            budget.sweep();
        }
    }

    /// Sweeps when it is due, or when many clients are known.
    fn maybe_sweep(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let due = self.next_sweep.load(Ordering::Relaxed);
        let crowded = self
            .seen
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(CHECK_SIZE_EVERY)
            && self.known_clients() > SWEEP_PAST;
        if (now >= due || crowded)
            && self
                .next_sweep
                .compare_exchange(
                    due,
                    now + SWEEP_EVERY.as_millis() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.sweep();
        }
    }

    /// Whom a request is counted against: its token's hash, else its client's address.
    fn key(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Key {
        if let Some(secret) = headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            return Key::Token(*crate::auth::token_hash(secret).as_bytes());
        }
        let peer = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Key::Address(masked(self.client_address(headers, peer)))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy; then the
    /// nearest address in `X-Forwarded-For` (read from the right) that is not a trusted proxy.
    pub(crate) fn client_address(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Some(address) = parse_hop(hop) else {
                break;
            };
            client = address;
            if !self.is_trusted(address) {
                break;
            }
        }
        client
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.trusted.iter().any(|net| net.contains(&address))
    }

    /// `Ok`, or the 429 of the first budget the request is over.
    fn check(
        &self,
        method: &Method,
        route: &str,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<(), Response> {
        let Some(requests) = &self.requests else {
            return Ok(());
        };
        self.maybe_sweep();
        let key = self.key(headers, peer);
        let (tighter, what) = match Kind::of(method, route) {
            Kind::Download => (&self.downloads, "downloads"),
            Kind::Write => (&self.writes, "writes"),
            Kind::Read => (&None, "requests"),
        };
        // The tighter budget first: a request it refuses costs nothing of the general one.
        if let Some(budget) = tighter {
            budget
                .check(&key)
                .map_err(|wait| too_many(route, wait, what))?;
        }
        requests
            .check(&key)
            .map_err(|wait| too_many(route, wait, "requests"))
    }

    /// A slot for one more upload of `account`, held until the returned guard is dropped; the
    /// 429 `too_many_uploads` when the account has `max_concurrent_uploads` in progress.
    pub fn upload_slot(&self, account: &Account) -> Result<Option<UploadSlot>, Response> {
        let Some(cap) = &self.uploads else {
            return Ok(None);
        };
        let mut running = cap.running.lock().unwrap_or_else(|e| e.into_inner());
        let count = running.entry(account.id).or_insert(0);
        if *count >= cap.max {
            cap.refused.inc();
            let mut answer = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_uploads",
                format!(
                    "account `{}` has {} uploads in progress, the most this depot allows at once: \
                     retry when one has finished",
                    account.name, cap.max
                ),
            )
            .into_response();
            answer
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            return Err(answer);
        }
        *count += 1;
        Ok(Some(UploadSlot {
            running: cap.running.clone(),
            account: account.id,
        }))
    }
}

/// The upload cap: uploads in progress per account id.
struct UploadCap {
    max: u32,
    running: Arc<Mutex<HashMap<i64, u32>>>,
    refused: Counter,
}

/// One upload in progress; dropping it (the upload answered or abandoned) frees the slot.
#[derive(Debug)]
pub struct UploadSlot {
    running: Arc<Mutex<HashMap<i64, u32>>>,
    account: i64,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = running.get_mut(&self.account) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.account);
            }
        }
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:5678`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|a| a.to_canonical())
}

/// IPv4 as it is; IPv6 masked to its /64 (one host is given a /64 and can use all of it).
fn masked(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// The 429 of a budget `what` is over: JSON under `/v1`, a page elsewhere, with
/// `Retry-After` in whole seconds (at least 1).
fn too_many(route: &str, wait: Duration, what: &'static str) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut answer = if route == "/v1" || route.starts_with("/v1/") {
        let noun = match what {
            "downloads" => "downloads",
            "writes" => "writes",
            _ => "requests",
        };
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many {noun} from this client: retry in {seconds} s"),
        )
        .into_response()
    } else {
        crate::web::WebError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            format!("Too many requests from this browser: try again in {seconds} seconds."),
        )
        .into_response()
    };
    answer
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    answer
}

/// Route layer: counts the request against its client's budgets, or answers 429. Runs once a
/// route matched (its template tells downloads apart), before authentication.
pub async fn limit(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    if !limits.is_on() {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or_default();
    if EXEMPT.contains(&route) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Err(refused) = limits.check(request.method(), route, request.headers(), peer) {
        return refused;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(text: &str) -> Limits {
        let settings: RateLimitSettings = toml::from_str(text).unwrap();
        Limits::from_settings(Some(&settings), &Metrics::new()).unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn settings_are_checked_naming_the_setting() {
        let refused = |text: &str| {
            let settings: RateLimitSettings = toml::from_str(text).unwrap();
            Limits::from_settings(Some(&settings), &Metrics::new())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused("requests_per_second = 0"),
            "`[rate_limit]` `requests_per_second`: `0` is not a positive number of requests per \
             second"
        );
        assert!(refused("requests_per_second = -2.5").contains("`requests_per_second`: `-2.5`"),);
        assert!(
            refused("requests_per_second = 5\ndownloads_per_second = 0")
                .contains("`downloads_per_second`")
        );
        assert!(
            refused("requests_per_second = 5\nwrites_per_second = -1")
                .contains("`writes_per_second`")
        );
        assert!(refused("requests_per_second = 5\nburst = 0").contains("`burst`: `0`"));
        assert!(
            refused("requests_per_second = 5\nmax_concurrent_uploads = -1")
                .contains("`max_concurrent_uploads`")
        );
        assert!(
            refused("requests_per_second = 5\ntrusted_proxies = [\"10.0.0.0/33\"]")
                .contains("`trusted_proxies`: `10.0.0.0/33` is not an address")
        );
        assert!(toml::from_str::<RateLimitSettings>("burst = 5").is_err());
        assert!(
            !Limits::from_settings(None, &Metrics::new())
                .unwrap()
                .is_on()
        );
    }

    #[test]
    fn the_documented_example_is_accepted() {
        let example = limits(
            "requests_per_second = 50\nburst = 100\ndownloads_per_second = 10\n\
             writes_per_second = 5\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.10\"]\n\
             max_concurrent_uploads = 2\n",
        );
        assert!(example.is_on());
        assert_eq!(example.trusted.len(), 2);
        // The default burst is one second's worth, rounded up.
        let half = limits("requests_per_second = 0.5");
        let peer = Some(IpAddr::from([192, 0, 2, 1]));
        let headers = HeaderMap::new();
        assert!(
            half.check(&Method::GET, "/v1/status", &headers, peer)
                .is_ok()
        );
        assert!(
            half.check(&Method::GET, "/v1/status", &headers, peer)
                .is_err()
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let limits =
            limits("requests_per_second = 5\ntrusted_proxies = [\"10.0.0.0/8\", \"192.168.1.1\"]");
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let client = |headers: &HeaderMap, peer| limits.client_address(headers, peer).to_string();
        let headers = forwarded(&["198.51.100.7, 192.168.1.1"]);
        assert_eq!(client(&headers, proxy), "198.51.100.7");
        assert_eq!(client(&headers, stranger), "203.0.113.9");
        // A client's own forged entries are to the left of the real one.
        let headers = forwarded(&["1.1.1.1, 198.51.100.7:4711", "10.9.9.9"]);
        assert_eq!(client(&headers, proxy), "198.51.100.7");
        // Nothing to believe: the proxy itself.
        assert_eq!(client(&HeaderMap::new(), proxy), "10.1.2.3");
        assert_eq!(client(&forwarded(&["garbage"]), proxy), "10.1.2.3");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(
            client(&forwarded(&["[2001:db8::5]:80"]), mapped),
            "2001:db8::5"
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_slash_64() {
        let a = masked("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = masked("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "2001:db8:1:2::");
        assert_ne!(a, masked("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(
            masked("192.0.2.1".parse().unwrap()).to_string(),
            "192.0.2.1"
        );
    }

    #[test]
    fn the_sweep_forgets_clients_whose_budget_is_full_again() {
        // 1,000 a second and a burst of 2: a client's budget is full again 2 ms after its
        // last request.
        let limits = limits("requests_per_second = 1000\nburst = 2");
        let headers = HeaderMap::new();
        for i in 0..10_000u32 {
            let peer = IpAddr::from(i.to_be_bytes());
            limits
                .check(&Method::GET, "/v1/status", &headers, Some(peer))
                .unwrap();
        }
        assert_eq!(limits.known_clients(), 10_000);
        std::thread::sleep(Duration::from_millis(20));
        limits.sweep();
        assert_eq!(limits.known_clients(), 0);
    }

    #[test]
    fn retry_after_is_whole_seconds_and_at_least_one() {
        let seconds = |wait| {
            too_many("/v1/status", wait, "requests").headers()[RETRY_AFTER]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(seconds(Duration::from_millis(10)), "1");
        assert_eq!(seconds(Duration::ZERO), "1");
        assert_eq!(seconds(Duration::from_millis(2001)), "3");
        assert_eq!(seconds(Duration::from_secs(2)), "2");
    }
}
