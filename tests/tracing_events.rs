//! What the layer logs. A test binary of its own: `tracing` caches each
//! callsite's interest process-wide, so a test thread without a subscriber
//! that reaches a callsite first could hide its events from a test that
//! captures them.

mod support;

use std::io::ErrorKind;
use std::time::Duration;

use http::{Method, Request};
use tower::{Service, ServiceExt};
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

    let debug = events.at(tracing::Level::DEBUG);
    assert_eq!(debug.len(), 2, "{debug:?}");
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
    assert!(warn[0].has("attempts=3 "), "{:?}", warn[0]);
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
    assert!(events.at(tracing::Level::WARN).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_retry_refused_by_the_budget_logs_a_warning() {
    let (events, _guard) = Events::capture();
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .budget(RetryBudget::default().ratio(0.0).min_per_second(0))
        .build()
        .unwrap();
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionRefused)]);
    let mut service = Retry::new(mock, policy);

    send(&mut service, request(Method::GET)).await.unwrap_err();

    let warn = events.at(tracing::Level::WARN);
    assert_eq!(warn.len(), 1, "{warn:?}");
    assert!(warn[0].has("retry budget"), "{:?}", warn[0]);
    assert!(events.at(tracing::Level::DEBUG).is_empty());
}
