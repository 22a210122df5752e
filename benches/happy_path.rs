//! A request that succeeds at once, through the bare inner service, through
//! `tower_conn_retry::Retry`, and through `tower::retry::Retry` with an
//! equivalent policy. The inner service answers immediately, so the
//! differences are pure overhead.
//!
//! ```text
//! cargo bench --bench happy_path
//! ```

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use tower_conn_retry::{Retry, RetryPolicy};

use common::{call_now, realistic_request, Immediate, TowerUpTo};

fn happy_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("happy_path");

    let mut bare = Immediate;
    group.bench_function("bare", |b| {
        b.iter_batched(
            realistic_request,
            |request| call_now(&mut bare, black_box(request)),
            BatchSize::SmallInput,
        )
    });

    let mut ours = Retry::new(Immediate, RetryPolicy::default());
    group.bench_function("tower_conn_retry", |b| {
        b.iter_batched(
            realistic_request,
            |request| call_now(&mut ours, black_box(request)),
            BatchSize::SmallInput,
        )
    });

    let mut towers = tower::retry::Retry::new(TowerUpTo(3), Immediate);
    group.bench_function("tower_retry", |b| {
        b.iter_batched(
            realistic_request,
            |request| call_now(&mut towers, black_box(request)),
            BatchSize::SmallInput,
        )
    });

    group.finish();
}

criterion_group!(benches, happy_path);
criterion_main!(benches);
