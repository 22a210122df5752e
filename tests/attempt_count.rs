//! `AttemptCount`: the number of attempts a call made, read by the caller
//! after the call ended, failed or not.

mod support;

use std::io::ErrorKind;

use http::{Method, Request};
use tower::{Service, ServiceExt};
use tower_conn_retry::{AttemptCount, Backoff, Retry, RetryBudget, RetryPolicy};

use support::mock::{Mock, Outcome};

/// Every retry made at once, none held back by a budget.
fn exact_policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(max_retries)
        .backoff(Backoff::none())
        .no_budget()
        .build()
        .unwrap()
}

/// A request carrying a fresh count, and the caller's clone of it.
fn counted<B>(method: Method, uri: &str, body: B) -> (Request<B>, AttemptCount) {
    let attempts = AttemptCount::new();
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .unwrap();
    request.extensions_mut().insert(attempts.clone());
    (request, attempts)
}

fn mock_request(method: Method) -> (Request<String>, AttemptCount) {
    counted(method, "http://127.0.0.1/items", "payload".to_string())
}

async fn send<S, B>(service: &mut S, request: Request<B>) -> Result<S::Response, S::Error>
where
    S: Service<Request<B>>,
{
    service.ready().await?.call(request).await
}

#[tokio::test(start_paused = true)]
async fn a_call_that_spent_its_retries_counts_every_attempt() {
    let mock = Mock::new((0..10).map(|_| Outcome::Fail(ErrorKind::ConnectionRefused)));
    let seen = mock.seen();
    let mut service = Retry::new(mock, exact_policy(4));
    let (request, attempts) = mock_request(Method::GET);

    send(&mut service, request).await.unwrap_err();

    assert_eq!(attempts.get(), 5, "max_retries + 1");
    assert_eq!(seen.lock().unwrap().calls.len(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_call_answered_after_retries_counts_them() {
    let mock = Mock::new([
        Outcome::Fail(ErrorKind::ConnectionRefused),
        Outcome::Fail(ErrorKind::ConnectionRefused),
    ]);
    let mut service = Retry::new(mock, exact_policy(3));
    let (request, attempts) = mock_request(Method::GET);

    let response = send(&mut service, request).await.unwrap();

    assert_eq!(response.body(), "attempt 3");
    assert_eq!(attempts.get(), 3);
}

/// An error that is not retried leaves the count at the attempts made: 1
/// when it is the first, and the attempts so far when it ends a call that
/// was retried before.
#[tokio::test(start_paused = true)]
async fn an_error_that_is_not_retried_counts_the_attempts_made() {
    let mock = Mock::new([Outcome::Fail(ErrorKind::PermissionDenied)]);
    let mut service = Retry::new(mock, exact_policy(3));
    let (request, attempts) = mock_request(Method::GET);
    send(&mut service, request).await.unwrap_err();
    assert_eq!(attempts.get(), 1);

    let mock = Mock::new([
        Outcome::Fail(ErrorKind::ConnectionRefused),
        Outcome::Fail(ErrorKind::PermissionDenied),
    ]);
    let mut service = Retry::new(mock, exact_policy(3));
    let (request, attempts) = mock_request(Method::GET);
    let error = send(&mut service, request).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied);
    assert_eq!(attempts.get(), 2);
}

/// A POST whose connection was lost is not sent again: one attempt, or
/// the refused ones before it and itself.
#[tokio::test(start_paused = true)]
async fn a_post_whose_connection_was_lost_counts_no_resend() {
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionReset)]);
    let seen = mock.seen();
    let mut service = Retry::new(mock, exact_policy(3));
    let (request, attempts) = mock_request(Method::POST);
    send(&mut service, request).await.unwrap_err();
    assert_eq!(attempts.get(), 1);
    assert_eq!(seen.lock().unwrap().calls.len(), 1);

    let mock = Mock::new([
        Outcome::Fail(ErrorKind::ConnectionRefused),
        Outcome::Fail(ErrorKind::ConnectionReset),
    ]);
    let mut service = Retry::new(mock, exact_policy(3));
    let (request, attempts) = mock_request(Method::POST);
    let error = send(&mut service, request).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionReset);
    assert_eq!(attempts.get(), 2);
}

/// A retry the budget refuses is never sent, so it is not counted.
#[tokio::test(start_paused = true)]
async fn a_retry_the_budget_refuses_is_not_counted() {
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .budget(RetryBudget::default().ratio(0.0).min_per_second(0))
        .build()
        .unwrap();
    // A lost connection: its retry is charged (a refused connect's is not).
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionReset)]);
    let seen = mock.seen();
    let mut service = Retry::new(mock, policy);
    let (request, attempts) = mock_request(Method::GET);

    send(&mut service, request).await.unwrap_err();

    assert_eq!(seen.lock().unwrap().calls.len(), 1);
    assert_eq!(attempts.get(), 1);
}

/// A retry whose `poll_ready` failed is never sent, so it is not counted.
#[tokio::test(start_paused = true)]
async fn a_retry_whose_poll_ready_failed_is_not_counted() {
    let mock = Mock::new([Outcome::Fail(ErrorKind::ConnectionRefused)])
        .ready_error_after_first_call(ErrorKind::Other);
    let seen = mock.seen();
    let mut service = Retry::new(mock, exact_policy(3));
    let (request, attempts) = mock_request(Method::GET);

    let error = send(&mut service, request).await.unwrap_err();

    assert_eq!(error.to_string(), "poll_ready failed");
    assert_eq!(seen.lock().unwrap().calls.len(), 1);
    assert_eq!(attempts.get(), 1);
}

/// Through a real hyper client, against a loopback port nothing listens on.
#[cfg(feature = "hyper")]
mod hyper_client {
    use std::sync::atomic::Ordering;

    use bytes::Bytes;
    use http::Method;
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use tower_conn_retry::{ReplayBody, Retry};

    use super::{counted, exact_policy, send, support};

    /// Through a real hyper client, against a loopback port nothing listens
    /// on: every attempt is a refused connect, and the count matches the
    /// attempts that reached the client.
    #[tokio::test]
    async fn a_hyper_client_against_a_dead_port_counts_every_attempt() {
        let addr = support::server::unused_addr();
        let (mut client, reached) =
            support::client::layered(support::client::http_client(), exact_policy(3));
        let (request, attempts) =
            counted(Method::POST, &format!("http://{addr}/"), Full::default());

        let error = send(&mut client, request).await.unwrap_err();

        assert!(error.is_connect(), "{error:?}");
        assert_eq!(reached.load(Ordering::SeqCst), 4);
        assert_eq!(attempts.get(), 4);
    }

    /// A streaming body in a `ReplayBody` keeps its extensions on every copy,
    /// so its count is kept too.
    #[tokio::test]
    async fn a_replay_body_request_counts_every_attempt() {
        let addr = support::server::unused_addr();
        let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
        let mut client = Retry::new(client, exact_policy(2));
        let body = ReplayBody::new(Full::new(Bytes::from_static(b"payload")), 1024);
        let (request, attempts) = counted(Method::PUT, &format!("http://{addr}/"), body);

        let error = send(&mut client, request).await.unwrap_err();

        assert!(error.is_connect(), "{error:?}");
        assert_eq!(attempts.get(), 3);
    }
}

#[test]
fn a_new_count_reads_one() {
    let attempts = AttemptCount::default();
    assert_eq!(attempts.get(), 1);
    assert_eq!(attempts.clone().get(), 1);
}
