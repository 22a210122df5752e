//! Loopback round trips, 64 in flight, in interleaved rounds by process CPU
//! time: a `hyper_util` Client and a hyper server on 127.0.0.1 in one
//! process, through the bare client, this layer around it, `tower::retry`
//! around it (idiomatic cloning policy, stateless or sharing state through
//! an `Arc` as a policy with a budget does), this layer around the
//! connector instead, and the combined placement (`idempotent_only()` around a
//! client whose connector is wrapped; the request is a POST, so it is not
//! copied). The variants alternate within each round in a
//! rotating order; each round gives every variant's CPU time per request,
//! compared with bare's of the same round.
//!
//! ```text
//! cargo bench --bench loopback_rounds
//! ```

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use cpu_time::ProcessTime;
use futures_util::future::join_all;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceExt};
use tower_conn_retry::{ConnectorClassifier, Retry, RetryPolicy};

use common::loopback::{accepted, request_to, start_server};
use common::{median, per_round_ratio, Body, TowerUpTo, TowerUpToShared};

const IN_FLIGHT: usize = 64;
const BATCHES: u32 = 40;
const ROUNDS: usize = 41;

/// `BATCHES` batches of `IN_FLIGHT` round trips at once; CPU time per
/// request.
async fn run<S>(service: &S, addr: SocketAddr) -> Duration
where
    S: Service<Request<Body>, Response = Response<Incoming>> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let start = ProcessTime::now();
    for _ in 0..BATCHES {
        let tasks = (0..IN_FLIGHT).map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                let response = service.oneshot(request_to(addr)).await.unwrap();
                response.into_body().collect().await.unwrap();
            })
        });
        for task in join_all(tasks).await {
            task.expect("a round trip panicked");
        }
    }
    start.elapsed() / (BATCHES * IN_FLIGHT as u32)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(start_server());
    let client = || {
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(IN_FLIGHT)
            .build_http::<Body>()
    };
    let (bare, ours, towers, towers_shared, connector, combined) = runtime.block_on(async {
        let retrying_connector = || {
            let policy = RetryPolicy::builder()
                .classifier(ConnectorClassifier)
                .build()
                .unwrap();
            Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(IN_FLIGHT)
                .build::<_, Body>(Retry::new(HttpConnector::new(), policy))
        };
        let idempotent_only = RetryPolicy::builder().idempotent_only().build().unwrap();
        (
            client(),
            Retry::new(client(), RetryPolicy::default()),
            tower::retry::Retry::new(TowerUpTo(3), client()),
            tower::retry::Retry::new(TowerUpToShared::new(3), client()),
            retrying_connector(),
            Retry::new(retrying_connector(), idempotent_only),
        )
    });
    let names = [
        "bare",
        "ours",
        "tower",
        "tower_arc",
        "connector",
        "combined",
    ];
    let mut per_request: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    runtime.block_on(async {
        // Warm the pools.
        run(&bare, addr).await;
        run(&ours, addr).await;
        run(&towers, addr).await;
        run(&towers_shared, addr).await;
        run(&connector, addr).await;
        run(&combined, addr).await;
        let warm = accepted();
        for round in 0..ROUNDS {
            for k in 0..names.len() {
                let variant = (round + k) % names.len();
                let time = match variant {
                    0 => run(&bare, addr).await,
                    1 => run(&ours, addr).await,
                    2 => run(&towers, addr).await,
                    3 => run(&towers_shared, addr).await,
                    4 => run(&connector, addr).await,
                    _ => run(&combined, addr).await,
                };
                per_request[variant].push(time.as_secs_f64() * 1e6);
            }
        }
        // Around the connector the layer runs once per new connection:
        // with warm pools, this says how often it ran at all.
        println!(
            "connections opened during the timed rounds: {}",
            accepted() - warm
        );
    });
    println!(
        "loopback_rounds: {ROUNDS} interleaved rounds of {BATCHES} x {IN_FLIGHT} in flight, process CPU time"
    );
    for (variant, name) in names.iter().enumerate() {
        // Throughput is the inverse of CPU time per request.
        let throughput_vs_bare = per_round_ratio(&per_request, 0, variant);
        println!(
            "  {name:<10} median {:6.2} us CPU/request   throughput per CPU vs bare {:6.1}%",
            median(per_request[variant].clone()),
            throughput_vs_bare * 100.0
        );
    }
    // Per-round throughput ratio of `a` to `b`: CPU time of `b` over `a`.
    let versus = |a: usize, b: usize| 100.0 * per_round_ratio(&per_request, b, a);
    println!("  per-round throughput per CPU:");
    println!("    ours vs tower:          {:.1}%", versus(1, 2));
    println!("    ours vs tower_arc:      {:.1}%", versus(1, 3));
    println!("    tower_arc vs tower:     {:.1}%", versus(3, 2));
}
