//! `Retryable` requests that name their destination draw on its own budget
//! and gate: a dead peer never holds back the retries to a healthy one.

use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::join_all;
use http::uri::Authority;
use tokio::time::Instant;
use tower::Service;
use tower_conn_retry::{Retry, RetryPolicy, Retryable};

/// A dialer: the dead peer refuses every connect; the late one refuses
/// them for its first 300 ms, then accepts.
#[derive(Clone)]
struct Dialer {
    late: SocketAddr,
    up_at: Instant,
}

impl Service<Retryable<SocketAddr>> for Dialer {
    type Response = SocketAddr;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<SocketAddr>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Retryable<SocketAddr>) -> Self::Future {
        let addr = *request.get_ref();
        let up = addr == self.late && Instant::now() >= self.up_at;
        Box::pin(async move {
            // A connect takes a millisecond either way.
            tokio::time::sleep(Duration::from_millis(1)).await;
            if up {
                Ok(addr)
            } else {
                Err(io::Error::from(ErrorKind::ConnectionRefused))
            }
        })
    }
}

/// Twenty calls to a dead peer and one to a late one, at once, through one
/// policy: whether the late one connected, how long it took, and how many
/// destinations the policy's stats name.
async fn late_call(named: bool) -> (bool, Duration, usize) {
    let dead: SocketAddr = "127.0.0.1:7001".parse().unwrap();
    let late: SocketAddr = "127.0.0.1:7002".parse().unwrap();
    let dialer = Dialer {
        late,
        up_at: Instant::now() + Duration::from_millis(300),
    };
    let policy = RetryPolicy::builder()
        .max_retries(10)
        .jitter_seed(5)
        .build()
        .unwrap();
    let service = Retry::new(dialer, policy);
    let request = |addr: SocketAddr| {
        let request = Retryable::idempotent(addr);
        if named {
            request.to(Authority::try_from(addr.to_string()).unwrap())
        } else {
            request
        }
    };
    let start = Instant::now();
    let to_dead = (0..20).map(|_| service.clone().oneshot(request(dead)));
    let to_late = async {
        let result = service.clone().oneshot(request(late)).await;
        (result.is_ok(), start.elapsed())
    };
    let (_, (connected, took)) = tokio::join!(join_all(to_dead), to_late);
    (connected, took, service.stats().authorities.len())
}

#[tokio::test(start_paused = true)]
async fn a_dead_peer_does_not_hold_back_a_named_healthy_one() {
    let (connected, took, destinations) = late_call(true).await;
    assert!(connected);
    assert_eq!(
        destinations, 2,
        "each named peer has its own budget and gate"
    );
    // Its own backoff alone: the server is up at 300 ms, and the retries'
    // pauses are at most 100, 200, 400 and 800 ms.
    assert!(took <= Duration::from_millis(1_500), "{took:?}");
}

/// Unnamed, every `Retryable` request of the policy shares one budget and
/// gate.
#[tokio::test(start_paused = true)]
async fn unnamed_peers_share_one_budget_and_gate() {
    let (connected, _, destinations) = late_call(false).await;
    assert!(connected);
    assert_eq!(destinations, 1);
}
