//! What an operator sees: one client, named "inventory", calls a loopback
//! server that starts listening a moment late (its first calls are
//! retried, then answered) and a port where nothing listens (its calls
//! give up). Then it prints the stats, per authority, and the Prometheus
//! text that metrics-exporter-prometheus renders from the `metrics`
//! feature's counters.
//!
//! ```text
//! cargo run --example observability --features metrics
//! ```

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_conn_retry::{RetryLayer, RetryPolicy};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The recorder goes in first, before any request.
    let recorder = PrometheusBuilder::new().build_recorder();
    let prometheus = recorder.handle();
    metrics::set_global_recorder(recorder)?;

    // A server that starts listening 300 ms late, and a port where nothing
    // listens (both reserved, then released).
    let late = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listener = TcpListener::bind(late).await.expect("bind the late port");
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            tokio::spawn(async move {
                let ok = service_fn(|_: http::Request<Incoming>| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), ok)
                    .await;
            });
        }
    });

    // The default policy, named. (The calls to the dead port give up once
    // they waited the budget's `max_wait`, 5 s.)
    let policy = RetryPolicy::builder().name("inventory").build()?;
    let layer = RetryLayer::new(policy);
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());

    let mut calls = Vec::new();
    for (target, count) in [(late, 5), (dead, 3)] {
        for _ in 0..count {
            let request =
                http::Request::get(format!("http://{target}/items")).body(Full::default())?;
            calls.push(tokio::spawn(client.clone().oneshot(request)));
        }
    }
    for call in calls {
        match call.await? {
            Ok(response) => println!("answered: {}", response.status()),
            Err(error) => println!("failed: {error}"),
        }
    }

    let stats = layer.stats();
    println!("\nstats of policy {:?}:", stats.name.unwrap_or_default());
    for authority in &stats.authorities {
        let counts = &authority.counts;
        println!(
            "  {}: {} requests, {} attempts, {} retries, {} saved by retrying, {} refused by the budget, {} failed anyway",
            authority.authority,
            counts.requests,
            counts.attempts(),
            counts.retries.total(),
            counts.retry_successes,
            counts.budget_refused(),
            counts.failed(),
        );
    }

    println!("\nPrometheus text (HELP and TYPE lines left out):");
    for line in prometheus.render().lines() {
        if !line.starts_with('#') && !line.is_empty() {
            println!("  {line}");
        }
    }
    Ok(())
}
