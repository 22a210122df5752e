//! The open-loop outage model, shared by `examples/outage`,
//! `benches/outage.rs` and `tests/outage.rs`, driven through the crate's
//! real `Retry` under paused tokio time (identical figures on every run).
//!
//! - Requests arrive at a steady `ARRIVALS_PER_SEC` for `RUN`, each its own
//!   task, whatever happened to the earlier ones (open loop).
//! - The server works in ticks of `TICK` with `CAPACITY` units each. Every
//!   connection attempt that reaches it costs `HANDSHAKE` units, as a TLS
//!   handshake does, whether or not its request is then served; serving a
//!   request costs `SERVE` more. In each tick the handshakes come first,
//!   then requests are served in arrival order while capacity lasts. An
//!   attempt not served within its tick fails as a connect timeout; one
//!   that finds even the handshake capacity gone is refused. Both are
//!   connect failures, so the layer retries them for every method.
//! - The server is down (refusing everything, at no cost) from `DOWN_AT`
//!   for `DOWN_FOR`, then back at full capacity.
//!
//! At 10 requests a tick the server uses 30 of its 45 units (a third in
//! reserve: 15 fresh connections a tick at most). A handshake costs twice
//! a small request, as a full TLS handshake outweighs a cached GET; so 20
//! attempts a tick leave room to serve only 5, and 23 or more serve none.
//! A retry backlog at the server's return can push it there and keep it
//! there, each failure feeding more retries: the metastable failure of
//! Bronson et al. (HotOS 2021).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use tower::Service;
use tower_conn_retry::{
    Backoff, BudgetScope, Classify, ErrorClass, Jitter, Retry, RetryBudget, RetryPolicy,
};

pub const ARRIVALS_PER_SEC: u64 = 1_000;
pub const RUN: Duration = Duration::from_secs(20);
pub const TICK: Duration = Duration::from_millis(10);
pub const CAPACITY: u32 = 45;
pub const HANDSHAKE: u32 = 2;
pub const SERVE: u32 = 1;
pub const DOWN_AT: Duration = Duration::from_secs(5);
/// The outages compared: a blip the retries can outlast, and two they
/// cannot.
pub const OUTAGES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(3),
];
/// The plots' and the recovery measure's bucket.
pub const BUCKET: Duration = Duration::from_millis(100);

/// One retry setting to compare.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub label: &'static str,
    pub retries: u32,
    pub jitter: Jitter,
    pub budget: Budgeting,
}

/// How a policy limits its retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budgeting {
    /// No budget: every retry goes after its pause (`no_budget()`).
    None,
    /// A budget that refuses: 20% plus 10 retries a second, one for every
    /// authority, and a retry that finds no room fails at once.
    Refusing,
    /// `RetryBudget::default()`, the default now: per authority, 20% of
    /// requests (at least 10 per 10 s), and retries wait for room.
    Waiting,
}

/// A policy against an outage of a given length, on a server of a given
/// capacity per tick, called by `clients` clients that share the arrivals
/// evenly, each with a layer (and so a budget) of its own.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub policy: Policy,
    pub down_for: Duration,
    pub capacity: u32,
    pub clients: u32,
    /// No outage but an overload: from `DOWN_AT`, for this long, the
    /// server has half its capacity.
    pub overload_for: Duration,
}

/// The policies compared, side by side. Retrying ones use the crate's
/// default backoff (100 ms doubling, 10 s cap) and its default 3 retries.
pub const POLICIES: [Policy; 5] = [
    Policy {
        label: "no retries",
        retries: 0,
        jitter: Jitter::Full,
        budget: Budgeting::None,
    },
    Policy {
        label: "3 retries, no jitter, no budget",
        retries: 3,
        jitter: Jitter::None,
        budget: Budgeting::None,
    },
    Policy {
        label: "3 retries, full jitter, no budget",
        retries: 3,
        jitter: Jitter::Full,
        budget: Budgeting::None,
    },
    Policy {
        label: "a budget that refuses (no waiting)",
        retries: 3,
        jitter: Jitter::Full,
        budget: Budgeting::Refusing,
    },
    Policy {
        label: "defaults (budget per authority, waits)",
        retries: 3,
        jitter: Jitter::Full,
        budget: Budgeting::Waiting,
    },
];

/// Every policy against every outage, on the server of `CAPACITY`, from
/// one client.
pub fn scenarios() -> impl Iterator<Item = Scenario> {
    OUTAGES.into_iter().flat_map(|down_for| {
        POLICIES.into_iter().map(move |policy| Scenario {
            overload_for: Duration::ZERO,
            policy,
            down_for,
            capacity: CAPACITY,
            clients: 1,
        })
    })
}

