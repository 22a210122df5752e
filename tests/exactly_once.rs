//! Exactly once under load: 2,000 POSTs and 2,000 GETs, 64 in flight,
//! through one layered client, against a loopback server that resets 20% of
//! connections (seeded), half before and half after reading the request.
//! No POST may be handled twice; nothing may hang.
#![cfg(feature = "hyper")]

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use tower_conn_retry::{Backoff, ErrorClass, Jitter, RetryPolicy};

use support::client::{http_client, layered};
use support::server;

const EACH: usize = 2_000;
const IN_FLIGHT: usize = 64;
const MAX_RETRIES: u32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_post_is_handled_twice_under_random_resets() {
    let (addr, handled) = server::flaky(42, 0.10, 0.10).await;
    let policy = RetryPolicy::builder()
        .max_retries(MAX_RETRIES)
        .backoff(
            Backoff::exponential(Duration::from_millis(1))
                .max_delay(Duration::from_millis(20))
                .jitter(Jitter::Full),
        )
        .jitter_seed(7)
        .build()
        .unwrap();
    let (client, attempts) = layered(http_client(), policy);

    let requests = (0..EACH).flat_map(|i| [(Method::POST, i), (Method::GET, i)]);
    let outcomes = stream::iter(requests)
        .map(|(method, i)| {
            let id = format!("{}-{i}", method.as_str().to_lowercase());
            let request = Request::builder()
                .method(method.clone())
                .uri(format!("http://{addr}/orders"))
                .header("x-request-id", id.clone())
                .body(Full::new(Bytes::from(format!("{{\"order\":{i}}}"))))
                .unwrap();
            let client = client.clone();
            async move { (method, id, client.oneshot(request).await) }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>();
    let outcomes = tokio::time::timeout(Duration::from_secs(120), outcomes)
        .await
        .expect("the load did not finish in time: something hangs");

    assert_eq!(outcomes.len(), 2 * EACH);
    let mut failed_posts = 0;
    let mut failed_gets = 0;
    for (method, id, outcome) in &outcomes {
        let seen = handled.times_seen(id);
        match (method, outcome) {
            (_, Ok(response)) => {
                assert_eq!(response.status(), StatusCode::OK, "{id}");
                if *method == Method::POST {
                    assert_eq!(seen, 1, "{id} succeeded but was handled {seen} times");
                }
            }
            (_, Err(error)) => {
                let class = ErrorClass::of(error);
                assert!(
                    matches!(class, ErrorClass::Connect | ErrorClass::ConnectionLost),
                    "{id}: not a connection error: {error:?}"
                );
                if *method == Method::POST {
                    failed_posts += 1;
                } else {
                    failed_gets += 1;
                }
            }
        }
        if *method == Method::POST {
            assert!(seen <= 1, "{id} was handled {seen} times");
        } else {
            assert!(
                seen <= MAX_RETRIES as usize + 1,
                "{id} was sent {seen} times"
            );
        }
    }

    // The faults really happened, and both rules were exercised: POSTs lost
    // after being read came back as errors, GETs were sent again.
    let before = handled
        .resets_before_reading
        .load(std::sync::atomic::Ordering::SeqCst);
    let after = handled
        .resets_after_reading
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        before >= 200 && after >= 200,
        "too few faults: {before}, {after}"
    );
    assert!(failed_posts >= 100, "only {failed_posts} POSTs failed");
    let retried_gets = (0..EACH)
        .filter(|i| handled.times_seen(&format!("get-{i}")) >= 2)
        .count();
    assert!(retried_gets >= 50, "only {retried_gets} GETs were resent");
    let attempts = attempts.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        attempts > 2 * EACH,
        "no retries happened: {attempts} attempts"
    );
    println!(
        "{attempts} attempts; resets before reading {before}, after {after}; \
         failed POSTs {failed_posts}, failed GETs {failed_gets}, resent GETs {retried_gets}"
    );
}
