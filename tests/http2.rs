//! HTTP/2 on real connections on 127.0.0.1: a stream the server refused
//! with REFUSED_STREAM (RFC 9113, section 8.7) is retried for every method;
//! a stream failed by a GOAWAY (above its last-stream-id or not), a request
//! hyper dropped when GOAWAY arrived, or an io error inside an `h2::Error`
//! is a lost connection, resent only if idempotent. Each test asserts what
//! the server processed.
#![cfg(feature = "http2")]

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, Error as ClientError};
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tower::Service;
use tower_conn_retry::{Backoff, ErrorClass, Jitter, Retry, RetryPolicy};

use support::h2_server::{self, Ledger, RawConnection};

type H2Client = Retry<Client<HttpConnector, Full<Bytes>>>;

fn h2_client(max_retries: u32) -> H2Client {
    // Keep-alive pings, as a production client would: a connection that
    // stops answering fails its streams instead of holding them forever.
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .http2_keep_alive_interval(Duration::from_millis(500))
        .http2_keep_alive_timeout(Duration::from_secs(1))
        .build_http::<Full<Bytes>>();
    let policy = RetryPolicy::builder()
        .max_retries(max_retries)
        .backoff(
            Backoff::exponential(Duration::from_millis(2))
                .max_delay(Duration::from_millis(50))
                .jitter(Jitter::Full),
        )
        .build()
        .unwrap();
    Retry::new(client, policy)
}

fn request(method: Method, addr: std::net::SocketAddr, id: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}/orders"))
        .header("x-request-id", id)
        .body(Full::new(Bytes::from_static(b"{\"item\":7}")))
        .unwrap()
}

async fn send(
    client: &mut H2Client,
    request: Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
    client.ready().await?.call(request).await
}

// ===== REFUSED_STREAM =====

#[tokio::test]
async fn a_refused_stream_is_retried_for_every_method_and_processed_once() {
    let (addr, ledger) = h2_server::refuse_first_stream_of_each_request().await;
    let mut client = h2_client(3);

    for (method, id) in [
        (Method::GET, "get-1"),
        (Method::POST, "post-1"),
        (Method::PATCH, "patch-1"),
    ] {
        let response = send(&mut client, request(method.clone(), addr, id))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        let entry = ledger.get(id);
        assert_eq!((entry.refused, entry.processed), (1, 1), "{method}");
    }
}

/// hyper-util's HTTP/2 client with a streaming body: wrapped in a
/// `ReplayBody`, a POST the server refused is sent again, whole.
#[tokio::test]
async fn a_refused_streaming_post_is_replayed_whole() {
    use support::body::{streaming_body, Streaming};
    use tower_conn_retry::ReplayBody;

    let (addr, ledger) = h2_server::refuse_first_stream_of_each_request().await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<ReplayBody<Streaming>>();
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::exponential(Duration::from_millis(2)).jitter(Jitter::None))
        .build()
        .unwrap();
    let mut client = Retry::new(client, policy);

    let request = Request::post(format!("http://{addr}/upload"))
        .header("x-request-id", "upload-1")
        .body(ReplayBody::new(streaming_body(), 64 * 1024))
        .unwrap();
    let response = client.ready().await.unwrap().call(request).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let entry = ledger.get("upload-1");
    assert_eq!((entry.refused, entry.processed), (1, 1));
    assert_eq!(entry.body, Bytes::from_static(b"first,second,third"));
}

/// hyper calls its error sources unstable: if it moves to another h2, the
/// downcast to this crate's `h2::Error` fails here, loudly, instead of the
/// retry silently stopping.
#[tokio::test]
async fn the_h2_error_is_found_through_hyper() {
    let (addr, ledger) = h2_server::refuse_first_stream_of_each_request().await;
    let mut client = h2_client(0);

    let error = send(&mut client, request(Method::POST, addr, "post-1"))
        .await
        .unwrap_err();

    let mut link: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    let mut found = None;
    while let Some(error) = link {
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            found = Some((h2.is_reset(), h2.is_remote(), h2.reason()));
        }
        link = error.source();
    }
    assert_eq!(
        found,
        Some((true, true, Some(h2::Reason::REFUSED_STREAM))),
        "{error:?}"
    );
    assert_eq!(ErrorClass::of(&error), ErrorClass::NotProcessed);
    assert_eq!(ledger.get("post-1").processed, 0);
}

