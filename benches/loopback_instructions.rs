//! Instruction counts of loopback round trips, for callgrind, which counts
//! repeatably where wall-clock time on a shared machine does not:
//!
//! ```text
//! cargo bench --no-run --bench loopback_instructions
//! valgrind --tool=callgrind target/release/deps/loopback_instructions-* bare
//! valgrind --tool=callgrind target/release/deps/loopback_instructions-* layered
//! valgrind --tool=callgrind target/release/deps/loopback_instructions-* tower
//! valgrind --tool=callgrind target/release/deps/loopback_instructions-* tower_arc
//! valgrind --tool=callgrind target/release/deps/loopback_instructions-* ours_no_copy   # max_retries(0)
//! valgrind --tool=callgrind target/release/deps/loopback_instructions-* tower_no_copy  # never clones
//! valgrind --tool=callgrind target/release/deps/loopback_instructions-* combined       # idempotent_only + connector
//! valgrind --tool=callgrind target/release/deps/loopback_instructions-* combined_warm_only
//! valgrind --tool=callgrind target/release/deps/loopback_instructions-* warm_only
//! ```
//!
//! `warm_only` only warms the pool, as every variant does first: subtract
//! it to count the 2,000 round trips alone.
//!
//! Server and client share one current-thread runtime, so the count does
//! not depend on thread scheduling. Without an argument (as under
//! `cargo bench`) it runs the bare and layered variants once and prints
//! nothing.

mod common;

use futures_util::stream::{self, StreamExt};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceExt};
use tower_conn_retry::{ConnectorClassifier, Retry, RetryPolicy};

use common::loopback::{request_to, start_server};
use common::{Body, TowerNeverClones, TowerUpTo, TowerUpToShared};

const REQUESTS: usize = 2_000;
const IN_FLIGHT: usize = 64;

async fn run<S>(service: S, addr: std::net::SocketAddr)
where
    S: Service<Request<Body>, Response = Response<Incoming>> + Clone,
    S::Error: std::fmt::Debug,
{
    stream::iter(0..REQUESTS)
        .map(|_| {
            let request = request_to(addr);
            let service = service.clone();
            async move {
                let response = service.oneshot(request).await.unwrap();
                response.into_body().collect().await.unwrap();
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<()>()
        .await;
}

fn main() {
    let variant = std::env::args().nth(1).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let addr = start_server().await;
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(IN_FLIGHT)
            .build_http::<Body>();
        let layered = Retry::new(client.clone(), RetryPolicy::default());
        // Warm the pool, so both variants reuse the same connections.
        run(client.clone(), addr).await;
        match variant.as_str() {
            "bare" => run(client, addr).await,
            "layered" => run(layered, addr).await,
            "tower" => run(tower::retry::Retry::new(TowerUpTo(3), client), addr).await,
            "tower_arc" => {
                run(
                    tower::retry::Retry::new(TowerUpToShared::new(3), client),
                    addr,
                )
                .await
            }
            "ours_no_copy" => {
                let policy = RetryPolicy::builder().max_retries(0).build().unwrap();
                run(Retry::new(client, policy), addr).await
            }
            "tower_no_copy" => run(tower::retry::Retry::new(TowerNeverClones, client), addr).await,
            // The combined placement: `idempotent_only()` around a client
            // whose connector is wrapped; the POST is not copied. Its own
            // pool, warmed first like the others: subtract
            // `combined_warm_only`, not `warm_only`.
            "combined" | "combined_warm_only" => {
                let connector = Retry::new(
                    HttpConnector::new(),
                    RetryPolicy::builder()
                        .classifier(ConnectorClassifier)
                        .build()
                        .unwrap(),
                );
                let client = Client::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(IN_FLIGHT)
                    .build::<_, Body>(connector);
                let policy = RetryPolicy::builder().idempotent_only().build().unwrap();
                let combined = Retry::new(client, policy);
                run(combined.clone(), addr).await;
                if variant == "combined" {
                    run(combined, addr).await
                }
            }
            "warm_only" => {}
            "size" => {
                let mut ours = Retry::new(client.clone(), RetryPolicy::default());
                let mut towers = tower::retry::Retry::new(TowerUpTo(3), client.clone());
                let ours = ours.call(request_to(addr));
                let towers = towers.call(request_to(addr));
                println!(
                    "ours {} tower {}",
                    std::mem::size_of_val(&ours),
                    std::mem::size_of_val(&towers)
                );
            }
            _ => {
                run(client, addr).await;
                run(layered, addr).await;
            }
        }
    });
}
