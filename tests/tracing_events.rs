//! What the layer logs. A test binary of its own: `tracing` caches each
//! callsite's interest process-wide, so a test thread without a subscriber
//! that reaches a callsite first could hide its events from a test that
//! captures them.

mod support;

use std::io::ErrorKind;
use std::time::Duration;

use http::{Method, Request};
use tower::Service;
use tower_conn_retry::{Backoff, Jitter, Retry, RetryBudget, RetryPolicy};

use support::events::Events;
use support::mock::{Mock, Outcome};

fn exact_policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(max_retries)
        .backoff(Backoff::exponential(Duration::from_millis(50)).jitter(Jitter::None))
        .build()
        .unwrap()
}

fn request(method: Method) -> Request<String> {
    Request::builder()
        .method(method)
        .uri("http://127.0.0.1/items")
        .body("payload".to_string())
        .unwrap()
}

async fn send(
    service: &mut Retry<Mock>,
    request: Request<String>,
) -> Result<http::Response<String>, std::io::Error> {
    service.ready().await?.call(request).await
}

#[tokio::test(start_paused = true)]
async fn each_retry_logs_a_debug_event_and_spent_retries_a_warning() {
    let (events, _guard) = Events::capture();
    let mock = Mock::new((0..3).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)));
    let mut service = Retry::new(mock, exact_policy(2));

    send(&mut service, request(Method::GET)).await.unwrap_err();
    assert!(
        events.at(tracing::Level::WARN).is_empty(),
        "the summary waits for the interval to end"
    );
    tokio::time::sleep(Duration::from_millis(1001)).await;

    let debug = events.at(tracing::Level::DEBUG);
    assert_eq!(debug.len(), 3, "two retries and the give-up: {debug:?}");
    assert!(
        debug[2].has("retries spent") && debug[2].has("attempts=3 "),
        "{:?}",
        debug[2]
    );
    for (event, (attempt, pause)) in debug.iter().zip([(2, 50), (3, 100)]) {
        assert!(event.has(&format!("attempt={attempt} ")), "{event:?}");
        assert!(event.has(&format!("pause_ms={pause} ")), "{event:?}");
        assert!(event.has("class=\"connect\""), "{event:?}");
        assert!(
            event.has("ConnectionRefused"),
            "the error is missing: {event:?}"
        );
    }
    let warn = events.at(tracing::Level::WARN);
    assert_eq!(warn.len(), 1, "{warn:?}");
    assert!(warn[0].has("requests=1 retries_spent=1 "), "{:?}", warn[0]);
    assert!(warn[0].has("connect=1 "), "{:?}", warn[0]);
}

#[tokio::test(start_paused = true)]
async fn events_name_the_method_and_authority_but_never_the_path_or_query() {
    let (events, _guard) = Events::capture();
    let mock = Mock::new((0..3).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)));
    let mut service = Retry::new(mock, exact_policy(2));
    let request = Request::put("http://api.example.test:8443/accounts/7?token=secret")
        .body(String::new())
        .unwrap();

    send(&mut service, request).await.unwrap_err();
    tokio::time::sleep(Duration::from_millis(1001)).await;

    let all = events.all();
    assert_eq!(all.len(), 4, "{all:?}");
    for event in &all {
        assert!(event.has("method=\"PUT\""), "{event:?}");
        assert!(
            event.has("authority=\"api.example.test:8443\""),
            "{event:?}"
        );
        assert!(!event.has("accounts") && !event.has("secret"), "{event:?}");
    }
}

