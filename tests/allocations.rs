//! Heap allocations of one happy-path call: through the layer, the only
//! extra allocations are those of copying the request, counted exactly.
//!
//! A test binary of its own with a single test, because the counting global
//! allocator sees every thread of the process.

use std::alloc::System;

use http::Request;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tower::Service;
use tower_conn_retry::{CloneRequest, ConnectorClassifier, Retry, RetryBudget, RetryPolicy};

// The benches' realistic request and immediately answering service, so the
// count is of the very calls `benches/happy_path.rs` times.
#[path = "../benches/common/mod.rs"]
mod common;

use common::{call_now, realistic_get_request, realistic_request, Body, Immediate};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn call_ok<S: Service<Request<Body>>>(service: &mut S, request: Request<Body>) {
    assert!(call_now(service, request).is_ok());
}

/// Allocations made while `f` runs on a value built before counting starts.
fn allocations_of<T>(make: impl FnOnce() -> T, f: impl FnOnce(T)) -> usize {
    let input = make();
    let region = Region::new(GLOBAL);
    f(input);
    region.change().allocations
}

#[test]
fn the_layer_allocates_only_the_copy_of_the_request() {
    let mut bare = Immediate;
    let mut layered = Retry::new(Immediate, RetryPolicy::default());
    let mut retry_off = Retry::new(
        Immediate,
        RetryPolicy::builder().max_retries(0).build().unwrap(),
    );
    let mut idempotent_only = Retry::new(
        Immediate,
        RetryPolicy::builder().idempotent_only().build().unwrap(),
    );
    let mut budgeted = Retry::new(
        Immediate,
        RetryPolicy::builder()
            .budget(RetryBudget::default())
            .build()
            .unwrap(),
    );
    let mut deadline = Retry::new(
        Immediate,
        RetryPolicy::builder()
            .max_elapsed(std::time::Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    // The connector placement: the request is the URI of a new connection.
    let mut connector = Retry::new(
        tower::service_fn(|_: http::Uri| std::future::ready(Ok::<_, std::io::Error>(()))),
        RetryPolicy::builder()
            .classifier(ConnectorClassifier)
            .build()
            .unwrap(),
    );
    let mut connect = |uri: http::Uri| {
        assert!(call_now(&mut connector, uri).is_ok());
    };
    // Warm up anything lazily allocated once per process.
    connect(realistic_request().uri().clone());
    call_ok(&mut deadline, realistic_request());
    call_ok(&mut bare, realistic_request());
    call_ok(&mut layered, realistic_request());
    call_ok(&mut retry_off, realistic_request());
    call_ok(&mut budgeted, realistic_request());
    call_ok(&mut idempotent_only, realistic_request());

    let copy = allocations_of(realistic_request, |request| {
        let copy = request.clone_request();
        drop((request, copy));
    });
    let bare = allocations_of(realistic_request, |request| call_ok(&mut bare, request));
    let layered = allocations_of(realistic_request, |request| call_ok(&mut layered, request));
    let budgeted = allocations_of(realistic_request, |request| call_ok(&mut budgeted, request));
    let retry_off = allocations_of(realistic_request, |request| {
        call_ok(&mut retry_off, request)
    });
    let with_deadline =
        allocations_of(realistic_request, |request| call_ok(&mut deadline, request));
    let connector_copy = allocations_of(|| realistic_request().uri().clone(), &mut connect);
    // The realistic request is a POST: with `idempotent_only` it is not
    // copied; a GET is.
    let post_not_copied = allocations_of(realistic_request, |request| {
        call_ok(&mut idempotent_only, request)
    });
    let get_copied = allocations_of(realistic_get_request, |request| {
        call_ok(&mut idempotent_only, request)
    });

    // The copy: the header map's index table and entry vector (2), and one
    // shared buffer for each of the 5 header values and for the custom
    // header name `x-request-id` (6): `bytes` promotes a uniquely owned
    // buffer to a shared one on its first clone. The URI's buffer is
    // already shared by parsing, and the body is static.
    assert_eq!(copy, 8, "copying the request allocates differently");
    assert_eq!(bare, 0, "the inner service allocates");
    assert_eq!(layered, bare + copy, "the layer allocates beyond the copy");
    assert_eq!(retry_off, bare, "with retrying off, nothing is copied");
    assert_eq!(budgeted, layered, "the budget's deposit allocates");
    assert_eq!(post_not_copied, bare, "idempotent_only copied a POST");
    // A URI's parts share one buffer already, so copying it for the
    // connector placement only counts references.
    assert_eq!(connector_copy, 0, "the connector placement allocates");
    // Under a deadline the first attempt's start is kept from the call on,
    // in the box that otherwise waits for the first retry.
    assert_eq!(
        with_deadline,
        layered + 1,
        "a deadline costs other than the progress box"
    );
    assert_eq!(
        get_copied,
        bare + copy,
        "idempotent_only did not copy a GET"
    );
}
