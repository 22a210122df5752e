//! Edges of the per-authority budget and its gate, found by an adversarial
//! review: each test failed before the fix (see the commit messages).

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use http::{Request, Response};
use tower::Service;
use tower_conn_retry::{Backoff, ErrorClass, Retry, RetryBudget, RetryPolicy};

mod support;

use support::upstream::Upstream;

/// Fails the first attempt of every request whose body is "fail" (at
/// once, with an error the tests classify as not processed), answers
/// everything else; counts attempts.
#[derive(Clone, Default)]
struct Scripted {
    seen: Arc<Mutex<HashSet<String>>>,
    attempts: Arc<AtomicUsize>,
    always_fail: bool,
}

impl Service<Request<String>> for Scripted {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Response<String>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let id = request
            .headers()
            .get("x-id")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let fail =
            self.always_fail || (request.body() == "fail" && self.seen.lock().unwrap().insert(id));
        Box::pin(async move {
            if fail {
                Err(io::Error::other("refused stream"))
            } else {
                Ok(Response::new(String::new()))
            }
        })
    }
}

fn request(authority: &str, id: usize, body: &str) -> Request<String> {
    Request::get(format!("http://{authority}/"))
        .header("x-id", id.to_string())
        .body(body.to_string())
        .unwrap()
}

/// Every error is a lost connection: retried for a GET, charged to the
/// budget, and it does not mark the authority down (that is `Connect`).
fn connection_lost(_: &io::Error) -> ErrorClass {
    ErrorClass::ConnectionLost
}

/// A ratio-only budget (`min_per_second(0)`, which `build()` accepts): one
/// retry that asks while the window holds no request makes `pace()` return
/// `Duration::MAX`; `Gate::take_turn` then saturates `next_turn_ns` to
/// `u64::MAX`, which nothing ever lowers, so every later retry to that
/// authority finds its turn ~584 years away and gives up (`Waited`) at
/// once, however much room the budget has.
#[tokio::test(start_paused = true)]
async fn a_ratio_only_budget_is_not_wedged_by_one_retry_in_a_quiet_window() {
    let upstream = Scripted::default();
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .budget(RetryBudget::default().ratio(0.5).min_per_second(0))
        .classifier(connection_lost)
        .build()
        .unwrap();
    let mut service = Retry::new(upstream.clone(), policy);

    // A quiet spell: one request, then nothing for two windows.
    service
        .ready()
        .await
        .unwrap()
        .call(request("a.test", 0, ""))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(25)).await;
    // A retry now finds no request in the window: refused, rightly.
    let refused = service
        .ready()
        .await
        .unwrap()
        .call(request("a.test", 1, "fail"))
        .await;
    assert!(refused.is_err());

    // Traffic comes back: 100 requests, so the ratio allows 50 retries.
    for id in 2..102 {
        service
            .ready()
            .await
            .unwrap()
            .call(request("a.test", id, ""))
            .await
            .unwrap();
    }
    let retried = service
        .ready()
        .await
        .unwrap()
        .call(request("a.test", 200, "fail"))
        .await;
    assert!(
        retried.is_ok(),
        "with 100 requests in the window and a ratio of 0.5, a retry must go: {retried:?}"
    );
}

/// `evict_one` may forget an authority that a service still caches (no
/// request waits there). That service then keeps depositing its requests
/// into the orphaned state, while its retries draw on the new state the
/// table makes for the same authority (`Resend::next` looks it up again):
/// the new state never sees those requests, so the busy authority is held
/// to the floor (10 retries per window) instead of 20% of its traffic.
#[tokio::test(start_paused = true)]
async fn an_evicted_authority_still_cached_by_a_service_keeps_counting_its_requests() {
    let upstream = Scripted::default();
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .budget(RetryBudget::default().max_authorities(1).ratio(1.0))
        .classifier(connection_lost)
        .build()
        .unwrap();
    let mut to_a = Retry::new(upstream.clone(), policy);
    let mut to_b = to_a.clone();
    to_a.ready()
        .await
        .unwrap()
        .call(request("a.test", 0, ""))
        .await
        .unwrap();
    // Another clone calls another authority: the table (cap 1) forgets a.test,
    // which `to_a` still caches.
    to_b.ready()
        .await
        .unwrap()
        .call(request("b.test", 0, ""))
        .await
        .unwrap();
    // `to_a` carries on: 200 requests to a.test.
    for id in 1..=200 {
        to_a.ready()
            .await
            .unwrap()
            .call(request("a.test", id, ""))
            .await
            .unwrap();
    }
    // Then 40 of its requests fail once: with 240 requests in the window and
    // a ratio of 1.0, all 40 retries have room (the floor alone: 10).
    let mut pending = FuturesUnordered::new();
    for id in 1000..1040 {
        let mut svc = to_a.clone();
        pending.push(async move {
            svc.ready()
                .await
                .unwrap()
                .call(request("a.test", id, "fail"))
                .await
        });
    }
    let mut failed = 0;
    while let Some(result) = pending.next().await {
        failed += usize::from(result.is_err());
    }
    assert_eq!(
        failed, 0,
        "{failed} of 40 retries refused: the cached, evicted state took the requests"
    );
}

