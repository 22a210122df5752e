//! The channel placement under tonic (feature `tonic`): `RetryChannel`
//! wraps a `Channel` in one line, so a gRPC call the server refused with
//! HTTP/2 REFUSED_STREAM (a server draining for a deploy does that) is
//! sent again, and the caller never sees it. The call's body is recorded
//! (up to 64 KiB by default) so it can be replayed; once retries are spent
//! the caller sees `Unavailable` with the transport error as its source.
//! No protoc is needed for the message.
//!
//! ```text
//! cargo run --example grpc_channel --features tonic
//! ```

use std::error::Error as StdError;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Response};
use prost::Message;
use tokio::net::TcpListener;
use tonic::transport::Endpoint;
use tower_conn_retry::tonic::RetryChannel;
use tower_conn_retry::{Backoff, RetryPolicy};

type BoxError = Box<dyn StdError + Send + Sync>;

/// The request and reply of `echo.Echo/Say`, written by hand.
#[derive(Clone, PartialEq, Message)]
struct Echo {
    #[prost(string, tag = "1")]
    text: String,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "tower_conn_retry=debug".into()),
        )
        .with_target(false)
        .init();

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(refuse_every_first_stream(listener));

    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Backoff::exponential(Duration::from_millis(50)))
        .build()?;
    // The one line: a generated client takes it as well (`EchoClient::new`).
    let mut grpc = tonic::client::Grpc::new(RetryChannel::new(channel, policy));
    grpc.ready().await?;
    let path = http::uri::PathAndQuery::from_static("/echo.Echo/Say");
    let request = tonic::Request::new(Echo {
        text: "hello".into(),
    });
    let reply: tonic::Response<Echo> = grpc
        .unary(request, path, tonic_prost::ProstCodec::default())
        .await?;
    println!("reply: {}", reply.into_inner().text);
    Ok(())
}

/// A gRPC server on `listener` that refuses the first stream of every
/// connection with REFUSED_STREAM and echoes the rest, upper-cased.
async fn refuse_every_first_stream(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let Ok(mut connection) = h2::server::handshake(stream).await else {
                return;
            };
            let mut first = true;
            while let Some(Ok((request, mut respond))) = connection.accept().await {
                if std::mem::take(&mut first) {
                    println!("server: refused a stream, unprocessed");
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                    continue;
                }
                tokio::spawn(async move {
                    let mut body = request.into_body();
                    let mut data = BytesMut::new();
                    while let Some(Ok(chunk)) = body.data().await {
                        let _ = body.flow_control().release_capacity(chunk.len());
                        data.extend_from_slice(&chunk);
                    }
                    let text = Echo::decode(data.get(5..).unwrap_or_default())
                        .map(|m| m.text)
                        .unwrap_or_default();
                    println!("server: processed {text:?}");
                    let head = Response::builder()
                        .header("content-type", "application/grpc")
                        .body(())
                        .expect("a valid head");
                    let Ok(mut send) = respond.send_response(head, false) else {
                        return;
                    };
                    let _ = send.send_data(
                        grpc_frame(&Echo {
                            text: text.to_uppercase(),
                        }),
                        false,
                    );
                    let mut trailers = HeaderMap::new();
                    trailers.insert("grpc-status", "0".parse().expect("a valid header"));
                    let _ = send.send_trailers(trailers);
                });
            }
        });
    }
}

/// One gRPC message frame: not compressed, a 4-byte length, the message.
fn grpc_frame(message: &Echo) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(0);
    out.put_u32(message.encoded_len() as u32);
    message.encode(&mut out).expect("room for the message");
    out.freeze()
}
