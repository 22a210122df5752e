//! `RetryStats` through a real `hyper_util` client on loopback: what each
//! count says, per authority and in total, and that every clone of the
//! policy, the layer and the service counts together. Each assertion fails
//! if the count it reads were not made.
#![cfg(feature = "hyper")]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tower::Layer;
use tower_conn_retry::{
    AuthorityStats, Backoff, Jitter, RetryBudget, RetryCounts, RetryLayer, RetryPolicy, RetryStats,
};

use support::client::{http_client, layered, Body};
use support::server;

fn get(addr: SocketAddr) -> Request<Body> {
    Request::get(format!("http://{addr}/"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// The entry of `addr` in `stats`.
fn entry(stats: &RetryStats, addr: SocketAddr) -> &AuthorityStats {
    let label = format!("http://{addr}");
    stats
        .authorities
        .iter()
        .find(|entry| entry.authority == label)
        .unwrap_or_else(|| panic!("no entry for {label}: {stats:?}"))
}

/// The authorities' counts, summed.
fn sum(stats: &RetryStats) -> RetryCounts {
    let mut sum = RetryCounts::default();
    for entry in &stats.authorities {
        sum += entry.counts;
    }
    sum
}

/// A healthy server and a dead port under the default policy: each has
/// its entry, the dead port's retries and give-ups are its own, and the
/// entries add up to the total.
#[tokio::test(start_paused = true)]
async fn each_authority_is_counted_apart_and_they_add_up_to_the_total() {
    let (healthy, served) = server::serve_status(StatusCode::OK).await;
    let dead = server::unused_addr();
    let (client, attempts) = layered(http_client(), RetryPolicy::default());

    for _ in 0..4 {
        let response = client.clone().oneshot(get(healthy)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    for _ in 0..3 {
        let error = client.clone().oneshot(get(dead)).await.unwrap_err();
        assert!(error.is_connect(), "{error:?}");
    }

    let stats = client.stats();
    assert_eq!(stats.authorities.len(), 2, "{stats:?}");
    let up = entry(&stats, healthy).counts;
    assert_eq!(up.requests, 4, "{stats:?}");
    assert_eq!(up.attempts(), 4, "{stats:?}");
    assert_eq!(up.failed(), 0, "{stats:?}");
    assert_eq!(served.total(), 4);

    let down = entry(&stats, dead).counts;
    assert_eq!(down.requests, 3, "{stats:?}");
    assert_eq!(down.failed(), 3, "{stats:?}");
    assert_eq!(down.retry_successes, 0, "{stats:?}");
    // Every attempt the client made is counted: the first of each call,
    // and each retry (all to the dead port, after refused connects).
    let attempts = attempts.load(Ordering::SeqCst) as u64;
    assert!(
        attempts > 7,
        "the dead port's calls were retried: {attempts}"
    );
    assert_eq!(down.retries.connect, attempts - 7, "{stats:?}");
    assert_eq!(down.retries.total(), down.retries.connect, "{stats:?}");
    assert_eq!(
        down.budget_refused() + down.give_ups.retries_spent,
        3,
        "{stats:?}"
    );

    let mut added = sum(&stats);
    added.budget_balance = stats.total.budget_balance;
    assert_eq!(added, stats.total, "{stats:?}");
    assert_eq!(stats.total.attempts(), attempts, "{stats:?}");
}

/// A server that starts listening after three refused connects: without a
/// budget (so the count is exact), three retries after connect failures,
/// and one call saved by them.
#[tokio::test(start_paused = true)]
async fn a_late_server_counts_three_retries_and_one_success() {
    let addr = server::unused_addr();
    // Attempts at 0, 100, 300 ms are refused; the one at 700 ms answered.
    let served = server::serve_ok_after(addr, Duration::from_millis(500));
    let policy = RetryPolicy::builder()
        .backoff(Backoff::exponential(Duration::from_millis(100)).jitter(Jitter::None))
        .max_retries(5)
        .no_budget()
        .build()
        .unwrap();
    let (client, attempts) = layered(http_client(), policy);

    let response = client.clone().oneshot(get(addr)).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(served.total(), 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    let total = client.stats().total;
    assert_eq!(total.requests, 1, "{total:?}");
    assert_eq!(total.retries.connect, 3, "{total:?}");
    assert_eq!(total.retries.total(), 3, "{total:?}");
    assert_eq!(total.retry_successes, 1, "{total:?}");
    assert_eq!(total.attempts(), 4, "{total:?}");
    assert_eq!(total.failed(), 0, "{total:?}");
    assert!(
        client.stats().authorities.is_empty(),
        "no budget, no entries"
    );
}

/// A POST whose connection is reset after the server read it may have
/// been processed: it is returned, and counted as given up for that.
#[tokio::test]
async fn a_post_lost_after_it_was_read_counts_as_not_idempotent() {
    let (addr, seen) = server::reset_after_reading_request().await;
    let (client, attempts) = layered(http_client(), RetryPolicy::default());
    let post = Request::post(format!("http://{addr}/orders"))
        .body(Full::new(Bytes::from_static(b"order")))
        .unwrap();

    client.clone().oneshot(post).await.unwrap_err();

    assert_eq!(seen.total(), 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    let stats = client.stats();
    assert_eq!(stats.total.requests, 1, "{stats:?}");
    assert_eq!(stats.total.give_ups.not_idempotent, 1, "{stats:?}");
    assert_eq!(stats.total.failed(), 1, "{stats:?}");
    assert_eq!(stats.total.retries.total(), 0, "{stats:?}");
    assert_eq!(
        entry(&stats, addr).counts.give_ups.not_idempotent,
        1,
        "{stats:?}"
    );
}

/// The policy, its clones, the layer made from it, the layer's clones and
/// every service they made (and their clones) count together.
#[tokio::test]
async fn clones_of_the_policy_layer_and_service_count_together() {
    let (addr, _) = server::serve_status(StatusCode::OK).await;
    let policy = RetryPolicy::builder().name("shared").build().unwrap();
    let layer = RetryLayer::new(policy.clone());
    let first = layer.clone().layer(http_client());
    let second = layer.layer(http_client());

    first.clone().oneshot(get(addr)).await.unwrap();
    first.clone().oneshot(get(addr)).await.unwrap();
    second.clone().oneshot(get(addr)).await.unwrap();

    let stats = policy.stats();
    assert_eq!(stats.name.as_deref(), Some("shared"));
    assert_eq!(stats.total.requests, 3, "{stats:?}");
    assert_eq!(entry(&stats, addr).counts.requests, 3, "{stats:?}");
    assert_eq!(layer.stats(), stats);
    assert_eq!(first.stats(), stats);
    assert_eq!(second.stats(), stats);
}

/// Past `max_authorities`, an idle authority is forgotten to make room:
/// its entry leaves the list, its counts stay in the total.
#[tokio::test(start_paused = true)]
async fn a_forgotten_authority_keeps_its_counts_in_the_total() {
    let dead = server::unused_addr();
    let (healthy, _) = server::serve_status(StatusCode::OK).await;
    let policy = RetryPolicy::builder()
        .budget(RetryBudget::default().max_authorities(1))
        .build()
        .unwrap();
    let layer = RetryLayer::new(policy);

    // Each service caches the state of its last authority: a service of
    // its own for each, dropped once done, leaves the state idle.
    let to_dead = layer.layer(http_client());
    for _ in 0..2 {
        to_dead.clone().oneshot(get(dead)).await.unwrap_err();
    }
    let before = layer.stats();
    drop(to_dead);
    assert_eq!(entry(&before, dead).counts.requests, 2, "{before:?}");
    let dead_counts = before.total;
    assert_eq!(dead_counts.failed(), 2, "{before:?}");
    assert!(dead_counts.retries.connect > 0, "{before:?}");

    let to_healthy = layer.layer(http_client());
    for _ in 0..3 {
        to_healthy.clone().oneshot(get(healthy)).await.unwrap();
    }

    let stats = layer.stats();
    assert_eq!(stats.authorities.len(), 1, "{stats:?}");
    assert_eq!(
        stats.authorities[0].authority,
        format!("http://{healthy}"),
        "the dead port was forgotten to make room: {stats:?}"
    );
    assert_eq!(stats.authorities[0].counts.requests, 3, "{stats:?}");
    assert_eq!(stats.total.requests, 5, "{stats:?}");
    assert_eq!(stats.total.failed(), dead_counts.failed(), "{stats:?}");
    assert_eq!(stats.total.retries, dead_counts.retries, "{stats:?}");
    assert_eq!(stats.total.give_ups, dead_counts.give_ups, "{stats:?}");
}

/// A call the policy never sends again (`max_retries(0)`, `idempotent_only`
/// and a POST) passes through as it is: it is counted among the requests,
/// but its failure is not a give-up of this layer (nothing was kept to
/// classify it with: that is what makes such calls free), as the docs of
/// `RetryCounts::failed` say. The layer around the connector, in the
/// combined placement, counts the connect failures of those calls.
#[tokio::test(start_paused = true)]
async fn a_call_never_sent_again_passes_through_counted_only_as_a_request() {
    let dead = server::unused_addr();
    let policy = RetryPolicy::builder().max_retries(0).build().unwrap();
    let (client, attempts) = layered(http_client(), policy);

    let error = client.clone().oneshot(get(dead)).await.unwrap_err();

    assert!(error.is_connect(), "{error:?}");
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    let total = client.stats().total;
    assert_eq!(total.requests, 1, "{total:?}");
    assert_eq!(total.attempts(), 1, "{total:?}");
    assert_eq!(total.failed(), 0, "{total:?}");
}

/// A retry the budget does not let go was never sent: it is a give-up,
/// not a retry, and the attempts are the calls the inner service saw.
#[tokio::test(start_paused = true)]
async fn a_retry_the_budget_refused_is_not_counted_as_sent() {
    // A GET whose connection is reset after the request was read: its
    // retry is charged to the budget (a refused connect's is not).
    let (addr, _requests) = server::reset_after_reading_request().await;
    let policy = RetryPolicy::builder()
        .budget(RetryBudget::default().ratio(0.0).min_per_second(0))
        .build()
        .unwrap();
    let (client, attempts) = layered(http_client(), policy);

    client.clone().oneshot(get(addr)).await.unwrap_err();

    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    let total = client.stats().total;
    assert_eq!(total.give_ups.budget, 1, "{total:?}");
    assert_eq!(total.retries.total(), 0, "{total:?}");
    assert_eq!(total.attempts(), 1, "{total:?}");
}

/// Nor is a retry whose service failed `poll_ready`, or whose caller went
/// away during its pause: neither was sent.
#[tokio::test(start_paused = true)]
async fn a_retry_never_sent_is_not_counted() {
    use std::io::ErrorKind;
    use support::mock::{Mock, Outcome};
    use tower_conn_retry::Retry;

    let request = || {
        Request::get("http://127.0.0.1:9/")
            .body(String::new())
            .unwrap()
    };
    let policy = || {
        RetryPolicy::builder()
            .backoff(Backoff::exponential(Duration::from_millis(50)).jitter(Jitter::None))
            .no_budget()
            .build()
            .unwrap()
    };

    let unready = Mock::new([Outcome::Fail(ErrorKind::ConnectionRefused)])
        .ready_error_after_first_call(ErrorKind::Other);
    let service = Retry::new(unready, policy());
    service.clone().oneshot(request()).await.unwrap_err();
    let total = service.stats().total;
    assert_eq!((total.requests, total.retries.total()), (1, 0), "{total:?}");

    let refused = Mock::new([Outcome::Fail(ErrorKind::ConnectionRefused)]);
    let seen = refused.seen();
    let service = Retry::new(refused, policy());
    let call = service.clone().oneshot(request());
    // Gone after the first attempt failed, during the pause.
    let gone = tokio::time::timeout(Duration::from_millis(1), call).await;
    assert!(gone.is_err(), "{gone:?}");
    assert_eq!(seen.lock().unwrap().calls.len(), 1);
    let total = service.stats().total;
    assert_eq!((total.requests, total.retries.total()), (1, 0), "{total:?}");
}

/// A snapshot taken while authorities are forgotten never goes back: the
/// counts of a forgotten authority move to the total as it leaves the
/// table, and a snapshot sees them in one place or the other, never in
/// neither. Threads: one sends each request to a new authority (each
/// forgetting the last, `max_authorities(1)`), one takes snapshots.
#[test]
fn a_snapshot_during_forgetting_never_goes_back() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    const REQUESTS: u64 = 100_000;
    let policy = RetryPolicy::builder()
        .budget(RetryBudget::default().max_authorities(1))
        .build()
        .unwrap();
    let layer = RetryLayer::new(policy);
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let layer = layer.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut last = 0;
            let mut snapshots = 0u64;
            while !done.load(Ordering::Acquire) {
                let requests = layer.stats().total.requests;
                assert!(
                    requests >= last,
                    "went back from {last} to {requests} after {snapshots} snapshots"
                );
                last = requests;
                snapshots += 1;
            }
        })
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let answering = tower::service_fn(|_: Request<String>| async {
            Ok::<_, std::io::Error>(http::Response::new(String::new()))
        });
        for i in 0..REQUESTS {
            let request = Request::get(format!("http://host-{i}.test/"))
                .body(String::new())
                .unwrap();
            layer.layer(answering).oneshot(request).await.unwrap();
        }
    });
    done.store(true, Ordering::Release);
    reader.join().unwrap();
    assert_eq!(layer.stats().total.requests, REQUESTS);
}
