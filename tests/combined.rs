//! The combined placement: connect failures retried for every method at
//! the connector (no copy), lost connections retried for idempotent
//! requests at the client with `idempotent_only()` (no copy of anything
//! else). Real hyper-util clients and servers on 127.0.0.1.
#![cfg(feature = "hyper")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::Service;
use tower_conn_retry::{Backoff, ErrorClass, Jitter, Retry, RetryPolicy};

use support::connector::{retrying_connector, CountedConnector};
use support::server;

/// A body that counts its clones: each is a copy of the request the
/// layer made (`Request::clone` clones the body).
#[derive(Debug)]
struct CountedBody(Arc<AtomicUsize>);

impl Clone for CountedBody {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        CountedBody(self.0.clone())
    }
}

type Body = Full<Bytes>;

type Combined = Retry<Client<Retry<CountedConnector, tower_conn_retry::ConnectorClassifier>, Body>>;

/// A client whose connector retries connects (3 retries, from 100 ms),
/// wrapped in a layer that retries lost connections of idempotent
/// requests only; the count of connection attempts.
fn combined() -> (Combined, Arc<AtomicUsize>) {
    let (connector, connects) = retrying_connector(3, Duration::from_millis(100));
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::exponential(Duration::from_millis(1)).jitter(Jitter::None))
        .idempotent_only()
        .build()
        .unwrap();
    (Retry::new(client, policy), connects)
}

fn request(method: Method, addr: std::net::SocketAddr) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}/orders"))
        .body(Full::new(Bytes::from_static(b"{\"item\":7}")))
        .unwrap()
}

#[tokio::test]
async fn a_post_to_a_late_server_is_retried_at_the_connector() {
    let addr = server::unused_addr();
    let seen = server::serve_ok_after(addr, Duration::from_millis(200));
    let (mut client, connects) = combined();

    let response = client
        .ready()
        .await
        .unwrap()
        .call(request(Method::POST, addr))
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        connects.load(Ordering::SeqCst),
        3,
        "pauses of 50 and 100 ms"
    );
    assert_eq!(seen.count(&Method::POST), 1);
}

#[tokio::test]
async fn after_a_lost_connection_a_get_is_resent_and_a_post_is_not() {
    let (addr, seen) = server::reset_after_reading_request().await;
    for (method, sends) in [(Method::GET, 4), (Method::POST, 1)] {
        let (mut client, _) = combined();
        let error = client
            .ready()
            .await
            .unwrap()
            .call(request(method.clone(), addr))
            .await
            .unwrap_err();
        assert_eq!(
            ErrorClass::of(&error),
            ErrorClass::ConnectionLost,
            "{method}"
        );
        assert_eq!(seen.count(&method), sends, "{method}");
    }
}

/// Answers every request at once.
#[derive(Clone)]
struct Answers;

impl Service<Request<CountedBody>> for Answers {
    type Response = http::Response<()>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<http::Response<()>, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<CountedBody>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(())))
    }
}

#[tokio::test]
async fn idempotent_only_copies_no_post() {
    let copies = Arc::new(AtomicUsize::new(0));
    let policy = RetryPolicy::builder().idempotent_only().build().unwrap();
    let mut service = Retry::new(Answers, policy);

    for method in [Method::POST, Method::PATCH, Method::GET, Method::PUT] {
        let body = CountedBody(copies.clone());
        let request = Request::builder().method(method).body(body).unwrap();
        service.ready().await.unwrap().call(request).await.unwrap();
    }

    assert_eq!(
        copies.load(Ordering::SeqCst),
        2,
        "only the GET and the PUT were copied"
    );
}
