//! Full round trips of a `hyper_util` Client to a hyper server on
//! 127.0.0.1, with and without the layer: one request at a time, and 64 in
//! flight. Nothing fails, so the layer should cost next to nothing.
//!
//! ```text
//! cargo bench --bench loopback
//! ```

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::future::join_all;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceExt};
use tower_conn_retry::{Retry, RetryPolicy};

use common::loopback::{request_to, start_server};
use common::Body;

const IN_FLIGHT: usize = 64;

async fn round_trip<S>(mut service: S, request: Request<Body>) -> Bytes
where
    S: Service<Request<Body>, Response = Response<Incoming>>,
    S::Error: std::fmt::Debug,
{
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    response.into_body().collect().await.unwrap().to_bytes()
}

fn loopback(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(start_server());
    let bare = runtime.block_on(async {
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(IN_FLIGHT)
            .build_http::<Body>()
    });
    let layered = Retry::new(bare.clone(), RetryPolicy::default());

    // Paired: every timed run of one variant is followed by an untimed run
    // of the other, so both see the same load, the same pool and the same
    // drift of a shared machine; only the order within a pair differs.
    let mut group = c.benchmark_group("loopback/sequential");
    group.throughput(Throughput::Elements(1));
    group.bench_function("bare", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            paired(
                iters,
                || round_trip(bare.clone(), request_to(addr)),
                || round_trip(layered.clone(), request_to(addr)),
            )
        })
    });
    group.bench_function("tower_conn_retry", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            paired(
                iters,
                || round_trip(layered.clone(), request_to(addr)),
                || round_trip(bare.clone(), request_to(addr)),
            )
        })
    });
    group.finish();

    let mut group = c.benchmark_group("loopback/in_flight_64");
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    group.bench_function("bare", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            paired(
                iters,
                || in_flight(&bare, addr),
                || in_flight(&layered, addr),
            )
        })
    });
    group.bench_function("tower_conn_retry", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            paired(
                iters,
                || in_flight(&layered, addr),
                || in_flight(&bare, addr),
            )
        })
    });
    group.finish();
}

/// The time of `iters` runs of `timed`, each followed by an untimed run of
/// `other`.
async fn paired<T, TF, O, OF>(iters: u64, mut timed: T, mut other: O) -> Duration
where
    T: FnMut() -> TF,
    TF: Future,
    O: FnMut() -> OF,
    OF: Future,
{
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        timed().await;
        total += start.elapsed();
        other().await;
    }
    total
}

/// `IN_FLIGHT` round trips at once, each on its own task.
async fn in_flight<S>(service: &S, addr: SocketAddr)
where
    S: Service<Request<Body>, Response = Response<Incoming>> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let tasks = (0..IN_FLIGHT).map(|_| tokio::spawn(round_trip(service.clone(), request_to(addr))));
    for result in join_all(tasks).await {
        result.expect("a round trip panicked");
    }
}

criterion_group!(benches, loopback);
criterion_main!(benches);
