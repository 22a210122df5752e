//! The seconds after a server comes back, under the default budget and
//! gate, in paused time: saved requests go as fast as the server answers,
//! a lone request follows its own policy, turns are given back, and what
//! the budget can afford is never refused.

mod support;

use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::join_all;
use http::{Request, Response};
use tokio::time::Instant;
use tower::{Service, ServiceExt};
use tower_conn_retry::{Backoff, Classify, ErrorClass, Jitter, Retry, RetryBudget, RetryPolicy};

use support::mock::{Mock, Outcome};

/// The default policy, its jitter seeded: the same pauses on every run.
fn seeded_defaults() -> RetryPolicy {
    RetryPolicy::builder().jitter_seed(26).build().unwrap()
}

fn get(id: usize) -> Request<String> {
    Request::get("http://127.0.0.1:8080/")
        .header("x-id", id.to_string())
        .body(id.to_string())
        .unwrap()
}

/// A server that refuses every connect until `down_until`, then answers;
/// counts the attempts.
#[derive(Clone)]
struct DownUntil {
    down_until: Instant,
    attempts: Arc<AtomicUsize>,
}

impl DownUntil {
    fn new(down_for: Duration) -> Self {
        Self {
            down_until: Instant::now() + down_for,
            attempts: Arc::default(),
        }
    }
}

impl Service<Request<String>> for DownUntil {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let up = Instant::now() >= self.down_until;
        Box::pin(async move {
            if up {
                Ok(Response::new(String::new()))
            } else {
                Err(io::Error::from(ErrorKind::ConnectionRefused))
            }
        })
    }
}

/// A server that resets the first attempt of each request (told apart by
/// body) and answers the rest.
#[derive(Clone, Default)]
struct ResetsFirstAttempts(Arc<Mutex<std::collections::HashSet<String>>>);

impl Service<Request<String>> for ResetsFirstAttempts {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let first = self.0.lock().unwrap().insert(request.body().clone());
        Box::pin(async move {
            if first {
                Err(io::Error::from(ErrorKind::ConnectionReset))
            } else {
                Ok(Response::new(String::new()))
            }
        })
    }
}

/// Sends `count` GETs at once through `service`; returns how many were
/// answered and when the last one ended, from the start.
async fn concurrently<S>(service: S, count: usize) -> (usize, Duration)
where
    S: Service<Request<String>, Response = Response<String>> + Clone,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    let results = join_all((0..count).map(|id| {
        let service = service.clone();
        async move {
            let result = service.oneshot(get(id)).await;
            (result.is_ok(), start.elapsed())
        }
    }))
    .await;
    let answered = results.iter().filter(|(ok, _)| *ok).count();
    let last = results.iter().map(|(_, took)| *took).max().unwrap();
    (answered, last)
}

/// `max_wait(0)`: a retry that finds room in the budget goes. The deadline
/// of its wait was dated before its pause, and the timer (which tokio
/// rounds up to the millisecond) woke past it, so every retry was refused
/// (`waited`) with the budget's whole floor left: 0 of 5 answered.
#[tokio::test(start_paused = true)]
async fn max_wait_zero_still_lets_a_retry_with_room_go() {
    let policy = RetryPolicy::builder()
        .backoff(
            Backoff::exponential(Duration::from_micros(1500))
                .max_delay(Duration::from_millis(3))
                .jitter(Jitter::Full),
        )
        .budget(RetryBudget::default().max_wait(Duration::ZERO))
        .jitter_seed(7)
        .build()
        .unwrap();
    let service = Retry::new(ResetsFirstAttempts::default(), policy);

    let (answered, _) = concurrently(service, 5).await;

    assert_eq!(answered, 5);
}

/// Ten GETs reset once, on a quiet client: the budget's floor (10 per
/// window) affords every retry, and each goes after its own pause (at most
/// the 100 ms base), not one per pace.
#[tokio::test(start_paused = true)]
async fn a_quiet_clients_retries_the_floor_affords_go_after_their_own_pause() {
    let service = Retry::new(ResetsFirstAttempts::default(), seeded_defaults());

    let (answered, last) = concurrently(service, 10).await;

    assert_eq!(answered, 10);
    assert!(last <= Duration::from_millis(100), "{last:?}");
}

