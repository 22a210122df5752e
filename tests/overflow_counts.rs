//! A retry counted in the overflow state is in the stats' total, even when
//! no request was counted there: the total left the overflow state out
//! unless it had counted a request, so a call whose first attempt was
//! counted in a state forgotten meanwhile, and whose retries then went
//! through the overflow state, was missing its retries and its give-up.

use std::io::{self, ErrorKind};

use tower::{service_fn, Service};
use tower_conn_retry::{Backoff, Retry, RetryBudget, RetryPolicy};

fn get(uri: &str) -> http::Request<String> {
    http::Request::get(uri).body(String::new()).unwrap()
}

#[tokio::test]
async fn retries_through_the_overflow_state_are_in_the_total() {
    // a.example refuses every connect; the others answer.
    let inner = service_fn(|request: http::Request<String>| async move {
        if request.uri().host() == Some("a.example") {
            Err(io::Error::from(ErrorKind::ConnectionRefused))
        } else {
            Ok(http::Response::new(String::new()))
        }
    });
    let policy = RetryPolicy::builder()
        .max_retries(1)
        .backoff(Backoff::none())
        .budget(RetryBudget::default().max_authorities(1))
        .build()
        .unwrap();
    let mut first = Retry::new(inner, policy.clone());
    let mut second = first.clone();

    // a.example's request is counted in its state, the table's only one;
    // its future is not polled yet.
    let call_a = first.ready().await.unwrap().call(get("http://a.example/"));
    // Nothing caches a.example's state now: it is idle, and c.example's
    // request (through a service that keeps c.example's state) takes its
    // place in the table.
    drop(first);
    second
        .ready()
        .await
        .unwrap()
        .call(get("http://c.example/"))
        .await
        .unwrap();
    // a.example's connect fails: its retry and its give-up go through the
    // overflow state (the table is full of c.example's state, in use).
    call_a.await.unwrap_err();

    let total = policy.stats().total;
    assert_eq!(total.requests, 2, "{total:?}");
    assert_eq!(total.retries.connect, 1, "{total:?}");
    assert_eq!(total.give_ups.retries_spent, 1, "{total:?}");
    assert_eq!(total.failed(), 1, "{total:?}");
}
