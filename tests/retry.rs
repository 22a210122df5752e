//! The layer's behaviour against a scripted inner service, under paused
//! time: every pause is exact and takes no real time.

mod support;

use std::io::{self, ErrorKind};
use std::time::Duration;

use http::{Method, Request, StatusCode};
use tokio::time::Instant;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use tower_conn_retry::{Backoff, ErrorClass, Jitter, Retry, RetryLayer, RetryPolicy};

use support::mock::{Mock, Outcome};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 50 ms doubling, no jitter: pauses of 50, 100, 200, 400 ms.
/// Exact pauses and every retry made: no budget, whose gate would hold
/// back retries to an authority whose connects fail.
fn exact_policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(max_retries)
        .backoff(Backoff::exponential(ms(50)).jitter(Jitter::None))
        .no_budget()
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

async fn send<S>(service: &mut S, request: Request<String>) -> Result<S::Response, S::Error>
where
    S: Service<Request<String>>,
{
    service.ready().await?.call(request).await
}

#[tokio::test(start_paused = true)]
async fn connect_errors_are_retried_with_exact_pauses_until_success() {
    let mock = Mock::new([
        Outcome::Fail(ErrorKind::ConnectionRefused),
        Outcome::Fail(ErrorKind::ConnectionRefused),
        Outcome::Fail(ErrorKind::HostUnreachable),
    ]);
    let seen = mock.seen();
    let mut service = Retry::new(mock, exact_policy(3));

    let start = Instant::now();
    let response = send(&mut service, request(Method::GET)).await.unwrap();

    assert_eq!(response.body(), "attempt 4");
    assert_eq!(start.elapsed(), ms(50 + 100 + 200));
    assert_eq!(seen.lock().unwrap().calls.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_last_error_comes_back_untouched_once_retries_are_spent() {
    let mock = Mock::new((0..10).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)));
    let seen = mock.seen();
    let mut service = Retry::new(mock, exact_policy(2));

    let start = Instant::now();
    let error = send(&mut service, request(Method::GET)).await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(
        error.to_string(),
        "attempt 3",
        "not the last attempt's error"
    );
    assert_eq!(seen.lock().unwrap().calls.len(), 3);
    assert_eq!(start.elapsed(), ms(50 + 100));
}

#[tokio::test(start_paused = true)]
async fn a_post_is_retried_after_a_connect_error() {
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionRefused)]);
    let seen = mock.seen();
    let mut service = Retry::new(mock, exact_policy(3));

    let response = send(&mut service, request(Method::POST)).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let calls = &seen.lock().unwrap().calls;
    assert_eq!(calls.len(), 2);
    assert!(calls
        .iter()
        .all(|(m, body)| m == Method::POST && body == "payload"));
}

#[tokio::test(start_paused = true)]
async fn a_post_is_not_retried_after_a_connection_was_lost() {
    for kind in [
        ErrorKind::ConnectionReset,
        ErrorKind::BrokenPipe,
        ErrorKind::UnexpectedEof,
    ] {
        for method in [Method::POST, Method::PATCH] {
            let mock = Mock::new([Outcome::Fail(kind)]);
            let seen = mock.seen();
            let mut service = Retry::new(mock, exact_policy(3));

            let error = send(&mut service, request(method.clone()))
                .await
                .unwrap_err();

            assert_eq!(error.kind(), kind);
            assert_eq!(seen.lock().unwrap().calls.len(), 1, "{method} {kind:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn idempotent_methods_are_retried_after_a_connection_was_lost() {
    for method in [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ] {
        let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionReset)]);
        let seen = mock.seen();
        let mut service = Retry::new(mock, exact_policy(3));

        send(&mut service, request(method.clone())).await.unwrap();

        let calls = &seen.lock().unwrap().calls;
        assert_eq!(calls.len(), 2, "{method}");
        assert!(calls
            .iter()
            .all(|(m, body)| *m == method && body == "payload"));
    }
}

