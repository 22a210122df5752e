//! A hyper echo server on 127.0.0.1 and requests to it, for the loopback
//! benches.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{realistic_request, Body};

/// Connections the servers of this process have accepted.
static ACCEPTED: AtomicUsize = AtomicUsize::new(0);

/// How many connections the servers of this process have accepted so far.
pub fn accepted() -> usize {
    ACCEPTED.load(Ordering::Relaxed)
}

/// Starts an HTTP/1 server on 127.0.0.1 that echoes each request's body.
pub async fn start_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            ACCEPTED.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let echo = service_fn(|request: Request<Incoming>| async move {
                    let body = request.into_body().collect().await?.to_bytes();
                    Ok::<_, hyper::Error>(Response::new(Full::new(body)))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), echo)
                    .await;
            });
        }
    });
    addr
}

/// The realistic request, sent to `addr`.
pub fn request_to(addr: SocketAddr) -> Request<Body> {
    let mut request = realistic_request();
    *request.uri_mut() = format!("http://{addr}/v1/orders?customer=4711&expand=items")
        .parse()
        .unwrap();
    request
}
