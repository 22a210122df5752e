//! The retry budget through the layer: a refused retry returns the error at
//! once, and every service made from one layer shares one budget. The
//! budget is charged for retries that may cost the server work (after a
//! lost connection, here a reset GET), not for failed connects, which the
//! gate alone paces.

mod support;

use std::collections::HashSet;
use std::io::ErrorKind;
use std::sync::{Arc, Mutex};

use http::{Method, Request};
use tower::{Layer, Service};
use tower_conn_retry::{Backoff, ErrorClass, RetryBudget, RetryLayer, RetryPolicy};

use support::mock::{Mock, Outcome};

fn request() -> Request<String> {
    Request::builder()
        .method(Method::GET)
        .uri("http://127.0.0.1/")
        .body(String::new())
        .unwrap()
}

fn policy_with(budget: RetryBudget) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::none())
        .budget(budget)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_returns_the_error_at_once() {
    let empty = RetryBudget::default().ratio(0.0).min_per_second(0);
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionReset)]);
    let seen = mock.seen();
    let mut service = RetryLayer::new(policy_with(empty)).layer(mock);

    let error = service
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ErrorKind::ConnectionReset);
    assert_eq!(seen.lock().unwrap().calls.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_connect_is_retried_whatever_the_budget() {
    // gRPC's A6: a request that never left the client does not count
    // against retry throttling; a spent budget still retries it.
    let empty = RetryBudget::default().ratio(0.0).min_per_second(0);
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionRefused)]);
    let seen = mock.seen();
    let mut service = RetryLayer::new(policy_with(empty)).layer(mock);

    service
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap();

    assert_eq!(seen.lock().unwrap().calls.len(), 2);
}

/// A classifier that reads the mock's `Interrupted` as a refused HTTP/2
/// stream (`NotProcessed`), as the default classifier reads h2's
/// REFUSED_STREAM.
fn refusals_as_not_processed(error: &std::io::Error) -> ErrorClass {
    match error.kind() {
        ErrorKind::Interrupted => ErrorClass::NotProcessed,
        _ => ErrorClass::of(error),
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_stream_is_retried_whatever_the_budget() {
    // RFC 9113, 8.7: a stream refused with REFUSED_STREAM was not
    // processed; its retry draws on the refusals' own allowance (one per
    // request), so a spent budget still lets a refused POST go again.
    let empty = RetryBudget::default().ratio(0.0).min_per_second(0);
    let mock = Mock::new([Outcome::Fail(ErrorKind::Interrupted)]);
    let seen = mock.seen();
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::none())
        .budget(empty)
        .classifier(refusals_as_not_processed)
        .build()
        .unwrap();
    let mut service = RetryLayer::new(policy).layer(mock);
    let mut post = request();
    *post.method_mut() = Method::POST;

    let response = service.ready().await.unwrap().call(post).await;

    assert!(response.is_ok(), "{response:?}");
    assert_eq!(seen.lock().unwrap().calls.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_server_refusing_every_stream_gets_a_bounded_share_of_retries() {
    // 1,000 POSTs at 100 a second (one budget window) to a server that
    // refuses every stream, with the defaults (3 retries): each request's
    // first refused retry is free (one per request, as gRPC's A6), the
    // rest are charged to the budget (20%). Without that bound every
    // request would be sent 4 times.
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = attempts.clone();
    let refuses_every_stream = tower::service_fn(move |_: Request<String>| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Err::<http::Response<String>, _>(std::io::Error::from(ErrorKind::Interrupted)) }
    });
    let policy = RetryPolicy::builder()
        .classifier(refusals_as_not_processed)
        .build()
        .unwrap();
    let layer = RetryLayer::new(policy);
    const REQUESTS: usize = 1_000;
    let mut calls = Vec::new();
    for k in 0..REQUESTS {
        let service = layer.layer(refuses_every_stream.clone());
        calls.push(tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(10 * k as u64)).await;
            let post = Request::post("http://127.0.0.1/")
                .body(k.to_string())
                .unwrap();
            tower::ServiceExt::oneshot(service, post).await
        }));
    }
    for call in calls {
        assert!(call.await.unwrap().is_err());
    }

    let per_request = attempts.load(std::sync::atomic::Ordering::SeqCst) as f64 / REQUESTS as f64;
    // At most 1 + 1 + 0.2 (and the floor's 10 retries): 2.2x.
    assert!(per_request <= 2.25, "{per_request:.2} attempts per request");
    // Each request's first refused retry did go.
    assert!(per_request >= 2.0, "{per_request:.2} attempts per request");
}

/// Resets the first attempt of each request (told apart by body) and
/// answers its retry; counts every call.
/// The bodies seen so far, and the number of calls.
type Seen = Arc<Mutex<(HashSet<String>, usize)>>;

fn first_attempt_refused() -> (
    impl Service<Request<String>, Response = http::Response<String>, Error = std::io::Error> + Clone,
    Seen,
) {
    let state = Arc::new(Mutex::new((HashSet::new(), 0)));
    let seen = state.clone();
    let service = tower::service_fn(move |request: Request<String>| {
        let mut state = seen.lock().unwrap();
        state.1 += 1;
        let first = state.0.insert(request.body().clone());
        async move {
            if first {
                Err(std::io::Error::from(ErrorKind::ConnectionReset))
            } else {
                Ok(http::Response::new(String::new()))
            }
        }
    });
    (service, state)
}

#[tokio::test(start_paused = true)]
async fn every_service_made_from_one_layer_shares_one_budget() {
    // Retries may add 10% of the requests: no floor, and no waiting for
    // room (a refused retry fails at once, so the count below is exact).
    let layer = RetryLayer::new(policy_with(
        RetryBudget::default()
            .ratio(0.1)
            .min_per_second(0)
            .max_wait(std::time::Duration::ZERO),
    ));

    // 100 requests that succeed, through one service...
    let mut healthy = layer.layer(Mock::new([]));
    for _ in 0..100 {
        healthy
            .ready()
            .await
            .unwrap()
            .call(request())
            .await
            .unwrap();
    }
    // ...then 20 whose first attempt is reset, through another. The k-th
    // may retry while the retries so far stay below 10% of the 100 + k
    // requests: 12 retries (the 11th and 12th fit under 11.1 and 11.2).
    let (failing, state) = first_attempt_refused();
    let mut flaky = layer.layer(failing);
    let mut errors = 0;
    for k in 0..20 {
        let mut request = request();
        *request.body_mut() = format!("request-{k}");
        if flaky.ready().await.unwrap().call(request).await.is_err() {
            errors += 1;
        }
    }

    assert_eq!(errors, 8);
    assert_eq!(state.lock().unwrap().1, 20 + 12);
}
