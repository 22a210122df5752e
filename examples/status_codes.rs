//! Status codes and connection failures, retried together without
//! multiplying attempts.
//!
//! This crate retries connection failures only; a 503 or a 429 is a
//! response, returned untouched. To retry those too (honouring
//! `Retry-After`), put a status-code retry **outside** the layer, here
//! `tower::retry` with a small policy, and let it count every attempt the
//! layer made for it (the `Attempts` extension of the response) against
//! one cap for the whole call. Attempts then add up instead of
//! multiplying: a call makes at most `cap + max_retries` attempts, where
//! two independent retries would allow `(1 + status retries) x (1 +
//! max_retries)`.
//!
//! The loopback server below starts listening late (connects are refused
//! at first), then answers 503 with `Retry-After: 1` twice, then 200.
//!
//! ```text
//! cargo run --example status_codes
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tower::retry::Policy;
use tower::{ServiceBuilder, ServiceExt};
use tower_conn_retry::{is_idempotent, Attempts, Backoff, Jitter, RetryLayer, RetryPolicy};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The most attempts a call may make in all, status retries and
/// connection retries together (before its last call's own retries).
const CAP: u32 = 6;
/// The longest `Retry-After` honoured; longer, the response is returned.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The connection retries of the layer inside.
const MAX_RETRIES: u32 = 3;

/// Retries 503 and 429 for idempotent requests, after `Retry-After`,
/// while the call's attempts (the layer's included) stay under the cap.
/// Errors are never retried here: the layer inside already retried the
/// connection failures, and any other error is not this policy's to
/// retry.
#[derive(Clone)]
struct StatusPolicy {
    // Attempts still allowed for this call: `tower::retry` clones the
    // policy for each call.
    remaining: u32,
}

impl<B: Clone> Policy<Request<B>, Response<Incoming>, hyper_util::client::legacy::Error>
    for StatusPolicy
{
    type Future = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn retry(
        &mut self,
        request: &mut Request<B>,
        result: &mut Result<Response<Incoming>, hyper_util::client::legacy::Error>,
    ) -> Option<Self::Future> {
        let response = result.as_ref().ok()?;
        // What the layer inside spent on this call: its attempts.
        let spent = response
            .extensions()
            .get::<Attempts>()
            .map_or(1, |a| a.get());
        self.remaining = self.remaining.saturating_sub(spent);
        let retryable = matches!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        );
        if !retryable || !is_idempotent(request.method()) || self.remaining == 0 {
            return None;
        }
        let wait = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
            .map(Duration::from_secs)?;
        if wait > MAX_RETRY_AFTER {
            return None;
        }
        Some(Box::pin(tokio::time::sleep(wait)))
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        Some(request.clone())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = answered.clone();
    tokio::spawn(async move {
        // Connects are refused until the server listens, 150 ms late.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let listener = TcpListener::bind(addr).await.expect("bind");
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            let counter = counter.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_: Request<Incoming>| {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                        if n < 2 {
                            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                            response
                                .headers_mut()
                                .insert(http::header::RETRY_AFTER, "1".parse().unwrap());
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    // Status retries outside, connection retries inside.
    let connection_retries = RetryLayer::new(
        RetryPolicy::builder()
            .name("status-codes-example")
            .max_retries(MAX_RETRIES)
            // Equal jitter: each pause at least half its ceiling, so the
            // three (at least 50 + 100 + 200 ms) outlast the server's
            // 150 ms.
            .backoff(Backoff::exponential(Duration::from_millis(100)).jitter(Jitter::Equal))
            .build()?,
    );
    let client = ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(StatusPolicy {
            remaining: CAP,
        }))
        .layer(connection_retries.clone())
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());

    let request = Request::get(format!("http://{addr}/")).body(Full::default())?;
    let response = client.oneshot(request).await?;

    let stats = connection_retries.stats().total;
    println!("final status: {}", response.status());
    println!(
        "calls through the connection layer: {} (1 + status retries), attempts: {} ({} connection retries), answered by the server: {}",
        stats.requests,
        stats.attempts(),
        stats.retries.total(),
        answered.load(Ordering::SeqCst)
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        stats.attempts() <= u64::from(CAP + MAX_RETRIES),
        "attempts add up, never multiply: at most {} + {}",
        CAP,
        MAX_RETRIES
    );
    Ok(())
}