/// 10,000 requests give up in one burst: one warning, not 10,000, a
/// second after the first give-up, counting all of them; every give-up is
/// still a debug event. A later give-up is in the next warning, a second
/// after it, though nothing gives up after it.
#[tokio::test(start_paused = true)]
async fn under_load_give_ups_make_one_warning_a_second() {
    let (events, _guard) = Events::capture();
    let failures = (0..2 * 10_001).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused));
    let policy = RetryPolicy::builder()
        .max_retries(1)
        .backoff(Backoff::none())
        .no_budget()
        .build()
        .unwrap();
    let mut service = Retry::new(Mock::new(failures), policy);

    for _ in 0..10_000 {
        send(&mut service, request(Method::POST)).await.unwrap_err();
    }
    assert!(events.at(tracing::Level::WARN).is_empty());
    let give_ups = events
        .at(tracing::Level::DEBUG)
        .iter()
        .filter(|e| e.has("retries spent"))
        .count();
    assert_eq!(give_ups, 10_000);

    tokio::time::sleep(Duration::from_millis(1001)).await;
    let warn = events.at(tracing::Level::WARN);
    assert_eq!(warn.len(), 1, "{:?}", &warn[..warn.len().min(3)]);
    assert!(
        warn[0].has("requests=10000 retries_spent=10000 ") && !warn[0].has("since_ms"),
        "{:?}",
        warn[0]
    );

    tokio::time::sleep(Duration::from_secs(5)).await;
    send(&mut service, request(Method::POST)).await.unwrap_err();
    tokio::time::sleep(Duration::from_millis(999)).await;
    assert_eq!(events.at(tracing::Level::WARN).len(), 1);
    tokio::time::sleep(Duration::from_millis(2)).await;
    let warn = events.at(tracing::Level::WARN);
    assert_eq!(warn.len(), 2);
    assert!(
        warn[1].has("requests=1 retries_spent=1 ") && warn[1].has("since_ms=6001 "),
        "{:?}",
        warn[1]
    );
}

/// OpenTelemetry's `http.request.resend_count` is recorded on the caller's
/// span when it declares the field: once, as the call ends, with the
/// number of resends, whether the call was answered or failed; never for
/// a call that was not resent.
#[tokio::test(start_paused = true)]
async fn the_resend_count_is_recorded_once_on_the_callers_span() {
    use tracing::Instrument;

    fn refused(times: usize) -> Mock {
        Mock::new((0..times).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)))
    }

    async fn resend_counts(policy: RetryPolicy, mock: Mock, answered: bool) -> Vec<String> {
        let (events, _guard) = Events::capture();
        let mut service = Retry::new(mock, policy);
        let span = tracing::info_span!(
            "HTTP GET",
            "http.request.resend_count" = tracing::field::Empty
        );
        let result = send(&mut service, request(Method::GET))
            .instrument(span)
            .await;
        assert_eq!(result.is_ok(), answered, "{result:?}");
        events.records()
    }

    // Answered after two resends.
    let records = resend_counts(exact_policy(3), refused(2), true).await;
    assert_eq!(records, ["http.request.resend_count=2 "], "{records:?}");
    // Failed after its three resends.
    let records = resend_counts(exact_policy(3), refused(10), false).await;
    assert_eq!(records, ["http.request.resend_count=3 "], "{records:?}");
    // Not resent: answered at once, its one retry refused by the budget...
    let records = resend_counts(exact_policy(3), refused(0), true).await;
    assert!(records.is_empty(), "{records:?}");
    let refusing = RetryPolicy::builder()
        .backoff(Backoff::none())
        .budget(RetryBudget::default().ratio(0.0).min_per_second(0))
        .build()
        .unwrap();
    // (a lost connection: its retry is charged, a refused connect's is not)
    let reset = Mock::new([Outcome::Fail(ErrorKind::ConnectionReset)]);
    let records = resend_counts(refusing, reset, false).await;
    assert!(records.is_empty(), "{records:?}");
    // ...or its one retry's `poll_ready` failed.
    let unready = refused(1).ready_error_after_first_call(ErrorKind::Other);
    let records = resend_counts(exact_policy(3), unready, false).await;
    assert!(records.is_empty(), "{records:?}");
}

#[tokio::test(start_paused = true)]
async fn the_happy_path_logs_nothing() {
    let (events, _guard) = Events::capture();
    let mut service = Retry::new(Mock::new([]), exact_policy(3));

    send(&mut service, request(Method::GET)).await.unwrap();
    send(&mut service, request(Method::POST)).await.unwrap();

    assert!(events.all().is_empty(), "{:?}", events.all());
}

