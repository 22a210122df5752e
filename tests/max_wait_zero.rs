//! `max_wait(Duration::ZERO)`: a retry that finds room in the budget goes
//! at once; only one that would have to wait gives up.

use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::join_all;
use http::{Request, Response};
use tower::{Service, ServiceExt};
use tower_conn_retry::{Backoff, Jitter, Retry, RetryBudget, RetryPolicy};

/// Resets the first attempt of each request (told apart by body) and
/// answers the rest.
#[derive(Clone, Default)]
struct ResetsFirstAttempts(Arc<Mutex<std::collections::HashSet<String>>>);

impl Service<Request<String>> for ResetsFirstAttempts {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let first = self.0.lock().unwrap().insert(request.body().clone());
        Box::pin(async move {
            if first {
                Err(io::Error::from(ErrorKind::ConnectionReset))
            } else {
                Ok(Response::new(String::new()))
            }
        })
    }
}

/// Three GETs reset once, with the budget's whole floor (10 retries) left
/// and its burst (3) free: every retry has room and goes. The wait's
/// deadline was dated before the pause, and the timer (tokio rounds a
/// sleep up to the millisecond) woke past it, so every retry was refused
/// (`waited`): 0 of 3 answered.
#[tokio::test(start_paused = true)]
async fn max_wait_zero_lets_every_retry_with_room_go() {
    let policy = RetryPolicy::builder()
        .backoff(
            Backoff::exponential(Duration::from_micros(1500))
                .max_delay(Duration::from_millis(3))
                .jitter(Jitter::Full),
        )
        .budget(RetryBudget::default().max_wait(Duration::ZERO))
        .jitter_seed(7)
        .build()
        .unwrap();
    let service = Retry::new(ResetsFirstAttempts::default(), policy);

    let results = join_all((0..3).map(|id| {
        let request = Request::get("http://127.0.0.1:8080/")
            .body(id.to_string())
            .unwrap();
        service.clone().oneshot(request)
    }))
    .await;

    let answered = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(answered, 3);
}
