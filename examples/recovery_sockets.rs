//! The seconds after a server comes back, on real sockets: a hyper server
//! on 127.0.0.1, the legacy hyper-util `Client` (pool off: every request
//! connects, as against a server that closes connections), and three
//! clients side by side in each scenario: `RetryPolicy::default()`,
//! `no_budget()`, and `tower::retry` with 3 retries after 100, 200 and
//! 400 ms (every error, as people write it by hand).
//!
//! For each: requests lost, attempts per request, and the latency of the
//! saved requests (those answered after more than one attempt): p50, p99,
//! max, and when the last one was answered after the server came back.
//!
//! ```text
//! cargo run --release --example recovery_sockets            # about 2 minutes
//! cargo run --release --example recovery_sockets -- --quick  # the short scenarios only
//! ONLY=blip cargo run --release --example recovery_sockets -- --quick  # scenarios naming "blip"
//! ```
//!
//! The figures move from run to run with the machine's load: run it twice.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
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
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};
use tower_conn_retry::{RetryLayer, RetryPolicy};

#[path = "support/open_loop.rs"]
mod open_loop;

use open_loop::{Attempts, BoxError, Counted, Request, Tally};

type HttpService = BoxCloneService<Request, http::Response<Incoming>, BoxError>;

// ===== the server =====

/// A hyper server on a fixed loopback port that can go down (its listener
/// and every connection closed: connects are refused) and come back.
/// With `reset_first`, it reads each request and closes the connection
/// without answering the first attempt of each `x-id`.
struct Server {
    addr: SocketAddr,
    reset_first: bool,
    seen: Arc<Mutex<HashMap<String, u32>>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    async fn start(reset_first: bool) -> Server {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut server = Server {
            addr,
            reset_first,
            seen: Arc::default(),
            task: None,
        };
        server.up().await;
        server
    }

    async fn up(&mut self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("bind the port again");
        let (seen, reset_first) = (self.seen.clone(), self.reset_first);
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let seen = seen.clone();
                connections.spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let answer = service_fn(move |request: http::Request<Incoming>| {
                        let id = open_loop::id_of(&request);
                        let attempt = {
                            let mut seen = seen.lock().unwrap();
                            let count = seen.entry(id).or_default();
                            *count += 1;
                            *count
                        };
                        async move {
                            if reset_first && attempt == 1 {
                                return Err(io::Error::from(io::ErrorKind::ConnectionReset));
                            }
                            Ok::<_, io::Error>(http::Response::new(Full::new(Bytes::from_static(
                                b"ok",
                            ))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), answer)
                        .await;
                });
            }
        }));
    }

    /// Closes the listener and every connection: connects are refused.
    fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

// ===== the clients =====

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Defaults,
    NoBudget,
    TowerRetry,
}

const VARIANTS: [Variant; 3] = [Variant::Defaults, Variant::NoBudget, Variant::TowerRetry];

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Defaults => "RetryPolicy::default()",
            Variant::NoBudget => "no_budget()",
            Variant::TowerRetry => "tower::retry 100/200/400 ms",
        }
    }
}

/// `tower::retry`'s policy as written by hand: any error, 3 times, after
/// 100, 200 and 400 ms.
#[derive(Clone)]
struct ByHand {
    done: usize,
}

impl tower::retry::Policy<Request, http::Response<Incoming>, BoxError> for ByHand {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _: &mut Request,
        result: &mut Result<http::Response<Incoming>, BoxError>,
    ) -> Option<Self::Future> {
        const PAUSES: [u64; 3] = [100, 200, 400];
        let pause = PAUSES.get(self.done).filter(|_| result.is_err())?;
        self.done += 1;
        Some(tokio::time::sleep(Duration::from_millis(*pause)))
    }

    fn clone_request(&mut self, request: &Request) -> Option<Request> {
        Some(request.clone())
    }
}

fn client(variant: Variant, attempts: Attempts, refuse_one_in: u64) -> HttpService {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(1)));
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build::<_, Full<Bytes>>(connector);
    let counted = Counted::new(client, attempts).refusing_one_in(refuse_one_in);
    match variant {
        Variant::Defaults => BoxCloneService::new(
            ServiceBuilder::new()
                .layer(RetryLayer::new(RetryPolicy::default()))
                .service(counted),
        ),
        Variant::NoBudget => BoxCloneService::new(
            ServiceBuilder::new()
                .layer(RetryLayer::new(
                    RetryPolicy::builder().no_budget().build().expect("valid"),
                ))
                .service(counted),
        ),
        Variant::TowerRetry => BoxCloneService::new(
            ServiceBuilder::new()
                .layer(tower::retry::RetryLayer::new(ByHand { done: 0 }))
                .service(counted),
        ),
    }
}

// ===== one run =====

/// A scenario: requests at a steady rate (or all at once), and what the
/// server does meanwhile.
#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    /// Requests a second; 0: `burst` requests at once.
    rate: u64,
    burst: usize,
    run: Duration,
    /// The listener is down from `down_at` for `down_for`.
    down_at: Duration,
    down_for: Duration,
    reset_first: bool,
    refuse_one_in: u64,
    quick: bool,
}

