//! The second placement: the layer around the connector, so the Client
//! retries only connection establishment. No request is ever copied, so a
//! streaming body just works. Loopback only.
#![cfg(feature = "hyper")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_conn_retry::{ConnectorClassifier, ErrorClass, Retry};

use support::body::{streaming_body, Streaming};
use support::connector::{retrying_connector, CountedConnector};
use support::server;

/// A client whose connector retries, and a count of connection attempts.
fn client_with_retrying_connector(
    max_retries: u32,
) -> (
    Client<Retry<CountedConnector, ConnectorClassifier>, Streaming>,
    Arc<AtomicUsize>,
) {
    let (connector, attempts) = retrying_connector(max_retries, Duration::from_millis(100));
    (
        Client::builder(TokioExecutor::new()).build(connector),
        attempts,
    )
}

#[tokio::test]
async fn a_streaming_post_reaches_a_late_server_through_a_retrying_connector() {
    let addr = server::unused_addr();
    // Pauses of 100, 200 ms: connection attempts at about 0, 100 and
    // 300 ms; the server listens from 200 ms on: 100 ms of slack either
    // side.
    let requests = server::serve_ok_after(addr, Duration::from_millis(200));
    let (client, attempts) = client_with_retrying_connector(10);

    let request = Request::post(format!("http://{addr}/upload"))
        .body(streaming_body())
        .unwrap();
    let response = client.request(request).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(requests.count(&Method::POST), 1);
    assert_eq!(
        requests.bodies(),
        [Bytes::from_static(b"first,second,third")]
    );
    response.into_body().collect().await.unwrap();

    // A pooled connection serves the next request: the connector, and so
    // the layer, is not involved at all.
    let request = Request::post(format!("http://{addr}/upload"))
        .body(streaming_body())
        .unwrap();
    client.request(request).await.unwrap();
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "a pooled request connected"
    );
    assert_eq!(requests.count(&Method::POST), 2);
}

#[tokio::test]
async fn a_dead_port_is_retried_at_the_connector_then_a_connect_error_returned() {
    let addr = server::unused_addr();
    let (client, attempts) = client_with_retrying_connector(3);

    let request = Request::post(format!("http://{addr}/upload"))
        .body(streaming_body())
        .unwrap();
    let error = client.request(request).await.unwrap_err();

    assert!(error.is_connect(), "{error:?}");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Connect);
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
}
