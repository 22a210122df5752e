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
    // Sixteen pauses from each new iterator: the growing and the capped.
    let mut last = b.base();
    for seed in 0..62_500u64 {
        for pause in black_box(b).delays(seed).take(16) {
            last = black_box(pause);
        }
    }
    black_box(last);
}
