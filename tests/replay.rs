//! A streaming request body wrapped in `ReplayBody`, through a real
//! `hyper_util` client and the layer, against a loopback server that resets
//! the first connection after reading the whole request.
#![cfg(feature = "hyper")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder};
use tower_conn_retry::{Backoff, ErrorClass, Jitter, ReplayBody, RetryLayer, RetryPolicy};

use support::body::{streaming_body, Streaming};
use support::server;

async fn put_streaming(
    method: Method,
    limit: usize,
) -> (
    Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error>,
    usize,
    server::Requests,
    usize,
) {
    let (addr, requests, resets) = server::reset_first_then_serve().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::exponential(Duration::from_millis(5)).jitter(Jitter::None))
        .build()
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Streaming>>();
    let mut client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .map_request(move |request: Request<ReplayBody<Streaming>>| {
            counter.fetch_add(1, Ordering::SeqCst);
            request
        })
        .service(client);

    let request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}/documents/7"))
        .body(ReplayBody::new(streaming_body(), limit))
        .unwrap();
    let result = client.ready().await.unwrap().call(request).await;
    (
        result,
        attempts.load(Ordering::SeqCst),
        requests,
        resets.load(Ordering::SeqCst),
    )
}

#[tokio::test]
async fn a_streaming_put_is_replayed_after_its_connection_was_lost() {
    let (result, attempts, requests, resets) = put_streaming(Method::PUT, 64 * 1024).await;

    let response = result.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(resets, 1, "the first attempt was not lost");
    assert_eq!(attempts, 2);
    assert_eq!(requests.count(&Method::PUT), 1);
    assert_eq!(
        requests.bodies(),
        [Bytes::from_static(b"first,second,third")]
    );
}

#[tokio::test]
async fn a_streaming_put_past_its_replay_limit_is_not_retried() {
    // 4 bytes cannot hold "first,": the recording is dropped.
    let (result, attempts, requests, resets) = put_streaming(Method::PUT, 4).await;

    let error = result.unwrap_err();
    assert_eq!(
        ErrorClass::of(&error),
        ErrorClass::ConnectionLost,
        "{error:?}"
    );
    assert_eq!(resets, 1);
    assert_eq!(attempts, 1);
    assert_eq!(requests.total(), 0);
}

#[tokio::test]
async fn a_streaming_post_is_not_replayed_after_its_connection_was_lost() {
    let (result, attempts, requests, resets) = put_streaming(Method::POST, 64 * 1024).await;

    let error = result.unwrap_err();
    assert_eq!(
        ErrorClass::of(&error),
        ErrorClass::ConnectionLost,
        "{error:?}"
    );
    assert_eq!((resets, attempts, requests.total()), (1, 1, 0));
}

/// What a server saw of a request head: its `content-length` header, and
/// whether the body was over before it began (HTTP/2: the HEADERS frame
/// carried END_STREAM, no DATA frame follows).
async fn head_of_an_empty_replay_body(http2: bool) -> (Option<String>, bool) {
    use http_body_util::{BodyExt, Empty, Full};
    use hyper::body::{Body, Incoming};
    use hyper_util::rt::TokioIo;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let seen_tx = std::sync::Mutex::new(Some(seen_tx));
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let length = request
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .map(|v| v.to_str().unwrap().to_string());
            let at_end = request.body().is_end_stream();
            if let Some(tx) = seen_tx.lock().unwrap().take() {
                let _ = tx.send((length, at_end));
            }
            async move {
                let _ = request.into_body().collect().await;
                Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
            }
        });
        let io = TokioIo::new(stream);
        if http2 {
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(io, service)
                .await;
        } else {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        }
    });

    let client = Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .build_http::<ReplayBody<Empty<Bytes>>>();
    let mut client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .service(client);
    let request = Request::get(format!("http://{addr}/"))
        .body(ReplayBody::new(Empty::new(), 1024))
        .unwrap();
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    seen_rx.await.unwrap()
}

#[tokio::test]
async fn an_empty_replay_body_sends_no_content_length_over_http1() {
    let (length, at_end) = head_of_an_empty_replay_body(false).await;
    assert_eq!(length, None);
    assert!(at_end);
}

#[tokio::test]
async fn an_empty_replay_body_sends_no_data_frame_over_http2() {
    let (_, at_end) = head_of_an_empty_replay_body(true).await;
    assert!(at_end, "the HEADERS frame did not end the stream");
}

