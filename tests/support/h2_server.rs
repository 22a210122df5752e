//! HTTP/2 servers on 127.0.0.1 that say "not processed": one built on the
//! `h2` crate that refuses streams with RST_STREAM(REFUSED_STREAM), and one
//! that writes raw frames to send a GOAWAY below streams in flight.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What an HTTP/2 server did with each request, by `x-request-id`.
#[derive(Clone, Debug, Default)]
pub struct Ledger(Arc<Mutex<HashMap<String, Entry>>>);

#[derive(Clone, Debug, Default)]
pub struct Entry {
    pub method: Option<Method>,
    /// Times the server processed it (ran its handler).
    pub processed: usize,
    /// Times the server refused it unprocessed.
    pub refused: usize,
    /// The body of the last request processed, where the server read it.
    pub body: Bytes,
}

impl Ledger {
    pub fn update(&self, id: &str, method: &Method, f: impl FnOnce(&mut Entry)) {
        let mut map = self.0.lock().unwrap();
        let entry = map.entry(id.to_string()).or_default();
        entry.method = Some(method.clone());
        f(entry);
    }

    pub fn get(&self, id: &str) -> Entry {
        self.0.lock().unwrap().get(id).cloned().unwrap_or_default()
    }

    pub fn all(&self) -> HashMap<String, Entry> {
        self.0.lock().unwrap().clone()
    }
}

fn request_id<B>(request: &http::Request<B>) -> String {
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// An `h2` server that refuses the first stream of every request id with
/// RST_STREAM(REFUSED_STREAM) and processes the second.
pub async fn refuse_first_stream_of_each_request() -> (SocketAddr, Ledger) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ledger = Ledger::default();
    serve_streams(listener, ledger.clone(), true, |_, mut respond| {
        if let Ok(mut send) = respond.send_response(Response::new(()), false) {
            let _ = send.send_data(Bytes::from_static(b"done"), true);
        }
    });
    (addr, ledger)
}

/// An `h2` server on `listener` that records each stream by its request's
/// `x-request-id`. With `refuse_first`, the first stream of every id is
/// refused with RST_STREAM(REFUSED_STREAM). A stream it processes has its
/// body read whole and recorded, and is then answered by `answer`.
pub fn serve_streams(
    listener: TcpListener,
    ledger: Ledger,
    refuse_first: bool,
    answer: fn(Bytes, h2::server::SendResponse<Bytes>),
) {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(stream).await else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    let id = request_id(&request);
                    if refuse_first && ledger.get(&id).refused == 0 {
                        ledger.update(&id, request.method(), |e| e.refused += 1);
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                        continue;
                    }
                    ledger.update(&id, request.method(), |e| e.processed += 1);
                    let ledger = ledger.clone();
                    tokio::spawn(async move {
                        let method = request.method().clone();
                        let mut incoming = request.into_body();
                        let mut body = Vec::new();
                        while let Some(Ok(chunk)) = incoming.data().await {
                            let _ = incoming.flow_control().release_capacity(chunk.len());
                            body.extend_from_slice(&chunk);
                        }
                        let body = Bytes::from(body);
                        ledger.update(&id, &method, |e| e.body = body.clone());
                        answer(body, respond);
                    });
                }
            });
        }
    });
}

/// A hyper HTTP/2 server on `listener` that processes every request.
pub fn serve_h2(listener: TcpListener, ledger: Ledger) -> tokio::task::JoinHandle<()> {
    let (_, never) = tokio::sync::watch::channel(false);
    serve_h2_until(listener, ledger, std::time::Duration::ZERO, never)
}

/// A hyper HTTP/2 server on `listener` that processes every request,
/// answering `delay` after it arrived, until `shutdown` turns true: then
/// every connection shuts down gracefully (GOAWAY, in-flight streams
/// finished). Abort the task to stop accepting.
pub fn serve_h2_until(
    listener: TcpListener,
    ledger: Ledger,
    delay: std::time::Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let ledger = ledger.clone();
            let mut shutdown = shutdown.clone();
            let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
                ledger.update(&request_id(&request), request.method(), |e| {
                    e.processed += 1
                });
                async move {
                    tokio::time::sleep(delay).await;
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"done",
                    ))))
                }
            });
            tokio::spawn(async move {
                let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
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
    })
}

/// What the chaos server did, in total.
#[derive(Clone, Debug, Default)]
pub struct Chaos {
    pub refused: Arc<std::sync::atomic::AtomicUsize>,
    pub go_aways: Arc<std::sync::atomic::AtomicUsize>,
    pub drops: Arc<std::sync::atomic::AtomicUsize>,
}

