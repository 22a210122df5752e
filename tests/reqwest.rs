//! A real `reqwest::Client` (no TLS) against servers on 127.0.0.1, through
//! `RetryMiddleware` (reqwest-middleware) and through reqwest's own retry
//! with `classify_connection_failures`. Each test asserts what the server
//! processed.
#![cfg(all(feature = "reqwest", feature = "http2"))]

mod support;

use std::time::Duration;

use http::Method;
use reqwest_middleware::ClientWithMiddleware;
use tower_conn_retry::reqwest::{classify, classify_connection_failures, RetryMiddleware};
use tower_conn_retry::{Attempts, Backoff, ErrorClass, Jitter, RetryPolicy};

use support::h2_server;
use support::server::{self, Requests};

fn policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(max_retries)
        .backoff(
            Backoff::exponential(Duration::from_millis(10))
                .max_delay(Duration::from_millis(50))
                .jitter(Jitter::None),
        )
        .no_budget()
        .build()
        .unwrap()
}

/// A reqwest client through `RetryMiddleware`, with reqwest's own retry
/// off (its default retries HTTP/2 NACKs itself), and following no
/// redirects, as the middleware is told: a failed connect then proves the
/// request never left.
fn client(
    reqwest: reqwest::ClientBuilder,
    max_retries: u32,
) -> (ClientWithMiddleware, RetryMiddleware) {
    let reqwest = reqwest
        .retry(reqwest::retry::never())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let middleware = RetryMiddleware::new(policy(max_retries)).client_follows_no_redirects();
    let client = reqwest_middleware::ClientBuilder::new(reqwest)
        .with(middleware.clone())
        .build();
    (client, middleware)
}

fn attempts(response: &reqwest::Response) -> Option<u32> {
    response.extensions().get::<Attempts>().map(|a| a.get())
}

#[tokio::test]
async fn post_is_retried_until_a_late_server_listens() {
    let addr = server::unused_addr();
    let requests = server::serve_ok_after(addr, Duration::from_millis(100));
    let (client, middleware) = client(reqwest::Client::builder(), 50);

    let response = client
        .post(format!("http://{addr}/orders"))
        .body("order 1")
        .send()
        .await
        .expect("the late server answers a retry");

    assert_eq!(response.status(), 200);
    assert!(
        attempts(&response).unwrap() >= 2,
        "{:?}",
        attempts(&response)
    );
    assert_eq!(requests.count(&Method::POST), 1);
    assert_eq!(
        requests.bodies(),
        vec![bytes::Bytes::from_static(b"order 1")]
    );
    assert_eq!(middleware.stats().total.retry_successes, 1);
}

#[tokio::test]
async fn post_read_then_reset_is_processed_once_and_returned() {
    let (addr, requests) = server::reset_after_reading_request().await;
    let (client, _) = client(reqwest::Client::builder(), 3);

    let error = client
        .post(format!("http://{addr}/orders"))
        .body("order 1")
        .send()
        .await
        .unwrap_err();

    let reqwest_middleware::Error::Reqwest(error) = error else {
        panic!("a reqwest error: {error:?}");
    };
    assert_eq!(classify(&error), ErrorClass::ConnectionLost, "{error:?}");
    assert_eq!(requests.count(&Method::POST), 1);
}

#[tokio::test]
async fn get_read_then_reset_is_retried() {
    let (addr, requests) = server::reset_after_reading_request().await;
    let (client, _) = client(reqwest::Client::builder(), 3);

    let _ = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();

    assert_eq!(requests.count(&Method::GET), 4);
}

#[tokio::test]
async fn post_with_idempotency_key_read_then_reset_is_retried() {
    let (addr, requests) = server::reset_after_reading_request().await;
    let (client, _) = client(reqwest::Client::builder(), 2);

    let _ = client
        .post(format!("http://{addr}/orders"))
        .header("idempotency-key", "order-1")
        .body("order 1")
        .send()
        .await
        .unwrap_err();

    assert_eq!(requests.count(&Method::POST), 3);
}

#[tokio::test]
async fn streaming_body_is_sent_once() {
    let (addr, requests) = server::reset_after_reading_request().await;
    let (client, _) = client(reqwest::Client::builder(), 3);

    // `Body::wrap` is a streaming body: `try_clone` cannot copy it.
    let _ = client
        .put(format!("http://{addr}/doc"))
        .body(reqwest::Body::wrap(String::from("streamed")))
        .send()
        .await
        .unwrap_err();

    assert_eq!(requests.count(&Method::PUT), 1);
}

#[tokio::test]
async fn refused_h2_stream_is_retried_and_processed_once() {
    let (addr, ledger) = h2_server::refuse_first_stream_of_each_request().await;
    let (client, _) = client(reqwest::Client::builder().http2_prior_knowledge(), 2);

    let response = client
        .post(format!("http://{addr}/orders"))
        .header("x-request-id", "post-1")
        .body("order 1")
        .send()
        .await
        .expect("the second stream is processed");

    assert_eq!(response.status(), 200);
    assert_eq!(attempts(&response), Some(2));
    let entry = ledger.get("post-1");
    assert_eq!((entry.refused, entry.processed), (1, 1));
    assert_eq!(entry.body, bytes::Bytes::from_static(b"order 1"));
}

