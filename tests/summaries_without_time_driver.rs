//! A policy that never pauses (`Backoff::none()`, no budget) works on a
//! tokio runtime built without its time driver: its retries need no
//! timer. Its give-ups must not make tokio panic either: the summary's
//! timer task asked `tokio::time` for a `Sleep` on every give-up, a panic
//! the layer contains (in a `panic = "unwind"` build) but that the panic
//! hook still sees, once per failed request (an application's hook that
//! reports panics, or aborts, sees one per give-up).

use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicUsize, Ordering};

use tower::{service_fn, Service};
use tower_conn_retry::{Backoff, Retry, RetryPolicy};

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Twenty give-ups of a policy that never pauses, on a runtime without
/// its time driver; the panics (contained) the panic hook saw meanwhile.
fn twenty_give_ups(policy: RetryPolicy) -> usize {
    let before = PANICS.load(Ordering::SeqCst);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let refusing = service_fn(|_: http::Request<String>| async {
        Err::<http::Response<String>, _>(io::Error::from(ErrorKind::ConnectionRefused))
    });
    let mut service = Retry::new(refusing, policy);
    runtime.block_on(async {
        for _ in 0..20 {
            let request = http::Request::get("http://127.0.0.1:9/")
                .body(String::new())
                .unwrap();
            service
                .ready()
                .await
                .unwrap()
                .call(request)
                .await
                .unwrap_err();
        }
    });
    assert_eq!(service.stats().total.give_ups.retries_spent, 20);
    PANICS.load(Ordering::SeqCst) - before
}

/// One test, so the panic hook it sets counts its own panics only.
#[test]
fn give_ups_without_a_time_driver_panic_at_most_once_per_policy() {
    std::panic::set_hook(Box::new(|_| {
        PANICS.fetch_add(1, Ordering::SeqCst);
    }));
    let never_pausing = || {
        RetryPolicy::builder()
            .max_retries(1)
            .backoff(Backoff::none())
            .no_budget()
    };
    let default_timer = twenty_give_ups(never_pausing().build().unwrap());
    // `tokio_timer()` trusts the runtime with the retries' pauses (there
    // are none here); the summary's timer is still checked: it panicked
    // uncontained at the first give-up, failing the call's task.
    let tokio_timer = twenty_give_ups(never_pausing().tokio_timer().build().unwrap());
    let _ = std::panic::take_hook();
    assert!(
        default_timer <= 1,
        "{default_timer} panics (contained) for 20 give-ups"
    );
    assert!(
        tokio_timer <= 1,
        "{tokio_timer} panics (contained) for 20 give-ups under tokio_timer()"
    );
}