#[tokio::test(start_paused = true)]
async fn other_errors_are_returned_at_once() {
    let mock = Mock::new([Outcome::Fail(ErrorKind::PermissionDenied)]);
    let seen = mock.seen();
    let mut service = Retry::new(mock, exact_policy(3));

    let start = Instant::now();
    let error = send(&mut service, request(Method::GET)).await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::PermissionDenied);
    assert_eq!(seen.lock().unwrap().calls.len(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn responses_of_any_status_are_returned_as_they_are() {
    for status in [
        StatusCode::OK,
        StatusCode::NOT_FOUND,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ] {
        let mock = Mock::new([Outcome::Respond(status)]);
        let seen = mock.seen();
        let mut service = Retry::new(mock, exact_policy(3));

        let response = send(&mut service, request(Method::GET)).await.unwrap();

        assert_eq!(response.status(), status);
        assert_eq!(seen.lock().unwrap().calls.len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn max_retries_zero_makes_exactly_one_attempt() {
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionRefused)]);
    let seen = mock.seen();
    let mut service = Retry::new(mock, exact_policy(0));

    let error = send(&mut service, request(Method::GET)).await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(seen.lock().unwrap().calls.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn no_pause_may_end_past_max_elapsed() {
    // Pauses would be 100, 200, 400 ms; 100 + 200 fit in 350 ms, the pause
    // of 400 ms would end at 700 ms, so the third attempt's error is final.
    let policy = RetryPolicy::builder()
        .max_retries(10)
        .backoff(Backoff::exponential(ms(100)).jitter(Jitter::None))
        .max_elapsed(ms(350))
        .build()
        .unwrap();
    let mock = Mock::new((0..10).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)));
    let seen = mock.seen();
    let mut service = Retry::new(mock, policy);

    let start = Instant::now();
    let error = send(&mut service, request(Method::GET)).await.unwrap_err();

    assert_eq!(error.to_string(), "attempt 3");
    assert_eq!(seen.lock().unwrap().calls.len(), 3);
    assert_eq!(start.elapsed(), ms(300));
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_counts_the_time_the_attempts_took() {
    // Each attempt takes 120 ms before failing; pauses are 100 ms each.
    // After attempt 1 (t=120) the pause ends at 220 <= 400: retry.
    // After attempt 2 (t=340) the pause would end at 440 > 400: stop.
    let policy = RetryPolicy::builder()
        .max_retries(10)
        .backoff(
            Backoff::exponential(ms(100))
                .factor(1.0)
                .jitter(Jitter::None),
        )
        .max_elapsed(ms(400))
        .build()
        .unwrap();
    let slow = tower::service_fn(|_: Request<String>| async {
        tokio::time::sleep(ms(120)).await;
        Err::<http::Response<String>, _>(io::Error::from(ErrorKind::ConnectionRefused))
    });
    let mut service = Retry::new(slow, policy);

    let start = Instant::now();
    send(&mut service, request(Method::GET)).await.unwrap_err();
    assert_eq!(start.elapsed(), ms(340));
}

#[tokio::test(start_paused = true)]
async fn readiness_is_driven_again_before_every_retry() {
    let mock = Mock::new([
        Outcome::Fail(ErrorKind::ConnectionRefused),
        Outcome::Fail(ErrorKind::ConnectionRefused),
    ])
    .pending_before_ready(3);
    let seen = mock.seen();
    let mut service = Retry::new(mock, exact_policy(3));

    send(&mut service, request(Method::GET)).await.unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.calls.len(), 3);
    assert_eq!(
        seen.unready_calls, 0,
        "the inner service was called unready"
    );
    // Three Pending polls before each of the three calls.
    assert_eq!(seen.pending_polls, 9);
}

#[tokio::test(start_paused = true)]
async fn a_poll_ready_error_before_a_retry_is_returned_not_retried() {
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionRefused)])
        .ready_error_after_first_call(ErrorKind::ConnectionRefused);
    let seen = mock.seen();
    // The layer's own `poll_ready` succeeds before the first call; the
    // clone it keeps fails its readiness before the retry.
    let mut service = Retry::new(mock, exact_policy(5));
    service.ready().await.unwrap();
    let error = service.call(request(Method::GET)).await.unwrap_err();

    assert_eq!(error.to_string(), "poll_ready failed");
    assert_eq!(seen.lock().unwrap().calls.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_during_a_pause_stops_all_work() {
    let mock = Mock::new((0..10).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)));
    let seen = mock.seen();
    let mut service = Retry::new(mock, exact_policy(5));
    service.ready().await.unwrap();
    let mut future = Box::pin(service.call(request(Method::GET)));

    // The first attempt fails at once; the future is now in its first pause.
    let polled = futures_poll_once(future.as_mut()).await;
    assert!(polled.is_pending());
    assert_eq!(seen.lock().unwrap().calls.len(), 1);
    drop(future);

    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(seen.lock().unwrap().calls.len(), 1, "an attempt after drop");
    let metrics = tokio::runtime::Handle::current().metrics();
    assert_eq!(metrics.num_alive_tasks(), 0, "a task was left behind");
}

