//! A streaming request body wrapped in `ReplayBody`, through a real
//! `hyper_util` client and the layer, against a loopback server that resets
//! the first connection after reading the whole request.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_conn_retry::{Backoff, ErrorClass, Jitter, ReplayBody, RetryLayer, RetryPolicy};

use support::body::{streaming_body, Streaming};
use support::server;

async fn put_streaming(
    method: Method,
    limit: usize,
) -> (
    Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error>,
    usize,
    server::Requests,
    usize,
) {
    let (addr, requests, resets) = server::reset_first_then_serve().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::exponential(Duration::from_millis(5)).jitter(Jitter::None))
        .build()
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Streaming>>();
    let mut client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .map_request(move |request: Request<ReplayBody<Streaming>>| {
            counter.fetch_add(1, Ordering::SeqCst);
            request
        })
        .service(client);

    let request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}/documents/7"))
        .body(ReplayBody::new(streaming_body(), limit))
        .unwrap();
    let result = client.ready().await.unwrap().call(request).await;
    (
        result,
        attempts.load(Ordering::SeqCst),
        requests,
        resets.load(Ordering::SeqCst),
    )
}

#[tokio::test]
async fn a_streaming_put_is_replayed_after_its_connection_was_lost() {
    let (result, attempts, requests, resets) = put_streaming(Method::PUT, 64 * 1024).await;

    let response = result.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(resets, 1, "the first attempt was not lost");
    assert_eq!(attempts, 2);
    assert_eq!(requests.count(&Method::PUT), 1);
    assert_eq!(
        requests.bodies(),
        [Bytes::from_static(b"first,second,third")]
    );
}

#[tokio::test]
async fn a_streaming_put_past_its_replay_limit_is_not_retried() {
    // 4 bytes cannot hold "first,": the recording is dropped.
    let (result, attempts, requests, resets) = put_streaming(Method::PUT, 4).await;

    let error = result.unwrap_err();
    assert_eq!(
        ErrorClass::of(&error),
        ErrorClass::ConnectionLost,
        "{error:?}"
    );
    assert_eq!(resets, 1);
    assert_eq!(attempts, 1);
    assert_eq!(requests.total(), 0);
}

#[tokio::test]
async fn a_streaming_post_is_not_replayed_after_its_connection_was_lost() {
    let (result, attempts, requests, resets) = put_streaming(Method::POST, 64 * 1024).await;

    let error = result.unwrap_err();
    assert_eq!(
        ErrorClass::of(&error),
        ErrorClass::ConnectionLost,
        "{error:?}"
    );
    assert_eq!((resets, attempts, requests.total()), (1, 1, 0));
}
