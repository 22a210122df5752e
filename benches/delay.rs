//! The cost of computing one backoff pause, for each jitter kind.
//!
//! ```text
//! cargo bench --bench delay
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tower_conn_retry::{Backoff, Jitter};

fn delay(c: &mut Criterion) {
    let mut group = c.benchmark_group("delay");
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let backoff = Backoff::exponential(Duration::from_millis(50))
            .max_delay(Duration::from_secs(10))
            .jitter(jitter);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut retry = 0u32;
        let mut previous = backoff.base();
        group.bench_function(format!("{jitter:?}"), |b| {
            b.iter(|| {
                // Walk retries 0..16 so both the growing and the capped
                // branches are measured.
                retry = (retry + 1) & 15;
                previous = black_box(&backoff).delay(black_box(retry), previous, &mut rng);
                previous
            })
        });
    }
    group.finish();
}

criterion_group!(benches, delay);
criterion_main!(benches);
