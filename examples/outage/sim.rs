//! The outage simulation, shared by `examples/outage`, `benches/outage.rs`
//! and `tests/outage.rs`: `CLIENTS` clients start together against a
//! server that is down for `DOWN_FOR`, then accepts at most
//! `ACCEPTS_PER_WINDOW` connections per `WINDOW` and refuses the rest, as a
//! full accept queue refuses them. It runs in paused tokio time, so every
//! run gives the same figures.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::{ready, Ready};
use std::io;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use tower::Service;
use tower_conn_retry::{Backoff, Jitter, Retry, RetryBudget, RetryPolicy};

pub const CLIENTS: usize = 1_000;
pub const DOWN_FOR: Duration = Duration::from_secs(2);
pub const WINDOW: Duration = Duration::from_millis(10);
pub const ACCEPTS_PER_WINDOW: usize = 50;
/// The load plot's bucket.
pub const BUCKET_MS: u64 = 100;
pub const MAX_RETRIES: u32 = 12;
/// Every jitter kind, in the order the table and plot show them.
pub const JITTERS: [Jitter; 4] = [
    Jitter::None,
    Jitter::Full,
    Jitter::Equal,
    Jitter::Decorrelated,
];

/// Every scenario: each jitter kind without, then with, the budget.
pub fn scenarios() -> impl Iterator<Item = (Jitter, bool)> {
    [false, true]
        .into_iter()
        .flat_map(|budget| JITTERS.map(|jitter| (jitter, budget)))
}

/// The server's state: when it started, what it accepted in the current
/// window, and every attempt by 100 ms bucket.
struct Server {
    start: Instant,
    window: u64,
    accepted_in_window: usize,
    attempts_by_bucket: BTreeMap<u64, usize>,
}

/// A simulated server: refuses everything while down, then accepts at most
/// `ACCEPTS_PER_WINDOW` connections per `WINDOW` and refuses the rest.
#[derive(Clone)]
struct Simulated(Arc<Mutex<Server>>);

impl Service<http::Request<()>> for Simulated {
    type Response = http::Response<()>;
    type Error = io::Error;
    type Future = Ready<Result<http::Response<()>, io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        let mut server = self.0.lock().unwrap();
        let elapsed = server.start.elapsed();
        *server
            .attempts_by_bucket
            .entry(elapsed.as_millis() as u64 / BUCKET_MS)
            .or_default() += 1;
        let window = (elapsed.as_nanos() / WINDOW.as_nanos()) as u64;
        if window != server.window {
            server.window = window;
            server.accepted_in_window = 0;
        }
        let up = elapsed >= DOWN_FOR;
        if up && server.accepted_in_window < ACCEPTS_PER_WINDOW {
            server.accepted_in_window += 1;
            ready(Ok(http::Response::new(())))
        } else {
            ready(Err(io::Error::from(io::ErrorKind::ConnectionRefused)))
        }
    }
}

/// What one scenario gave.
pub struct Outcome {
    pub label: String,
    pub attempts: usize,
    pub succeeded: usize,
    pub last_success: Duration,
    pub attempts_by_bucket: BTreeMap<u64, usize>,
}

/// 12 retries, 100 ms base, 5 s cap, the given jitter; with no budget, or
/// the default budget (per authority; retries wait for room, up to 5 s).
pub fn policy(jitter: Jitter, budget: bool) -> RetryPolicy {
    let builder = RetryPolicy::builder()
        .max_retries(MAX_RETRIES)
        .backoff(
            Backoff::exponential(Duration::from_millis(100))
                .max_delay(Duration::from_secs(5))
                .jitter(jitter),
        )
        .jitter_seed(2015);
    let builder = if budget {
        builder.budget(RetryBudget::default())
    } else {
        builder.no_budget()
    };
    builder.build().expect("valid settings")
}

/// Runs one scenario on a fresh paused runtime.
pub fn simulate(jitter: Jitter, budget: bool) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let server = Simulated(Arc::new(Mutex::new(Server {
            start: Instant::now(),
            window: 0,
            accepted_in_window: 0,
            attempts_by_bucket: BTreeMap::new(),
        })));
        let service = Retry::new(server.clone(), policy(jitter, budget));
        let start = Instant::now();
        let clients: FuturesUnordered<_> = (0..CLIENTS)
            .map(|_| {
                let service = service.clone();
                async move {
                    let result = service.oneshot(http::Request::new(())).await;
                    result.ok().map(|_| start.elapsed())
                }
            })
            .collect();
        let finished: Vec<Option<Duration>> = clients.collect().await;
        let server = server.0.lock().unwrap();
        Outcome {
            label: format!("{jitter:?}{}", if budget { " + budget" } else { "" }),
            attempts: server.attempts_by_bucket.values().sum(),
            succeeded: finished.iter().flatten().count(),
            last_success: finished.iter().flatten().max().copied().unwrap_or_default(),
            attempts_by_bucket: server.attempts_by_bucket.clone(),
        }
    })
}