/// `ResponseFuture::poll` yields after `IMMEDIATE_RETRIES_PER_POLL` retries
/// made without a pause, but only for `Next::Now`, i.e. without a budget.
/// Under a budget every retry is `Next::Later` through `gate::admit`, which
/// is ready at once when the pace is zero and the budget has room
/// (`min_per_second(u32::MAX)`, accepted by `build()`): one `poll` then
/// makes every retry of `max_retries` back to back and never yields.
#[tokio::test(start_paused = true)]
async fn retries_admitted_at_once_still_yield_to_the_scheduler() {
    let upstream = Scripted {
        always_fail: true,
        ..Scripted::default()
    };
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .max_retries(100_000)
        .budget(RetryBudget::default().min_per_second(u32::MAX))
        .classifier(connection_lost)
        .build()
        .unwrap();
    let mut service = Retry::new(upstream.clone(), policy);
    let mut future = Box::pin(
        service
            .ready()
            .await
            .unwrap()
            .call(request("a.test", 0, "")),
    );
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let _ = future.as_mut().poll(&mut cx);
    let attempts = upstream.attempts.load(Ordering::SeqCst);
    assert!(
        attempts <= 64,
        "one poll made {attempts} attempts without yielding (no-budget path yields after 32)"
    );
}

/// An authority whose connects failed is evicted from the table while its
/// retries are still in their backoff pause (they hold its state in their
/// `Admit` future but no place among the waiting, so `evict_one` takes it).
/// Their retries then wait at the orphaned gate, which is down; the first
/// probe is answered, but `Resend::answered` tells the *table's* state for
/// that authority (`scopes.state_of`), not the one the retries wait on. The
/// orphaned gate stayed down for ever: its waiters went one per probe
/// interval (growing to 1 s) and the rest gave up at `max_wait`, though the
/// server answered every attempt. (Now a state in use is never evicted, and
/// a request answers the state it retried through.)
#[tokio::test(start_paused = true)]
async fn retries_of_an_evicted_down_authority_are_released_when_it_answers() {
    let upstream = Upstream::down_between(Duration::ZERO, Duration::from_millis(50));
    let policy = RetryPolicy::builder()
        .backoff(
            Backoff::exponential(Duration::from_millis(100))
                .factor(1.0)
                .jitter(tower_conn_retry::Jitter::None),
        )
        .budget(
            RetryBudget::default()
                .max_authorities(1)
                .min_per_second(100),
        )
        .build()
        .unwrap();
    let service = Retry::new(upstream.clone(), policy);
    // 20 requests to a.test fail to connect at once and pause 100 ms.
    let mut pending = FuturesUnordered::new();
    for id in 0..20 {
        let mut svc = service.clone();
        pending.push(Box::pin(async move {
            svc.ready()
                .await
                .unwrap()
                .call(request("a.test", id, ""))
                .await
        })
            as Pin<Box<dyn Future<Output = io::Result<Response<String>>> + Send>>);
    }
    // Drive them to their pause.
    tokio::select! {
        _ = pending.next() => panic!("nothing can end yet"),
        _ = tokio::time::sleep(Duration::from_millis(10)) => {}
    }
    // Meanwhile another authority is called: the table (cap 1) forgets
    // a.test, which has no request waiting at its gate yet.
    let mut other = service.clone();
    other
        .ready()
        .await
        .unwrap()
        .call(request("b.test", 0, ""))
        .await
        .unwrap();
    // a.test answers from 50 ms on; the retries go at 100 ms.
    let started = tokio::time::Instant::now();
    let mut failed = 0;
    while let Some(result) = pending.next().await {
        failed += usize::from(result.is_err());
    }
    assert_eq!(
        failed,
        0,
        "{failed} of 20 requests failed though a.test answered every attempt from 50 ms on \
         (all ended after {:?})",
        started.elapsed()
    );
}

/// a.test refuses every connect; b.test resets the first attempt of each
/// request (a GET: `ConnectionLost`, retried) and answers the retry.
#[derive(Clone, Default)]
struct TwoHosts {
    seen: Arc<Mutex<HashSet<String>>>,
}

impl Service<Request<String>> for TwoHosts {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Response<String>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let host = request.uri().host().unwrap().to_string();
        let id = request.headers()["x-id"].to_str().unwrap().to_string();
        let result = if host == "a.test" {
            Err(io::Error::from(io::ErrorKind::ConnectionRefused))
        } else if self.seen.lock().unwrap().insert(id) {
            Err(io::Error::from(io::ErrorKind::ConnectionReset))
        } else {
            Ok(Response::new(String::new()))
        };
        Box::pin(async move { result })
    }
}

