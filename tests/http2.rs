//! HTTP/2's "not processed" signals (RFC 9113, section 8.7) on real
//! HTTP/2 connections on 127.0.0.1: a stream the server refused with
//! REFUSED_STREAM, or one above a GOAWAY's last-stream-id, is retried for
//! every method; a stream at or below it is resent only if idempotent.
//! Each test asserts what the server processed.
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
use tower::{Service, ServiceExt};
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

#[tokio::test]
async fn streams_above_a_goaway_are_retried_for_every_method() {
    let (results, ledger) = go_away_after_stream_3(true).await;

    assert_eq!(results, vec![Ok(StatusCode::OK); 4]);
    for id in ["a", "b", "c", "d"] {
        assert_eq!(ledger.get(id).processed, 1, "{id}");
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
    // c and d were above the GOAWAY: not processed, so retried, once each.
    assert_eq!(results[2..], [Ok(StatusCode::OK), Ok(StatusCode::OK)]);
    assert_eq!(ledger.get("c").processed, 1);
    assert_eq!(ledger.get("d").processed, 1);
}

// ===== graceful shutdown under load =====

#[tokio::test]
async fn a_graceful_shutdown_under_load_loses_no_request_and_processes_none_twice() {
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

    // 64 requests in flight on the shared connection, POSTs and GETs
    // alternating, started 1 ms apart.
    let calls: Vec<_> = (0..64)
        .map(|i| {
            let method = if i % 2 == 0 {
                Method::POST
            } else {
                Method::GET
            };
            let request = request(method, addr, &format!("r{i}"));
            let mut client = client.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i)).await;
                send(&mut client, request).await.map(|r| r.status())
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
    let listener = TcpListener::bind(addr).await.unwrap();
    let replacement = h2_server::serve_h2(listener, second.clone());

    for (i, call) in calls.into_iter().enumerate() {
        let status = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .unwrap_or_else(|_| panic!("r{i} hung: no answer in 20 s"));
        assert_eq!(status.unwrap().unwrap(), StatusCode::OK, "r{i}");
    }
    replacement.abort();
    let (first, second) = (first.all(), second.all());
    assert!(
        first.len() >= 16 && !second.is_empty(),
        "{} / {}",
        first.len(),
        second.len()
    );
    for i in 0..64 {
        let id = format!("r{i}");
        let processed =
            first.get(&id).map_or(0, |e| e.processed) + second.get(&id).map_or(0, |e| e.processed);
        assert_eq!(processed, 1, "{id}");
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
    let client = h2_client(20);

    let requests = (0..4_000).map(|i| {
        let method = if i % 2 == 0 {
            Method::POST
        } else {
            Method::GET
        };
        let id = format!("{}-{i}", method.as_str().to_lowercase());
        let request = request(method.clone(), addr, &id);
        let mut client = client.clone();
        async move {
            let result = send(&mut client, request).await;
            (
                id,
                method,
                result.map(|r| r.status()).map_err(|e| ErrorClass::of(&e)),
            )
        }
    });
    let results: Vec<_> = futures_util::stream::iter(requests)
        .buffer_unordered(64)
        .collect()
        .await;

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
                // Refusals and GOAWAYs never end a call: only a lost
                // connection under a POST does.
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
