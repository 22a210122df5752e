//! What the socket experiments (`recovery_sockets`, `blackhole_sockets`)
//! share: the attempts each request made, counted inside the retry layer,
//! and the tally of a run from them.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use tokio::time::Instant;
use tower::Service;

pub type Request = http::Request<Full<Bytes>>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Request `id` of a run: a GET of `uri`, named by its `x-id` header.
pub fn get(uri: &str, id: usize) -> Request {
    http::Request::get(uri)
        .header("x-id", id.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A request's `x-id` header ("" if it has none).
pub fn id_of<B>(request: &http::Request<B>) -> String {
    request
        .headers()
        .get("x-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Each request's attempts, by its `x-id` header.
pub type Attempts = Arc<Mutex<HashMap<String, u32>>>;

/// Counts every attempt by `x-id` (put it inside the retry layer) and, if
/// asked, refuses one connect in `refuse_one_in` (picked by a fixed
/// sequence, the same on every run) before anything is sent, as a flaky
/// network path would.
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    attempts: Attempts,
    refuse_one_in: u64,
    draws: Arc<AtomicU64>,
}

impl<S> Counted<S> {
    pub fn new(inner: S, attempts: Attempts) -> Self {
        Self {
            inner,
            attempts,
            refuse_one_in: 0,
            draws: Arc::default(),
        }
    }

    /// Refuses one connect in `n` (0: none).
    #[allow(dead_code)] // not every experiment refuses
    pub fn refusing_one_in(mut self, n: u64) -> Self {
        self.refuse_one_in = n;
        self
    }

    /// Whether this attempt's connect is refused: splitmix64 over a counter.
    fn refuses(&self) -> bool {
        if self.refuse_one_in == 0 {
            return false;
        }
        let mut z = self
            .draws
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % self.refuse_one_in == 0
    }
}

impl<S> Service<Request> for Counted<S>
where
    S: Service<Request> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let id = id_of(&request);
        *self.attempts.lock().unwrap().entry(id).or_default() += 1;
        if self.refuses() {
            return Box::pin(async {
                Err(BoxError::from(io::Error::from(
                    io::ErrorKind::ConnectionRefused,
                )))
            });
        }
        let future = self.inner.call(request);
        Box::pin(async move { future.await.map_err(Into::into) })
    }
}

/// One call's end: its `x-id`, whether it was answered, when it was sent
/// and when it ended.
pub type Ended = (usize, bool, Instant, Instant);

/// What a run's calls came to.
#[derive(Default)]
pub struct Tally {
    pub requests: usize,
    pub lost: usize,
    pub attempts: u64,
    /// The latencies of the saved requests (answered after more than one
    /// attempt), sorted.
    pub saved: Vec<Duration>,
    /// The latencies of the lost requests, sorted.
    pub lost_latency: Vec<Duration>,
    /// When the last saved request was answered, after `back`.
    pub last_saved_after_back: Option<Duration>,
}

impl Tally {
    /// Tallies `ends` against the attempts counted; `back`: when the
    /// server (or the network) was back, if it went away.
    pub fn of(ends: Vec<Ended>, attempts: &Attempts, back: Option<Instant>) -> Self {
        let attempts = attempts.lock().unwrap();
        let mut tally = Tally {
            requests: ends.len(),
            ..Tally::default()
        };
        for (id, ok, sent, done) in ends {
            let made = attempts.get(&id.to_string()).copied().unwrap_or(0);
            tally.attempts += u64::from(made);
            if !ok {
                tally.lost += 1;
                tally.lost_latency.push(done - sent);
            } else if made > 1 {
                tally.saved.push(done - sent);
                if let Some(back) = back {
                    let after = done.saturating_duration_since(back);
                    tally.last_saved_after_back = tally.last_saved_after_back.max(Some(after));
                }
            }
        }
        tally.saved.sort();
        tally.lost_latency.sort();
        tally
    }

    pub fn attempts_per_request(&self) -> f64 {
        self.attempts as f64 / self.requests as f64
    }

    /// The table columns both experiments print: lost, attempts per
    /// request, saved, p50 / p99 / max of saved, last saved after back.
    pub fn columns(&self) -> String {
        format!(
            "{} of {} | {:.3} | {} | {} / {} / {} | {}",
            self.lost,
            self.requests,
            self.attempts_per_request(),
            self.saved.len(),
            quantile(&self.saved, 0.5),
            quantile(&self.saved, 0.99),
            quantile(&self.saved, 1.0),
            self.last_saved_after_back
                .map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64())),
        )
    }
}

/// The `q` quantile of `sorted`, in seconds, or "-" for none.
pub fn quantile(sorted: &[Duration], q: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let at = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    format!("{:.2}", sorted[at].as_secs_f64())
}
