//! A request whose first two attempts are refused and whose third succeeds,
//! with no pause (`Backoff::none()`), so the cost of the retry machinery
//! itself shows: classification, bookkeeping, copies, readiness.
//!
//! ```text
//! cargo bench --bench retry_path
//! ```

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use tower_conn_retry::{Backoff, Retry, RetryPolicy};

use common::{call_now, realistic_request, FailsThenAnswers, Immediate, TowerUpTo};

fn retry_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry_path");

    let mut bare = Immediate;
    group.bench_function("bare_success", |b| {
        b.iter_batched(
            realistic_request,
            |request| call_now(&mut bare, black_box(request)),
            BatchSize::SmallInput,
        )
    });

    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::none())
        .build()
        .unwrap();
    let mut ours = Retry::new(FailsThenAnswers::new(2), policy);
    group.bench_function("tower_conn_retry", |b| {
        b.iter_batched(
            realistic_request,
            |request| call_now(&mut ours, black_box(request)).expect("the third attempt answers"),
            BatchSize::SmallInput,
        )
    });

    let mut towers = tower::retry::Retry::new(TowerUpTo(3), FailsThenAnswers::new(2));
    group.bench_function("tower_retry", |b| {
        b.iter_batched(
            realistic_request,
            |request| call_now(&mut towers, black_box(request)).expect("the third attempt answers"),
            BatchSize::SmallInput,
        )
    });

    group.finish();
}

criterion_group!(benches, retry_path);
criterion_main!(benches);
