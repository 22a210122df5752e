//! Faults the previous release handled and the first gate did not, on real
//! loopback sockets with hyper servers (issue 26): a server that flaps, one
//! that starts late behind `Buffer` and `ConcurrencyLimit`, and an HTTP/2
//! server that refuses 30% of its streams. Every GET is answered, every
//! refused stream is retried, and no POST is processed twice. Each
//! scenario is bounded in time: a hang fails, it does not wait forever.
#![cfg(feature = "http2")]

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};
use tower_conn_retry::{Backoff, Jitter, Retry, RetryLayer, RetryPolicy};

use support::h2_server;

/// The longest any scenario may take before it fails as hung.
const BOUND: Duration = Duration::from_secs(60);

/// How many times the server processed each `x-id`.
type Processed = Arc<Mutex<HashMap<String, usize>>>;

fn request(method: Method, addr: SocketAddr, id: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}/"))
        .header("x-id", id)
        .body(Full::new(Bytes::from_static(b"order")))
        .unwrap()
}

/// Serves HTTP/1 on `listener` until the task is aborted (which closes the
/// listener and every connection), counting what it processes.
fn serve(listener: TcpListener, processed: Processed) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let processed = processed.clone();
            connections.spawn(async move {
                let answer = service_fn(move |request: http::Request<Incoming>| {
                    let id = request
                        .headers()
                        .get("x-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    *processed.lock().unwrap().entry(id).or_default() += 1;
                    async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from_static(b"done"),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), answer)
                    .await;
            });
        }
    })
}

/// A server up 150 ms, then down 150 ms (listener and connections closed),
/// and so on: 1,000 requests, half GET and half POST, 32 in flight, with
/// 10 retries from 10 ms capped at 200 ms. Every GET is answered; no POST
/// is processed twice. (Issue 26's suite outside the repository saw the
/// first gate answer 74.8% of GETs; this loopback form passed on it too,
/// so it guards the behaviour rather than pinning that defect.)
#[tokio::test]
async fn through_a_flapping_server_every_get_is_answered_and_no_post_is_processed_twice() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let processed = Processed::default();
    let flapping = {
        let processed = processed.clone();
        tokio::spawn(async move {
            loop {
                let listener = TcpListener::bind(addr).await.expect("bind the port again");
                let server = serve(listener, processed.clone());
                tokio::time::sleep(Duration::from_millis(150)).await;
                server.abort();
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };
    let policy = RetryPolicy::builder()
        .max_retries(10)
        .backoff(
            Backoff::exponential(Duration::from_millis(10))
                .max_delay(Duration::from_millis(200))
                .jitter(Jitter::Full),
        )
        .build()
        .unwrap();
    let client = Retry::new(
        Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>(),
        policy,
    );

    let calls = (0..1_000).map(|i| {
        let method = if i % 2 == 0 {
            Method::GET
        } else {
            Method::POST
        };
        let id = format!("{}-{i}", method.as_str());
        let request = request(method.clone(), addr, &id);
        let client = client.clone();
        async move {
            (
                id,
                method,
                client.oneshot(request).await.map(|r| r.status()),
            )
        }
    });
    let scenario = futures_util::stream::iter(calls)
        .buffer_unordered(32)
        .collect::<Vec<_>>();
    let results = tokio::time::timeout(BOUND, scenario)
        .await
        .expect("the flapping scenario did not end within 60 s");
    flapping.abort();

    let processed = processed.lock().unwrap();
    let mut gets_failed = Vec::new();
    for (id, method, result) in &results {
        let times = processed.get(id).copied().unwrap_or(0);
        match method {
            &Method::GET => match result {
                Ok(status) => assert_eq!(*status, StatusCode::OK),
                Err(error) => gets_failed.push(format!("{id}: {error:?}")),
            },
            _ => assert!(times <= 1, "{id} processed {times} times"),
        }
    }
    assert!(gets_failed.is_empty(), "GETs not answered: {gets_failed:?}");
}

/// A server 300 ms late, behind `Buffer` and `ConcurrencyLimit(16)`
/// (inside the retry layer, as a stack puts them), 512 requests at 64 in
/// flight: every one is answered (the first gate failed 3).
#[tokio::test]
async fn a_late_server_behind_buffer_and_a_concurrency_limit_answers_every_request() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let processed = Processed::default();
    let late = {
        let processed = processed.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let listener = TcpListener::bind(addr).await.expect("bind the late port");
            serve(listener, processed).await.ok();
        })
    };
    let inner = ServiceBuilder::new()
        .buffer(1024)
        .concurrency_limit(16)
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .service(inner);

    let calls = (0..512).map(|i| {
        let request = request(Method::GET, addr, &format!("get-{i}"));
        let client = client.clone();
        async move { client.oneshot(request).await }
    });
    let scenario = futures_util::stream::iter(calls)
        .buffer_unordered(64)
        .collect::<Vec<_>>();
    let results = tokio::time::timeout(BOUND, scenario)
        .await
        .expect("the late-server scenario did not end within 60 s");
    late.abort();

    let failed: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| format!("{e:?}")))
        .collect();
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
}

/// An HTTP/2 server that answers REFUSED_STREAM on 30% of its streams
/// (never processed), 200 requests, half POST, with 10 retries: every
/// request is answered and processed once (the first gate returned 36
/// without retrying them: a refused stream marked the authority down).
#[tokio::test]
async fn every_stream_refused_by_an_http2_server_is_retried_and_processed_once() {
    let (addr, ledger, chaos) = h2_server::chaos(11, 0.30, 0.0, 0.0).await;
    let client = Retry::new(
        Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http::<Full<Bytes>>(),
        RetryPolicy::builder().max_retries(10).build().unwrap(),
    );

    let calls = (0..200).map(|i| {
        let method = if i % 2 == 0 {
            Method::POST
        } else {
            Method::GET
        };
        let id = format!("{}-{i}", method.as_str().to_lowercase());
        let request = h2_request(method, addr, &id);
        let mut client = client.clone();
        async move {
            let result = match client.ready().await {
                Ok(client) => client.call(request).await,
                Err(error) => Err(error),
            };
            (id, result.map(|r| r.status()))
        }
    });
    let scenario = futures_util::stream::iter(calls)
        .buffer_unordered(32)
        .collect::<Vec<_>>();
    let results = tokio::time::timeout(BOUND, scenario)
        .await
        .expect("the refused-streams scenario did not end within 60 s");

    let refused = chaos.refused.load(std::sync::atomic::Ordering::SeqCst);
    assert!(refused > 30, "too few refusals: {refused}");
    for (id, result) in &results {
        assert_eq!(
            result.as_ref().ok(),
            Some(&StatusCode::OK),
            "{id}: {result:?}"
        );
        assert_eq!(ledger.get(id).processed, 1, "{id}");
    }
}

/// The chaos server names a request by its `x-request-id`.
fn h2_request(method: Method, addr: SocketAddr, id: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}/orders"))
        .header("x-request-id", id)
        .body(Full::new(Bytes::from_static(b"order")))
        .unwrap()
}
