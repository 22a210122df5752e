//! The happy path in interleaved rounds, by thread CPU time: criterion's
//! separate benches drift against each other on a shared machine, so here
//! the variants alternate within each round, in a rotating order, and each
//! round gives a ratio to the bare service measured right beside it.
//!
//! ```text
//! cargo bench --bench happy_path_rounds
//! ```
//!
//! Variants: the bare inner service; this layer (default policy, which
//! copies the request and carries a budget per authority); `tower::retry`
//! with the idiomatic cloning policy; both with copying off
//! (`max_retries(0)` / a policy that never clones), which leaves the
//! machinery alone; this layer without a budget (`no_budget()`); and tower
//! with its policy's state shared through an `Arc`.
//! It prints, per variant, the median CPU time per call and the median of
//! the per-round overheads over bare, and the per-round CPU ratios of this
//! layer to tower's and of the defaults to the layer without a budget.

mod common;

use std::hint::black_box;
use std::time::Duration;

use cpu_time::ThreadTime;
use tower_conn_retry::{Retry, RetryPolicy};

use common::{
    call_now, median, per_round_ratio, realistic_request, Immediate, TowerNeverClones, TowerUpTo,
    TowerUpToShared,
};

const ROUNDS: usize = 41;
const CALLS: u32 = 20_000;

/// CPU time per call of `CALLS` calls through `run`.
fn time(mut run: impl FnMut()) -> Duration {
    let start = ThreadTime::now();
    for _ in 0..CALLS {
        run();
    }
    start.elapsed() / CALLS
}

fn main() {
    // Under `cargo test` (no `--bench`), do nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut bare = Immediate;
    let mut ours = Retry::new(Immediate, RetryPolicy::default());
    let mut towers = tower::retry::Retry::new(TowerUpTo(3), Immediate);
    let mut ours_no_copy = Retry::new(
        Immediate,
        RetryPolicy::builder().max_retries(0).build().unwrap(),
    );
    let mut towers_no_copy = tower::retry::Retry::new(TowerNeverClones, Immediate);
    let mut towers_shared = tower::retry::Retry::new(TowerUpToShared::new(3), Immediate);
    // The defaults before 0.2: no budget.
    let mut ours_no_budget = Retry::new(
        Immediate,
        RetryPolicy::builder().no_budget().build().unwrap(),
    );

    let names = [
        "bare",
        "ours",
        "tower",
        "ours_no_copy",
        "tower_no_copy",
        "ours_no_budget",
        "tower_arc",
    ];
    let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..ROUNDS {
        let mut times = [Duration::ZERO; 7];
        for k in 0..names.len() {
            let variant = (round + k) % names.len();
            times[variant] = match variant {
                0 => time(|| drop(black_box(call_now(&mut bare, realistic_request())))),
                1 => time(|| drop(black_box(call_now(&mut ours, realistic_request())))),
                2 => time(|| drop(black_box(call_now(&mut towers, realistic_request())))),
                3 => time(|| drop(black_box(call_now(&mut ours_no_copy, realistic_request())))),
                4 => time(|| {
                    drop(black_box(call_now(
                        &mut towers_no_copy,
                        realistic_request(),
                    )))
                }),
                5 => time(|| {
                    drop(black_box(call_now(
                        &mut ours_no_budget,
                        realistic_request(),
                    )))
                }),
                _ => time(|| drop(black_box(call_now(&mut towers_shared, realistic_request())))),
            };
        }
        for (variant, time) in times.iter().enumerate() {
            per_call[variant].push(time.as_secs_f64() * 1e9);
        }
    }

    let overhead = |variant: usize| -> Vec<f64> {
        (0..ROUNDS)
            .map(|round| per_call[variant][round] - per_call[0][round])
            .collect()
    };
    println!("happy_path_rounds: {ROUNDS} interleaved rounds of {CALLS} calls, thread CPU time");
    for (variant, name) in names.iter().enumerate() {
        println!(
            "  {name:<14} median {:7.1} ns/call   overhead over bare {:7.1} ns",
            median(per_call[variant].clone()),
            median(overhead(variant)),
        );
    }
    let ratio = |a: usize, b: usize| per_round_ratio(&per_call, a, b);
    println!(
        "  per-round CPU ratio ours / tower: {:.3} (with the copy), {:.3} (machinery alone)",
        ratio(1, 2),
        ratio(3, 4)
    );
    println!(
        "  per-round CPU ratio ours (with its budget) / ours without a budget: {:.3}",
        ratio(1, 5)
    );
    println!(
        "  per-round CPU ratio ours / tower with its policy state in an Arc: {:.3}",
        ratio(1, 6)
    );
}
