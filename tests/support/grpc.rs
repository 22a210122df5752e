//! A unary gRPC echo on the wire without protoc: a hand-written
//! `prost::Message`, a tonic client call, and an `h2` server that refuses
//! the first stream of each call (by its `x-request-id` metadata) with
//! REFUSED_STREAM and answers the second.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Response};
use prost::Message;
use tokio::net::TcpListener;

use super::h2_server::{self, Ledger};

/// The request and the reply of `echo.Echo/Say`.
#[derive(Clone, PartialEq, Message)]
pub struct Echo {
    #[prost(string, tag = "1")]
    pub text: String,
}

/// Calls `echo.Echo/Say` through any gRPC service, with `id` as its
/// `x-request-id` metadata.
pub async fn say<T>(
    service: T,
    text: &str,
    id: &str,
) -> Result<tonic::Response<Echo>, tonic::Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    T::ResponseBody: hyper::body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut grpc = tonic::client::Grpc::new(service);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.into().to_string()))?;
    let mut request = tonic::Request::new(Echo {
        text: text.to_string(),
    });
    request
        .metadata_mut()
        .insert("x-request-id", id.parse().unwrap());
    let path = http::uri::PathAndQuery::from_static("/echo.Echo/Say");
    grpc.unary(request, path, tonic_prost::ProstCodec::default())
        .await
}

/// The class of the transport error a failed call's `Status` carries as its
/// source: the error the layer classified (panics if there is none).
pub fn class_of_source(status: &tonic::Status) -> tower_conn_retry::ErrorClass {
    use std::error::Error as _;
    let transport = status
        .source()
        .and_then(|source| source.downcast_ref::<tonic::transport::Error>())
        .unwrap_or_else(|| panic!("the transport error is the source: {status:?}"));
    tower_conn_retry::ErrorClass::of(transport)
}

/// One gRPC message frame: not compressed, a 4-byte length, the message.
fn frame(message: &Echo) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(0);
    out.put_u32(message.encoded_len() as u32);
    message.encode(&mut out).unwrap();
    out.freeze()
}

/// The echo server: refuses the first stream of each call id, answers the
/// second with the request's text, upper-cased.
pub async fn refusing_echo_server() -> (SocketAddr, Ledger) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ledger = Ledger::default();
    serve_echo(listener, ledger.clone(), true);
    (addr, ledger)
}

/// The echo server, refusing nothing, listening on `addr` from `delay` on.
pub fn echo_server_after(addr: SocketAddr, delay: std::time::Duration) -> Ledger {
    let ledger = Ledger::default();
    let recorded = ledger.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let listener = TcpListener::bind(addr).await.expect("bind the late port");
        serve_echo(listener, recorded, false);
    });
    ledger
}

/// The echo server, refusing nothing, on a listener bound already.
pub async fn echo_server() -> (SocketAddr, Ledger) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ledger = Ledger::default();
    serve_echo(listener, ledger.clone(), false);
    (addr, ledger)
}

/// The echo server, refusing nothing, on `listener`, recording in `ledger`.
pub fn serve_echo_on(listener: TcpListener, ledger: Ledger) {
    serve_echo(listener, ledger, false);
}

fn serve_echo(listener: TcpListener, ledger: Ledger, refuse_first: bool) {
    h2_server::serve_streams(listener, ledger, refuse_first, answer_echo);
}

/// Answers a call with its request's text, upper-cased, and an OK status.
fn answer_echo(body: Bytes, mut respond: h2::server::SendResponse<Bytes>) {
    let text = Echo::decode(body.get(5..).unwrap_or_default())
        .map(|m| m.text)
        .unwrap_or_default();
    let head = Response::builder()
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let Ok(mut send) = respond.send_response(head, false) else {
        return;
    };
    let reply = Echo {
        text: text.to_uppercase(),
    };
    let _ = send.send_data(frame(&reply), false);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().unwrap());
    let _ = send.send_trailers(trailers);
}

/// An HTTP/2 "server" on 127.0.0.1 that reads each connection's frames
/// until a HEADERS frame (the call arrived, and counts as processed),
/// then resets the connection (SO_LINGER 0: RST).
pub async fn resetting_server() -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let processed = Arc::new(AtomicUsize::new(0));
    let counted = processed.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                // An empty SETTINGS frame.
                let _ = stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await;
                let mut preface = [0; 24];
                if stream.read_exact(&mut preface).await.is_err() {
                    return;
                }
                for _ in 0..64 {
                    let mut head = [0; 9];
                    if stream.read_exact(&mut head).await.is_err() {
                        return;
                    }
                    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                    let mut payload = vec![0; len];
                    if stream.read_exact(&mut payload).await.is_err() {
                        return;
                    }
                    if head[3] == 0x1 {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let _ = stream.set_zero_linger();
                        return;
                    }
                }
            });
        }
    });
    (addr, processed)
}
