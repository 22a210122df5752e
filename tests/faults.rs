//! The fault matrix: a real `hyper_util` Client, wrapped in the layer,
//! against real faults made on 127.0.0.1 (loopback only, ever). One test per
//! fault; each asserts the attempts made, what the server saw, and what the
//! caller got.
#![cfg(feature = "hyper")]

mod support;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, Error as ClientError};
use hyper_util::rt::TokioExecutor;
use tower::{service_fn, Service, ServiceExt};
use tower_conn_retry::{Attempts, Backoff, ErrorClass, Jitter, Retry, RetryPolicy};

use support::client::{http_client, layered, Body};
use support::server;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `max_retries` retries, pauses `base`, `2 base`, `4 base`, ... (no jitter).
fn policy(max_retries: u32, base: Duration) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(max_retries)
        .backoff(
            Backoff::exponential(base)
                .max_delay(base * 64)
                .jitter(Jitter::None),
        )
        .build()
        .unwrap()
}

fn request(method: Method, addr: SocketAddr) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}/orders?id=7"))
        .body(Full::new(Bytes::from_static(b"{\"item\":7}")))
        .unwrap()
}

async fn send<S>(service: &mut S, request: Request<Body>) -> Result<S::Response, S::Error>
where
    S: Service<Request<Body>>,
{
    service.ready().await?.call(request).await
}

#[tokio::test]
async fn connection_refused_is_retried_to_the_limit_then_returned() {
    let addr = server::unused_addr();
    let (mut client, attempts) = layered(http_client(), policy(3, ms(5)));

    let error = send(&mut client, request(Method::POST, addr))
        .await
        .unwrap_err();

    assert!(error.is_connect(), "{error:?}");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Connect);
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_server_that_comes_back_is_reached_when_the_backoff_predicts() {
    // Pauses of 100, 200, 400 ms: attempts at about 0, 100 and 300 ms. The
    // server listens from 200 ms on, so the third attempt is the first to
    // connect, with 100 ms of slack either side.
    let addr = server::unused_addr();
    let requests = server::serve_ok_after(addr, ms(200));
    let (mut client, attempts) = layered(http_client(), policy(10, ms(100)));

    let response = send(&mut client, request(Method::POST, addr))
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(
        response.extensions().get::<Attempts>().map(|a| a.get()),
        Some(3),
        "the response says how many attempts it took"
    );
    assert_eq!(requests.count(&Method::POST), 1, "the server saw one POST");
    assert_eq!(requests.bodies(), [Bytes::from_static(b"{\"item\":7}")]);
}

/// Against a server that loses every connection after the request was
/// written: a GET is sent `1 + 3` times, a POST and a PATCH once each, and
/// every caller gets the connection-lost error. `seen` counts, by method,
/// what reached the server.
async fn assert_only_idempotent_requests_are_resent(addr: SocketAddr, seen: &server::Requests) {
    for (method, sends) in [(Method::GET, 4), (Method::POST, 1), (Method::PATCH, 1)] {
        let (mut client, attempts) = layered(http_client(), policy(3, ms(5)));
        let error = send(&mut client, request(method.clone(), addr))
            .await
            .unwrap_err();
        assert!(!error.is_connect(), "{method}: {error:?}");
        assert_eq!(
            ErrorClass::of(&error),
            ErrorClass::ConnectionLost,
            "{method}: {error:?}"
        );
        assert_eq!(attempts.load(Ordering::SeqCst), sends, "{method} attempts");
        assert_eq!(seen.count(&method), sends, "{method} reached the server");
    }
}

#[tokio::test]
async fn reset_on_accept_retries_a_get_but_sends_a_post_or_patch_once() {
    let (addr, connections) = server::reset_on_accept().await;
    assert_only_idempotent_requests_are_resent(addr, &connections).await;
}

#[tokio::test]
async fn a_reset_after_the_request_was_read_retries_a_get_but_never_a_post() {
    let (addr, requests) = server::reset_after_reading_request().await;
    assert_only_idempotent_requests_are_resent(addr, &requests).await;
}

#[tokio::test]
async fn a_close_after_the_request_was_read_retries_a_get_but_never_a_post() {
    let (addr, requests) = server::close_after_reading_request().await;
    assert_only_idempotent_requests_are_resent(addr, &requests).await;
}