/// The capacities of the headroom sweep: where metastability appears.
pub const SWEEP_CAPACITIES: [u32; 3] = [45, 60, 90];

/// Every policy against the 1 s outage, on servers with more headroom.
pub fn sweep() -> impl Iterator<Item = Scenario> {
    SWEEP_CAPACITIES.into_iter().flat_map(|capacity| {
        POLICIES.into_iter().map(move |policy| Scenario {
            overload_for: Duration::ZERO,
            policy,
            down_for: Duration::from_secs(1),
            capacity,
            clients: 1,
        })
    })
}

/// The fleets: the same 1,000 requests a second from 10 clients of 100 a
/// second, and from 100 clients of 10 a second.
pub const FLEETS: [u32; 2] = [10, 100];

/// Every policy against every outage, on the server of `CAPACITY`, from
/// each fleet.
pub fn fleets() -> impl Iterator<Item = Scenario> {
    FLEETS.into_iter().flat_map(|clients| {
        OUTAGES.into_iter().flat_map(move |down_for| {
            POLICIES.into_iter().map(move |policy| Scenario {
                overload_for: Duration::ZERO,
                policy,
                down_for,
                capacity: CAPACITY,
                clients,
            })
        })
    })
}

/// What one scenario gave.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub scenario: Scenario,
    pub requests: usize,
    pub attempts: usize,
    pub succeeded: usize,
    /// Attempts that reached the server, by `BUCKET`.
    pub offered: BTreeMap<u64, usize>,
    /// Requests served, by `BUCKET`.
    pub goodput: BTreeMap<u64, usize>,
    /// From the server's return until goodput stays at 95% of the arrival
    /// rate for a second; `None` if it never did within the run.
    pub recovery: Option<Duration>,
}

impl Outcome {
    pub fn amplification(&self) -> f64 {
        self.attempts as f64 / self.requests as f64
    }

    pub fn success_share(&self) -> f64 {
        self.succeeded as f64 / self.requests as f64
    }
}

/// Attempts waiting for the end of the current tick.
#[derive(Default)]
struct Tick {
    waiting: Vec<oneshot::Sender<Result<(), io::ErrorKind>>>,
}

/// The server: attempts join the current tick and learn their fate at its
/// end.
#[derive(Clone)]
struct Server {
    tick: Arc<Mutex<Tick>>,
    start: Instant,
    down_for: Duration,
    capacity: u32,
    overload_for: Duration,
    offered: Arc<Mutex<BTreeMap<u64, usize>>>,
}

impl Server {
    fn bucket(&self) -> u64 {
        (self.start.elapsed().as_nanos() / BUCKET.as_nanos()) as u64
    }

    fn is_down(&self) -> bool {
        let now = self.start.elapsed();
        now >= DOWN_AT && now < DOWN_AT + self.down_for
    }

    /// The capacity of the tick now ending: half during an overload.
    fn capacity(&self) -> u32 {
        let now = self.start.elapsed();
        if now > DOWN_AT && now <= DOWN_AT + self.overload_for {
            self.capacity / 2
        } else {
            self.capacity
        }
    }
}

impl Service<http::Request<()>> for Server {
    type Response = http::Response<()>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<()>, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        *self
            .offered
            .lock()
            .unwrap()
            .entry(self.bucket())
            .or_default() += 1;
        if self.is_down() {
            return Box::pin(std::future::ready(Err(
                io::ErrorKind::ConnectionRefused.into()
            )));
        }
        let (done, fate) = oneshot::channel();
        self.tick.lock().unwrap().waiting.push(done);
        Box::pin(async move {
            match fate.await {
                Ok(Ok(())) => Ok(http::Response::new(())),
                Ok(Err(kind)) => Err(kind.into()),
                Err(_) => Err(io::ErrorKind::ConnectionAborted.into()),
            }
        })
    }
}

/// At the end of every tick: handshakes first, then requests served in
/// arrival order while capacity lasts. Returns the requests served.
fn close_tick(tick: &Mutex<Tick>, capacity: u32) -> usize {
    let waiting = std::mem::take(&mut tick.lock().unwrap().waiting);
    let mut capacity = capacity;
    let mut handshaken = Vec::new();
    for attempt in waiting {
        if capacity >= HANDSHAKE {
            capacity -= HANDSHAKE;
            handshaken.push(attempt);
        } else {
            let _ = attempt.send(Err(io::ErrorKind::ConnectionRefused));
        }
    }
    let mut served = 0;
    for attempt in handshaken {
        if capacity >= SERVE {
            capacity -= SERVE;
            served += 1;
            let _ = attempt.send(Ok(()));
        } else {
            let _ = attempt.send(Err(io::ErrorKind::TimedOut));
        }
    }
    served
}

