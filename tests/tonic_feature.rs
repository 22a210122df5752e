//! The `tonic` feature: a tonic `Channel` wrapped in one line
//! (`RetryChannel::new(channel, policy)`), taken by tonic's client, against
//! servers on 127.0.0.1:
//! - a tonic server (tonic's own server-side `Grpc` codec, over hyper's
//!   HTTP/2 server) that starts listening only at the third connect: the
//!   call goes through, processed once;
//! - an HTTP/2 server that refuses each call's first stream with
//!   REFUSED_STREAM: the call is sent again, processed once; one that
//!   refuses every stream: `Unavailable` once retries are spent, or at
//!   once for a call whose body outgrew the replay limit;
//! - a server that resets the connection after the call arrived: sent
//!   once, with the status tonic gives it;
//! - a dead port, with the default policy and its budget: every call ends
//!   with `Unavailable`, the transport error as its source, and the
//!   retries stay within what the budget allows.
#![cfg(feature = "tonic")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::join_all;
use http::Uri;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tonic::transport::Endpoint;
use tower::Service;
use tower_conn_retry::tonic::RetryChannel;
use tower_conn_retry::{Backoff, ErrorClass, Jitter, RequestHead, RetryPolicy};

use support::grpc::{class_of_source, refusing_echo_server, say, Echo};
use support::h2_server::Ledger;
use support::server::unused_addr;

/// A policy for exact counts: `max_retries`, pauses of 10, 20, 40 ms, no
/// budget.
fn exact(max_retries: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(max_retries)
        .backoff(Backoff::exponential(Duration::from_millis(10)).jitter(Jitter::None))
        .no_budget()
        .build()
        .unwrap()
}

// ===== a tonic server =====

/// Serves `echo.Echo/Say` on `listener` with tonic's server-side `Grpc`
/// (tonic 0.14.9 `server/grpc.rs`, `Grpc::unary`: decodes the request
/// message, calls the service, encodes the reply and its status) over
/// hyper's HTTP/2 server, as tonic's `Server` does below its router.
/// Records each call's `x-request-id` in `ledger`. With `slow_first`, the
/// first run of each call id answers only after that long.
fn serve_tonic_echo(listener: TcpListener, ledger: Ledger, slow_first: Option<Duration>) {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let echo = service_fn(move |request: http::Request<Incoming>| {
                    let ledger = ledger.clone();
                    async move {
                        let id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|id| id.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let method = request.method().clone();
                        let say = tower::service_fn(move |call: tonic::Request<Echo>| {
                            ledger.update(&id, &method, |entry| entry.processed += 1);
                            let first = ledger.get(&id).processed == 1;
                            let delay = slow_first.filter(|_| first);
                            let text = call.into_inner().text.to_uppercase();
                            async move {
                                if let Some(delay) = delay {
                                    tokio::time::sleep(delay).await;
                                }
                                Ok::<_, tonic::Status>(tonic::Response::new(Echo { text }))
                            }
                        });
                        let mut grpc =
                            tonic::server::Grpc::new(
                                tonic_prost::ProstCodec::<Echo, Echo>::default(),
                            );
                        Ok::<_, Infallible>(grpc.unary(say, request).await)
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), echo)
                    .await;
            });
        }
    });
}

/// An `HttpConnector` that counts its connects and, at connect number
/// `start_at` (if any), starts the tonic echo server on `addr` before
/// connecting: the connects before it are refused.
#[derive(Clone)]
struct LateServer {
    inner: HttpConnector,
    connects: Arc<AtomicUsize>,
    start_at: Option<usize>,
    addr: SocketAddr,
    ledger: Ledger,
}

impl LateServer {
    /// A channel to `addr` through a `LateServer` starting at `start_at`,
    /// and its count of connects.
    fn channel(
        addr: SocketAddr,
        start_at: Option<usize>,
        ledger: Ledger,
    ) -> (tonic::transport::Channel, Arc<AtomicUsize>) {
        let connects = Arc::new(AtomicUsize::new(0));
        let connector = LateServer {
            inner: HttpConnector::new(),
            connects: connects.clone(),
            start_at,
            addr,
            ledger,
        };
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_with_connector_lazy(connector);
        (channel, connects)
    }
}

