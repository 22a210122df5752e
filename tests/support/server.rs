//! Real servers on 127.0.0.1 (loopback only, ever), each recording what it
//! was sent.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// The requests a server handled, shared with the test.
#[derive(Clone, Debug, Default)]
pub struct Requests(Arc<Mutex<Vec<(Method, Bytes)>>>);

impl Requests {
    fn record(&self, method: Method, body: Bytes) {
        self.0.lock().unwrap().push((method, body));
    }

    /// How many requests with `method` arrived.
    pub fn count(&self, method: &Method) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == method)
            .count()
    }

    pub fn total(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn bodies(&self) -> Vec<Bytes> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

/// A loopback address nothing listens on (bound, then released).
pub fn unused_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().unwrap()
}

/// A hyper server answering every request with `status`.
pub async fn serve_status(status: StatusCode) -> (SocketAddr, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    let requests = Requests::default();
    tokio::spawn(accept_http(listener, status, requests.clone()));
    (addr, requests)
}

/// A hyper server answering 200 that starts listening on `addr` only after
/// `delay`.
pub fn serve_ok_after(addr: SocketAddr, delay: Duration) -> Requests {
    let requests = Requests::default();
    let recorded = requests.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let listener = TcpListener::bind(addr).await.expect("bind the late port");
        accept_http(listener, StatusCode::OK, recorded).await;
    });
    requests
}

async fn accept_http(listener: TcpListener, status: StatusCode, requests: Requests) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let requests = requests.clone();
                async move {
                    let method = request.method().clone();
                    let body = request.into_body().collect().await.map(|b| b.to_bytes());
                    requests.record(method, body.unwrap_or_default());
                    let mut response = Response::new(Full::new(Bytes::from_static(b"hello")));
                    *response.status_mut() = status;
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A server that reads each request's head, records its method, and then
/// resets the connection (SO_LINGER 0) without answering: the request was
/// written, so the client sees the connection lost.
pub async fn reset_after_reading_request() -> (SocketAddr, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    let requests = Requests::default();
    let recorded = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(read_head_then_reset(stream, recorded.clone()));
        }
    });
    (addr, requests)
}

async fn read_head_then_reset(mut stream: TcpStream, requests: Requests) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let method = head.split(|&b| b == b' ').next().unwrap_or_default();
    if let Ok(method) = Method::from_bytes(method) {
        requests.record(method, Bytes::new());
    }
    let _ = stream.set_zero_linger();
    drop(stream);
}
