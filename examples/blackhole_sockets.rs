//! A 1 s network blackhole on real sockets: packets to the server's port
//! are dropped (connects time out, a pooled connection's request hangs)
//! from 2 s to 3 s of a 6 s run at 200 GETs a second, through
//! `RetryLayer` with `max_retries(12)` and a per-attempt
//! `tower::timeout::TimeoutLayer` inside it.
//!
//! It changes the network: run it only in a network namespace of its own,
//! as root (it refuses to run without `BLACKHOLE_NETNS=1`):
//!
//! ```text
//! cargo build --release --example blackhole_sockets
//! timeout 600 unshare --net sh -c 'ip link set lo up; BLACKHOLE_NETNS=1 target/release/examples/blackhole_sockets'
//! ONLY=pool-off ... # variants whose label contains "pool-off"
//! ```
//!
//! The blackhole: an ingress u32 filter on `lo` matching the server's
//! port redirects its packets (mirred) to a veth whose peer is down, which
//! drops them (the kernel has neither `gact` nor `netem`). The figures move
//! from run to run with the machine's load: run it twice.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::timeout::TimeoutLayer;
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};
use tower_conn_retry::{Backoff, RetryLayer, RetryPolicy, RetryStats};

#[path = "support/open_loop.rs"]
mod open_loop;

use open_loop::{quantile, Attempts, BoxError, Counted, Request, Tally};

type HttpService = BoxCloneService<Request, http::Response<Incoming>, BoxError>;

const RATE: u64 = 200;
/// The run's length and the blackhole's start: 6 s and 2 s, or
/// `RUN_MS` and `HOLE_AT_MS`.
fn run_for() -> Duration {
    millis_from_env("RUN_MS", 6_000)
}

fn hole_at() -> Duration {
    millis_from_env("HOLE_AT_MS", 2_000)
}

fn millis_from_env(name: &str, default: u64) -> Duration {
    Duration::from_millis(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}
const HOLE_FOR: Duration = Duration::from_secs(1);
const RETRIES: u32 = 12;

// ===== the network =====

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .is_ok_and(|s| s.success())
}

/// The veth to drop into and the ingress qdisc, once.
fn prepare_network() {
    assert_eq!(
        std::env::var("BLACKHOLE_NETNS").as_deref(),
        Ok("1"),
        "run inside `unshare --net` with BLACKHOLE_NETNS=1: this changes the network"
    );
    let _ = sh(&[
        "ip", "link", "add", "bh0", "type", "veth", "peer", "name", "bh1",
    ]);
    assert!(sh(&["ip", "link", "set", "bh0", "up"]), "bh0 up");
    let _ = sh(&[
        "tc", "qdisc", "add", "dev", "lo", "handle", "ffff:", "ingress",
    ]);
}

fn blackhole(port: u16, on: bool) {
    let port = port.to_string();
    let ok = if on {
        sh(&[
            "tc", "filter", "add", "dev", "lo", "parent", "ffff:", "protocol", "ip", "prio", "1",
            "u32", "match", "ip", "dport", &port, "0xffff", "action", "mirred", "egress",
            "redirect", "dev", "bh0",
        ])
    } else {
        sh(&[
            "tc", "filter", "del", "dev", "lo", "parent", "ffff:", "prio", "1",
        ])
    };
    assert!(ok, "tc filter {}", if on { "add" } else { "del" });
}

// ===== the server =====

async fn server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            connections.spawn(async move {
                let _ = stream.set_nodelay(true);
                let answer = service_fn(|_: http::Request<Incoming>| async {
                    Ok::<_, io::Error>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), answer)
                    .await;
            });
        }
    });
    (addr, task)
}

// ===== the clients =====

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retrier {
    /// `max_retries(12)`, defaults otherwise (100 ms doubling to 10 s).
    Defaults,
    /// `max_retries(12)`, 10 ms doubling to 200 ms.
    Short,
    /// `Short` with `no_budget()`.
    ShortNoBudget,
    /// tower::retry, 12 retries after 10 ms doubling to 200 ms, every error.
    TowerRetry,
}