impl Service<Uri> for LateServer {
    type Response = <HttpConnector as Service<Uri>>::Response;
    type Error = <HttpConnector as Service<Uri>>::Error;
    type Future = <HttpConnector as Service<Uri>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connect = self.connects.fetch_add(1, Ordering::SeqCst) + 1;
        if Some(connect) == self.start_at {
            let listener = std::net::TcpListener::bind(self.addr).expect("bind the late port");
            listener.set_nonblocking(true).unwrap();
            let listener = TcpListener::from_std(listener).unwrap();
            serve_tonic_echo(listener, self.ledger.clone(), None);
        }
        self.inner.call(uri)
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_to_a_tonic_server_that_starts_late_goes_through() {
    let addr = unused_addr();
    let ledger = Ledger::default();
    let (channel, connects) = LateServer::channel(addr, Some(3), ledger.clone());
    let channel = RetryChannel::new(channel, exact(3));

    let reply = say(channel.clone(), "hello", "late-1").await.unwrap();

    assert_eq!(reply.into_inner().text, "HELLO");
    assert_eq!(connects.load(Ordering::SeqCst), 3, "two refused connects");
    assert_eq!(ledger.get("late-1").processed, 1);
    let stats = channel.stats().total;
    assert_eq!((stats.requests, stats.retries.connect), (1, 2), "{stats:?}");
    assert_eq!(stats.retry_successes, 1, "{stats:?}");
}

// ===== a refused stream =====

#[tokio::test(start_paused = true)]
async fn a_refused_call_is_sent_again_and_processed_once() {
    let (addr, ledger) = refusing_echo_server().await;
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let channel = RetryChannel::new(channel, exact(3));

    for id in ["refused-1", "refused-2"] {
        let reply = say(channel.clone(), "hello", id).await.unwrap();
        assert_eq!(reply.into_inner().text, "HELLO");
        let entry = ledger.get(id);
        assert_eq!((entry.refused, entry.processed), (1, 1), "{id}");
    }
    let stats = channel.stats().total;
    assert_eq!(stats.retries.not_processed, 2, "{stats:?}");
    assert_eq!(stats.retries.connect, 0, "{stats:?}");
}

/// An HTTP/2 server on 127.0.0.1 that refuses every stream with
/// REFUSED_STREAM, unprocessed, and counts them.
async fn refusing_everything() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let refused = Arc::new(AtomicUsize::new(0));
    let counted = refused.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(stream).await else {
                    return;
                };
                while let Some(Ok((_, mut respond))) = connection.accept().await {
                    counted.fetch_add(1, Ordering::SeqCst);
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                }
            });
        }
    });
    (addr, refused)
}