#[tokio::test]
async fn a_close_mid_response_body_surfaces_in_the_body_and_is_not_resent() {
    let (addr, requests) = server::close_mid_response_body().await;
    let (mut client, attempts) = layered(http_client(), policy(3, ms(5)));

    // The head arrived, so the layer's work is done: the response is the
    // caller's, and the broken body is the caller's to see.
    let response = send(&mut client, request(Method::GET, addr)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await;

    let error = body.expect_err("a body cut short must not read as complete");
    assert_eq!(
        ErrorClass::of(&error),
        ErrorClass::ConnectionLost,
        "{error:?}"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(
        requests.count(&Method::GET),
        1,
        "the request was sent again"
    );
}

#[tokio::test]
async fn a_connect_timeout_is_a_connect_failure_and_is_retried() {
    let backlog = server::full_backlog().await;
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(ms(100)));
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let (mut client, attempts) = layered(client, policy(2, ms(5)));

    // If this kernel accepted the connection after all, the request would
    // wait for an answer that never comes: fail instead of hanging.
    let sent = send(&mut client, request(Method::POST, backlog.addr));
    let error = tokio::time::timeout(Duration::from_secs(10), sent)
        .await
        .expect("the connection was not left hanging in the full accept queue")
        .unwrap_err();

    assert!(error.is_connect(), "{error:?}");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Connect);
    assert!(
        format!("{error:?}").contains("TimedOut"),
        "not a connect timeout: {error:?}"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_dns_failure_is_retried_to_the_limit_then_its_error_returned() {
    let lookups = Arc::new(AtomicUsize::new(0));
    let counter = lookups.clone();
    let resolver = service_fn(move |_: Name| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Err::<std::vec::IntoIter<SocketAddr>, _>(io::Error::other("no such host")) }
    });
    let client = Client::builder(TokioExecutor::new())
        .build::<_, Body>(HttpConnector::new_with_resolver(resolver));
    let (mut client, attempts) = layered(client, policy(3, ms(100)));

    let start = tokio::time::Instant::now();
    let request = Request::get("http://service.invalid/")
        .body(Body::default())
        .unwrap();
    let error = send(&mut client, request).await.unwrap_err();

    assert!(error.is_connect(), "{error:?}");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Connect);
    assert!(
        format!("{error:?}").contains("no such host"),
        "the resolver's own error is lost: {error:?}"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    assert_eq!(lookups.load(Ordering::SeqCst), 4);
    assert_eq!(start.elapsed(), ms(100 + 200 + 400));
}

#[tokio::test]
async fn http_500_and_503_are_returned_as_they_are_after_one_attempt() {
    for status in [
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ] {
        let (addr, requests) = server::serve_status(status).await;
        let (mut client, attempts) = layered(http_client(), policy(3, ms(5)));

        let response = send(&mut client, request(Method::GET, addr)).await.unwrap();

        assert_eq!(response.status(), status);
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        assert_eq!(requests.total(), 1);
    }
}

/// Wraps the real client: each clone is Pending a few times before it is
/// ready, and after `fail_after` calls its readiness fails.
#[derive(Clone)]
struct SlowToReady<S> {
    inner: S,
    pending_left: usize,
    ready: bool,
    calls: Arc<AtomicUsize>,
    unready_calls: Arc<AtomicUsize>,
    fail_after: usize,
}

impl<S> Service<Request<Body>> for SlowToReady<S>
where
    S: Service<Request<Body>, Error = ClientError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<S::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.calls.load(Ordering::SeqCst) >= self.fail_after {
            return Poll::Ready(Err("the inner service is closed".into()));
        }
        if self.pending_left > 0 {
            self.pending_left -= 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready = true;
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if !std::mem::take(&mut self.ready) {
            self.unready_calls.fetch_add(1, Ordering::SeqCst);
        }
        self.pending_left = 3;
        self.calls.fetch_add(1, Ordering::SeqCst);
        let future = self.inner.call(request);
        Box::pin(async move { future.await.map_err(Into::into) })
    }
}

#[tokio::test]
async fn a_slow_to_ready_inner_service_is_never_called_unready() {
    let addr = server::unused_addr();
    let requests = server::serve_ok_after(addr, ms(60));
    let calls = Arc::new(AtomicUsize::new(0));
    let unready_calls = Arc::new(AtomicUsize::new(0));
    let inner = SlowToReady {
        inner: http_client(),
        pending_left: 3,
        ready: false,
        calls: calls.clone(),
        unready_calls: unready_calls.clone(),
        fail_after: usize::MAX,
    };
    let mut client = Retry::new(inner, policy(10, ms(25)));

    let response: Response<Incoming> = send(&mut client, request(Method::GET, addr)).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert!(calls.load(Ordering::SeqCst) >= 2, "no retry happened");
    assert_eq!(unready_calls.load(Ordering::SeqCst), 0);
    assert_eq!(requests.total(), 1);
}

#[tokio::test]
async fn a_readiness_error_before_a_retry_is_returned_not_retried() {
    let addr = server::unused_addr();
    let calls = Arc::new(AtomicUsize::new(0));
    let inner = SlowToReady {
        inner: http_client(),
        pending_left: 0,
        ready: false,
        calls: calls.clone(),
        unready_calls: Arc::default(),
        fail_after: 1,
    };
    let mut client = Retry::new(
        inner,
        RetryPolicy::builder()
            .max_retries(1_000)
            .backoff(Backoff::exponential(ms(1)).jitter(Jitter::None))
            .build()
            .unwrap(),
    );

    let error = send(&mut client, request(Method::GET, addr))
        .await
        .unwrap_err();

    assert_eq!(error.to_string(), "the inner service is closed");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