/// An `h2` server that, for each stream, draws from a generator seeded by
/// `seed` and the connection's number: with `p_refuse` it resets the stream
/// with REFUSED_STREAM (not processed); with `p_go_away` it processes the
/// request and then sends GOAWAY (last-stream-id: the last stream whose
/// HEADERS arrived) and closes the connection, failing the streams above
/// it unprocessed and those at or below it lost; with `p_drop` it processes
/// the request and drops the connection without answering; otherwise it
/// processes and answers.
pub async fn chaos(
    seed: u64,
    p_refuse: f64,
    p_go_away: f64,
    p_drop: f64,
) -> (SocketAddr, Ledger, Chaos) {
    use rand::{RngExt, SeedableRng};
    use std::sync::atomic::Ordering;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ledger = Ledger::default();
    let chaos = Chaos::default();
    let (recorded, counts) = (ledger.clone(), chaos.clone());
    tokio::spawn(async move {
        let mut connections = 0u64;
        while let Ok((stream, _)) = listener.accept().await {
            connections += 1;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ connections);
            let (ledger, counts) = (recorded.clone(), counts.clone());
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(stream).await else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    let id = request_id(&request);
                    let draw: f64 = rng.random();
                    if draw < p_refuse {
                        ledger.update(&id, request.method(), |e| e.refused += 1);
                        counts.refused.fetch_add(1, Ordering::SeqCst);
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                        continue;
                    }
                    ledger.update(&id, request.method(), |e| e.processed += 1);
                    if draw < p_refuse + p_go_away {
                        counts.go_aways.fetch_add(1, Ordering::SeqCst);
                        connection.abrupt_shutdown(h2::Reason::NO_ERROR);
                        // Drive the GOAWAY out and the connection closed.
                        while let Some(Ok(_)) = connection.accept().await {}
                        return;
                    }
                    if draw < p_refuse + p_go_away + p_drop {
                        counts.drops.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    if let Ok(mut body) = respond.send_response(Response::new(()), false) {
                        let _ = body.send_data(Bytes::from_static(b"done"), true);
                    }
                }
            });
        }
    });
    (addr, ledger, chaos)
}

// ===== raw frames =====

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

async fn read_frame(stream: &mut TcpStream) -> Option<Frame> {
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.ok()?;
    Some(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

async fn write_frame(stream: &mut TcpStream, kind: u8, flags: u8, id: u32, payload: &[u8]) {
    let len = (payload.len() as u32).to_be_bytes();
    let mut frame = vec![len[1], len[2], len[3], kind, flags];
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(payload);
    let _ = stream.write_all(&frame).await;
}

/// The method of a request's HEADERS frame, read from the first field of
/// its header block: h2 writes `:method` first, as HPACK static index 2
/// (GET) or 3 (POST).
fn method_of(frame: &Frame) -> Method {
    let mut block = &frame.payload[..];
    if frame.flags & PADDED != 0 {
        block = &block[1..];
    }
    if frame.flags & PRIORITY != 0 {
        block = &block[5..];
    }
    match block.first() {
        Some(0x82) => Method::GET,
        Some(0x83) => Method::POST,
        _ => Method::from_bytes(b"OTHER").unwrap(),
    }
}

/// One HTTP/2 connection driven by raw frames.
pub struct RawConnection {
    stream: TcpStream,
    // Requests whose HEADERS arrived and whose body has not ended.
    open: HashMap<u32, Method>,
}

impl RawConnection {
    /// Accepts a connection on `listener` and exchanges the prefaces.
    pub async fn accept(listener: &TcpListener) -> RawConnection {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut preface = [0u8; 24];
        stream.read_exact(&mut preface).await.unwrap();
        assert_eq!(preface, PREFACE);
        write_frame(&mut stream, SETTINGS, 0, 0, &[]).await;
        RawConnection {
            stream,
            open: HashMap::new(),
        }
    }

    /// Reads frames until the next request arrived whole (HEADERS, and
    /// DATA up to END_STREAM), acknowledging the client's SETTINGS;
    /// returns its stream id and method.
    pub async fn next_request(&mut self) -> (u32, Method) {
        loop {
            let frame = read_frame(&mut self.stream)
                .await
                .expect("the client hung up");
            match frame.kind {
                SETTINGS if frame.flags & 0x1 == 0 => {
                    write_frame(&mut self.stream, SETTINGS, 0x1, 0, &[]).await;
                }
                HEADERS => {
                    let method = method_of(&frame);
                    if frame.flags & END_STREAM != 0 {
                        return (frame.stream, method);
                    }
                    self.open.insert(frame.stream, method);
                }
                DATA if frame.flags & END_STREAM != 0 => {
                    if let Some(method) = self.open.remove(&frame.stream) {
                        return (frame.stream, method);
                    }
                }
                _ => {}
            }
        }
    }

    /// Sends GOAWAY(NO_ERROR) with `last_stream_id`.
    pub async fn go_away(&mut self, last_stream_id: u32) {
        let mut payload = last_stream_id.to_be_bytes().to_vec();
        payload.extend_from_slice(&0u32.to_be_bytes());
        write_frame(&mut self.stream, GOAWAY, 0, 0, &payload).await;
    }

    /// Answers stream `id` with `:status 200` and no body (HPACK static
    /// index 8).
    pub async fn answer(&mut self, id: u32) {
        write_frame(
            &mut self.stream,
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &[0x88],
        )
        .await;
    }

    /// Closes the TCP connection.
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }
}
