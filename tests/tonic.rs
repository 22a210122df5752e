//! tonic, both placements:
//! - the connector: `Endpoint::connect_with_connector` takes the retrying
//!   connector, and a channel to a loopback HTTP/2 server that starts late
//!   connects and carries a call;
//! - the channel: the layer around a `Channel`, with the call's body
//!   wrapped in a `ReplayBody`, retries a call the server refused
//!   (REFUSED_STREAM) and one to a server that starts late; when retries
//!   are spent the caller sees `Unavailable`, the original error in its
//!   `source()`;
//! - the channel's own connect failures, which tonic wraps in its
//!   `ConnectError` (hiding hyper-util's `is_connect()`): a failed DNS
//!   lookup and a connect timeout to a full accept backlog are retried for
//!   a call (a POST), by both of tonic's connectors; a connection the
//!   server resets after reading the call is not.
#![cfg(feature = "hyper")]

mod support;

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tonic::transport::Endpoint;
use tower::{Service, ServiceExt};

use support::connector::retrying_connector;

/// An HTTP/2 server on `addr` from `delay` on, answering every call with an
/// empty gRPC success.
fn serve_h2_after(addr: std::net::SocketAddr, delay: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let listener = TcpListener::bind(addr).await.expect("bind the late port");
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let ok = service_fn(|_: Request<Incoming>| async {
                    let response = Response::builder()
                        .header("content-type", "application/grpc")
                        .header("grpc-status", "0")
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), ok)
                    .await;
            });
        }
    });
}

#[tokio::test]
async fn a_tonic_channel_connects_through_the_retrying_connector() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Connection attempts at about 0, 100 and 300 ms; the server listens
    // from 200 ms on: 100 ms of slack either side.
    serve_h2_after(addr, Duration::from_millis(200));
    let (connector, attempts) = retrying_connector(10, Duration::from_millis(100));

    let mut channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_with_connector(connector)
        .await
        .expect("the channel connects once the server is up");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);

    let call = Request::post(format!("http://{addr}/echo.Echo/Say"))
        .header("content-type", "application/grpc")
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = channel.ready().await.unwrap().call(call).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "0");
    assert_eq!(attempts.load(Ordering::SeqCst), 3, "the call reconnected");
}

// ===== the layer around the channel =====

#[cfg(feature = "http2")]
mod channel {
    use super::*;
    use std::error::Error as StdError;
    use std::sync::Arc;

    use tonic::transport::Channel;
    use tower::ServiceBuilder;
    use tower_conn_retry::{Backoff, ErrorClass, Jitter, ReplayBody, RetryLayer, RetryPolicy};

    use crate::support::grpc::{echo_server_after, refusing_echo_server, say};

    type BoxError = Box<dyn StdError + Send + Sync>;

    /// The most of a call's body kept for a replay.
    const REPLAY_LIMIT: usize = 64 * 1024;

    /// A channel wrapped in the layer: each call's body is recorded (up
    /// to `REPLAY_LIMIT`) so it can be sent again, and an error left once
    /// retries are spent becomes `Unavailable` with the error as source.
    pub(crate) fn retrying(
        channel: Channel,
        max_retries: u32,
    ) -> impl tonic::client::GrpcService<
        tonic::body::Body,
        Error = BoxError,
        ResponseBody = tonic::body::Body,
        Future = impl Send,
    > + Clone {
        let policy = RetryPolicy::builder()
            .max_retries(max_retries)
            .backoff(Backoff::exponential(Duration::from_millis(20)).jitter(Jitter::None))
            .classifier(|error: &tonic::transport::Error| ErrorClass::of(error))
            .build()
            .unwrap();
        ServiceBuilder::new()
            .map_err(unavailable)
            .map_request(|call: Request<tonic::body::Body>| {
                call.map(|body| ReplayBody::new(body, REPLAY_LIMIT))
            })
            .layer(RetryLayer::new(policy))
            .map_request(|call: Request<ReplayBody<tonic::body::Body>>| {
                call.map(tonic::body::Body::new)
            })
            .service(channel)
    }

