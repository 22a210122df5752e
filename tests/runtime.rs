//! The layer and its runtime: a bounded number of immediate retries per
//! poll, no panic where tokio's timers are off, and any `hyper::rt::Timer`.
#![cfg(feature = "hyper")]

mod support;

use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Context;
use std::time::Duration;

use http::{Method, Request};
use tower::{service_fn, Service};
use tower_conn_retry::{Backoff, Jitter, Retry, RetryPolicy};

use support::mock::{Mock, Outcome};

fn request() -> Request<String> {
    Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1/items")
        .body("payload".to_string())
        .unwrap()
}

/// A service refused at once, every time, and a count of its calls.
fn always_refused() -> (
    impl Service<Request<String>, Response = http::Response<String>, Error = io::Error> + Clone,
    Arc<AtomicUsize>,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let service = service_fn(move |_: Request<String>| {
        counter.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Err::<http::Response<String>, _>(io::Error::from(
            ErrorKind::ConnectionRefused,
        )))
    });
    (service, calls)
}

#[tokio::test]
async fn endless_immediate_retries_yield_to_the_scheduler() {
    let (inner, calls) = always_refused();
    let policy = RetryPolicy::builder()
        .max_retries(u32::MAX)
        .backoff(Backoff::none())
        .no_budget()
        .build()
        .unwrap();
    let mut service = Retry::new(inner, policy);
    service.ready().await.unwrap();
    let mut call = pin!(service.call(request()));

    // Each poll makes a bounded number of attempts, then yields with its
    // waker woken, so the task is polled again after the others ran.
    let woken = Arc::new(AtomicUsize::new(0));
    let waker = Arc::new(CountingWaker(woken.clone())).into();
    let mut cx = Context::from_waker(&waker);
    for round in 1..=3 {
        assert!(call.as_mut().poll(&mut cx).is_pending());
        // The first attempt, then 31 retries; then 32 more per poll.
        assert_eq!(calls.load(Ordering::SeqCst), 32 * round);
        assert_eq!(woken.load(Ordering::SeqCst), round);
    }
}

struct CountingWaker(Arc<AtomicUsize>);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn without_tokio_timers_a_retry_is_given_up_not_a_panic() {
    // A runtime built without `enable_time`: tokio's `sleep` would panic.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (inner, calls) = always_refused();
    let policy = RetryPolicy::builder()
        .backoff(Backoff::exponential(Duration::from_millis(10)))
        .build()
        .unwrap();
    let mut service = Retry::new(inner, policy);

    let result = runtime.block_on(async { service.ready().await?.call(request()).await });

    assert_eq!(result.unwrap_err().kind(), ErrorKind::ConnectionRefused);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no retry without a timer");
}

/// A `hyper::rt::Timer` that records the pauses it makes.
#[derive(Clone)]
struct CountingTimer {
    inner: hyper_util::rt::TokioTimer,
    pauses: Arc<Mutex<Vec<Duration>>>,
}

impl CountingTimer {
    fn new() -> Self {
        Self {
            inner: hyper_util::rt::TokioTimer::new(),
            pauses: Arc::default(),
        }
    }
}

impl hyper::rt::Timer for CountingTimer {
    fn sleep(&self, duration: Duration) -> std::pin::Pin<Box<dyn hyper::rt::Sleep>> {
        self.pauses.lock().unwrap().push(duration);
        self.inner.sleep(duration)
    }

    fn sleep_until(
        &self,
        deadline: std::time::Instant,
    ) -> std::pin::Pin<Box<dyn hyper::rt::Sleep>> {
        self.pauses
            .lock()
            .unwrap()
            .push(deadline.saturating_duration_since(std::time::Instant::now()));
        self.inner.sleep_until(deadline)
    }
}

/// `Backoff::delays(seed)` is documented as the exact pauses a policy
/// makes: the first request to retry draws the policy's seed itself, and
/// keeps one generator across its retries.
#[tokio::test(start_paused = true)]
async fn the_pauses_made_are_the_backoffs_delays_for_the_seed() {
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let timer = CountingTimer::new();
        let backoff = Backoff::exponential(Duration::from_millis(10))
            .max_delay(Duration::from_millis(300))
            .jitter(jitter);
        let policy = RetryPolicy::builder()
            .max_retries(6)
            .backoff(backoff)
            .jitter_seed(42)
            .no_budget()
            .timer(timer.clone())
            .build()
            .unwrap();
        let mock = Mock::new((0..6).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)));
        let mut service = Retry::new(mock, policy);

        let response = service
            .ready()
            .await
            .unwrap()
            .call(request())
            .await
            .unwrap();

        assert_eq!(response.body(), "attempt 7");
        let expected: Vec<Duration> = backoff.delays(42).take(6).collect();
        assert_eq!(*timer.pauses.lock().unwrap(), expected, "{jitter:?}");
    }
}

/// A request refused twice, then answered, through `policy` (3 retries,
/// 50 ms apart without jitter): its body and the time it took.
async fn twice_refused_then_answered(policy: RetryPolicy) -> (String, Duration) {
    let mock = Mock::new((0..2).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)));
    let mut service = Retry::new(mock, policy);
    let start = tokio::time::Instant::now();
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap();
    (response.into_body(), start.elapsed())
}

fn fifty_ms_apart() -> tower_conn_retry::RetryPolicyBuilder {
    RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::exponential(Duration::from_millis(50)).jitter(Jitter::None))
}

#[tokio::test(start_paused = true)]
async fn a_hyper_timer_makes_every_pause() {
    let timer = CountingTimer::new();
    let policy = fifty_ms_apart().timer(timer.clone()).build().unwrap();

    let (body, took) = twice_refused_then_answered(policy).await;

    assert_eq!(body, "attempt 3");
    assert_eq!(timer.pauses.lock().unwrap().len(), 2);
    assert_eq!(took, Duration::from_millis(150));
}

#[tokio::test(start_paused = true)]
async fn a_trusted_tokio_timer_makes_every_pause() {
    let policy = fifty_ms_apart().no_budget().tokio_timer().build().unwrap();

    let (body, took) = twice_refused_then_answered(policy).await;

    assert_eq!(body, "attempt 3");
    assert_eq!(took, Duration::from_millis(150));
}
