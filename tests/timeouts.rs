//! tower's `TimeoutLayer` with the retry layer, against a loopback server
//! that reads each request and never answers.
//!
//! - Inside the retry layer, the timeout bounds one attempt. When it fires
//!   the request was written and may have been processed, so the attempt
//!   counts as a lost connection: an idempotent request is sent again, a
//!   POST is not.
//! - Outside, it bounds the whole call: when it fires, the attempt in
//!   flight (or the pause) is dropped and no further attempt is made.
#![cfg(feature = "hyper")]

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use tower::timeout::error::Elapsed;
use tower::timeout::TimeoutLayer;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_conn_retry::{Backoff, ErrorClass, Jitter, RetryLayer, RetryPolicy};

use support::client::{http_client, Body};
use support::server;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn layer() -> RetryLayer {
    RetryLayer::new(
        RetryPolicy::builder()
            .max_retries(3)
            .backoff(Backoff::exponential(ms(1)).jitter(Jitter::None))
            .build()
            .unwrap(),
    )
}

fn request(method: Method, addr: std::net::SocketAddr) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}/slow"))
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap()
}

#[tokio::test]
async fn a_timeout_inside_the_layer_retries_an_idempotent_request_only() {
    for (method, sends) in [(Method::GET, 4), (Method::PUT, 4), (Method::POST, 1)] {
        let (addr, seen) = server::stall_after_reading_request().await;
        let mut client = ServiceBuilder::new()
            .layer(layer())
            .layer(TimeoutLayer::new(ms(250)))
            .service(http_client());

        let error = client
            .ready()
            .await
            .unwrap()
            .call(request(method.clone(), addr))
            .await
            .unwrap_err();

        assert!(error.is::<Elapsed>(), "{error:?}");
        assert_eq!(ErrorClass::of(&*error), ErrorClass::ConnectionLost);
        assert_eq!(seen.count(&method), sends, "{method} processed");
    }
}

#[tokio::test]
async fn a_timeout_outside_the_layer_bounds_the_whole_call() {
    let (addr, seen) = server::stall_after_reading_request().await;
    let mut client = ServiceBuilder::new()
        .layer(TimeoutLayer::new(ms(300)))
        .layer(layer())
        .service(http_client());

    let error = client
        .ready()
        .await
        .unwrap()
        .call(request(Method::GET, addr))
        .await
        .unwrap_err();

    assert!(error.is::<Elapsed>(), "{error:?}");
    assert_eq!(seen.count(&Method::GET), 1);
    // The call is over: the dropped retry future makes no further attempt.
    tokio::time::sleep(ms(300)).await;
    assert_eq!(seen.total(), 1);
}
