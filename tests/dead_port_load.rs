//! 10,000 concurrent requests against a dead loopback port, under paused
//! time: every one ends with the connect error (its retries wait for the
//! port, probed by one retry at a time, and give up), and the
//! memory they hold stays bounded and is all given back.
//!
//! A test binary of its own with a single test, because the counting global
//! allocator sees every thread of the process.
#![cfg(feature = "hyper")]

mod support;

use std::alloc::System;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::Request;
use http_body_util::Full;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tower_conn_retry::{Backoff, ErrorClass, Jitter, RetryPolicy};

use support::client::{http_client, layered};
use support::server;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const REQUESTS: usize = 10_000;
const MAX_RETRIES: u32 = 3;
/// The most heap one request may hold while it pauses between attempts.
const BYTES_PER_REQUEST: usize = 8 * 1024;

/// Heap bytes allocated and not yet freed since `region` began
/// (`bytes_allocated` already counts what `realloc` grew).
fn live_bytes(region: &Region<'_, System>) -> isize {
    let change = region.change();
    change.bytes_allocated as isize - change.bytes_deallocated as isize
}

/// Sends `REQUESTS` at once and checks each outcome; returns the most heap
/// held at any sample while they ran.
async fn one_round(region: &Region<'_, System>) -> isize {
    let addr = server::unused_addr();
    let policy = RetryPolicy::builder()
        .max_retries(MAX_RETRIES)
        .backoff(Backoff::exponential(Duration::from_millis(100)).jitter(Jitter::Full))
        .jitter_seed(3)
        .build()
        .unwrap();
    let (client, attempts) = layered(http_client(), policy);
    let uri: http::Uri = format!("http://{addr}/").parse().unwrap();

    let before = live_bytes(region);
    let requests: FuturesUnordered<_> = (0..REQUESTS)
        .map(|_| {
            let request = Request::get(uri.clone())
                .body(Full::new(Bytes::new()))
                .unwrap();
            client.clone().oneshot(request)
        })
        .collect();
    let done = AtomicBool::new(false);
    let outcomes = async {
        let outcomes: Vec<_> = requests.collect().await;
        done.store(true, Ordering::SeqCst);
        outcomes
    };
    // Samples the heap every 5 ms of (paused) time while requests pause.
    let peak = async {
        let mut peak = 0;
        while !done.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            peak = peak.max(live_bytes(region) - before);
        }
        peak
    };
    let (outcomes, peak) = tokio::join!(outcomes, peak);

    assert_eq!(outcomes.len(), REQUESTS);
    for outcome in &outcomes {
        let error = outcome.as_ref().expect_err("nothing listens on the port");
        assert!(error.is_connect(), "{error:?}");
        assert_eq!(ErrorClass::of(error), ErrorClass::Connect);
    }
    // The default budget's gate: once the port refused, one retry at a
    // time probes it, the next no sooner than the probe interval after a
    // failed one (growing from the base, 100 ms, to at most 1 s, with
    // equal jitter: at least half of it), within the 5 s a retry may
    // wait; the others wait or, past the 2048 that may wait, return at
    // once. So at most 1 + 5 s / 50 ms (the first interval's least) probes:
    // about 30 in practice. Without it: REQUESTS * (MAX_RETRIES + 1)
    // attempts.
    let attempts = attempts.load(Ordering::SeqCst);
    assert!(
        (REQUESTS..=REQUESTS + 101).contains(&attempts),
        "{attempts} attempts"
    );
    println!("{attempts} attempts");
    peak
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_requests_to_a_dead_port_end_in_connect_errors_with_bounded_memory() {
    let region = Region::new(GLOBAL);

    let peak = one_round(&region).await;
    // What the first round leaves is capacity the runtime keeps (timer and
    // I/O driver storage); a second, identical round must reuse it, so any
    // growth would be memory held per request, a leak.
    let kept = live_bytes(&region);
    let second_peak = one_round(&region).await;
    let grown = live_bytes(&region) - kept;

    let per_request = peak.max(second_peak) as usize / REQUESTS;
    assert!(
        per_request <= BYTES_PER_REQUEST,
        "{per_request} bytes held per pausing request"
    );
    assert!(
        grown < 16 * 1024,
        "{grown} more bytes kept after a second round: memory is held per request"
    );
    println!("peak {peak} bytes ({per_request} per request); kept {kept}, then grew by {grown}");
}
