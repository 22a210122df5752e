//! Heap allocations of one happy-path call: through the layer, the only
//! extra allocations are those of copying the request, counted exactly.
//!
//! A test binary of its own with a single test, because the counting global
//! allocator sees every thread of the process.

use std::alloc::System;
use std::future::{ready, Future, Ready};
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::Full;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tower::Service;
use tower_conn_retry::{CloneRequest, Retry, RetryPolicy};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

type Body = Full<Bytes>;

/// A URI with a query, 5 headers, a small body.
fn realistic_request() -> Request<Body> {
    Request::post("http://127.0.0.1:8080/v1/orders?customer=4711&expand=items")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "tower-conn-retry-test/0.1")
        .header("x-request-id", "6f1c2a0e-8b7d-4c3e-9a51-2f0d9e7b1c44")
        .body(Full::new(Bytes::from_static(b"{\"item\":\"widget\"}")))
        .unwrap()
}

/// Answers at once, allocating nothing.
#[derive(Clone)]
struct Immediate;

impl Service<Request<Body>> for Immediate {
    type Response = Response<Body>;
    type Error = io::Error;
    type Future = Ready<Result<Response<Body>, io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        ready(Ok(Response::new(Body::default())))
    }
}

fn call_now<S: Service<Request<Body>>>(service: &mut S, request: Request<Body>) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let future = pin!(service.call(request));
    assert!(matches!(future.poll(&mut cx), Poll::Ready(Ok(_))));
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
    // Warm up anything lazily allocated once per process.
    call_now(&mut bare, realistic_request());
    call_now(&mut layered, realistic_request());
    call_now(&mut retry_off, realistic_request());

    let copy = allocations_of(realistic_request, |request| {
        let copy = request.clone_request();
        drop((request, copy));
    });
    let bare = allocations_of(realistic_request, |request| call_now(&mut bare, request));
    let layered = allocations_of(realistic_request, |request| call_now(&mut layered, request));
    let retry_off = allocations_of(realistic_request, |request| {
        call_now(&mut retry_off, request)
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
}
