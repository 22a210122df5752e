//! Many tasks on a multi-thread runtime hit one dead authority, which then
//! recovers. Real time, bounded.

use std::time::Duration;

use http::Request;
use tokio::time::Instant;
use tower::Service;
use tower_conn_retry::{Backoff, Retry, RetryBudget, RetryPolicy};

mod support;

use support::upstream::Upstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_on_a_dead_authority_all_end_and_are_answered_after_recovery() {
    let upstream = Upstream::down_between(Duration::ZERO, Duration::from_millis(300));
    let policy = RetryPolicy::builder()
        .backoff(Backoff::exponential(Duration::from_millis(10)))
        .max_retries(3)
        .budget(RetryBudget::default().ratio(1.0))
        .build()
        .unwrap();
    let service = Retry::new(upstream.clone(), policy);
    let started = Instant::now();
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let mut service = service.clone();
            tokio::spawn(async move {
                // Spread over the outage.
                tokio::time::sleep(Duration::from_micros(500 * i)).await;
                let request = Request::post("http://dead.test/")
                    .body(String::new())
                    .unwrap();
                let r = service.ready().await.unwrap().call(request).await;
                (r, Instant::now())
            })
        })
        .collect();
    let mut ok = 0;
    let mut err = 0;
    let mut times = Vec::new();
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(20), task).await {
            Ok(Ok((Ok(_), at))) => {
                ok += 1;
                times.push((at - started).as_millis());
            }
            Ok(Ok((Err(_), at))) => {
                err += 1;
                eprintln!("err at {:?}", at - started);
            }
            Ok(Err(panic)) => panic!("a task panicked: {panic:?}"),
            Err(_) => panic!("a request hung: {ok} ok, {err} failed so far"),
        }
    }
    let attempts = upstream.attempts().len();
    eprintln!(
        "ok {ok} err {err} attempts {attempts} in {:?}",
        started.elapsed()
    );
    times.sort();
    eprintln!(
        "ok done at ms: p10 {} p50 {} p90 {} max {}",
        times[times.len() / 10],
        times[times.len() / 2],
        times[times.len() * 9 / 10],
        times[times.len() - 1]
    );
    // Every request ended (none hung, none lost), and the retries that
    // waited through the outage were answered once it ended.
    assert_eq!(ok + err, 400);
    assert!(ok >= 300, "{ok} of 400 answered");
}
