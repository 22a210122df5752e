//! One run: a fresh server, one client of a variant, requests at a fixed
//! rate whatever happened to the earlier ones (open loop), for a fixed
//! time; each request is a task with a deadline of its own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;

use crate::connector::GreetedConnector;
use crate::series::{self, Series};
use crate::server::{Costs, Outage, Server};
use crate::variants::Variant;

/// The shape of a run.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub arrivals_per_sec: u32,
    /// Requests arrive from 0 to `run`.
    pub run: Duration,
    pub down_at: Duration,
    pub down_for: Duration,
    pub costs: Costs,
    /// The client's connect timeout (TCP connect and greeting).
    pub connect_timeout: Duration,
    /// Each request's deadline, retries included: past it, it failed.
    pub deadline: Duration,
}

impl Plan {
    pub fn back_at(&self) -> Duration {
        self.down_at + self.down_for
    }

    /// Arrivals, then the last deadline.
    pub fn span(&self) -> Duration {
        self.run + self.deadline + Duration::from_secs(1)
    }
}

/// What one variant did.
#[derive(Debug)]
pub struct Outcome {
    pub variant: Variant,
    pub requests: usize,
    pub succeeded: usize,
    pub attempts: Vec<usize>,
    pub arrived: Vec<usize>,
    pub served: Vec<usize>,
    pub failed: Vec<usize>,
    pub recovery: Option<Duration>,
    /// How long each request that succeeded took, sorted.
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn amplification(&self) -> f64 {
        self.attempts.iter().sum::<usize>() as f64 / self.requests as f64
    }

    pub fn success_share(&self) -> f64 {
        self.succeeded as f64 / self.requests as f64
    }

    /// The latency of the successes at quantile `q` (0 to 1).
    pub fn latency(&self, q: f64) -> Duration {
        let last = self.latencies.len().saturating_sub(1);
        self.latencies
            .get((last as f64 * q).round() as usize)
            .copied()
            .unwrap_or_default()
    }
}

/// Runs `variant` against a fresh server, on the caller's runtime.
pub async fn run(plan: Plan, variant: Variant) -> std::io::Result<Outcome> {
    let start = Instant::now() + Duration::from_millis(50);
    let server = Server::start(
        plan.costs,
        Outage {
            down_at: start + plan.down_at,
            down_for: plan.down_for,
        },
    )?;
    let attempts = Arc::new(Series::new(start, plan.span()));
    let arrived = Arc::new(Series::new(start, plan.span()));
    let served = Arc::new(Series::new(start, plan.span()));
    let failed = Arc::new(Series::new(start, plan.span()));
    let client = variant.client(GreetedConnector {
        addr: server.addr,
        timeout: plan.connect_timeout,
        attempts: attempts.clone(),
    });
    let uri: http::Uri = format!("http://{}/", server.addr).parse().expect("a URI");
    let requests =
        (plan.run.as_millis() as u64 * u64::from(plan.arrivals_per_sec) / 1_000) as usize;
    let spacing = Duration::from_secs(1) / plan.arrivals_per_sec;
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(requests)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..requests {
        tokio::time::sleep_until((start + spacing * i as u32).into()).await;
        arrived.record();
        let (client, uri) = (client.clone(), uri.clone());
        let (served, failed) = (served.clone(), failed.clone());
        let latencies = latencies.clone();
        tasks.spawn(async move {
            let request = http::Request::get(uri)
                .body(Full::new(Bytes::new()))
                .expect("a request");
            let call = async {
                let response = client.oneshot(request).await?;
                let ok = response.status().is_success();
                response.into_body().collect().await?;
                Ok::<_, crate::variants::BoxError>(ok)
            };
            let began = Instant::now();
            let ok = matches!(
                tokio::time::timeout(plan.deadline, call).await,
                Ok(Ok(true))
            );
            if ok {
                latencies
                    .lock()
                    .expect("not poisoned")
                    .push(began.elapsed());
            }
            if ok { &served } else { &failed }.record();
            ok
        });
        // Reap the finished ones as we go, so the set stays small.
        while let Some(done) = tasks.try_join_next() {
            done.expect("a request task");
        }
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    server.stop();
    let (served, arrived) = (served.counts(), arrived.counts());
    let succeeded = served.iter().sum();
    let mut latencies = std::mem::take(&mut *latencies.lock().expect("not poisoned"));
    latencies.sort_unstable();
    Ok(Outcome {
        variant,
        requests,
        succeeded,
        recovery: series::recovery(&served, &arrived, plan.back_at(), plan.run),
        attempts: attempts.counts(),
        failed: failed.counts(),
        latencies,
        arrived,
        served,
        elapsed,
    })
}
