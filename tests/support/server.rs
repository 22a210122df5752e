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
    pub fn record(&self, method: Method, body: Bytes) {
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
    serve_http1(listener, move || {
        let requests = requests.clone();
        service_fn(move |request: Request<Incoming>| {
            let requests = requests.clone();
            async move {
                let method = request.method().clone();
                let body = request.into_body().collect().await.map(|b| b.to_bytes());
                requests.record(method, body.unwrap_or_default());
                let mut response = Response::new(Full::new(Bytes::from_static(b"hello")));
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }
        })
    })
    .await;
}

/// Serves HTTP/1 with hyper on every connection `listener` accepts, each
/// connection with the service `make` returns.
async fn serve_http1<F, S>(listener: TcpListener, make: F)
where
    F: Fn() -> S,
    S: hyper::service::Service<Request<Incoming>, Response = Response<Full<Bytes>>>
        + Send
        + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        let service = make();
        tokio::spawn(async move {
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
    let requests = Requests::default();
    let recorded = requests.clone();
    let addr = serve_raw(move |stream| read_head_then_reset(stream, recorded.clone())).await;
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

/// Reads one whole request (head, then a `content-length` body), returning
/// its method and `x-request-id`, or `None` if the peer went away first.
pub async fn read_request(stream: &mut TcpStream) -> Option<(Method, Option<String>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if data.len() > 64 * 1024 {
            return None;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let method = Method::from_bytes(head.split(' ').next()?.as_bytes()).ok()?;
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    let body_len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + body_len {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    Some((method, header("x-request-id")))
}

/// A raw TCP server: each accepted connection is handed to `handle`.
pub async fn serve_raw<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });
    addr
}

/// Resets the connection (SO_LINGER 0) as soon as the request's first bytes
/// arrive, without reading them: the server never sees the request.
/// Counts the connections so reset.
pub async fn reset_on_accept() -> (SocketAddr, Requests) {
    let connections = Requests::default();
    let recorded = connections.clone();
    let addr = serve_raw(move |stream: TcpStream| {
        let recorded = recorded.clone();
        async move {
            // Wait until the request was written, so the client cannot
            // mistake the reset for a connection closed before sending.
            let mut first = [0u8; 16];
            let Ok(n) = stream.peek(&mut first).await else {
                return;
            };
            let method = first[..n].split(|&b| b == b' ').next().unwrap_or_default();
            if let Ok(method) = Method::from_bytes(method) {
                recorded.record(method, Bytes::new());
            }
            let _ = stream.set_zero_linger();
        }
    })
    .await;
    (addr, connections)
}

/// Reads each whole request, records it, and closes the connection in an
/// orderly way (FIN) without answering.
pub async fn close_after_reading_request() -> (SocketAddr, Requests) {
    read_each_request_then(|mut stream| async move {
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
    })
    .await
}

/// Reads each connection's first whole request, records it, and hands the
/// connection to `then`, which does not answer.
async fn read_each_request_then<F, Fut>(then: F) -> (SocketAddr, Requests)
where
    F: Fn(TcpStream) -> Fut + Copy + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let requests = Requests::default();
    let recorded = requests.clone();
    let addr = serve_raw(move |mut stream: TcpStream| {
        let recorded = recorded.clone();
        async move {
            if let Some((method, _)) = read_request(&mut stream).await {
                recorded.record(method, Bytes::new());
            }
            then(stream).await;
        }
    })
    .await;
    (addr, requests)
}

/// Answers each request with a head promising 100 body bytes, sends 10,
/// and closes.
pub async fn close_mid_response_body() -> (SocketAddr, Requests) {
    let requests = Requests::default();
    let recorded = requests.clone();
    let addr = serve_raw(move |mut stream: TcpStream| {
        let recorded = recorded.clone();
        async move {
            use tokio::io::AsyncWriteExt;
            if let Some((method, _)) = read_request(&mut stream).await {
                recorded.record(method, Bytes::new());
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                    .await;
                let _ = stream.shutdown().await;
            }
        }
    })
    .await;
    (addr, requests)
}

/// A loopback listener that never accepts, its accept queue filled, so a
/// further connection attempt hangs (Linux drops the SYN of a full queue).
/// Keep the returned value alive for as long as the address must hang.
pub struct FullBacklog {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _fillers: Vec<std::net::TcpStream>,
}

pub async fn full_backlog() -> FullBacklog {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let fillers = tokio::task::spawn_blocking(move || {
        let mut fillers = Vec::new();
        // Connect until one attempt hangs: the queue is full from then on.
        for _ in 0..8 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(stream) => fillers.push(stream),
                Err(_) => break,
            }
        }
        fillers
    })
    .await
    .unwrap();
    FullBacklog {
        addr,
        _listener: listener,
        _fillers: fillers,
    }
}

