//! A client fetching URLs from user input: 10,000 distinct hosts through one
//! layer keep the per-authority budget's memory within its documented
//! bound (`max_authorities` states of at most `BYTES_PER_AUTHORITY`).
//!
//! A test binary of its own with a single test, because the counting global
//! allocator sees every thread of the process.

use std::alloc::System;

use http::{Request, Response};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tower::{service_fn, Layer};
use tower_conn_retry::{RetryBudget, RetryLayer, RetryPolicy};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The documented bound on one tracked authority's memory (the budget's
/// counters, its gate, the normalized name and the table's entry), for
/// names of up to 40 bytes. OUTAGES.md and `RetryBudget::max_authorities`
/// quote the measured figure this test prints (826 bytes with the gate and
/// the refusals' allowance, whose counters are 80 bytes).
#[cfg(not(feature = "metrics"))]
const BYTES_PER_AUTHORITY: usize = 896;
/// With the `metrics` feature, each authority's counts also carry their
/// labels, their cached handles and the label it was published under
/// (measured: 1,186 bytes with the gate and the refusals' allowance; 994
/// before them, and 929 before the label bound).
#[cfg(feature = "metrics")]
const BYTES_PER_AUTHORITY: usize = 1280;

fn live_bytes(region: &Region<'_, System>) -> isize {
    let change = region.change();
    change.bytes_allocated as isize - change.bytes_deallocated as isize
}

/// Sends one request to each of `hosts` distinct hosts through a layer of
/// `policy`, one after another, each answered; returns the bytes still held
/// once they all ended, with the layer alive.
async fn flood(policy: RetryPolicy, hosts: usize) -> isize {
    let region = Region::new(GLOBAL);
    let layer = RetryLayer::new(policy);
    let service = layer.layer(service_fn(|_: Request<String>| async {
        Ok::<_, std::io::Error>(Response::new(String::new()))
    }));
    let before = live_bytes(&region);
    for host in 0..hosts {
        let request = Request::get(format!("http://host-{host:05}.flood.test/"))
            .body(String::new())
            .unwrap();
        service.clone().oneshot(request).await.unwrap();
    }
    let held = live_bytes(&region) - before;
    drop(service);
    held
}

#[tokio::test]
async fn ten_thousand_hosts_keep_memory_within_the_authority_cap() {
    // The default cap, 1024: filled, then flooded ten times over.
    let filled = flood(RetryPolicy::default(), 1024).await;
    let flooded = flood(RetryPolicy::default(), 10_000).await;
    let per_authority = filled as usize / 1024;
    println!("{per_authority} bytes per tracked authority (1024 tracked: {filled} bytes; after 10,000 hosts: {flooded} bytes)");
    assert!(
        per_authority <= BYTES_PER_AUTHORITY,
        "{per_authority} bytes per authority"
    );
    assert!(
        flooded as usize <= 1024 * BYTES_PER_AUTHORITY,
        "{flooded} bytes held after 10,000 hosts"
    );
    // Past the cap, a new host replaces an idle one: the table does not
    // grow (the slack is the hash table's own capacity rounding).
    assert!(
        flooded <= filled + filled / 4,
        "{flooded} bytes after 10,000 hosts against {filled} after 1024"
    );

    // A smaller cap bounds it proportionally.
    let capped = RetryPolicy::builder()
        .budget(RetryBudget::default().max_authorities(100))
        .build()
        .unwrap();
    let small = flood(capped, 10_000).await;
    assert!(
        small as usize <= 100 * BYTES_PER_AUTHORITY,
        "{small} bytes held with a cap of 100"
    );
}
