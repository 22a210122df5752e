//! The connector placement: the client's connector retries, so a streaming
//! upload, which no request-level retry could copy, reaches a loopback
//! server that starts listening a moment late.
//!
//! ```text
//! cargo run --example connector
//! ```

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_conn_retry::{Backoff, ConnectorClassifier, Jitter, RetryLayer, RetryPolicy};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "tower_conn_retry=debug".into()),
        )
        .with_target(false)
        .init();

    // A loopback server that starts 300 ms late and says how much it got.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listener = TcpListener::bind(addr).await.expect("bind the server port");
        println!("server: listening on http://{addr}");
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            tokio::spawn(async move {
                let count = service_fn(|request: http::Request<Incoming>| async move {
                    let body = request.into_body().collect().await?.to_bytes();
                    let reply = format!("received {} bytes", body.len());
                    Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::from(reply))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), count)
                    .await;
            });
        }
    });

    // At the connector nothing has been sent: every error is a connect
    // failure, safe to retry for any method.
    let policy = RetryPolicy::builder()
        .max_retries(10)
        .backoff(
            Backoff::exponential(Duration::from_millis(50))
                .max_delay(Duration::from_secs(1))
                .jitter(Jitter::Full),
        )
        .classifier(ConnectorClassifier)
        .build()?;
    // The connect timeout inside the retry layer bounds each attempt.
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(Duration::from_secs(2)));
    let connector = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .service(http);
    let client = Client::builder(TokioExecutor::new()).build(connector);

    // A body streamed in chunks: no length known up front, no copy possible.
    let chunks: Vec<Result<Frame<Bytes>, Infallible>> = (0..4)
        .map(|i| Ok(Frame::data(Bytes::from(format!("chunk {i}; ")))))
        .collect();
    let request = http::Request::post(format!("http://{addr}/upload"))
        .body(StreamBody::new(stream::iter(chunks)))?;
    let response = client.request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!(
        "client: POST /upload -> {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(())
}
