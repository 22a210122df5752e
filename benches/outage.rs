//! The CPU cost of the retry machinery through an outage: the simulation of
//! `examples/outage` (1,000 clients, a server down for 2 s and then
//! overloaded), timed for each jitter kind, without and with a budget.
//!
//! ```text
//! cargo bench --bench outage
//! ```

#[path = "../examples/outage/sim.rs"]
mod sim;

use criterion::{criterion_group, criterion_main, Criterion};

fn outage(c: &mut Criterion) {
    let mut group = c.benchmark_group("outage");
    group.sample_size(10);
    for (jitter, budget) in sim::scenarios() {
        let name = format!("{jitter:?}{}", if budget { "+budget" } else { "" });
        group.bench_function(name, |b| b.iter(|| sim::simulate(jitter, budget).attempts));
    }
    group.finish();
}

criterion_group!(benches, outage);
criterion_main!(benches);