// ===== GOAWAY =====

/// Sends GET a, POST b, GET c, POST d on one HTTP/2 connection, in that
/// order (streams 1, 3, 5, 7), to a raw server that sends GOAWAY with
/// last-stream-id 3. The server then answers streams 1 and 3 (`answer`) or
/// closes the connection without answering them; later connections are
/// served by hyper. Returns each request's result, in order, and what the
/// servers processed.
async fn go_away_after_stream_3(answer: bool) -> (Vec<Result<StatusCode, ErrorClass>>, Ledger) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ledger = Ledger::default();
    let client = h2_client(3);
    let plan = [
        (Method::GET, "a"),
        (Method::POST, "b"),
        (Method::GET, "c"),
        (Method::POST, "d"),
    ];

    let mut calls = Vec::new();
    let mut connection = None;
    for (index, (method, id)) in plan.iter().enumerate() {
        let mut client = client.clone();
        let request = request(method.clone(), addr, id);
        calls.push(tokio::spawn(async move {
            match send(&mut client, request).await {
                Ok(response) => Ok(response.status()),
                Err(error) => Err(ErrorClass::of(&error)),
            }
        }));
        if connection.is_none() {
            connection = Some(RawConnection::accept(&listener).await);
        }
        let raw = connection.as_mut().unwrap();
        let (stream, seen) = raw.next_request().await;
        assert_eq!((stream, &seen), (2 * index as u32 + 1, method));
    }
    let mut raw = connection.unwrap();
    raw.go_away(3).await;
    // The server has read streams 1 and 3: they count as processed.
    ledger.update("a", &Method::GET, |e| e.processed += 1);
    ledger.update("b", &Method::POST, |e| e.processed += 1);
    if answer {
        raw.answer(1).await;
        raw.answer(3).await;
    } else {
        raw.close().await;
    }
    let server = h2_server::serve_h2(listener, ledger.clone());

    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.unwrap());
    }
    server.abort();
    (results, ledger)
}

/// A stream above a GOAWAY's last-stream-id is failed with the remote
/// GOAWAY, but hyper can hand the same error to a stream whose HEADERS it
/// already queued (`ClientTask::poll`, hyper 1.12 `proto/h2/client.rs`),
/// so the error proves nothing: a GET above it is sent again, a POST is
/// returned as a lost connection and never sent twice.
#[tokio::test]
async fn streams_above_a_goaway_are_resent_only_if_idempotent() {
    let (results, ledger) = go_away_after_stream_3(true).await;

    // a and b were at or below the GOAWAY and answered.
    assert_eq!(results[..2], [Ok(StatusCode::OK), Ok(StatusCode::OK)]);
    // c (GET, above): sent again on a new connection.
    assert_eq!(results[2], Ok(StatusCode::OK));
    // d (POST, above): returned, not sent again.
    assert_eq!(results[3], Err(ErrorClass::ConnectionLost));
    for (id, processed) in [("a", 1), ("b", 1), ("c", 1), ("d", 0)] {
        assert_eq!(ledger.get(id).processed, processed, "{id}");
    }
}

#[tokio::test]
async fn streams_at_or_below_a_goaway_are_resent_only_if_idempotent() {
    let (results, ledger) = go_away_after_stream_3(false).await;

    // a (GET, stream 1) was read, then lost: resent, as GET is idempotent.
    assert_eq!(results[0], Ok(StatusCode::OK));
    assert_eq!(ledger.get("a").processed, 2);
    // b (POST, stream 3) was read, then lost: never sent again.
    assert_eq!(results[1], Err(ErrorClass::ConnectionLost));
    assert_eq!(ledger.get("b").processed, 1);
    // c and d were above the GOAWAY: the GET is sent again, the POST not.
    assert_eq!(results[2], Ok(StatusCode::OK));
    assert_eq!(ledger.get("c").processed, 1);
    assert_eq!(results[3], Err(ErrorClass::ConnectionLost));
    assert_eq!(ledger.get("d").processed, 0);
}

