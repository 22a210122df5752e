//! The cost of computing one backoff pause: each of our jitter kinds beside
//! backon's `ExponentialBuilder` (with jitter) and retry-policies'
//! `ExponentialBackoff` (full jitter), all with a 50 ms base, factor 2 and a
//! 10 s cap.
//!
//! ```text
//! cargo bench --bench delay
//! ```

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use retry_policies::RetryPolicy as _;
use tower_conn_retry::{Backoff, Jitter};

const BASE: Duration = Duration::from_millis(50);
const CAP: Duration = Duration::from_secs(10);

fn delay(c: &mut Criterion) {
    let mut group = c.benchmark_group("delay");
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let backoff = Backoff::exponential(BASE).max_delay(CAP).jitter(jitter);
        // The iterator runs the layer's own arithmetic and generator.
        let mut delays = black_box(backoff).delays(1);
        let mut retry = 0u32;
        group.bench_function(format!("tower_conn_retry/{jitter:?}"), |b| {
            b.iter(|| {
                // Walk retries 0..16, so both the growing and the capped
                // pauses are measured.
                retry = (retry + 1) & 15;
                if retry == 0 {
                    delays = black_box(backoff).delays(u64::from(retry));
                }
                delays.next()
            })
        });
    }

    let builder = backon::ExponentialBuilder::new()
        .with_min_delay(BASE)
        .with_max_delay(CAP)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times();
    let mut pauses = backon::BackoffBuilder::build(builder);
    let mut taken = 0u32;
    group.bench_function("backon/jitter", |b| {
        b.iter(|| {
            // A fresh iterator every 16 pauses, like the walk above.
            taken += 1;
            if taken & 15 == 0 {
                pauses = backon::BackoffBuilder::build(black_box(builder));
            }
            pauses.next()
        })
    });

    let policy = retry_policies::policies::ExponentialBackoff::builder()
        .retry_bounds(BASE, CAP)
        .jitter(retry_policies::Jitter::Full)
        .base(2)
        .build_with_max_retries(u32::MAX);
    let start = SystemTime::now();
    let mut retry = 0u32;
    group.bench_function("retry_policies/full", |b| {
        b.iter(|| {
            retry = (retry + 1) & 15;
            black_box(&policy).should_retry(start, black_box(retry))
        })
    });

    group.finish();
}

criterion_group!(benches, delay);
criterion_main!(benches);