// Real time: a paused clock would let the timeout fire while the
// runtime waits on the socket.
#[tokio::test]
async fn the_layer_retries_below_a_service_builder_stack() {
    // `RetryChannelLayer` above a per-attempt timeout: the timeout's boxed
    // error is read by the default classifier too.
    let (addr, ledger) = refusing_echo_server().await;
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let layer = tower_conn_retry::tonic::RetryChannelLayer::new(exact(3));
    let channel = tower::ServiceBuilder::new()
        .layer(layer)
        .timeout(Duration::from_secs(5))
        .service(channel);

    let reply = say(channel.clone(), "hello", "layer-1").await.unwrap();

    assert_eq!(reply.into_inner().text, "HELLO");
    let entry = ledger.get("layer-1");
    assert_eq!((entry.refused, entry.processed), (1, 1));
    assert_eq!(channel.stats().total.retries.not_processed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_call_refused_on_every_attempt_ends_unavailable() {
    // tonic's own mapping makes a refused stream `Unknown` in a client
    // built without tonic's `server` feature (tonic 0.14.9 `status.rs`,
    // `from_hyper_error`): the call was not processed, so it is
    // `Unavailable` here, whatever tonic's features.
    let (addr, refused) = refusing_everything().await;
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let channel = RetryChannel::new(channel, exact(2));

    let status = say(channel.clone(), "hello", "refused-3")
        .await
        .unwrap_err();

    assert_eq!(refused.load(Ordering::SeqCst), 3);
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("the server refused the call unprocessed: "),
        "{status:?}"
    );
    assert_eq!(
        class_of_source(&status),
        ErrorClass::NotProcessed,
        "{status:?}"
    );
    assert_eq!(channel.stats().total.give_ups.retries_spent, 1);
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_body_outgrew_the_replay_limit_is_sent_once() {
    // The call's message is a 5-byte gRPC frame head and 7 bytes of
    // message, one frame: past a 16-byte limit (32 bytes count per frame).
    let (addr, refused) = refusing_everything().await;
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let channel = RetryChannel::new(channel, exact(3)).with_replay_limit(16);

    let status = say(channel.clone(), "hello", "big-1").await.unwrap_err();

    assert_eq!(refused.load(Ordering::SeqCst), 1, "{status:?}");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let stats = channel.stats().total;
    assert_eq!(stats.give_ups.not_copyable, 1, "{stats:?}");
}

// ===== a call that may have been processed =====

#[tokio::test]
async fn a_call_whose_connection_was_reset_after_it_arrived_keeps_tonics_status() {
    let (addr, processed) = support::grpc::resetting_server().await;
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let channel = RetryChannel::new(channel, exact(3));

    let status = say(channel.clone(), "hello", "reset-1").await.unwrap_err();

    // Sent once: a gRPC call is a POST, and it may have been processed.
    assert_eq!(processed.load(Ordering::SeqCst), 1, "{status:?}");
    assert_eq!(channel.stats().total.give_ups.not_idempotent, 1);
    // Not `Unavailable` (which would tell the caller it is safe to send
    // again): the status tonic itself gives it, the error as its source.
    assert_ne!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(
        class_of_source(&status),
        ErrorClass::ConnectionLost,
        "{status:?}"
    );
}

// Real time: tonic's timer and the server's pause race on real sockets.
#[tokio::test]
async fn tonics_own_timeout_is_a_lost_connection_as_towers_is() {
    // `Endpoint::timeout` ends an attempt with tonic's `TimeoutExpired`
    // (under its `transport::Error`): the call may have been processed, so
    // it is sent again only if it is idempotent, as after tower's
    // `Timeout` under the layer or reqwest's timeout. The server answers
    // each call's first run after 1 s, its second at once.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ledger = Ledger::default();
    serve_tonic_echo(listener, ledger.clone(), Some(Duration::from_secs(1)));
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_millis(200))
        .connect_lazy();
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::exponential(Duration::from_millis(10)).jitter(Jitter::None))
        .no_budget()
        .idempotent_when(|head: &RequestHead<'_>| {
            head.headers
                .get("x-request-id")
                .is_some_and(|id| id.as_bytes().starts_with(b"idempotent-"))
        })
        .build()
        .unwrap();
    let channel = RetryChannel::new(channel, policy);

    let calls = async {
        let idempotent = say(channel.clone(), "hello", "idempotent-1").await;
        let not_idempotent = say(channel.clone(), "hello", "once-1").await;
        (idempotent, not_idempotent)
    };
    let (idempotent, not_idempotent) = tokio::time::timeout(Duration::from_secs(20), calls)
        .await
        .expect("two calls with a 200 ms timeout each end within 20 s");

    let reply = idempotent.expect("the idempotent call is sent again, and answered");
    assert_eq!(reply.into_inner().text, "HELLO");
    assert_eq!(ledger.get("idempotent-1").processed, 2);
    let status = not_idempotent.expect_err("the other call is not sent again");
    assert_eq!(ledger.get("once-1").processed, 1, "{status:?}");
    assert_eq!(
        class_of_source(&status),
        ErrorClass::ConnectionLost,
        "{status:?}"
    );
    let stats = channel.stats().total;
    assert_eq!(stats.retries.connection_lost, 1, "{stats:?}");
    assert_eq!(stats.give_ups.not_idempotent, 1, "{stats:?}");
}

