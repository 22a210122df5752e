//! Which requests may be sent twice: the method, an `Idempotency-Key`
//! header, or the policy's `idempotent_when` hook. Each case runs a real
//! `hyper_util` Client against a loopback server that reads the request and
//! then resets the connection, so the server has it and the client sees
//! the connection lost.
#![cfg(feature = "hyper")]

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use tower::Service;
use tower_conn_retry::{Backoff, ErrorClass, Jitter, RequestHead, RetryPolicy, RetryPolicyBuilder};

use support::client::{http_client, layered, Body};
use support::server;

fn builder() -> RetryPolicyBuilder {
    RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::exponential(Duration::from_millis(1)).jitter(Jitter::None))
}

/// Sends `request` through the layer to a server that reads it and resets;
/// returns the attempts made and the requests the server read.
async fn attempts_against_a_reset(policy: RetryPolicy, request: Request<Body>) -> (usize, usize) {
    let (addr, seen) = server::reset_after_reading_request().await;
    let (mut client, attempts) = layered(http_client(), policy);
    let mut request = request;
    *request.uri_mut() = format!("http://{addr}{}", request.uri()).parse().unwrap();
    let error = client
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    assert_eq!(
        ErrorClass::of(&error),
        ErrorClass::ConnectionLost,
        "{error:?}"
    );
    (attempts.load(Ordering::SeqCst), seen.total())
}

fn post(path: &str) -> http::request::Builder {
    Request::builder().method(Method::POST).uri(path)
}

fn body() -> Body {
    Full::new(Bytes::from_static(b"{\"item\":7}"))
}

#[tokio::test]
async fn a_post_with_an_idempotency_key_is_resent_after_a_reset() {
    let keyed = post("/orders")
        .header("Idempotency-Key", "8e03978e-40d5-43e8-bc93-6894a57f9324")
        .body(body())
        .unwrap();
    assert_eq!(
        attempts_against_a_reset(builder().build().unwrap(), keyed).await,
        (4, 4)
    );
}

#[tokio::test]
async fn a_patch_with_an_idempotency_key_is_resent_after_a_reset() {
    let keyed = Request::builder()
        .method(Method::PATCH)
        .uri("/orders/7")
        .header("idempotency-key", "\"order-7-v2\"")
        .body(body())
        .unwrap();
    assert_eq!(
        attempts_against_a_reset(builder().build().unwrap(), keyed).await,
        (4, 4)
    );
}

#[tokio::test]
async fn a_post_without_a_key_is_sent_once() {
    let plain = post("/orders").body(body()).unwrap();
    assert_eq!(
        attempts_against_a_reset(builder().build().unwrap(), plain).await,
        (1, 1)
    );
}

#[tokio::test]
async fn the_policy_hook_declares_more_requests_idempotent() {
    let policy = || {
        builder()
            .idempotent_when(|head: &RequestHead<'_>| {
                head.method == Method::POST && head.uri.path() == "/search"
            })
            .build()
            .unwrap()
    };
    let search = post("/search").body(body()).unwrap();
    assert_eq!(attempts_against_a_reset(policy(), search).await, (4, 4));
    // The hook declares only what it says: another POST is still sent once.
    let order = post("/orders").body(body()).unwrap();
    assert_eq!(attempts_against_a_reset(policy(), order).await, (1, 1));
}

#[tokio::test]
async fn the_hook_sees_the_request_extensions() {
    #[derive(Clone)]
    struct SafeToRepeat;
    let policy = builder()
        .idempotent_when(|head: &RequestHead<'_>| head.extensions.get::<SafeToRepeat>().is_some())
        .build()
        .unwrap();
    let mut tagged = post("/orders").body(body()).unwrap();
    tagged.extensions_mut().insert(SafeToRepeat);
    assert_eq!(attempts_against_a_reset(policy, tagged).await, (4, 4));
}