#[tokio::test(start_paused = true)]
async fn seeded_full_jitter_is_repeatable_and_within_bounds() {
    async fn elapsed_with_seed(seed: u64) -> Duration {
        let policy = RetryPolicy::builder()
            .max_retries(4)
            .backoff(Backoff::exponential(ms(100)).jitter(Jitter::Full))
            .jitter_seed(seed)
            .build()
            .unwrap();
        let mock = Mock::new((0..4).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)));
        let mut service = Retry::new(mock, policy);
        let start = Instant::now();
        send(&mut service, request(Method::GET)).await.unwrap();
        start.elapsed()
    }
    let a = elapsed_with_seed(11).await;
    assert_eq!(a, elapsed_with_seed(11).await);
    assert_ne!(a, elapsed_with_seed(12).await);
    assert!(a <= ms(100 + 200 + 400 + 800), "{a:?}");
}

#[tokio::test(start_paused = true)]
async fn boxed_errors_of_a_tower_stack_are_classified() {
    let mock = Mock::new([
        Outcome::Fail(ErrorKind::ConnectionRefused),
        Outcome::Fail(ErrorKind::ConnectionReset),
    ]);
    let seen = mock.seen();
    let mut service = ServiceBuilder::new()
        .layer(RetryLayer::new(exact_policy(3)))
        .map_err(BoxError::from)
        .service(mock);

    send(&mut service, request(Method::GET)).await.unwrap();
    assert_eq!(seen.lock().unwrap().calls.len(), 3);

    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionReset)]);
    let seen = mock.seen();
    let mut service = ServiceBuilder::new()
        .layer(RetryLayer::new(exact_policy(3)))
        .map_err(BoxError::from)
        .service(mock);
    send(&mut service, request(Method::POST)).await.unwrap_err();
    assert_eq!(seen.lock().unwrap().calls.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_custom_classifier_decides() {
    // Treat even PermissionDenied as a connect failure.
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .classifier(|error: &io::Error| match error.kind() {
            ErrorKind::PermissionDenied => ErrorClass::Connect,
            _ => ErrorClass::Other,
        })
        .build()
        .unwrap();
    let mock = Mock::new([
        Outcome::Fail(ErrorKind::PermissionDenied),
        Outcome::Fail(ErrorKind::ConnectionRefused),
    ]);
    let seen = mock.seen();
    let mut service = Retry::new(mock, policy);

    let error = send(&mut service, request(Method::POST)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(seen.lock().unwrap().calls.len(), 2);
}

/// Polls a future once, returning whether it finished.
async fn futures_poll_once<F: std::future::Future + Unpin>(
    future: F,
) -> std::task::Poll<F::Output> {
    let mut future = future;
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut future).poll(cx)))
        .await
}

#[tokio::test(start_paused = true)]
async fn a_response_that_took_one_attempt_carries_no_attempts_extension() {
    let mut service = Retry::new(Mock::new([]), exact_policy(3));
    let response = send(&mut service, request(Method::GET)).await.unwrap();
    assert!(response
        .extensions()
        .get::<tower_conn_retry::Attempts>()
        .is_none());

    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionRefused)]);
    let mut service = Retry::new(mock, exact_policy(3));
    let response = send(&mut service, request(Method::GET)).await.unwrap();
    let attempts = response.extensions().get::<tower_conn_retry::Attempts>();
    assert_eq!(attempts.map(|a| a.get()), Some(2));
}

#[tokio::test]
async fn each_attempt_through_a_buffer_follows_its_own_poll_ready() {
    // tower's Buffer hands out readiness per instance (a clone starts
    // unready) and panics on a call its instance did not poll ready for:
    // "buffer full; poll_ready must be called first".
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (seen_in, calls_in) = (seen.clone(), calls.clone());
    // Refuses each request's first attempt, answers its second.
    let inner = tower::service_fn(move |request: Request<String>| {
        calls_in.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let first = seen_in.lock().unwrap().insert(request.body().clone());
        async move {
            if first {
                return Err(io::Error::from(ErrorKind::ConnectionRefused));
            }
            Ok(http::Response::new(request.into_body()))
        }
    });
    let buffer = tower::buffer::Buffer::new(inner, 1);
    let service = Retry::new(buffer, exact_policy(3));

    let responses = futures_util::future::join_all((0..50).map(|i| {
        let service = service.clone();
        async move {
            let request = Request::post("http://127.0.0.1/").body(format!("request {i}"));
            service.oneshot(request.unwrap()).await
        }
    }))
    .await;

    for (i, response) in responses.into_iter().enumerate() {
        assert_eq!(response.unwrap().into_body(), format!("request {i}"));
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 100);
}