/// Per authority (the default), a dead a.test does not hold back a healthy
/// b.test's retries. `BudgetScope::Shared` is one budget *and one gate* for
/// every request, as documented: there a dead a.test marks the gate down
/// and b.test's retries wait for a probe turn (at intervals growing to
/// 1 s, then the pace): delayed, never failed.
#[tokio::test(start_paused = true)]
async fn a_dead_authority_does_not_hold_back_a_healthy_ones_retries_unless_shared() {
    for scope in [
        tower_conn_retry::BudgetScope::PerAuthority,
        tower_conn_retry::BudgetScope::Shared,
    ] {
        let (failed, worst) = healthy_retries_beside_a_dead_authority(scope).await;
        let bound = match scope {
            tower_conn_retry::BudgetScope::Shared => Duration::from_millis(1_500),
            _ => Duration::from_millis(100),
        };
        assert!(
            failed == 0 && worst <= bound,
            "{scope:?}: b.test's retries (backoff 10 ms): {failed} of 10 failed, the slowest took {worst:?}"
        );
    }
}

/// Ten GETs to b.test, each reset once, while a.test is down and called
/// every 50 ms: how many failed, and the slowest.
async fn healthy_retries_beside_a_dead_authority(
    scope: tower_conn_retry::BudgetScope,
) -> (usize, Duration) {
    let policy = RetryPolicy::builder()
        .backoff(Backoff::exponential(Duration::from_millis(10)))
        .budget(RetryBudget::default().scope(scope).min_per_second(100))
        .build()
        .unwrap();
    let service = Retry::new(TwoHosts::default(), policy);
    let to_b = service.clone();
    // a.test is called every 50 ms and is down.
    let background = tokio::spawn(async move {
        let mut pending = FuturesUnordered::new();
        for id in 0..400 {
            let mut svc = service.clone();
            pending.push(async move {
                let _ = svc
                    .ready()
                    .await
                    .unwrap()
                    .call(request("a.test", id, ""))
                    .await;
            });
            let pause = tokio::time::sleep(Duration::from_millis(50));
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    _ = &mut pause => break,
                    Some(()) = pending.next() => {}
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Ten GETs to b.test, one after another, each reset once.
    let mut worst = Duration::ZERO;
    let mut failed = 0;
    for id in 0..10 {
        let mut to_b = to_b.clone();
        let started = tokio::time::Instant::now();
        let result = to_b
            .ready()
            .await
            .unwrap()
            .call(request("b.test", 1000 + id, ""))
            .await;
        failed += usize::from(result.is_err());
        worst = worst.max(started.elapsed());
    }
    background.abort();
    (failed, worst)
}

/// Refuses the first `down` connects, then fails the next `poll_ready`
/// once (the service's own error, returned, not retried), then answers.
#[derive(Clone)]
struct NotReadyOnce {
    calls: Arc<AtomicUsize>,
    failed_ready: Arc<std::sync::atomic::AtomicBool>,
    down: usize,
}

impl Service<Request<String>> for NotReadyOnce {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Response<String>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.calls.load(Ordering::SeqCst) >= self.down
            && !self.failed_ready.swap(true, Ordering::SeqCst)
        {
            return Poll::Ready(Err(io::Error::other("not ready")));
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let down = call < self.down;
        Box::pin(async move {
            if down {
                Err(io::Error::from(io::ErrorKind::ConnectionRefused))
            } else {
                Ok(Response::new(String::new()))
            }
        })
    }
}

/// The gate lets one probe go at a time while an authority is down. When
/// the probe's `poll_ready` failed, the future returned the service's error
/// but kept the probe's turn until it was dropped, and a caller that keeps
/// finished futures (here, all of them until every one is done) held the
/// gate shut: the other requests waited their `max_wait` and gave up,
/// though the server answered. The turn now goes back at once.
#[tokio::test(start_paused = true)]
async fn a_probe_whose_service_was_not_ready_gives_its_turn_back_at_once() {
    let upstream = NotReadyOnce {
        calls: Arc::new(AtomicUsize::new(0)),
        failed_ready: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        down: 6,
    };
    let policy = RetryPolicy::builder()
        .backoff(Backoff::exponential(Duration::from_millis(10)))
        .max_retries(3)
        .budget(RetryBudget::default().max_wait(Duration::from_secs(2)))
        .build()
        .unwrap();
    let service = Retry::new(upstream.clone(), policy);
    let mut futures: Vec<_> = (0..6)
        .map(|id| Box::pin(service.clone().oneshot(request("a.test", id, ""))))
        .collect();
    // Every future is polled until all are done, and none is dropped
    // before then.
    let mut results: Vec<Option<io::Result<Response<String>>>> = (0..6).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (future, result) in futures.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                if let Poll::Ready(done) = future.as_mut().poll(cx) {
                    *result = Some(done);
                }
            }
        }
        if results.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    drop(futures);

    let errors: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.unwrap().err().map(|e| e.to_string()))
        .collect();
    assert_eq!(
        errors,
        ["not ready"],
        "only the probe that was not ready fails"
    );
}