// ===== graceful shutdown under load =====

/// hyper's `graceful_shutdown` (GOAWAY 2^31-1, PING, GOAWAY last-stream-id)
/// under a burst: every GET gets its answer; a POST is answered or
/// returned as a lost connection (a GOAWAY proves nothing through hyper),
/// and none is processed twice.
#[tokio::test]
async fn a_graceful_shutdown_under_load_loses_no_get_and_processes_no_post_twice() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (first, second) = (Ledger::default(), Ledger::default());
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let accepting = h2_server::serve_h2_until(
        listener,
        first.clone(),
        Duration::from_millis(30),
        shutdown_rx,
    );
    let client = h2_client(8);

    // 64 requests on the shared connection, POSTs and GETs alternating,
    // started 1 ms apart: the first 32 at once, the others once the
    // shutdown began (so that, however slow the machine, some are sent
    // while the connection drains and some reach the new server).
    let (shutting, shutting_rx) = tokio::sync::watch::channel(false);
    let calls: Vec<_> = (0..64)
        .map(|i| {
            let method = if i % 2 == 0 {
                Method::POST
            } else {
                Method::GET
            };
            let request = request(method, addr, &format!("r{i}"));
            let mut client = client.clone();
            let mut shutting = shutting_rx.clone();
            tokio::spawn(async move {
                if i >= 32 {
                    let _ = shutting.wait_for(|now| *now).await;
                }
                tokio::time::sleep(Duration::from_millis(i % 32)).await;
                send(&mut client, request)
                    .await
                    .map(|r| r.status())
                    .map_err(|e| ErrorClass::of(&e))
            })
        })
        .collect();

    // Once 16 arrived, the first server stops accepting and shuts down
    // gracefully; a new one takes its port.
    for _ in 0..500 {
        if first.all().len() >= 16 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    accepting.abort();
    let _ = accepting.await;
    shutdown.send(true).unwrap();
    shutting.send(true).unwrap();
    let listener = TcpListener::bind(addr).await.unwrap();
    let replacement = h2_server::serve_h2(listener, second.clone());

    let mut results = Vec::new();
    for (i, call) in calls.into_iter().enumerate() {
        let result = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .unwrap_or_else(|_| panic!("r{i} hung: no answer in 20 s"));
        results.push(result.unwrap());
    }
    replacement.abort();
    let (first, second) = (first.all(), second.all());
    assert!(
        first.len() >= 16 && !second.is_empty(),
        "{} / {}",
        first.len(),
        second.len()
    );
    for (i, result) in results.into_iter().enumerate() {
        let id = format!("r{i}");
        let processed =
            first.get(&id).map_or(0, |e| e.processed) + second.get(&id).map_or(0, |e| e.processed);
        match result {
            Ok(status) => {
                assert_eq!(status, StatusCode::OK, "{id}");
                assert_eq!(processed, 1, "{id}");
            }
            Err(class) => {
                assert_eq!(i % 2, 0, "{id}: a GET is lost ({class:?})");
                assert_eq!(class, ErrorClass::ConnectionLost, "{id}");
                assert!(processed <= 1, "{id} processed {processed} times");
            }
        }
    }
}