/// A lone request to a dead port follows its own policy exactly: all its
/// retries, at the pauses of `Backoff::delays(seed)`, however short the
/// cap. (The gate's probe interval grew to 1 s whatever the policy's cap:
/// 11 attempts in 5 s.)
#[tokio::test(start_paused = true)]
async fn a_lone_request_follows_its_own_backoff() {
    let backoff = Backoff::exponential(Duration::from_millis(1))
        .max_delay(Duration::from_millis(5))
        .jitter(Jitter::Decorrelated);
    let policy = RetryPolicy::builder()
        .max_retries(20)
        .backoff(backoff)
        .jitter_seed(42)
        .build()
        .unwrap();
    let mock = Mock::new((0..21).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)));
    let seen = mock.seen();
    let mut service = Retry::new(mock, policy);
    let start = Instant::now();

    let error = service
        .ready()
        .await
        .unwrap()
        .call(get(0))
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(seen.lock().unwrap().calls.len(), 21);
    // Each pause is tokio's sleep, which wakes at the next millisecond.
    let pauses: Duration = backoff.delays(42).take(20).sum();
    let took = start.elapsed();
    assert!(
        pauses <= took && took <= pauses + Duration::from_millis(20),
        "{took:?} for pauses of {pauses:?}"
    );
}

/// Requests one after another to a dead port, each alone: every one makes
/// all its retries (the gate kept the interval of the previous request's
/// probes: 11 attempts each for `max_retries(40)`).
#[tokio::test(start_paused = true)]
async fn requests_in_a_row_each_make_all_their_retries() {
    let policy = RetryPolicy::builder()
        .max_retries(40)
        .backoff(
            Backoff::exponential(Duration::from_millis(10))
                .max_delay(Duration::from_millis(100))
                .jitter(Jitter::Full),
        )
        .build()
        .unwrap();
    let dead = DownUntil::new(Duration::from_secs(3600));
    let mut service = Retry::new(dead.clone(), policy);

    for id in 0..25 {
        let before = dead.attempts.load(Ordering::SeqCst);
        let result = service.ready().await.unwrap().call(get(id)).await;
        assert!(result.is_err());
        assert_eq!(
            dead.attempts.load(Ordering::SeqCst) - before,
            41,
            "request {id}"
        );
    }
}

/// Ten concurrent requests across a 50 ms blip of refused connects: every
/// one is answered, the last within 0.4 s (the waiting retries go as soon
/// as a probe is answered, not one per pace).
#[tokio::test(start_paused = true)]
async fn a_blip_costs_a_quiet_client_moments() {
    let server = DownUntil::new(Duration::from_millis(50));
    let service = Retry::new(server, seeded_defaults());

    let (answered, last) = concurrently(service, 10).await;

    assert_eq!(answered, 10);
    assert!(last <= Duration::from_millis(400), "{last:?}");
}

/// A fresh client (the budget has little history), one request every
/// 5 ms for 1.5 s, the server down for the first second: the 200 requests
/// the outage caught are all answered, the last within 0.5 s of the
/// server's return (the first answers to new requests tell the gate it is
/// back), however little the budget's ratio affords, since a failed
/// connect never reached the server. (With no new requests after an
/// outage, the gate learns of the return from its next probe, at most the
/// probe interval, 1 s, later.)
#[tokio::test(start_paused = true)]
async fn the_retries_an_outage_held_go_as_soon_as_the_server_answers() {
    let server = DownUntil::new(Duration::from_secs(1));
    let policy = RetryPolicy::builder().jitter_seed(26).build().unwrap();
    let service = Retry::new(server.clone(), policy);

    let start = Instant::now();
    let arrivals = (0..300).map(|id| {
        let service = service.clone();
        async move {
            // One every 5 ms, through the outage and after it.
            let sent = Duration::from_millis(5) * id as u32;
            tokio::time::sleep(sent).await;
            let result = service.oneshot(get(id)).await;
            (result.is_ok(), sent, start.elapsed())
        }
    });
    let results = join_all(arrivals).await;

    assert!(results.iter().all(|(ok, _, _)| *ok));
    let last_caught = results
        .iter()
        .filter(|(_, sent, _)| *sent < Duration::from_secs(1))
        .map(|(_, _, done)| *done)
        .max()
        .unwrap();
    assert!(
        last_caught <= Duration::from_millis(1500),
        "the last request the outage caught was answered at {last_caught:?}"
    );
    // One probe at a time while it was down: far fewer than the 200 x 3
    // retries of a layer without a gate.
    let attempts = server.attempts.load(Ordering::SeqCst);
    assert!(attempts <= 300 + 200 + 20, "{attempts} attempts");
}