#[tokio::test(start_paused = true)]
async fn a_lost_post_logs_why_it_is_not_retried() {
    let (events, _guard) = Events::capture();
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionReset)]);
    let mut service = Retry::new(mock, exact_policy(2));

    send(&mut service, request(Method::POST)).await.unwrap_err();

    let debug = events.at(tracing::Level::DEBUG);
    assert_eq!(debug.len(), 1, "{debug:?}");
    assert!(debug[0].has("not idempotent"), "{:?}", debug[0]);
    assert!(debug[0].has("reason=\"not_idempotent\""), "{:?}", debug[0]);
    tokio::time::sleep(Duration::from_millis(1001)).await;
    let warn = events.at(tracing::Level::WARN);
    assert_eq!(warn.len(), 1, "{warn:?}");
    assert!(
        warn[0].has("requests=1 ") && warn[0].has("not_idempotent=1 "),
        "{:?}",
        warn[0]
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_refused_by_the_budget_logs_a_warning() {
    let (events, _guard) = Events::capture();
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .budget(RetryBudget::default().ratio(0.0).min_per_second(0))
        .build()
        .unwrap();
    // A lost connection: its retry is charged (a refused connect's is not).
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionReset)]);
    let mut service = Retry::new(mock, policy);

    send(&mut service, request(Method::GET)).await.unwrap_err();
    tokio::time::sleep(Duration::from_millis(1001)).await;

    let warn = events.at(tracing::Level::WARN);
    assert_eq!(warn.len(), 1, "{warn:?}");
    assert!(warn[0].has(" budget=1 "), "{:?}", warn[0]);
    // The retry is planned (no pause), then the budget refuses it.
    let debug = events.at(tracing::Level::DEBUG);
    assert_eq!(debug.len(), 2, "{debug:?}");
    assert!(debug[0].has("retrying"), "{:?}", debug[0]);
    assert!(debug[1].has("retry budget is spent"), "{:?}", debug[1]);
}

/// A per-attempt timeout is named one: a POST that timed out is "timed
/// out after the request may have been sent", not "connection lost"; a
/// GET's retry event says `timeout=true`, which a refused connect's lacks.
#[tokio::test(start_paused = true)]
async fn a_timeout_is_named_a_timeout() {
    let (events, _guard) = Events::capture();
    // A service that answers after an hour, under tower's timeout of one
    // second per attempt: every attempt times out.
    let slow = tower::service_fn(|_: Request<String>| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, tower::BoxError>(http::Response::new(String::new()))
    });
    let timing_out = tower::timeout::Timeout::new(slow, Duration::from_secs(1));
    let mut service = Retry::new(timing_out, exact_policy(1));

    service
        .ready()
        .await
        .unwrap()
        .call(request(Method::POST))
        .await
        .unwrap_err();

    let debug = events.at(tracing::Level::DEBUG);
    assert_eq!(debug.len(), 1, "{debug:?}");
    assert!(
        debug[0].has("timed out after the request may have been sent; not retried, as the request is not idempotent"),
        "{:?}",
        debug[0]
    );
    assert!(!debug[0].has("connection lost"), "{:?}", debug[0]);

    service
        .ready()
        .await
        .unwrap()
        .call(request(Method::GET))
        .await
        .unwrap_err();
    let debug = events.at(tracing::Level::DEBUG);
    assert!(debug[1].has("retrying"), "{:?}", debug[1]);
    assert!(debug[1].has("timeout=true "), "{:?}", debug[1]);

    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionRefused)]);
    let mut service = Retry::new(mock, exact_policy(1));
    send(&mut service, request(Method::GET)).await.unwrap();
    let debug = events.at(tracing::Level::DEBUG);
    let last = debug.last().unwrap();
    assert!(last.has("retrying"), "{last:?}");
    assert!(!last.has("timeout"), "{last:?}");
}