    /// A connection failure is `Unavailable` to a gRPC caller, with the
    /// transport's error reachable through `source()`.
    fn unavailable(error: tonic::transport::Error) -> BoxError {
        let mut status = tonic::Status::unavailable(error.to_string());
        status.set_source(Arc::new(error));
        Box::new(status)
    }

    #[tokio::test]
    async fn a_refused_call_is_sent_again_and_processed_once() {
        let (addr, ledger) = refusing_echo_server().await;
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();

        for id in ["call-1", "call-2"] {
            let reply = say(retrying(channel.clone(), 3), "hello", id)
                .await
                .unwrap();
            assert_eq!(reply.into_inner().text, "HELLO");
            let entry = ledger.get(id);
            assert_eq!((entry.refused, entry.processed), (1, 1), "{id}");
        }
    }

    #[tokio::test]
    async fn a_call_to_a_server_that_starts_late_goes_through() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        // Attempts at about 0, 20, 60, 140, 300 ms; the server listens from
        // 100 ms on.
        let ledger = echo_server_after(addr, Duration::from_millis(100));
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();

        let reply = say(retrying(channel, 6), "hello", "late-1").await.unwrap();

        assert_eq!(reply.into_inner().text, "HELLO");
        assert_eq!(ledger.get("late-1").processed, 1);
    }

    #[tokio::test]
    async fn when_retries_are_spent_the_caller_sees_unavailable_with_the_cause() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();

        let status = say(retrying(channel, 2), "hello", "dead-1")
            .await
            .unwrap_err();

        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        let source = status.source().expect("the transport error is kept");
        let transport = source
            .downcast_ref::<tonic::transport::Error>()
            .expect("a tonic transport error");
        assert_eq!(
            ErrorClass::of(transport),
            ErrorClass::Connect,
            "{transport:?}"
        );
    }
}

// ===== tonic's own connect failures, around the channel =====