// ===== exactly once under chaos =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_refusals_goaways_and_drops_no_post_is_processed_twice() {
    use futures_util::StreamExt;

    // Per stream: 10% refused, 0.3% GOAWAY, 0.3% connection dropped. A
    // GOAWAY or a drop loses every stream in flight on the connection (up
    // to 64), so a connection carries about 170 streams before it dies;
    // 20 retries see a GET through that.
    let (addr, ledger, chaos) = h2_server::chaos(7, 0.10, 0.003, 0.003).await;
    // Each attempt is bounded, as a production client's should be. A
    // request that hyper-util hands to a pooled HTTP/2 connection just as
    // that connection's dispatch task ends (the server's GOAWAY and close)
    // can be stranded, never answered nor dropped: hyper's
    // `client/dispatch.rs` `Sender::send` puts it on a tokio unbounded
    // channel whose receiver the ending task drops (`dispatch.rs` 215-221,
    // tokio `sync/mpsc/chan.rs` close-and-drain), and a send that lands
    // after the drain stays in the channel while the pooled handle (held by
    // the waiting request itself) keeps it alive. One run in 39 hung here
    // for minutes (hyper 1.12, hyper-util 0.1.21, tokio 1.54). Inside the
    // retry layer the timeout is a lost connection: a GET is sent again, a
    // POST is returned.
    let h2 = h2_client(20);
    let policy = h2.policy().clone();
    let client = Retry::new(
        tower::timeout::Timeout::new(h2.into_inner(), Duration::from_secs(5)),
        policy,
    );
    let unanswered = std::sync::Arc::new(std::sync::Mutex::new(
        std::collections::BTreeSet::<String>::new(),
    ));

    let requests = (0..4_000).map(|i| {
        let method = if i % 2 == 0 {
            Method::POST
        } else {
            Method::GET
        };
        let id = format!("{}-{i}", method.as_str().to_lowercase());
        let request = request(method.clone(), addr, &id);
        let mut client = client.clone();
        let unanswered = unanswered.clone();
        async move {
            unanswered.lock().unwrap().insert(id.clone());
            let result = match client.ready().await {
                Ok(client) => client.call(request).await,
                Err(error) => Err(error),
            };
            unanswered.lock().unwrap().remove(&id);
            (
                id,
                method,
                result.map(|r| r.status()).map_err(|e| ErrorClass::of(&*e)),
            )
        }
    });
    // The scenario takes a few seconds: one that does not end within a
    // minute fails, naming the requests still unanswered, rather than
    // hanging the suite.
    let scenario = futures_util::stream::iter(requests)
        .buffer_unordered(64)
        .collect::<Vec<_>>();
    let Ok(results) = tokio::time::timeout(Duration::from_secs(60), scenario).await else {
        let unanswered = unanswered.lock().unwrap();
        let served = ledger.all();
        let named: Vec<_> = unanswered
            .iter()
            .map(|id| format!("{id} {:?}", served.get(id)))
            .collect();
        panic!("the chaos scenario did not end within 60 s; unanswered: {named:?}");
    };

    let served = ledger.all();
    let mut failed_posts = 0;
    for (id, method, result) in &results {
        let entry = served.get(id).cloned().unwrap_or_default();
        match result {
            Ok(status) => {
                assert_eq!(*status, StatusCode::OK, "{id}");
                if *method == Method::POST {
                    assert_eq!(entry.processed, 1, "{id} {entry:?}");
                }
            }
            Err(class) => {
                // Refusals never end a call: only a GOAWAY or a lost
                // connection under a POST does, as a lost connection.
                assert_eq!(*class, ErrorClass::ConnectionLost, "{id} {entry:?}");
                assert_eq!(*method, Method::POST, "{id}: a GET is resent");
                failed_posts += 1;
            }
        }
        if *method == Method::POST {
            assert!(
                entry.processed <= 1,
                "{id} processed {} times",
                entry.processed
            );
        }
    }
    let refused_posts: Vec<_> = results
        .iter()
        .filter(|(id, method, _)| {
            *method == Method::POST && served.get(id).is_some_and(|e| e.refused > 0)
        })
        .collect();
    let refused_posts_ok = refused_posts.iter().filter(|(_, _, r)| r.is_ok()).count();
    let refused_posts = refused_posts.len();
    let refused = chaos.refused.load(std::sync::atomic::Ordering::SeqCst);
    let go_aways = chaos.go_aways.load(std::sync::atomic::Ordering::SeqCst);
    let drops = chaos.drops.load(std::sync::atomic::Ordering::SeqCst);
    println!(
        "4000 requests: {refused} streams refused ({refused_posts} POSTs, {refused_posts_ok} of them \
         succeeded), {go_aways} GOAWAYs, {drops} dropped connections, {failed_posts} POSTs \
         returned as lost"
    );
    assert!(
        refused > 200 && go_aways >= 3 && drops >= 3,
        "too little chaos"
    );
    // A refused POST is sent again: most succeed (the others were lost on a
    // later attempt). Were refusals not retried, none would.
    assert!(refused_posts > 100);
    assert!(
        refused_posts_ok * 2 > refused_posts,
        "{refused_posts_ok} of {refused_posts} refused POSTs succeeded"
    );
}

