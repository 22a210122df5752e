//! reqwest-retry's default `RetryTransientMiddleware` and this crate's
//! `RetryMiddleware`, side by side, each sending the same POSTs (each with
//! a unique `x-request-id`) to a flapping server on 127.0.0.1:
//!
//! - the server is up for 40 ms, then down for 20 ms (its listener closed:
//!   connects are refused), and so on;
//! - every request it reads whole is recorded as processed; one in five is
//!   then answered by a reset (SO_LINGER 0) instead of a response: the
//!   server processed it, the client sees the connection lost;
//! - every answer says `connection: close`, so each attempt connects anew.
//!
//! Both retry at most 3 times with exponential backoff from 10 ms up to
//! 200 ms. Printed for each: POSTs sent, POSTs the server processed twice
//! or more, POSTs that failed, and how many of those the server processed
//! anyway (its answer was lost: the caller must look before sending again).
//!
//! ```text
//! cargo run --example reqwest_side_by_side --features reqwest
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_retry::RetryTransientMiddleware;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_conn_retry::reqwest::RetryMiddleware;
use tower_conn_retry::{Backoff, RetryPolicy};

const POSTS: usize = 200;
const CONCURRENCY: usize = 8;
const UP: Duration = Duration::from_millis(40);
const DOWN: Duration = Duration::from_millis(20);

#[tokio::main]
async fn main() {
    let retry_policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(10), Duration::from_millis(200))
        .build_with_max_retries(3);
    let reqwest_retry = ClientBuilder::new(plain_client())
        .with(RetryTransientMiddleware::new_with_policy(retry_policy))
        .build();

    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(
            Backoff::exponential(Duration::from_millis(10)).max_delay(Duration::from_millis(200)),
        )
        .build()
        .unwrap();
    let conn_retry = ClientBuilder::new(plain_client())
        .with(RetryMiddleware::new(policy).client_follows_no_redirects())
        .build();

    println!("{POSTS} POSTs each, {CONCURRENCY} at a time; server up {UP:?} / down {DOWN:?}, one in five read requests answered by a reset");
    println!(
        "{:<40} {:>6} {:>16} {:>7} {:>17}",
        "middleware", "sent", "processed twice+", "failed", "failed, processed"
    );
    for (name, client) in [
        ("reqwest-retry RetryTransientMiddleware", reqwest_retry),
        ("tower-conn-retry RetryMiddleware", conn_retry),
    ] {
        let outcome = run(client).await;
        println!(
            "{name:<40} {:>6} {:>16} {:>7} {:>17}",
            outcome.sent, outcome.duplicated, outcome.failed, outcome.failed_processed
        );
    }
}

/// reqwest without TLS, with its own retry off (it retries only HTTP/2
/// NACKs anyway; this server speaks HTTP/1), and following no redirects
/// (this server sends none), so `RetryMiddleware` may be told so.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .retry(reqwest::retry::never())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Outcome {
    sent: usize,
    duplicated: usize,
    failed: usize,
    /// Failed POSTs the server processed (its answer was lost).
    failed_processed: usize,
}

async fn run(client: ClientWithMiddleware) -> Outcome {
    let server = Flapping::start().await;
    let url = format!("http://{}/orders", server.addr);
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (client, url, next, failed) =
            (client.clone(), url.clone(), next.clone(), failed.clone());
        workers.spawn(async move {
            loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id >= POSTS as u64 {
                    return;
                }
                let sent = client
                    .post(&url)
                    .header("x-request-id", id.to_string())
                    .body(format!("order {id}"))
                    .send()
                    .await;
                if !matches!(sent, Ok(ref response) if response.status().is_success()) {
                    failed.lock().unwrap().push(id.to_string());
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    server.task.abort();
    let processed = server.processed.lock().unwrap();
    let failed = failed.lock().unwrap();
    Outcome {
        sent: POSTS,
        duplicated: processed.values().filter(|&&n| n >= 2).count(),
        failed: failed.len(),
        failed_processed: failed
            .iter()
            .filter(|id| processed.contains_key(*id))
            .count(),
    }
}

/// A server that is up, then down (connects refused), then up again.
struct Flapping {
    addr: SocketAddr,
    processed: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Flapping {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let processed = Arc::new(Mutex::new(HashMap::new()));
        let recorded = processed.clone();
        let task = tokio::spawn(async move {
            let read = Arc::new(AtomicU64::new(0));
            let mut listener = Some(listener);
            loop {
                let up = listener.take().unwrap_or_else(|| rebind(addr));
                let _ = tokio::time::timeout(UP, async {
                    while let Ok((stream, _)) = up.accept().await {
                        tokio::spawn(serve(stream, recorded.clone(), read.clone()));
                    }
                })
                .await;
                // Down: the listener closes, connects are refused.
                drop(up);
                tokio::time::sleep(DOWN).await;
            }
        });
        Flapping {
            addr,
            processed,
            task,
        }
    }
}

/// The same port again (tokio's listeners set SO_REUSEADDR on Unix).
fn rebind(addr: SocketAddr) -> TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(1024).unwrap()
}

/// Reads one request whole, records it as processed, then resets one in
/// five and answers the others.
async fn serve(
    mut stream: TcpStream,
    processed: Arc<Mutex<HashMap<String, usize>>>,
    read: Arc<AtomicU64>,
) {
    let Some(id) = read_request(&mut stream).await else {
        return;
    };
    *processed.lock().unwrap().entry(id).or_default() += 1;
    if read.fetch_add(1, Ordering::Relaxed) % 5 == 4 {
        let _ = stream.set_zero_linger();
        return;
    }
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        .await;
    let _ = stream.shutdown().await;
}

/// One request's `x-request-id`, after its head and `content-length` body
/// were read.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
        if data.len() > 64 * 1024 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    header("x-request-id")
}
