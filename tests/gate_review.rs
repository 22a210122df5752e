//! Found by adversarial reviews of the gate's Open / Down / Recovering
//! design: each test states a property the docs claim. The first two
//! failed before their fix; the last pins what shrinks a recovering
//! window, whose docs were wrong (the behaviour was kept: see
//! `gate::CONGESTED_AFTER` for what the alternatives measured).

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::join_all;
use http::{Request, Response};
use tokio::time::{sleep, Instant};
use tower::{service_fn, Service};
use tower_conn_retry::{Backoff, BudgetScope, Jitter, Retry, RetryBudget, RetryPolicy};

fn get(id: usize) -> Request<String> {
    Request::get("http://127.0.0.1:8080/")
        .header("x-id", id.to_string())
        .body(id.to_string())
        .unwrap()
}

/// The gate's phase, read from the policy's `Debug` (a shared scope prints
/// its one gate).
fn phase<C: std::fmt::Debug>(policy: &RetryPolicy<C>) -> &'static str {
    let debug = format!("{policy:?}");
    if debug.contains("phase: Down") {
        "down"
    } else if debug.contains("phase: Recovering") {
        "recovering"
    } else if debug.contains("phase: Open") {
        "open"
    } else {
        panic!("no phase in {debug}")
    }
}

/// A recovering window's `threshold` (infinite until a failure halved it),
/// read from the policy's `Debug`; `None` when the gate is not recovering.
fn window_threshold<C: std::fmt::Debug>(policy: &RetryPolicy<C>) -> Option<f64> {
    let debug = format!("{policy:?}");
    let rest = debug.split(" threshold: ").nth(1)?;
    Some(rest.split([',', ' ']).next()?.parse().unwrap())
}

fn shared() -> RetryBudget {
    RetryBudget::default().scope(BudgetScope::Shared)
}

/// A probe that was in flight when the authority answered (a request
/// sent while down was answered: Down -> Recovering -> Open at once) ends
/// later with a failed connect, and `turn_ended`'s `(Phase::Open, _)` arm
/// marks the open authority down on that one stale failure: no DOWN_AFTER,
/// no 3-in-4 rule, right after an answer. Nothing sends it back up until a
/// request sent while down is answered.
#[tokio::test(start_paused = true)]
async fn one_stale_probe_failure_does_not_mark_an_answering_authority_down() {
    let policy = RetryPolicy::builder()
        .max_retries(5)
        .backoff(
            Backoff::exponential(Duration::from_millis(10))
                .max_delay(Duration::from_millis(10))
                .jitter(Jitter::None),
        )
        .budget(shared())
        .build()
        .unwrap();
    // Five refusals at once, a sixth after 1 s (a slow connect), then answers.
    let script: Arc<Mutex<VecDeque<Option<Duration>>>> = Arc::new(Mutex::new(
        [Some(Duration::ZERO); 5]
            .into_iter()
            .chain([Some(Duration::from_secs(1))])
            .collect(),
    ));
    let inner = service_fn(move |_: Request<String>| {
        let step = script.lock().unwrap().pop_front().flatten();
        async move {
            match step {
                Some(delay) => {
                    sleep(delay).await;
                    Err(io::Error::from(ErrorKind::ConnectionRefused))
                }
                None => Ok::<_, io::Error>(Response::new(String::new())),
            }
        }
    });
    let service = Retry::new(inner, policy.clone());
    let a = service.clone().oneshot(get(0));
    let check = async {
        sleep(Duration::from_millis(200)).await;
        assert_eq!(phase(&policy), "down", "five refusals in a row: down");
        // Sent while down, answered: the authority is back.
        service.clone().oneshot(get(1)).await.unwrap();
        let after_answer = phase(&policy);
        sleep(Duration::from_secs(2)).await;
        (after_answer, phase(&policy))
    };
    let (a, (after_answer, later)) = tokio::join!(a, check);
    assert!(a.is_err());
    assert_eq!(after_answer, "open");
    assert_eq!(
        later, "open",
        "one failed connect of a probe sent before the answer marked it down again"
    );
}

/// The docs say probes go at most 1 s apart (they said 250 ms while the
/// code said 1 s): with a 10 s backoff cap, 20 waiting retries to a dead
/// port see probes at most 1 s apart.
#[tokio::test(start_paused = true)]
async fn probes_of_a_dead_authority_are_at_most_1_s_apart() {
    let policy = RetryPolicy::builder()
        .max_retries(10)
        .backoff(
            Backoff::exponential(Duration::from_millis(100)).max_delay(Duration::from_secs(10)),
        )
        .build()
        .unwrap();
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let recorded = times.clone();
    let inner = service_fn(move |_: Request<String>| {
        recorded.lock().unwrap().push(Instant::now());
        async { Err::<Response<String>, _>(io::Error::from(ErrorKind::ConnectionRefused)) }
    });
    let service = Retry::new(inner, policy);
    join_all((0..20).map(|id| service.clone().oneshot(get(id)))).await;
    let times = times.lock().unwrap();
    let start = times[0];
    // The probes while requests still wait (the first 4.5 s of their 5 s).
    let probes: Vec<_> = times
        .iter()
        .filter(|t| **t - start > Duration::ZERO && **t - start < Duration::from_millis(4500))
        .collect();
    let widest = probes.windows(2).map(|w| *w[1] - *w[0]).max().unwrap();
    assert!(
        widest <= Duration::from_millis(1010),
        "probes {widest:?} apart"
    );
}

