//! Retries that wait for an authority to come back (the default budget's
//! gate), in paused time against a service that refuses connects while
//! "down": they wait instead of failing, go at the budget's pace once it
//! answers, never hang past their bounds, and free their place when dropped.

use std::io::{self, ErrorKind};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use http::{Request, Response};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_conn_retry::{Backoff, RetryBudget, RetryLayer, RetryPolicy};

mod support;

use support::upstream::Upstream;

fn get() -> Request<String> {
    Request::get("http://upstream.test/")
        .body(String::new())
        .unwrap()
}

/// Sends a request every `every` for `for_how_long` (open loop: a request
/// does not wait for the one before), and returns how many were answered.
async fn open_loop<S>(service: S, every: Duration, for_how_long: Duration) -> (usize, usize)
where
    S: Service<Request<String>, Response = Response<String>, Error = io::Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut at = start;
    while at < start + for_how_long {
        tokio::time::sleep_until(at).await;
        let service = service.clone();
        tasks.push(tokio::spawn(async move { service.oneshot(get()).await }));
        at += every;
    }
    let sent = tasks.len();
    let mut answered = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            answered += 1;
        }
    }
    (sent, answered)
}

/// 100 requests a second for 13 s to an upstream that refuses connects
/// for `outage` from t = 10 s, through `policy`: (requests sent, answered,
/// attempts in all, attempts refused).
async fn through_an_outage(policy: RetryPolicy, outage: Duration) -> (usize, usize, usize, usize) {
    let down_from = Duration::from_secs(10);
    let upstream = Upstream::down_between(down_from, down_from + outage);
    let service = RetryLayer::new(policy).layer(upstream.clone());
    let (sent, answered) =
        open_loop(service, Duration::from_millis(10), Duration::from_secs(13)).await;
    let attempts = upstream.attempts();
    let refused = attempts.iter().filter(|(_, up)| !up).count();
    (sent, answered, attempts.len(), refused)
}

#[tokio::test(start_paused = true)]
async fn during_an_outage_retries_wait_and_the_requests_it_cost_are_answered() {
    // Backoff alone (pauses of at most 0.1 + 0.2 + 0.4 s) cannot outlast
    // these outages; waiting for the upstream can. The budget allows 20% of
    // the last 10 s (200 retries), released at that pace (20 a second).
    for (outage, at_least_answered) in [(500, 1300), (1000, 1290)] {
        let policy = RetryPolicy::builder().jitter_seed(7).build().unwrap();
        let (sent, answered, attempts, refused) =
            through_an_outage(policy, Duration::from_millis(outage)).await;
        assert_eq!(sent, 1300);
        // A 0.5 s outage costs nothing; of the 100 requests a 1 s outage
        // would cost, at least 90 are answered (the retries of the
        // outage's first moments can wait 5 s, which the pace takes to
        // release them all).
        assert!(
            answered >= at_least_answered,
            "{outage} ms outage: {answered} of {sent} answered"
        );
        // While down, only the requests arriving then and a few probes
        // reached the upstream: first attempts, and probes at growing
        // intervals.
        let arriving = outage as usize / 10;
        assert!(
            (arriving..=arriving + 10).contains(&refused),
            "{outage} ms outage: {refused} attempts were refused"
        );
        // The retries: one for each request the outage cost, and the probes.
        assert!(attempts <= sent + arriving + 10, "{attempts} attempts");
    }
}

#[tokio::test(start_paused = true)]
async fn without_the_budget_the_same_outage_loses_requests_and_storms() {
    // The contrast that shows the test above can fail: without a budget,
    // the retries lose most of what a 1 s outage costs, and triple the
    // attempts the upstream refuses.
    let policy = RetryPolicy::builder()
        .jitter_seed(7)
        .no_budget()
        .build()
        .unwrap();
    let (sent, answered, _, refused) = through_an_outage(policy, Duration::from_secs(1)).await;
    assert!(answered < sent - 50, "{answered} of {sent} answered");
    assert!(refused > 300, "{refused} attempts were refused");
}