/// The model's classifier: refused and timed-out attempts are both failed
/// connects (as `ErrorClass::of_connector_error` says), and a timed-out one
/// is a timeout, as the default classifier finds an io `TimedOut`.
#[derive(Clone, Copy, Debug)]
pub struct ModelClassifier;

impl<Req> Classify<io::Error, Req> for ModelClassifier {
    fn classify(&self, error: &io::Error) -> ErrorClass {
        ErrorClass::of_connector_error(error)
    }

    fn is_timeout(&self, error: &io::Error) -> bool {
        error.kind() == io::ErrorKind::TimedOut
    }
}

fn policy(policy: Policy, seed: u64) -> RetryPolicy<ModelClassifier> {
    let builder = RetryPolicy::builder()
        .max_retries(policy.retries)
        .backoff(Backoff::default().jitter(policy.jitter))
        .jitter_seed(seed)
        .classifier(ModelClassifier);
    let builder = match policy.budget {
        Budgeting::None => builder.no_budget(),
        Budgeting::Refusing => builder.budget(
            RetryBudget::default()
                .min_per_second(10)
                .max_wait(Duration::ZERO)
                .scope(BudgetScope::Shared),
        ),
        Budgeting::Waiting => builder,
    };
    builder.build().expect("valid settings")
}

/// Runs one scenario on a fresh paused runtime.
pub fn simulate(scenario: Scenario) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let start = Instant::now();
        let server = Server {
            tick: Arc::default(),
            start,
            down_for: scenario.down_for,
            capacity: scenario.capacity,
            overload_for: scenario.overload_for,
            offered: Arc::default(),
        };
        let goodput: Arc<Mutex<BTreeMap<u64, usize>>> = Arc::default();
        let requests = (RUN.as_millis() as u64 * ARRIVALS_PER_SEC / 1_000) as usize;
        // The server's clock: ticks until every request is over.
        let ticking = {
            let (server, goodput) = (server.clone(), goodput.clone());
            tokio::spawn(async move {
                let mut next = start + TICK;
                loop {
                    tokio::time::sleep_until(next).await;
                    let bucket = server.bucket();
                    let served = close_tick(&server.tick, server.capacity());
                    if served > 0 {
                        *goodput.lock().unwrap().entry(bucket).or_default() += served;
                    }
                    next += TICK;
                }
            })
        };
        let clients: Vec<_> = (0..u64::from(scenario.clients))
            .map(|client| Retry::new(server.clone(), policy(scenario.policy, 2021 + client)))
            .collect();
        let spacing = Duration::from_secs(1) / ARRIVALS_PER_SEC as u32;
        let calls: Vec<_> = (0..requests)
            .map(|i| {
                let service = clients[i % clients.len()].clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(start + spacing * i as u32).await;
                    let request = http::Request::get("http://server.test/")
                        .body(())
                        .expect("a request");
                    service.oneshot(request).await.is_ok()
                })
            })
            .collect();
        let mut succeeded = 0;
        for call in calls {
            succeeded += usize::from(call.await.expect("a request task"));
        }
        ticking.abort();
        let offered = server.offered.lock().unwrap().clone();
        let goodput = goodput.lock().unwrap().clone();
        Outcome {
            scenario,
            requests,
            attempts: offered.values().sum(),
            succeeded,
            recovery: recovery(&goodput, scenario.down_for.max(scenario.overload_for)),
            offered,
            goodput,
        }
    })
}

/// From the server's return to the first bucket from which goodput stays
/// at 95% of the arrival rate or more for a whole second, while requests
/// still arrive.
fn recovery(goodput: &BTreeMap<u64, usize>, down_for: Duration) -> Option<Duration> {
    let per_bucket = ARRIVALS_PER_SEC as f64 * BUCKET.as_secs_f64();
    let target = (per_bucket * 0.95).ceil() as usize;
    let bucket_of = |at: Duration| (at.as_nanos() / BUCKET.as_nanos()) as u64;
    let (back, end) = (bucket_of(DOWN_AT + down_for), bucket_of(RUN));
    let sustained = (Duration::from_secs(1).as_nanos() / BUCKET.as_nanos()) as u64;
    (back..end.saturating_sub(sustained))
        .find(|&first| {
            (first..first + sustained).all(|b| goodput.get(&b).copied().unwrap_or(0) >= target)
        })
        .map(|first| BUCKET * (first - back) as u32)
}