/// A body whose frames come from a channel: it waits until the test sends
/// one, and ends when the sender is dropped.
struct Fed(tokio::sync::mpsc::UnboundedReceiver<Bytes>);

impl hyper::body::Body for Fed {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|data| Ok(hyper::body::Frame::data(data))))
    }
}

struct CountingWaker(AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll_data(
    body: &mut ReplayBody<Fed>,
    waker: &std::task::Waker,
) -> std::task::Poll<Option<Bytes>> {
    use hyper::body::Body;
    let mut cx = std::task::Context::from_waker(waker);
    std::pin::Pin::new(body)
        .poll_frame(&mut cx)
        .map(|frame| frame.map(|frame| frame.unwrap().into_data().unwrap()))
}

#[test]
fn an_instance_that_falls_behind_another_is_woken() {
    let (feed, frames) = tokio::sync::mpsc::unbounded_channel();
    let mut first = ReplayBody::new(Fed(frames), 1024);
    let mut second = first.replay().unwrap();
    let first_woken = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let first_waker = first_woken.clone().into();
    let second_waker = Arc::new(CountingWaker(AtomicUsize::new(0))).into();

    // Both wait for the first frame, each having polled the inner body.
    assert!(poll_data(&mut first, &first_waker).is_pending());
    assert!(poll_data(&mut second, &second_waker).is_pending());
    feed.send(Bytes::from_static(b"a")).unwrap();

    // The second reads it; the first is now behind, with a frame to replay,
    // and must be woken to send it.
    assert_eq!(
        poll_data(&mut second, &second_waker),
        std::task::Poll::Ready(Some(Bytes::from_static(b"a")))
    );
    assert!(
        first_woken.0.load(Ordering::SeqCst) > 0,
        "the instance left behind was never woken: it would wait forever"
    );
    assert_eq!(
        poll_data(&mut first, &first_waker),
        std::task::Poll::Ready(Some(Bytes::from_static(b"a")))
    );
}

#[tokio::test(start_paused = true)]
async fn two_instances_streamed_by_two_tasks_both_finish() {
    use http_body_util::BodyExt;

    let (feed, frames) = tokio::sync::mpsc::unbounded_channel();
    let first = ReplayBody::new(Fed(frames), 1024);
    let second = first.replay().unwrap();
    let first = tokio::spawn(async move { first.collect().await.unwrap().to_bytes() });
    let second = tokio::spawn(async move { second.collect().await.unwrap().to_bytes() });
    // Let both tasks poll the inner body and wait (current-thread runtime:
    // they run while this task yields).
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    for chunk in ["one,", "two"] {
        feed.send(Bytes::from_static(chunk.as_bytes())).unwrap();
    }
    drop(feed);

    // Paused time: the timeout fires as soon as every task waits.
    let both = tokio::time::timeout(Duration::from_secs(10), async {
        (first.await.unwrap(), second.await.unwrap())
    })
    .await
    .expect("an instance was never woken");
    assert_eq!(both.0, "one,two");
    assert_eq!(both.1, "one,two");
}

/// A guard for the fix above on real threads (no lost wake when both
/// instances poll and register at once), not a reproduction: the old code
/// rarely hangs here, the two tests above show its hang every time.
#[test]
fn instances_polled_on_two_threads_always_finish() {
    use http_body_util::BodyExt;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        for round in 0..200 {
            let (feed, frames) = tokio::sync::mpsc::unbounded_channel();
            let first = ReplayBody::new(Fed(frames), 1024);
            let second = first.replay().unwrap();
            let first = tokio::spawn(async move { first.collect().await.unwrap().to_bytes() });
            let second = tokio::spawn(async move { second.collect().await.unwrap().to_bytes() });
            for chunk in ["a", "b", "c"] {
                feed.send(Bytes::from_static(chunk.as_bytes())).unwrap();
                tokio::task::yield_now().await;
            }
            drop(feed);
            let both = tokio::time::timeout(Duration::from_secs(5), async {
                (first.await.unwrap(), second.await.unwrap())
            })
            .await
            .unwrap_or_else(|_| panic!("round {round}: an instance was never woken"));
            assert_eq!(
                (both.0.as_ref(), both.1.as_ref()),
                (&b"abc"[..], &b"abc"[..])
            );
        }
    });
}
