//! What `RetryPolicy::stats` counts as a retry: a retry sent, never one the
//! budget refused.

use std::io::ErrorKind;

use tower::{service_fn, Service};
use tower_conn_retry::{AttemptCount, Backoff, Retry, RetryBudget, RetryPolicy};

/// A zero budget refuses the first retry: the call made one attempt (as
/// its `AttemptCount` says), gave up for reason `budget`, and retried
/// nothing.
#[tokio::test]
async fn a_retry_the_budget_refused_is_not_counted_as_a_retry() {
    // A lost connection: its retry is charged (a refused connect's is not).
    let refusing = service_fn(|_: http::Request<String>| async {
        Err::<http::Response<String>, _>(std::io::Error::from(ErrorKind::ConnectionReset))
    });
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .budget(RetryBudget::default().ratio(0.0).min_per_second(0))
        .build()
        .unwrap();
    let mut service = Retry::new(refusing, policy);
    let attempts = AttemptCount::new();
    let mut request = http::Request::get("http://127.0.0.1:9/")
        .body(String::new())
        .unwrap();
    request.extensions_mut().insert(attempts.clone());

    service
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();

    let counts = service.stats().total;
    assert_eq!(attempts.get(), 1);
    assert_eq!(counts.give_ups.budget, 1);
    assert_eq!(counts.retries.total(), 0, "{counts:?}");
    assert_eq!(counts.attempts(), u64::from(attempts.get()));
}