/// Refuses every connect while `down`; refuses the next `refuse_next`
/// attempts; otherwise answers after `answer_after`.
#[derive(Clone)]
struct Switch {
    down: Arc<AtomicBool>,
    refuse_next: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    answer_after: Duration,
}

impl Switch {
    fn new(answer_after: Duration) -> Self {
        Self {
            down: Arc::new(AtomicBool::new(true)),
            refuse_next: Arc::default(),
            refused: Arc::default(),
            answer_after,
        }
    }
}

impl Service<Request<String>> for Switch {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Response<String>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        let refuse = self.down.load(Ordering::SeqCst)
            || self
                .refuse_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if refuse {
            self.refused.fetch_add(1, Ordering::SeqCst);
        }
        let answer_after = self.answer_after;
        Box::pin(async move {
            if refuse {
                return Err(io::Error::from(ErrorKind::ConnectionRefused));
            }
            sleep(answer_after).await;
            Ok(Response::new(String::new()))
        })
    }
}

/// One failed released retry is chance: the window keeps its size (when
/// a released retry's failed connect was counted once more, with 2 to
/// shrink, it halved). Two more with no answer between them are
/// congestion: it halves. (That two alone halve it, after an answer, is
/// read from the code, not pinned here: the window's answers arrive
/// between its releases, and no scenario found kept them apart.)
#[tokio::test(start_paused = true)]
async fn one_failed_released_retry_is_chance_and_three_in_a_row_halve_the_window() {
    let policy = RetryPolicy::builder()
        .max_retries(50)
        .backoff(
            Backoff::exponential(Duration::from_millis(10))
                .factor(1.0)
                .jitter(Jitter::None),
        )
        .budget(
            RetryBudget::default()
                .scope(BudgetScope::Shared)
                .min_per_second(100)
                .max_wait(Duration::from_secs(60)),
        )
        .build()
        .unwrap();
    let upstream = Switch::new(Duration::from_millis(50));
    let service = Retry::new(upstream.clone(), policy.clone());
    let refuse_next = |n: usize| {
        let upstream = upstream.clone();
        async move {
            let refused = upstream.refused.load(Ordering::SeqCst);
            upstream.refuse_next.store(n, Ordering::SeqCst);
            while upstream.refused.load(Ordering::SeqCst) < refused + n {
                sleep(Duration::from_millis(1)).await;
            }
        }
    };
    let scenario = async {
        let requests: Vec<_> = (0..12)
            .map(|id| tokio::spawn(tower::ServiceExt::oneshot(service.clone(), get(id))))
            .collect();
        sleep(Duration::from_millis(200)).await;
        assert_eq!(phase(&policy), "down", "twelve refusals: down");
        // The authority answers: the next probe's answer (50 ms) begins a
        // recovery.
        upstream.down.store(false, Ordering::SeqCst);
        while phase(&policy) != "recovering" {
            sleep(Duration::from_millis(1)).await;
        }
        // Its first window (5: the floor's 100/s over the probe's 50 ms)
        // is released at once; no failure has halved it yet.
        assert_eq!(window_threshold(&policy), Some(f64::INFINITY));
        // The next attempt released as the first window's answers come is
        // refused, and nothing else fails.
        refuse_next(1).await;
        let after_one = (
            phase(&policy),
            window_threshold(&policy),
            format!("{policy:?}"),
        );
        // Then the next two, with no answer since the first.
        refuse_next(2).await;
        let after_three = (
            phase(&policy),
            window_threshold(&policy),
            format!("{policy:?}"),
        );
        for request in requests {
            let answered = request.await.expect("no panic");
            assert!(answered.is_ok(), "every request is answered: {answered:?}");
        }
        (after_one, after_three)
    };
    let ((phase_one, threshold, debug), (phase_three, threshold_three, debug_three)) =
        tokio::time::timeout(Duration::from_secs(120), scenario)
            .await
            .expect("the scenario ends");
    assert_eq!(phase_one, "recovering", "{debug}");
    assert_eq!(
        threshold,
        Some(f64::INFINITY),
        "one failed connect of a released retry halved the window: {debug}"
    );
    assert_eq!(phase_three, "recovering", "{debug_three}");
    let halved = threshold_three.expect("a recovering window has a threshold");
    assert!(
        halved.is_finite(),
        "three failed connects with no answer between them left the window whole: {debug_three}"
    );
}