async fn run(scenario: Scenario, variant: Variant) -> Tally {
    let mut server = Server::start(scenario.reset_first).await;
    let attempts = Arc::new(Mutex::new(HashMap::new()));
    let service = client(variant, attempts.clone(), scenario.refuse_one_in);
    let uri = format!("http://{}/", server.addr);
    let start = Instant::now();
    let back_at = start + scenario.down_at + scenario.down_for;

    // An outage from the start is in place before the first request.
    if scenario.down_for > Duration::ZERO && scenario.down_at.is_zero() {
        server.down();
    }
    let outage = async {
        if scenario.down_for > Duration::ZERO {
            tokio::time::sleep_until(start + scenario.down_at).await;
            server.down();
            tokio::time::sleep_until(back_at).await;
            server.up().await;
        }
    };
    let count = if scenario.rate == 0 {
        scenario.burst
    } else {
        (scenario.rate as f64 * scenario.run.as_secs_f64()) as usize
    };
    let mut calls = tokio::task::JoinSet::new();
    let load = async {
        for id in 0..count {
            if scenario.rate > 0 {
                tokio::time::sleep_until(
                    start + Duration::from_secs(id as u64) / scenario.rate as u32,
                )
                .await;
            }
            let request = open_loop::get(&uri, id);
            let service = service.clone();
            calls.spawn(async move {
                let sent = Instant::now();
                // Every call is bounded: a scenario never hangs.
                let result =
                    tokio::time::timeout(Duration::from_secs(30), service.oneshot(request)).await;
                (id, result.is_ok_and(|r| r.is_ok()), sent, Instant::now())
            });
        }
    };
    tokio::join!(outage, load);
    let mut ends = Vec::new();
    while let Some(joined) = calls.join_next().await {
        ends.push(joined.expect("a call task"));
    }
    server.down();
    let back = (scenario.down_for > Duration::ZERO).then_some(back_at);
    Tally::of(ends, &attempts, back)
}

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "1 s listener outage 12 s into the run, 200 req/s",
        rate: 200,
        burst: 0,
        run: Duration::from_secs(15),
        down_at: Duration::from_secs(12),
        down_for: Duration::from_secs(1),
        reset_first: false,
        refuse_one_in: 0,
        quick: false,
    },
    Scenario {
        name: "1 s listener outage 1.5 s after a fresh client's first request, 200 req/s",
        rate: 200,
        burst: 0,
        run: Duration::from_millis(4_500),
        down_at: Duration::from_millis(1_500),
        down_for: Duration::from_secs(1),
        reset_first: false,
        refuse_one_in: 0,
        quick: true,
    },
    Scenario {
        name: "2 s listener outage, 200 req/s",
        rate: 200,
        burst: 0,
        run: Duration::from_secs(6),
        down_at: Duration::from_secs(2),
        down_for: Duration::from_secs(2),
        reset_first: false,
        refuse_one_in: 0,
        quick: false,
    },
    Scenario {
        name: "quiet client: 10 concurrent requests across a 50 ms blip",
        rate: 0,
        burst: 10,
        run: Duration::ZERO,
        down_at: Duration::ZERO,
        down_for: Duration::from_millis(50),
        reset_first: false,
        refuse_one_in: 0,
        quick: true,
    },
    Scenario {
        name: "quiet client: 10 concurrent GETs, each reset once",
        rate: 0,
        burst: 10,
        run: Duration::ZERO,
        down_at: Duration::ZERO,
        down_for: Duration::ZERO,
        reset_first: true,
        refuse_one_in: 0,
        quick: true,
    },
    Scenario {
        name: "steady partial failure: 1 connect in 6 refused, 100 req/s, 3 retries",
        rate: 100,
        burst: 0,
        run: Duration::from_secs(13),
        down_at: Duration::ZERO,
        down_for: Duration::ZERO,
        reset_first: false,
        refuse_one_in: 6,
        quick: false,
    },
    Scenario {
        name: "steady partial failure (short): 1 connect in 6 refused, 100 req/s",
        rate: 100,
        burst: 0,
        run: Duration::from_secs(3),
        down_at: Duration::ZERO,
        down_for: Duration::ZERO,
        reset_first: false,
        refuse_one_in: 6,
        quick: true,
    },
];

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let only: Option<String> = std::env::var("ONLY").ok();
    for scenario in SCENARIOS.iter().filter(|s| s.quick == quick || !quick) {
        if !quick && scenario.quick && scenario.refuse_one_in > 0 {
            continue; // the long version runs instead
        }
        if only
            .as_deref()
            .is_some_and(|only| !scenario.name.contains(only))
        {
            continue;
        }
        println!("\n{}\n", scenario.name);
        println!("| client | lost | attempts per request | saved | p50 / p99 / max of saved (s) | last saved after back (s) |");
        println!("|---|---|---|---|---|---|");
        for variant in VARIANTS {
            let outcome = run(*scenario, variant).await;
            println!("| {} | {} |", variant.label(), outcome.columns());
            // Let the previous client's sockets settle.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
