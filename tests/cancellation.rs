//! Dropping a response future, during an attempt or during a pause, leaves
//! no task and no open connection behind, and makes no further attempt.
#![cfg(feature = "hyper")]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tokio::io::AsyncReadExt;
use tower::Service;
use tower_conn_retry::{Backoff, Jitter, RetryPolicy};

use support::client::{http_client, layered};
use support::server;

fn policy(base: Duration) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(5)
        .backoff(Backoff::exponential(base).jitter(Jitter::None))
        .build()
        .unwrap()
}

/// Waits until the current runtime has no task left, or panics.
async fn until_no_task_is_alive() {
    let metrics = tokio::runtime::Handle::current().metrics();
    for _ in 0..200 {
        if metrics.num_alive_tasks() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} task(s) left behind", metrics.num_alive_tasks());
}

/// A server on its own thread and runtime: it reads one request, reports
/// that, never answers, and reports when the client closes the connection.
fn silent_server() -> (SocketAddr, mpsc::Receiver<&'static str>) {
    let (events, receiver) = mpsc::channel();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (mut stream, _) = listener.accept().await.unwrap();
            if server::read_request(&mut stream).await.is_some() {
                events.send("read").unwrap();
            }
            let mut rest = [0u8; 64];
            // Ends when the client closes (0) or resets (an error); the
            // thread, bounded by the test's own wait, stops with it.
            while let Ok(n) = stream.read(&mut rest).await {
                if n == 0 {
                    break;
                }
            }
            let _ = events.send("closed");
        });
    });
    (addr, receiver)
}

#[tokio::test]
async fn dropping_during_an_attempt_closes_the_connection_and_leaves_no_task() {
    let (addr, events) = silent_server();
    let (mut client, attempts) = layered(http_client(), policy(Duration::from_millis(10)));
    let request = Request::get(format!("http://{addr}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();

    let future = client.ready().await.unwrap().call(request);
    let mut future = Box::pin(future);
    // Drive the attempt until the server has read the request.
    let read = tokio::task::spawn_blocking(move || {
        let event = events.recv_timeout(Duration::from_secs(5));
        (event, events)
    });
    let (event, events) = tokio::select! {
        _ = &mut future => panic!("a silent server cannot answer"),
        read = read => read.unwrap(),
    };
    assert_eq!(event, Ok("read"));
    drop(future);

    let closed = tokio::task::spawn_blocking(move || events.recv_timeout(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(closed, Ok("closed"), "the connection was left open");
    until_no_task_is_alive().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn dropping_during_a_pause_makes_no_further_attempt_and_leaves_no_task() {
    let addr = server::unused_addr();
    // A long first pause: the future is sure to be in it when dropped.
    let (mut client, attempts) = layered(http_client(), policy(Duration::from_secs(30)));
    let request = Request::get(format!("http://{addr}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();

    let future = client.ready().await.unwrap().call(request);
    let mut future = Box::pin(future);
    for _ in 0..100 {
        tokio::select! {
            _ = &mut future => panic!("nothing listens, so nothing can answer"),
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        if attempts.load(Ordering::SeqCst) == 1 {
            break;
        }
    }
    // Let the refused attempt be classified and the pause begin.
    tokio::select! {
        _ = &mut future => panic!("nothing listens, so nothing can answer"),
        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
    }
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        1,
        "the first attempt never ran"
    );
    drop(future);

    until_no_task_is_alive().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "an attempt after drop");
}
