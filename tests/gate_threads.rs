//! Many tasks on a multi-thread runtime hit
//! one dead authority, which then recovers. Real time, bounded.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response};
use tower::{Service, ServiceExt};
use tower_conn_retry::{Backoff, Retry, RetryBudget, RetryPolicy};

#[derive(Clone)]
struct DeadUntil {
    until: Instant,
    attempts: Arc<AtomicUsize>,
}

impl Service<Request<String>> for DeadUntil {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Response<String>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let up = Instant::now() >= self.until;
        Box::pin(async move {
            if up {
                Ok(Response::new(String::new()))
            } else {
                Err(io::Error::from(io::ErrorKind::ConnectionRefused))
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_on_a_dead_authority_all_end_and_are_answered_after_recovery() {
    let upstream = DeadUntil {
        until: Instant::now() + Duration::from_millis(300),
        attempts: Arc::default(),
    };
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
    let attempts = upstream.attempts.load(Ordering::SeqCst);
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
