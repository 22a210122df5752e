//! Evidence counts only where it stands: each error below is raised by a
//! real `hyper_util` Client on loopback (127.0.0.1 only), and each test
//! asserts what the server processed, how often the request was attempted,
//! and the class the caller's error gets.
#![cfg(feature = "hyper")]

mod support;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::{Client, Error as ClientError};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tower::{service_fn, Service};
use tower_conn_retry::{Backoff, ErrorClass, Jitter, Retry, RetryPolicy};

use support::body::FailsAfterFirstChunk;
use support::server;

/// 3 retries, 1 ms apart.
fn policy() -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::exponential(Duration::from_millis(1)).jitter(Jitter::None))
        .build()
        .unwrap()
}

fn request<B>(method: Method, uri: impl AsRef<str>, body: B) -> Request<B> {
    Request::builder()
        .method(method)
        .uri(uri.as_ref())
        .body(body)
        .unwrap()
}

/// Counts the calls that reach `inner`.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    calls: Arc<AtomicUsize>,
}

impl<S: Service<R>, R> Service<R> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.call(request)
    }
}

fn counted<S>(inner: S) -> (Counted<S>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    (
        Counted {
            inner,
            calls: calls.clone(),
        },
        calls,
    )
}

// ===== an ICMP error on an established connection =====

/// A TCP connection whose reads fail with `HostUnreachable` as soon as the
/// server's answer arrives: the server has processed the request, and the
/// client sees what Linux reports after an ICMP host-unreachable on an
/// established connection.
struct UnreachableOnceAnswered(TcpStream);

impl AsyncRead for UnreachableOnceAnswered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut self.0).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            return Poll::Ready(Err(io::ErrorKind::HostUnreachable.into()));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for UnreachableOnceAnswered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Connection for UnreachableOnceAnswered {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

#[tokio::test]
async fn host_unreachable_on_an_established_connection_never_resends_a_post() {
    let (addr, seen) = server::serve_status(StatusCode::OK).await;
    let connector = service_fn(move |_: Uri| {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            Ok::<_, io::Error>(TokioIo::new(UnreachableOnceAnswered(stream)))
        })
    });
    let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector);

    for (method, attempts_expected) in [(Method::POST, 1), (Method::GET, 4)] {
        let (inner, attempts) = counted(client.clone());
        let mut client = Retry::new(inner, policy());
        let request = request(
            method.clone(),
            format!("http://{addr}/orders"),
            Full::default(),
        );
        let error = client
            .ready()
            .await
            .unwrap()
            .call(request)
            .await
            .unwrap_err();

        assert!(!error.is_connect(), "{error:?}");
        assert_eq!(
            ErrorClass::of(&error),
            ErrorClass::ConnectionLost,
            "{error:?}"
        );
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            attempts_expected,
            "{method}"
        );
        assert_eq!(seen.count(&method), attempts_expected, "{method} processed");
    }
}

// ===== the request's own body failed =====

#[tokio::test]
async fn a_post_whose_own_body_failed_is_sent_once() {
    let (addr, heads) = server::count_heads().await;
    let client = Client::builder(TokioExecutor::new()).build_http::<FailsAfterFirstChunk>();
    let (inner, attempts) = counted(client);
    let mut client = Retry::new(inner, policy());

    let request = request(
        Method::POST,
        format!("http://{addr}/upload"),
        FailsAfterFirstChunk::new(io::ErrorKind::ConnectionRefused),
    );
    let error = client
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();

    assert_eq!(ErrorClass::of(&error), ErrorClass::Other, "{error:?}");
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    // The head went out before the body failed, and went out only once.
    assert_eq!(heads.wait_for(1).await, 1);
}

// ===== failures that can never succeed =====

/// A `method` request to `uri` through a client on `connector`, with the
/// layer: the caller's error and the connection attempts made.
async fn send_through<C>(connector: C, method: Method, uri: String) -> (ClientError, usize)
where
    C: Service<Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send + 'static,
    C::Future: Unpin + Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (connector, connects) = counted(connector);
    let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector);
    let mut client = Retry::new(client, policy());
    let request = request(method, uri, Full::default());
    let error = client
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    (error, connects.load(Ordering::SeqCst))
}

#[tokio::test]
async fn an_https_uri_on_a_plain_http_connector_is_not_retried() {
    let (addr, seen) = server::serve_status(StatusCode::OK).await;

    let (error, connects) = send_through(
        HttpConnector::new(),
        Method::GET,
        format!("https://{addr}/"),
    )
    .await;

    assert!(error.is_connect(), "{error:?}");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Other, "{error:?}");
    assert_eq!(connects, 1);
    assert_eq!(seen.total(), 0);
}

#[tokio::test]
async fn a_rejected_tls_certificate_is_not_retried() {
    let (addr, seen) = server::serve_status(StatusCode::OK).await;
    // Connects for real, then fails the way a TLS connector reports a
    // certificate it does not trust.
    let tls = service_fn(move |_: Uri| {
        Box::pin(async move {
            let _tcp = TcpStream::connect(addr).await?;
            Err::<TokioIo<TcpStream>, _>(io::Error::new(
                io::ErrorKind::InvalidData,
                "invalid peer certificate: UnknownIssuer",
            ))
        })
    });

    let (error, connects) = send_through(tls, Method::GET, format!("http://{addr}/")).await;

    assert!(error.is_connect(), "{error:?}");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Other, "{error:?}");
    assert_eq!(connects, 1);
    assert_eq!(seen.total(), 0);
}

#[tokio::test]
async fn a_refused_connect_is_still_retried_for_every_method() {
    let addr: SocketAddr = server::unused_addr();

    let (error, connects) = send_through(
        HttpConnector::new(),
        Method::POST,
        format!("http://{addr}/"),
    )
    .await;

    assert!(error.is_connect(), "{error:?}");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Connect);
    assert_eq!(connects, 4);
}