#[tokio::test(start_paused = true)]
async fn waiting_retries_go_as_soon_as_the_upstream_answers() {
    // 200 requests over 2 s (100 a second) while the upstream is up, then
    // 100 more in the 1 s it is down.
    let upstream = Upstream::down_between(Duration::from_secs(2), Duration::from_secs(3));
    let policy = RetryPolicy::builder().jitter_seed(11).build().unwrap();
    let service = RetryLayer::new(policy).layer(upstream.clone());

    let (sent, answered) =
        open_loop(service, Duration::from_millis(10), Duration::from_secs(3)).await;

    // After the upstream is back, no new requests come: every attempt from
    // then on is a waiting retry. They are released by the upstream's
    // answers, not at the budget's pace (20% of 300 requests per 10 s: 6 a
    // second, which held the last for 15 s): the first once a probe is
    // answered (at most 250 ms apart), the rest as fast as the answers
    // come, here at once.
    assert_eq!(answered, sent, "every request is answered");
    let back = upstream.down_until;
    let released: Vec<Instant> = upstream
        .attempts()
        .iter()
        .filter(|(at, _)| *at >= back)
        .map(|(at, _)| *at)
        .collect();
    assert!(released.len() >= 50, "{} retries released", released.len());
    let last = *released.last().unwrap();
    assert!(
        last <= back + Duration::from_millis(500),
        "the last waiting retry went {:?} after the upstream came back",
        last - back
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_cannot_wait_gets_its_error_at_once() {
    // The queue holds one request: of many failing at once, the rest get
    // their errors after their own backoff pause, without waiting.
    let upstream = Upstream::down_between(Duration::ZERO, Duration::from_secs(3600));
    let policy = RetryPolicy::builder()
        .backoff(
            Backoff::exponential(Duration::from_millis(10)).max_delay(Duration::from_millis(10)),
        )
        .budget(RetryBudget::default().max_waiting(1))
        .build()
        .unwrap();
    let service = RetryLayer::new(policy).layer(upstream.clone());

    let start = Instant::now();
    let mut calls: FuturesUnordered<_> = (0..20).map(|_| service.clone().oneshot(get())).collect();
    let mut done_at_once = 0;
    while let Some(result) = calls.next().await {
        let error = result.unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::ConnectionRefused,
            "the upstream's own error"
        );
        if start.elapsed() <= Duration::from_millis(10) {
            done_at_once += 1;
        }
    }
    // One waits, one probes: the other 18 could not wait.
    assert!(done_at_once >= 18, "{done_at_once} of 20 returned at once");
    // And those that waited gave up within the default wait of 5 s.
    assert!(
        start.elapsed() <= Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiting_retry_gives_up_at_the_policys_deadline() {
    let upstream = Upstream::down_between(Duration::ZERO, Duration::from_secs(3600));
    let policy = RetryPolicy::builder()
        .max_elapsed(Duration::from_secs(2))
        .build()
        .unwrap();
    let service = RetryLayer::new(policy).layer(upstream.clone());

    let start = Instant::now();
    let mut calls: FuturesUnordered<_> = (0..50).map(|_| service.clone().oneshot(get())).collect();
    while let Some(result) = calls.next().await {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::ConnectionRefused);
        assert!(
            start.elapsed() <= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}

/// Starts `n` requests to a dead upstream and polls them for `for_how_long`
/// of paused time; returns the requests still pending and how many ended.
async fn start_waiting<S>(
    service: &S,
    n: usize,
    for_how_long: Duration,
) -> (
    FuturesUnordered<tower::util::Oneshot<S, Request<String>>>,
    usize,
)
where
    S: Service<Request<String>, Response = Response<String>, Error = io::Error> + Clone,
{
    let mut calls: FuturesUnordered<_> = (0..n).map(|_| service.clone().oneshot(get())).collect();
    let mut ended = 0;
    let deadline = tokio::time::sleep(for_how_long);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            Some(result) = calls.next() => {
                assert!(result.is_err());
                ended += 1;
            }
            () = &mut deadline => break,
        }
    }
    (calls, ended)
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_cancelled_waiters_leave_their_places_free() {
    let upstream = Upstream::down_between(Duration::ZERO, Duration::from_secs(3600));
    let policy = RetryPolicy::builder()
        .max_retries(1)
        .budget(
            RetryBudget::default()
                .max_waiting(10_000)
                .max_wait(Duration::from_secs(60)),
        )
        .build()
        .unwrap();
    let service = RetryLayer::new(policy).layer(upstream.clone());

    // 10,000 requests wait (a few probes end), and are then dropped.
    let (waiting, ended) = start_waiting(&service, 10_000, Duration::from_secs(1)).await;
    assert!(ended <= 10, "{ended} ended while the queue had room");
    drop(waiting);

    // Had they kept their places, the queue would be full and these would
    // all end at once.
    let (still_waiting, freed) = start_waiting(&service, 10_000, Duration::from_secs(1)).await;
    assert!(
        freed <= 10,
        "{freed} ended: the dropped requests kept their places"
    );

    // The control: with those still waiting, new requests find the queue
    // full (but for the places of the `freed` that ended, probes among
    // them) and get their errors at once.
    let (_, ended) = start_waiting(&service, 100, Duration::from_secs(1)).await;
    assert!(
        ended >= 100 - freed,
        "{ended} of 100 ended, {freed} places free"
    );
    drop(still_waiting);
}