#[tokio::test]
async fn whole_request_timeout_is_connection_lost_and_post_is_not_resent() {
    // Reads the request and never answers.
    let requests = Requests::default();
    let seen = requests.clone();
    let addr = server::serve_raw(move |mut stream| {
        let seen = seen.clone();
        async move {
            if server::read_request(&mut stream).await.is_some() {
                seen.record(Method::POST, bytes::Bytes::new());
            }
            std::future::pending::<()>().await;
            drop(stream);
        }
    })
    .await;
    let (client, _) = client(
        reqwest::Client::builder().timeout(Duration::from_millis(100)),
        3,
    );

    let error = client
        .post(format!("http://{addr}/orders"))
        .body("order 1")
        .send()
        .await
        .unwrap_err();

    let reqwest_middleware::Error::Reqwest(error) = error else {
        panic!("a reqwest error: {error:?}");
    };
    assert!(error.is_timeout());
    assert_eq!(classify(&error), ErrorClass::ConnectionLost);
    assert_eq!(requests.count(&Method::POST), 1);
}

// ===== reqwest's own retry with `classify_connection_failures` =====

fn builtin(reqwest: reqwest::ClientBuilder) -> reqwest::Client {
    let retry = classify_connection_failures(reqwest::retry::for_host("127.0.0.1"));
    reqwest.retry(retry).build().unwrap()
}

#[tokio::test]
async fn builtin_retry_resends_a_reset_get_but_not_a_reset_post() {
    let (addr, requests) = server::reset_after_reading_request().await;
    let client = builtin(reqwest::Client::builder());

    let _ = client
        .post(format!("http://{addr}/"))
        .body("x")
        .send()
        .await
        .unwrap_err();
    let _ = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();

    assert_eq!(requests.count(&Method::POST), 1);
    // reqwest's default: 2 retries on top of the original.
    assert_eq!(requests.count(&Method::GET), 3);
}

#[tokio::test]
async fn builtin_retry_resends_a_refused_h2_stream() {
    let (addr, ledger) = h2_server::refuse_first_stream_of_each_request().await;
    let client = builtin(reqwest::Client::builder().http2_prior_knowledge());

    let response = client
        .post(format!("http://{addr}/orders"))
        .header("x-request-id", "post-1")
        .body("order 1")
        .send()
        .await
        .expect("reqwest retries the refused stream");

    assert_eq!(response.status(), 200);
    let entry = ledger.get("post-1");
    assert_eq!((entry.refused, entry.processed), (1, 1));
}

#[tokio::test]
async fn builtin_retry_resends_a_refused_connect_post() {
    // Count the classifier's "retryable" answers: reqwest asks after each
    // attempt that has a copy for another (2 retries by default: asked
    // after the first and the second of three attempts).
    let retryable = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = retryable.clone();
    let retry =
        reqwest::retry::for_host("127.0.0.1").classify_fn(move |req_rep| match req_rep.error() {
            Some(error) if tower_conn_retry::reqwest::is_retryable(req_rep.method(), error) => {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                req_rep.retryable()
            }
            _ => req_rep.success(),
        });
    let client = reqwest::Client::builder().retry(retry).build().unwrap();
    let addr = server::unused_addr();

    let error = client
        .post(format!("http://{addr}/"))
        .body("x")
        .send()
        .await
        .unwrap_err();

    assert!(error.is_connect());
    assert_eq!(retryable.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_post_tagged_idempotent_in_the_middleware_extensions_is_retried() {
    #[derive(Clone)]
    struct SafeToRepeat;

    let (addr, requests) = server::reset_after_reading_request().await;
    let policy = RetryPolicy::builder()
        .max_retries(2)
        .backoff(Backoff::none())
        .no_budget()
        .idempotent_when(|head| head.extensions.get::<SafeToRepeat>().is_some())
        .build()
        .unwrap();
    let reqwest = reqwest::Client::builder()
        .retry(reqwest::retry::never())
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest)
        .with(RetryMiddleware::new(policy))
        .build();

    let url = format!("http://{addr}/orders");
    let _ = client
        .post(&url)
        .with_extension(SafeToRepeat)
        .body("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(requests.count(&Method::POST), 3);
    let _ = client.post(&url).body("x").send().await.unwrap_err();
    assert_eq!(requests.count(&Method::POST), 4);
}

#[tokio::test]
async fn retries_are_logged_with_the_authority_and_class() {
    let (events, _guard) = support::events::Events::capture();
    let addr = server::unused_addr();
    let requests = server::serve_ok_after(addr, Duration::from_millis(50));
    let (client, _) = client(reqwest::Client::builder(), 50);

    client
        .post(format!("http://{addr}/orders"))
        .body("x")
        .send()
        .await
        .unwrap();

    assert_eq!(requests.count(&Method::POST), 1);
    let retry = events
        .all()
        .into_iter()
        .find(|event| event.has("class=\"connect\""))
        .expect("a retry event");
    assert!(retry.has(&format!("authority=\"{addr}\"")), "{retry:?}");
    assert!(retry.has("method=\"POST\""), "{retry:?}");
}

/// The peer this module is compared with: reqwest-retry's default
/// middleware sends a POST again after the server read it and reset the
/// connection (what `examples/reqwest_side_by_side.rs` counts).
#[tokio::test]
async fn reqwest_retry_default_resends_a_post_the_server_read() {
    use reqwest_retry::policies::ExponentialBackoff;
    use reqwest_retry::RetryTransientMiddleware;

    let (addr, requests) = server::reset_after_reading_request().await;
    let policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(1), Duration::from_millis(5))
        .build_with_max_retries(2);
    let reqwest = reqwest::Client::builder()
        .retry(reqwest::retry::never())
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest)
        .with(RetryTransientMiddleware::new_with_policy(policy))
        .build();

    let _ = client
        .post(format!("http://{addr}/orders"))
        .body("x")
        .send()
        .await
        .unwrap_err();

    assert_eq!(requests.count(&Method::POST), 3);
}