/// A server behind a network blackhole from `from` to `until`: a connect
/// made then times out after `connect_timeout` (its SYN is dropped, even
/// if the blackhole ends meanwhile); otherwise it answers.
#[derive(Clone)]
struct Blackholed {
    from: Instant,
    until: Instant,
    connect_timeout: Duration,
}

impl Service<Request<String>> for Blackholed {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        let now = Instant::now();
        let dropped = now >= self.from && now < self.until;
        let connect_timeout = self.connect_timeout;
        Box::pin(async move {
            if dropped {
                tokio::time::sleep(connect_timeout).await;
                Err(io::Error::from(ErrorKind::TimedOut))
            } else {
                Ok(Response::new(String::new()))
            }
        })
    }
}

/// A connector's errors: a timed-out connect is a failed connect and a
/// timeout, as the default classifier finds hyper-util's connect timeout
/// (`is_connect()` around an io `TimedOut`).
#[derive(Clone, Copy, Debug)]
struct ConnectorErrors;

impl<Req> Classify<io::Error, Req> for ConnectorErrors {
    fn classify(&self, error: &io::Error) -> ErrorClass {
        ErrorClass::of_connector_error(error)
    }

    fn is_timeout(&self, error: &io::Error) -> bool {
        error.kind() == ErrorKind::TimedOut
    }
}

/// The blackhole version of the test above (the outside suite's "1 s
/// network blackhole at 200 requests/s, 12 retries"): a fresh client, one
/// GET every 5 ms for 1.5 s, packets to the server dropped from 0.5 s to
/// 1.5 s, so connects time out after 100 ms. A timed-out connect's retry
/// is charged to the budget while the gate is open, but once the gate
/// holds the retries (the authority's connects fail), its probes and its
/// release by evidence pace them: the budget's ratio of the short history
/// (60 retries for 300 requests) must not refuse the backlog of retries
/// the gate lets go after the server answers again. Before, 130 to 146 of
/// the 300 were lost, as `budget` give-ups, after waiting 5 s for room.
#[tokio::test(start_paused = true)]
async fn the_retries_a_blackhole_held_are_not_refused_by_a_short_history() {
    let start = Instant::now();
    let server = Blackholed {
        from: start + Duration::from_millis(500),
        until: start + Duration::from_millis(1500),
        connect_timeout: Duration::from_millis(100),
    };
    let policy = RetryPolicy::builder()
        .max_retries(12)
        .jitter_seed(26)
        .classifier(ConnectorErrors)
        .build()
        .unwrap();
    let service = Retry::new(server, policy.clone());

    let arrivals = (0..300).map(|id| {
        let service = service.clone();
        async move {
            let sent = Duration::from_millis(5) * id as u32;
            tokio::time::sleep(sent).await;
            let result = service.oneshot(get(id)).await;
            (result.is_ok(), start.elapsed())
        }
    });
    let results = join_all(arrivals).await;

    let stats = policy.stats();
    let lost = results.iter().filter(|(ok, _)| !*ok).count();
    assert_eq!(lost, 0, "give-ups: {:?}", stats.total.give_ups);
    assert_eq!(stats.total.give_ups.total(), 0);
    let last = results.iter().map(|(_, done)| *done).max().unwrap();
    assert!(
        last <= Duration::from_millis(3000),
        "the last request was answered at {last:?}"
    );
}

/// A retry that took a turn at a recovering gate and was then dropped
/// gives the turn back: the gate opens once nothing is in flight, and a
/// GET reset once later goes after its own pause.
#[tokio::test(start_paused = true)]
async fn a_dropped_retry_gives_its_turn_back() {
    let server = DownUntil::new(Duration::from_millis(300));
    let policy = seeded_defaults();
    let service = Retry::new(server, policy.clone());

    // 50 requests caught by the outage, each dropped 350 ms in: some hold
    // turns (in flight) or wait at the gate then.
    let callers = (0..50).map(|id| {
        let service = service.clone();
        async move {
            let _ =
                tokio::time::timeout(Duration::from_millis(350), service.oneshot(get(id))).await;
        }
    });
    join_all(callers).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let resets = Retry::new(ResetsFirstAttempts::default(), policy);
    let (answered, last) = concurrently(resets, 1).await;
    assert_eq!(answered, 1);
    assert!(last <= Duration::from_millis(100), "{last:?}");
}