/// What the flaky server did, by request id.
#[derive(Clone, Debug, Default)]
pub struct Handled {
    /// How often each request id was read by the server (answered or not).
    pub seen: Arc<Mutex<std::collections::HashMap<String, usize>>>,
    pub resets_before_reading: Arc<std::sync::atomic::AtomicUsize>,
    pub resets_after_reading: Arc<std::sync::atomic::AtomicUsize>,
}

impl Handled {
    fn saw(&self, id: Option<String>) {
        *self
            .seen
            .lock()
            .unwrap()
            .entry(id.unwrap_or_default())
            .or_default() += 1;
    }

    pub fn times_seen(&self, id: &str) -> usize {
        self.seen.lock().unwrap().get(id).copied().unwrap_or(0)
    }
}

/// A server that, for each connection, draws from a seeded generator:
/// with probability `p_before` it resets (SO_LINGER 0) once the request
/// arrived but before reading it; with `p_after` it reads the whole request
/// (so the server has seen it) and then resets; otherwise hyper answers 200
/// and closes the connection. Every request id the server read is counted.
pub async fn flaky(seed: u64, p_before: f64, p_after: f64) -> (SocketAddr, Handled) {
    use rand::{RngExt, SeedableRng};
    use std::sync::atomic::Ordering;
    let rng = Arc::new(Mutex::new(rand::rngs::SmallRng::seed_from_u64(seed)));
    let handled = Handled::default();
    let recorded = handled.clone();
    let addr = serve_raw(move |mut stream: TcpStream| {
        let handled = recorded.clone();
        let draw: f64 = rng.lock().unwrap().random();
        async move {
            if draw < p_before {
                let mut first = [0u8; 1];
                if stream.peek(&mut first).await.is_ok() {
                    handled.resets_before_reading.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_zero_linger();
                }
            } else if draw < p_before + p_after {
                if let Some((_, id)) = read_request(&mut stream).await {
                    handled.saw(id);
                    handled.resets_after_reading.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_zero_linger();
                }
            } else {
                let service = service_fn(move |request: Request<Incoming>| {
                    let handled = handled.clone();
                    async move {
                        let id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let _ = request.into_body().collect().await;
                        handled.saw(id);
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        }
    })
    .await;
    (addr, handled)
}

/// The first connection is read to the end of its request (a chunked body
/// included) and reset; every later one is served by hyper, which records
/// what it handled. Returns the recorded requests and the resets made.
pub async fn reset_first_then_serve() -> (SocketAddr, Requests, Arc<std::sync::atomic::AtomicUsize>)
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    let requests = Requests::default();
    let recorded = requests.clone();
    let resets = Arc::new(AtomicUsize::new(0));
    let reset_count = resets.clone();
    let connections = Arc::new(AtomicUsize::new(0));
    let addr = serve_raw(move |mut stream: TcpStream| {
        let recorded = recorded.clone();
        let resets = reset_count.clone();
        let first = connections.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(5).any(|w| w == b"0\r\n\r\n") && seen.len() < 64 * 1024 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                resets.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_zero_linger();
                return;
            }
            let service = service_fn(move |request: Request<Incoming>| {
                let recorded = recorded.clone();
                async move {
                    let method = request.method().clone();
                    let body = request.into_body().collect().await.map(|b| b.to_bytes());
                    recorded.record(method, body.unwrap_or_default());
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    })
    .await;
    (addr, requests, resets)
}

/// How many request heads a server received.
#[derive(Clone, Debug, Default)]
pub struct Heads(Arc<std::sync::atomic::AtomicUsize>);

impl Heads {
    /// The count once it reached `at_least` (or after 5 s), read again
    /// 50 ms later so a late duplicate would still be counted.
    pub async fn wait_for(&self, at_least: usize) -> usize {
        use std::sync::atomic::Ordering;
        for _ in 0..500 {
            if self.0.load(Ordering::SeqCst) >= at_least {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.0.load(Ordering::SeqCst)
    }
}

/// A hyper server that counts each request's head as it arrives, before
/// reading its body, then answers 200 (or gives up if the body fails).
pub async fn count_heads() -> (SocketAddr, Heads) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    let heads = Heads::default();
    let counter = heads.clone();
    tokio::spawn(serve_http1(listener, move || {
        let counter = counter.clone();
        service_fn(move |request: Request<Incoming>| {
            counter.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                let _ = request.into_body().collect().await;
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            }
        })
    }));
    (addr, heads)
}

/// Reads each whole request, records it, and never answers; the
/// connection is held until the client goes away (or 10 s pass).
pub async fn stall_after_reading_request() -> (SocketAddr, Requests) {
    read_each_request_then(|mut stream| async move {
        let mut rest = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut rest)).await;
    })
    .await
}