/// reqwest follows redirects below the middleware, and a later hop's error
/// carries the first URL: a POST the server processed and answered 303,
/// whose redirect target refuses the connection, looks like a POST that
/// never left. By default (a client that may follow redirects) it is
/// returned, not sent again to the server that processed it. (It was sent
/// 4 times with `max_retries(3)`.)
#[tokio::test]
async fn a_post_redirected_to_a_refusing_host_is_not_sent_again() {
    let dead = server::unused_addr();
    let (addr, requests) = redirecting_to(format!("http://{dead}/done"), "303 See Other").await;
    let reqwest = reqwest::Client::builder()
        .retry(reqwest::retry::never())
        .build()
        .unwrap();
    let middleware = RetryMiddleware::new(policy(3));
    let client = reqwest_middleware::ClientBuilder::new(reqwest)
        .with(middleware.clone())
        .build();

    let error = client
        .post(format!("http://{addr}/orders"))
        .body("order 1")
        .send()
        .await
        .unwrap_err();

    assert!(error.is_connect(), "{error:?}");
    assert_eq!(requests.total(), 1, "the processed POST was sent again");
    // The failure keeps its class (a failed connect, as operators see it),
    // and the give-up its own reason.
    let total = middleware.stats().total;
    assert_eq!(total.give_ups.after_redirect, 1, "{total:?}");
    assert_eq!(total.give_ups.not_idempotent, 0, "{total:?}");
}

/// By default a failed connect is a lost connection to the middleware: a
/// GET is still sent again until the late server answers; a POST is
/// returned unless the middleware is told the client follows no
/// redirects.
#[tokio::test]
async fn by_default_only_idempotent_requests_are_retried_after_a_failed_connect() {
    let addr = server::unused_addr();
    let requests = server::serve_ok_after(addr, Duration::from_millis(100));
    let reqwest = reqwest::Client::builder()
        .retry(reqwest::retry::never())
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest)
        .with(RetryMiddleware::new(policy(50)))
        .build();

    client
        .post(format!("http://{addr}/orders"))
        .body("order 1")
        .send()
        .await
        .unwrap_err();
    let response = client
        .get(format!("http://{addr}/orders"))
        .send()
        .await
        .expect("the late server answers a retried GET");

    assert_eq!(response.status(), 200);
    assert_eq!(requests.count(&Method::POST), 0);
    assert_eq!(requests.count(&Method::GET), 1);
}

/// A server that records the requests it reads and answers each with
/// `status` and a `location`.
async fn redirecting_to(
    location: String,
    status: &'static str,
) -> (std::net::SocketAddr, Requests) {
    use tokio::io::AsyncWriteExt;

    let requests = Requests::default();
    let recorded = requests.clone();
    let addr = server::serve_raw(move |mut stream| {
        let recorded = recorded.clone();
        let answer = format!(
            "HTTP/1.1 {status}\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        async move {
            if let Some((method, _)) = server::read_request(&mut stream).await {
                recorded.record(method, Default::default());
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        }
    })
    .await;
    (addr, requests)
}

/// reqwest's own retry sits below its redirects: with this crate's
/// classifier it resends only the hop that failed to connect, never the
/// POST the first server processed and answered 307.
#[tokio::test]
async fn builtin_retry_resends_only_the_redirect_hop_that_failed_to_connect() {
    let dead = server::unused_addr();
    let (addr, requests) =
        redirecting_to(format!("http://{dead}/done"), "307 Temporary Redirect").await;
    let client = builtin(reqwest::Client::builder());

    let error = client
        .post(format!("http://{addr}/orders"))
        .body("order 1")
        .send()
        .await
        .unwrap_err();

    assert!(error.is_connect(), "{error:?}");
    assert_eq!(requests.total(), 1, "the processed POST was sent again");
}
