//! A real `hyper_util` Client, wrapped in the layer, against real servers on
//! 127.0.0.1 (loopback only, ever).

mod support;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::{Client, Error as ClientError};
use hyper_util::rt::TokioExecutor;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
use tower_conn_retry::{Backoff, ErrorClass, Jitter, RetryLayer, RetryPolicy};

use support::server;

type Body = Full<Bytes>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn policy(max_retries: u32, base: Duration) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(max_retries)
        .backoff(
            Backoff::exponential(base)
                .max_delay(base * 4)
                .jitter(Jitter::None),
        )
        .build()
        .unwrap()
}

/// The layered client, and a count of the attempts that reached the inner
/// client.
fn layered<C>(
    client: Client<C, Body>,
    policy: RetryPolicy,
) -> (
    impl Service<Request<Body>, Response = Response<Incoming>, Error = ClientError>,
    Arc<AtomicUsize>,
)
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .map_request(move |request: Request<Body>| {
            counter.fetch_add(1, Ordering::SeqCst);
            request
        })
        .service(client);
    (service, attempts)
}

fn http_client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn request(method: Method, addr: SocketAddr) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}/orders?id=7"))
        .body(Full::new(Bytes::from_static(b"{\"item\":7}")))
        .unwrap()
}

async fn send<S>(service: &mut S, request: Request<Body>) -> Result<S::Response, S::Error>
where
    S: Service<Request<Body>>,
{
    service.ready().await?.call(request).await
}

#[tokio::test]
async fn a_get_succeeds_once_a_late_server_starts_listening() {
    let addr = server::unused_addr();
    let requests = server::serve_ok_after(addr, ms(200));
    let (mut client, attempts) = layered(http_client(), policy(10, ms(50)));

    let response = send(&mut client, request(Method::GET, addr)).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        attempts.load(Ordering::SeqCst) >= 2,
        "the first attempt should have been refused"
    );
    assert_eq!(requests.total(), 1, "the server saw one request");
}

#[tokio::test]
async fn a_refused_connection_is_retried_to_the_limit_then_returned() {
    let addr = server::unused_addr();
    let (mut client, attempts) = layered(http_client(), policy(3, ms(5)));

    let error = send(&mut client, request(Method::POST, addr))
        .await
        .unwrap_err();

    assert!(error.is_connect(), "{error:?}");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Connect);
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_get_is_retried_after_a_reset_but_a_post_is_sent_once() {
    let (addr, requests) = server::reset_after_reading_request().await;

    let (mut client, attempts) = layered(http_client(), policy(3, ms(5)));
    let error = send(&mut client, request(Method::GET, addr))
        .await
        .unwrap_err();
    assert!(!error.is_connect(), "{error:?}");
    assert_eq!(
        ErrorClass::of(&error),
        ErrorClass::ConnectionLost,
        "{error:?}"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    assert_eq!(requests.count(&Method::GET), 4);

    let (mut client, attempts) = layered(http_client(), policy(3, ms(5)));
    let error = send(&mut client, request(Method::POST, addr))
        .await
        .unwrap_err();
    assert_eq!(
        ErrorClass::of(&error),
        ErrorClass::ConnectionLost,
        "{error:?}"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(requests.count(&Method::POST), 1, "a POST was sent twice");
}

#[tokio::test]
async fn a_503_is_returned_as_it_is_after_one_attempt() {
    let (addr, requests) = server::serve_status(StatusCode::SERVICE_UNAVAILABLE).await;
    let (mut client, attempts) = layered(http_client(), policy(3, ms(5)));

    let response = send(&mut client, request(Method::GET, addr)).await.unwrap();

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(requests.total(), 1);
}

#[tokio::test]
async fn a_post_body_arrives_intact_after_retries() {
    let addr = server::unused_addr();
    let requests = server::serve_ok_after(addr, ms(100));
    let (mut client, _) = layered(http_client(), policy(10, ms(40)));

    send(&mut client, request(Method::POST, addr))
        .await
        .unwrap();

    assert_eq!(requests.count(&Method::POST), 1);
    assert_eq!(requests.bodies(), [Bytes::from_static(b"{\"item\":7}")]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_resolver_is_retried_to_the_limit_then_its_error_returned() {
    let lookups = Arc::new(AtomicUsize::new(0));
    let counter = lookups.clone();
    let resolver = service_fn(move |_: Name| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Err::<std::vec::IntoIter<SocketAddr>, _>(io::Error::other("no such host")) }
    });
    let client = Client::builder(TokioExecutor::new())
        .build::<_, Body>(HttpConnector::new_with_resolver(resolver));
    let (mut client, attempts) = layered(client, policy(3, ms(100)));

    let start = tokio::time::Instant::now();
    let request = Request::get("http://service.invalid/")
        .body(Body::default())
        .unwrap();
    let error = send(&mut client, request).await.unwrap_err();

    assert!(error.is_connect(), "{error:?}");
    assert!(
        format!("{error:?}").contains("no such host"),
        "the resolver's own error is lost: {error:?}"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    assert_eq!(lookups.load(Ordering::SeqCst), 4);
    assert_eq!(start.elapsed(), ms(100 + 200 + 400));
}