// ===== what tonic's clients need =====

#[test]
fn a_retry_channel_goes_where_a_channel_goes() {
    fn grpc_service<T>(_: &T)
    where
        T: tonic::client::GrpcService<tonic::body::Body, Error = tonic::Status>
            + Clone
            + Send
            + Sync
            + 'static,
        T::Future: Send + 'static,
        T::ResponseBody: Send + 'static,
    {
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let channel = Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
    grpc_service(&RetryChannel::new(channel, RetryPolicy::default()));
}

// ===== a dead server, until the budget is spent =====

/// Calls sent at once to the dead port.
const CALLS: usize = 50;

/// Sends `CALLS` calls at once through `policy` to a port nothing listens
/// on; checks each ends `Unavailable`, the transport error (a failed
/// connect) as its source. Returns the connects made, the time taken, and
/// the policy's counts.
async fn calls_to_a_dead_port(
    policy: RetryPolicy,
) -> (usize, Duration, tower_conn_retry::RetryCounts) {
    let addr = unused_addr();
    // No server ever starts: every connect is refused, and counted (with
    // tonic's `Channel`, each attempt of a call connects anew: tonic 0.14.9
    // `transport/channel/service/reconnect.rs`, `Reconnect` hands a failed
    // connect to one call and connects again for the next).
    let (channel, connects) = LateServer::channel(addr, None, Ledger::default());
    let channel = RetryChannel::new(channel, policy);
    let started = tokio::time::Instant::now();

    let calls = (0..CALLS).map(|k| {
        let channel = channel.clone();
        async move { say(channel, "hello", &format!("dead-{k}")).await }
    });
    let outcomes = join_all(calls).await;
    let elapsed = started.elapsed();

    for outcome in outcomes {
        let status = outcome.expect_err("nothing listens");
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(
            status
                .message()
                .starts_with("the call was not sent, connecting failed: "),
            "{status:?}"
        );
        assert_eq!(class_of_source(&status), ErrorClass::Connect, "{status:?}");
    }
    (
        connects.load(Ordering::SeqCst),
        elapsed,
        channel.stats().total,
    )
}

#[tokio::test(start_paused = true)]
async fn calls_to_a_dead_server_end_unavailable_within_the_budget() {
    // The default policy: 3 retries a call, and the default budget.
    let (connects, elapsed, stats) = calls_to_a_dead_port(RetryPolicy::default()).await;

    // Without the gate, 50 calls would make 150 retries. The retries of
    // the first failures go before the authority is marked down (at most
    // 4: it is down once 5 connects failed); then one retry at a time
    // probes it, at intervals from 100 ms doubling to 1 s, each jittered to
    // at least half (at most about 13 in the 5 s a retry may wait); the
    // other retries wait, up to 5 s, and give up. (The budget does not
    // bound these: a refused connect is not charged. Measured: 8 to 12.)
    assert!(elapsed < Duration::from_secs(10), "one window: {elapsed:?}");
    let retried = connects - CALLS;
    assert!(retried <= 17, "{retried} retries reached the dead port");
    assert_eq!(stats.requests, CALLS as u64, "{stats:?}");
    assert_eq!(stats.give_ups.total(), CALLS as u64, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn without_the_budget_every_call_spends_its_retries_on_the_dead_server() {
    // The same calls with no budget: 3 retries each reach the port. What
    // the test above bounds is the budget's doing.
    let policy = RetryPolicy::builder().no_budget().build().unwrap();
    let (connects, _, stats) = calls_to_a_dead_port(policy).await;

    assert_eq!(connects, CALLS * 4);
    assert_eq!(stats.give_ups.retries_spent, CALLS as u64, "{stats:?}");
}