#[derive(Clone, Copy, Debug)]
struct Variant {
    retrier: Retrier,
    connect_timeout: Duration,
    pool: bool,
}

impl Variant {
    fn label(&self) -> String {
        format!(
            "{} connect {} ms pool-{}",
            match self.retrier {
                Retrier::Defaults => "max_retries(12)",
                Retrier::Short => "max_retries(12) 10ms..200ms",
                Retrier::ShortNoBudget => "no_budget() 10ms..200ms",
                Retrier::TowerRetry => "tower::retry 12 10ms..200ms",
            },
            self.connect_timeout.as_millis(),
            if self.pool { "on" } else { "off" },
        )
    }

    /// Each attempt is bounded: the connect timeout plus 200 ms.
    fn attempt_timeout(&self) -> Duration {
        self.connect_timeout + Duration::from_millis(200)
    }
}

fn short_backoff() -> Backoff {
    Backoff::exponential(Duration::from_millis(10)).max_delay(Duration::from_millis(200))
}

#[derive(Clone)]
struct ByHand {
    done: u32,
}

impl tower::retry::Policy<Request, http::Response<Incoming>, BoxError> for ByHand {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _: &mut Request,
        result: &mut Result<http::Response<Incoming>, BoxError>,
    ) -> Option<Self::Future> {
        if result.is_ok() || self.done >= RETRIES {
            return None;
        }
        let pause = Duration::from_millis(10 << self.done.min(5)).min(Duration::from_millis(200));
        self.done += 1;
        Some(tokio::time::sleep(pause))
    }

    fn clone_request(&mut self, request: &Request) -> Option<Request> {
        Some(request.clone())
    }
}

fn client(variant: Variant, attempts: Attempts) -> (HttpService, Option<RetryLayer>) {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(variant.connect_timeout));
    connector.set_nodelay(true);
    let mut builder = Client::builder(TokioExecutor::new());
    if !variant.pool {
        builder.pool_max_idle_per_host(0);
    }
    let client = builder.build::<_, Full<Bytes>>(connector);
    let counted = Counted::new(client, attempts);
    let bounded = ServiceBuilder::new()
        .layer(TimeoutLayer::new(variant.attempt_timeout()))
        .service(counted);
    let policy = match variant.retrier {
        Retrier::Defaults => Some(RetryPolicy::builder().max_retries(RETRIES)),
        Retrier::Short => Some(
            RetryPolicy::builder()
                .max_retries(RETRIES)
                .backoff(short_backoff()),
        ),
        Retrier::ShortNoBudget => Some(
            RetryPolicy::builder()
                .max_retries(RETRIES)
                .backoff(short_backoff())
                .no_budget(),
        ),
        Retrier::TowerRetry => None,
    };
    match policy {
        Some(builder) => {
            let layer = RetryLayer::new(builder.build().expect("valid"));
            let service = BoxCloneService::new(
                ServiceBuilder::new()
                    .layer(layer.clone())
                    .service(bounded)
                    .map_err(BoxError::from),
            );
            (service, Some(layer))
        }
        None => (
            BoxCloneService::new(
                ServiceBuilder::new()
                    .layer(tower::retry::RetryLayer::new(ByHand { done: 0 }))
                    .service(bounded),
            ),
            None,
        ),
    }
}

// ===== one run =====

struct Outcome {
    tally: Tally,
    stats: Option<RetryStats>,
}