#[cfg(feature = "http2")]
mod connect_failures {
    use super::*;
    use std::io;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};
    use std::time::Instant;

    use hyper_util::client::legacy::connect::dns::Name;
    use hyper_util::client::legacy::connect::HttpConnector;
    use tokio::net::{TcpSocket, TcpStream};
    use tonic::transport::Channel;
    use tower_conn_retry::ErrorClass;

    use crate::channel::retrying;
    use crate::support::grpc::{echo_server, say, serve_echo_on};
    use crate::support::h2_server::Ledger;

    /// A resolver that fails its first `failures` lookups, as a name that
    /// does not resolve yet would, then answers `addr`: no lookup leaves
    /// the machine. Records the names it was asked.
    #[derive(Clone)]
    struct ScriptedResolver {
        failures: usize,
        addr: SocketAddr,
        asked: Arc<Mutex<Vec<String>>>,
    }

    impl Service<Name> for ScriptedResolver {
        type Response = std::vec::IntoIter<SocketAddr>;
        type Error = io::Error;
        type Future = std::future::Ready<Result<Self::Response, io::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, name: Name) -> Self::Future {
            let mut asked = self.asked.lock().unwrap();
            asked.push(name.as_str().to_string());
            // getaddrinfo's failure, as hyper-util's `GaiResolver` returns
            // it: an io error of no telling kind.
            std::future::ready(if asked.len() <= self.failures {
                Err(io::Error::other("failed to lookup address information"))
            } else {
                Ok(vec![self.addr].into_iter())
            })
        }
    }

    #[tokio::test]
    async fn a_call_after_a_failed_dns_lookup_is_sent_again() {
        let (addr, ledger) = echo_server().await;
        let resolver = ScriptedResolver {
            failures: 2,
            addr,
            asked: Arc::default(),
        };
        let connector = HttpConnector::new_with_resolver(resolver.clone());
        let channel = Endpoint::from_shared(format!("http://grpc.invalid:{}", addr.port()))
            .unwrap()
            .connect_with_connector_lazy(connector);

        let reply = say(retrying(channel, 3), "hello", "dns-1").await.unwrap();

        assert_eq!(reply.into_inner().text, "HELLO");
        assert_eq!(ledger.get("dns-1").processed, 1);
        assert_eq!(*resolver.asked.lock().unwrap(), ["grpc.invalid"; 3]);
    }

    /// A listener on 127.0.0.1 whose accept queue is full: it never
    /// accepts, and connections are opened to it until one is not
    /// answered (Linux drops a SYN when the accept queue is full:
    /// `tcp_conn_request`, `sk_acceptq_is_full`). The connections that
    /// filled it are returned, to be kept open.
    async fn full_backlog() -> (TcpListener, Vec<TcpStream>) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut fillers = Vec::new();
        for _ in 0..64 {
            let connect = TcpStream::connect(addr);
            match tokio::time::timeout(Duration::from_millis(200), connect).await {
                Ok(stream) => fillers.push(stream.expect("connect to the backlog")),
                Err(_) => return (listener, fillers),
            }
        }
        panic!("the accept queue never filled");
    }

    /// Calls through a channel to a full accept backlog that `channel`
    /// builds with a 100 ms connect timeout; the listener starts accepting
    /// (and serving the echo) 250 ms in. Attempts at about 0, 120 and
    /// 260 ms (20 ms base, no jitter): the first two time out.
    async fn call_through_a_full_backlog(channel: impl FnOnce(Endpoint) -> Channel) {
        let (listener, _fillers) = full_backlog().await;
        let addr = listener.local_addr().unwrap();
        let ledger = Ledger::default();
        let serving = ledger.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            serve_echo_on(listener, serving);
        });
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_millis(100));

        let started = Instant::now();
        let reply = say(retrying(channel(endpoint), 6), "hello", "backlog-1")
            .await
            .unwrap();

        assert_eq!(reply.into_inner().text, "HELLO");
        assert_eq!(ledger.get("backlog-1").processed, 1);
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "two connect timeouts came first: {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_call_after_a_connect_timeout_is_sent_again() {
        // tonic's own connector: `HttpConnector::set_connect_timeout`.
        call_through_a_full_backlog(|endpoint| endpoint.connect_lazy()).await;
    }

    #[tokio::test]
    async fn a_call_after_a_connect_timeout_of_a_custom_connector_is_sent_again() {
        // A connector of the user's own: tonic puts hyper-timeout's
        // `TimeoutConnector` around it.
        call_through_a_full_backlog(|endpoint| {
            endpoint.connect_with_connector_lazy(HttpConnector::new())
        })
        .await;
    }

    #[test]
    fn tonics_connect_error_counts_only_under_a_channels_error() {
        // tonic exports `ConnectError`; outside a `Channel`'s
        // `transport::Error` its shape proves nothing, and only the io
        // kind inside is read, as for any error.
        let timed_out = tonic::ConnectError(Box::new(io::Error::from(io::ErrorKind::TimedOut)));
        assert_eq!(ErrorClass::of(&timed_out), ErrorClass::ConnectionLost);
        let dns = tonic::ConnectError(Box::new(io::Error::other("dns error")));
        assert_eq!(ErrorClass::of(&dns), ErrorClass::Other);
    }

    #[tokio::test]
    async fn a_call_whose_connection_was_reset_after_it_arrived_is_not_sent_again() {
        let (addr, processed) = crate::support::grpc::resetting_server().await;
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();

        let status = say(retrying(channel, 3), "hello", "reset-1")
            .await
            .unwrap_err();

        assert_eq!(processed.load(Ordering::SeqCst), 1, "{status:?}");
        assert_eq!(
            crate::support::grpc::class_of_source(&status),
            ErrorClass::ConnectionLost,
            "{status:?}"
        );
    }
}
