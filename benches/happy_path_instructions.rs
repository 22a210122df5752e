//! Instructions of 100,000 happy-path calls, for callgrind: through the
//! bare inner service, this layer, and `tower::retry` (the same requests
//! as `benches/happy_path.rs`):
//!
//! ```text
//! cargo bench --no-run --bench happy_path_instructions
//! valgrind --tool=callgrind target/release/deps/happy_path_instructions-* bare
//! valgrind --tool=callgrind target/release/deps/happy_path_instructions-* ours   # the defaults: a budget per authority
//! valgrind --tool=callgrind target/release/deps/happy_path_instructions-* tower
//! valgrind --tool=callgrind target/release/deps/happy_path_instructions-* combined_post  # idempotent_only
//! valgrind --tool=callgrind target/release/deps/happy_path_instructions-* combined_get
//! valgrind --tool=callgrind target/release/deps/happy_path_instructions-* bare_get
//! valgrind --tool=callgrind target/release/deps/happy_path_instructions-* ours_no_copy   # max_retries(0)
//! valgrind --tool=callgrind target/release/deps/happy_path_instructions-* tower_no_copy  # never clones
//! valgrind --tool=callgrind target/release/deps/happy_path_instructions-* tower_arc      # policy state in an Arc
//! valgrind --tool=callgrind target/release/deps/happy_path_instructions-* ours_no_budget # without the default budget (no_budget())
//! target/release/deps/happy_path_instructions-* size   # the futures' sizes
//! ```
//!
//! Without an argument (as under `cargo bench`) it does nothing.

mod common;
use common::*;
fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let n = 100_000;
    if which == "size" {
        use tower::Service;
        let mut ours =
            tower_conn_retry::Retry::new(Immediate, tower_conn_retry::RetryPolicy::default());
        let mut towers = tower::retry::Retry::new(TowerUpTo(3), Immediate);
        let f1 = ours.call(realistic_request());
        let f2 = towers.call(realistic_request());
        println!(
            "ours {} tower {}",
            std::mem::size_of_val(&f1),
            std::mem::size_of_val(&f2)
        );
        return;
    }
    let idempotent_only = || {
        let policy = tower_conn_retry::RetryPolicy::builder()
            .idempotent_only()
            .build()
            .unwrap();
        tower_conn_retry::Retry::new(Immediate, policy)
    };
    match which.as_str() {
        "ours" => calls(
            n,
            &mut tower_conn_retry::Retry::new(Immediate, tower_conn_retry::RetryPolicy::default()),
            realistic_request,
        ),
        "tower" => calls(
            n,
            &mut tower::retry::Retry::new(TowerUpTo(3), Immediate),
            realistic_request,
        ),
        // The client half of the combined placement (`idempotent_only`):
        // the realistic request is a POST, not copied; as a GET it is.
        "combined_post" => calls(n, &mut idempotent_only(), realistic_request),
        "combined_get" => calls(n, &mut idempotent_only(), realistic_get_request),
        "bare_get" => calls(n, &mut Immediate, realistic_get_request),
        "bare" => calls(n, &mut Immediate, realistic_request),
        // The machinery alone: nothing copied.
        "ours_no_copy" => {
            let policy = tower_conn_retry::RetryPolicy::builder()
                .max_retries(0)
                .build()
                .unwrap();
            calls(
                n,
                &mut tower_conn_retry::Retry::new(Immediate, policy),
                realistic_request,
            )
        }
        "tower_no_copy" => calls(
            n,
            &mut tower::retry::Retry::new(TowerNeverClones, Immediate),
            realistic_request,
        ),
        "tower_arc" => calls(
            n,
            &mut tower::retry::Retry::new(TowerUpToShared::new(3), Immediate),
            realistic_request,
        ),
        // The defaults before 0.2: no budget.
        "ours_no_budget" => {
            let policy = tower_conn_retry::RetryPolicy::builder()
                .no_budget()
                .build()
                .unwrap();
            calls(
                n,
                &mut tower_conn_retry::Retry::new(Immediate, policy),
                realistic_request,
            )
        }
        _ => {}
    }
}

/// `n` happy calls through `service`, each with a request from `make`.
fn calls<S>(n: usize, service: &mut S, make: fn() -> http::Request<Body>)
where
    S: tower::Service<http::Request<Body>>,
    S::Error: std::fmt::Debug,
{
    for _ in 0..n {
        std::hint::black_box(call_now(service, make()).unwrap());
    }
}