async fn run(variant: Variant) -> Outcome {
    let (addr, server_task) = server().await;
    let attempts = Arc::new(Mutex::new(HashMap::new()));
    let (service, layer) = client(variant, attempts.clone());
    let uri = format!("http://{addr}/");
    let start = Instant::now();
    let hole_end = start + hole_at() + HOLE_FOR;
    let hole = async {
        tokio::time::sleep_until(start + hole_at()).await;
        tokio::task::spawn_blocking(move || blackhole(addr.port(), true))
            .await
            .unwrap();
        tokio::time::sleep_until(hole_end).await;
        tokio::task::spawn_blocking(move || blackhole(addr.port(), false))
            .await
            .unwrap();
    };
    let count = (RATE as f64 * run_for().as_secs_f64()) as usize;
    let mut calls = tokio::task::JoinSet::new();
    let load = async {
        for id in 0..count {
            tokio::time::sleep_until(start + Duration::from_secs(id as u64) / RATE as u32).await;
            let request = open_loop::get(&uri, id);
            let service = service.clone();
            calls.spawn(async move {
                let sent = Instant::now();
                // Every call is bounded: a run never hangs.
                let result =
                    tokio::time::timeout(Duration::from_secs(60), service.oneshot(request)).await;
                (id, result.is_ok_and(|r| r.is_ok()), sent, Instant::now())
            });
        }
    };
    tokio::join!(hole, load);
    let mut ends = Vec::new();
    while let Some(joined) = calls.join_next().await {
        ends.push(joined.expect("a call task"));
    }
    server_task.abort();
    Outcome {
        tally: Tally::of(ends, &attempts, Some(hole_end)),
        stats: layer.map(|l| l.stats()),
    }
}

fn give_ups(stats: &Option<RetryStats>) -> String {
    let Some(stats) = stats else {
        return "-".into();
    };
    let g = stats.total.give_ups;
    let r = stats.total.retries;
    let mut parts = Vec::new();
    for (name, n) in [
        ("retries_spent", g.retries_spent),
        ("deadline", g.deadline),
        ("budget", g.budget),
        ("waited", g.waited),
        ("queue_full", g.queue_full),
        ("no_timer", g.no_timer),
        ("not_idempotent", g.not_idempotent),
        ("not_copyable", g.not_copyable),
    ] {
        if n > 0 {
            parts.push(format!("{name} {n}"));
        }
    }
    if parts.is_empty() {
        parts.push("none".into());
    }
    format!(
        "{} (retries: connect {}, lost {})",
        parts.join(", "),
        r.connect,
        r.connection_lost
    )
}

#[tokio::main]
async fn main() {
    prepare_network();
    let only: Option<String> = std::env::var("ONLY").ok();
    let retriers: Vec<Retrier> = match std::env::var("RETRIERS").as_deref() {
        Ok("all") | Err(_) => vec![
            Retrier::Defaults,
            Retrier::Short,
            Retrier::ShortNoBudget,
            Retrier::TowerRetry,
        ],
        Ok(_) => vec![Retrier::Defaults, Retrier::Short],
    };
    println!(
        "1 s blackhole at {:.1} s of a {:.1} s run, {} GETs/s, {} retries\n",
        hole_at().as_secs_f64(),
        run_for().as_secs_f64(),
        RATE,
        RETRIES
    );
    println!("| client | lost | attempts/request | saved | p50 / p99 / max of saved (s) | last saved after hole end (s) | lost after (s) p50/max | give-ups (retries) |");
    println!("|---|---|---|---|---|---|---|---|");
    for connect_timeout in [Duration::from_millis(100), Duration::from_secs(1)] {
        for pool in [true, false] {
            for &retrier in &retriers {
                let variant = Variant {
                    retrier,
                    connect_timeout,
                    pool,
                };
                let label = variant.label();
                if only.as_deref().is_some_and(|o| !label.contains(o)) {
                    continue;
                }
                let Outcome { tally, stats } = run(variant).await;
                println!(
                    "| {} | {} | {} / {} | {} |",
                    label,
                    tally.columns(),
                    quantile(&tally.lost_latency, 0.5),
                    quantile(&tally.lost_latency, 1.0),
                    give_ups(&stats),
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}