// ===== a tower service built on the `h2` crate =====

/// A TCP connection whose reads fail with `kind` once the server has
/// processed a request on it (the ledger's count rose above what it was
/// when the connection opened): what Linux reports after an ICMP error on an
/// established connection, seen by a client that talks `h2` directly.
struct FailsOnceProcessed {
    stream: tokio::net::TcpStream,
    ledger: Ledger,
    at_open: usize,
    kind: std::io::ErrorKind,
}

impl tokio::io::AsyncRead for FailsOnceProcessed {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        // The server counts the request before it answers, so the answer
        // that wakes this read finds the count risen.
        let before = buf.filled().len();
        std::task::ready!(std::pin::Pin::new(&mut self.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before && self.ledger.get("").processed > self.at_open {
            return std::task::Poll::Ready(Err(self.kind.into()));
        }
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for FailsOnceProcessed {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A POST through a tower service that opens an HTTP/2 connection with the
/// `h2` crate for each call (errors boxed, as tower's are), to an `h2`
/// server that counts each request and then answers it; the client's reads
/// fail with `kind` once the server has counted the request. Returns the
/// class of the caller's error and how many times the server processed
/// the POST.
async fn post_through_bare_h2(kind: std::io::ErrorKind) -> (ErrorClass, usize) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Every stream processed and answered at once; the POST carries no
    // request id, so the ledger counts it under "".
    let ledger = Ledger::default();
    h2_server::serve_streams(listener, ledger.clone(), false, |_, mut respond| {
        let _ = respond.send_response(http::Response::new(()), true);
    });

    let opened = ledger.clone();
    let service = tower::service_fn(move |request: Request<()>| {
        let ledger = opened.clone();
        async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            let at_open = ledger.get("").processed;
            let io = FailsOnceProcessed {
                stream,
                ledger,
                at_open,
                kind,
            };
            let (send, connection) = h2::client::handshake(io).await?;
            tokio::spawn(connection);
            let mut send = send.ready().await?;
            let (response, _) = send.send_request(request, true)?;
            let response = response.await?;
            Ok::<_, BoxError>(response.map(drop))
        }
    });
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::exponential(Duration::from_millis(1)).jitter(Jitter::None))
        .build()
        .unwrap();
    let mut client = Retry::new(service, policy);

    let request = Request::post(format!("http://{addr}/orders"))
        .body(())
        .unwrap();
    let error = client
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    let h2 = error.downcast_ref::<h2::Error>().expect("an h2::Error");
    assert_eq!(h2.get_io().map(|io| io.kind()), Some(kind), "{error:?}");
    (ErrorClass::of(&*error), ledger.get("").processed)
}

/// An `h2::Error` only comes from an established connection: an io kind
/// inside it (even one that reads as "never connected") means at most a
/// lost connection, and a POST the server processed is not sent again.
#[tokio::test]
async fn an_io_error_inside_an_h2_error_never_resends_a_post() {
    for kind in [
        std::io::ErrorKind::HostUnreachable,
        std::io::ErrorKind::ConnectionRefused,
    ] {
        let (class, processed) = post_through_bare_h2(kind).await;
        assert_eq!(
            (class, processed),
            (ErrorClass::ConnectionLost, 1),
            "{kind:?}"
        );
    }
}

// ===== a stream queued behind MAX_CONCURRENT_STREAMS =====

/// Sends a slow GET and then a `method` request on one HTTP/2 connection
/// to a hyper server that allows one stream at a time
/// (`max_concurrent_streams(1)`): the second waits in hyper's dispatch
/// task for a free stream. The server then shuts the connection down
/// gracefully (GOAWAY) before answering the slow GET; later connections
/// are served at once. Returns the queued request's result (with its
/// error's chain as text) and what the server processed.
async fn queued_behind_a_slow_stream(
    method: Method,
) -> (Result<StatusCode, (ErrorClass, String)>, Ledger) {
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper_util::rt::TokioIo;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ledger = Ledger::default();
    let (arrived, mut slow_arrived) = tokio::sync::watch::channel(false);
    let (release, released) = tokio::sync::watch::channel(false);
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let served = ledger.clone();
    let server = tokio::spawn(async move {
        let arrived = std::sync::Arc::new(arrived);
        let mut first = true;
        while let Ok((stream, _)) = listener.accept().await {
            let (ledger, arrived, released) = (served.clone(), arrived.clone(), released.clone());
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                ledger.update(&id, request.method(), |e| e.processed += 1);
                let (arrived, mut released) = (arrived.clone(), released.clone());
                async move {
                    if id == "slow" {
                        arrived.send_replace(true);
                        let _ = released.wait_for(|now| *now).await;
                    }
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                        Bytes::from_static(b"done"),
                    )))
                }
            });
            let mut shutdown = if std::mem::take(&mut first) {
                shutdown_rx.clone()
            } else {
                tokio::sync::watch::channel(false).1
            };
            tokio::spawn(async move {
                let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .max_concurrent_streams(1)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    _ = async { drop(shutdown.wait_for(|now| *now).await) } => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            });
        }
    });

    let client = h2_client(3);
    let mut slow_client = client.clone();
    let slow = tokio::spawn(async move {
        send(&mut slow_client, request(Method::GET, addr, "slow"))
            .await
            .map(|r| r.status())
    });
    slow_arrived.wait_for(|now| *now).await.unwrap();
    let mut queued_client = client.clone();
    let queued = tokio::spawn(async move {
        match send(&mut queued_client, request(method, addr, "queued")).await {
            Ok(response) => Ok(response.status()),
            Err(error) => {
                let mut chain = Vec::new();
                let mut link: Option<&(dyn std::error::Error + 'static)> = Some(&error);
                while let Some(error) = link {
                    chain.push(error.to_string());
                    link = error.source();
                }
                Err((ErrorClass::of(&error), chain.join(": ")))
            }
        }
    });
    // Nothing on the wire shows the second request waiting inside the
    // client; give it time to reach hyper's dispatch task.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ledger.get("queued").processed, 0, "not queued");

    shutdown.send(true).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), queued)
        .await
        .expect("the queued request hung")
        .unwrap();
    release.send(true).unwrap();
    let slow = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .expect("the slow request hung")
        .unwrap();
    assert_eq!(slow.unwrap(), StatusCode::OK);
    server.abort();
    (result, ledger)
}

/// hyper drops the queued request's callback when GOAWAY arrives: a
/// `DispatchGone` user error. The same error can follow a stream already
/// written, so it is a lost connection: a GET is sent again.
#[tokio::test]
async fn a_get_queued_behind_max_concurrent_streams_is_resent_after_goaway() {
    let (result, ledger) = queued_behind_a_slow_stream(Method::GET).await;

    assert_eq!(result, Ok(StatusCode::OK));
    assert_eq!(ledger.get("queued").processed, 1);
    assert_eq!(ledger.get("slow").processed, 1);
}

/// ...and a POST is not: it is returned as a lost connection.
#[tokio::test]
async fn a_post_queued_behind_max_concurrent_streams_is_not_resent_after_goaway() {
    let (result, ledger) = queued_behind_a_slow_stream(Method::POST).await;

    let (class, chain) = result.unwrap_err();
    assert!(chain.contains("dispatch task is gone"), "{chain}");
    assert_eq!(class, ErrorClass::ConnectionLost, "{chain}");
    // It never left the client, and was not sent again.
    assert_eq!(ledger.get("queued").processed, 0);
}
