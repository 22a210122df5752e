//! Instructions per backoff pause, for callgrind, which counts repeatably
//! where wall-clock time on a shared machine does not:
//!
//! ```text
//! cargo bench --no-run --bench delay_instructions
//! valgrind --tool=callgrind target/release/deps/delay_instructions-* full
//! ```
//!
//! One million pauses of the given kind (`none`, `full`, `equal`, `dec`);
//! without an argument (as under `cargo bench`) it does nothing.

use rand::{rngs::SmallRng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;
use tower_conn_retry::{Backoff, Jitter};
fn main() {
    let jitter = match std::env::args().nth(1).as_deref() {
        Some("none") => Jitter::None,
        Some("full") => Jitter::Full,
        Some("equal") => Jitter::Equal,
        Some("dec") => Jitter::Decorrelated,
        _ => return,
    };
    let b = Backoff::exponential(Duration::from_millis(50))
        .max_delay(Duration::from_secs(10))
        .jitter(jitter);
    let mut rng = SmallRng::seed_from_u64(1);
    let mut prev = b.base();
    let mut retry = 0u32;
    for _ in 0..1_000_000 {
        retry = (retry + 1) & 15;
        prev = black_box(&b).delay(black_box(retry), prev, &mut rng);
    }
    black_box(prev);
}
