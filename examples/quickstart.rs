//! Quickstart: a hyper client, wrapped in the retry layer, asks a loopback
//! server that starts listening a moment late. The first connections are
//! refused; the layer logs each retry and the request succeeds.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};
use tower_conn_retry::{Backoff, Jitter, RetryLayer, RetryPolicy};

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

    // Reserve a loopback port, release it, and start the server on it only
    // after 300 ms: until then every connection is refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listener = TcpListener::bind(addr).await.expect("bind the server port");
        println!("server: listening on http://{addr}");
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            tokio::spawn(async move {
                let hello = service_fn(|_: http::Request<Incoming>| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                        b"hello from a server that was late",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hello)
                    .await;
            });
        }
    });

    let policy = RetryPolicy::builder()
        .max_retries(10)
        .backoff(
            Backoff::exponential(Duration::from_millis(50))
                .max_delay(Duration::from_secs(1))
                .jitter(Jitter::Full),
        )
        .max_elapsed(Duration::from_secs(10))
        .build()?;

    // Each connect bounded: a SYN nobody answers would wait about 127 s on
    // Linux, and the retry layer bounds pauses, not attempts.
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector);
    let mut client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .service(client);

    for path in ["/first", "/second"] {
        let request =
            http::Request::get(format!("http://{addr}{path}")).body(Full::new(Bytes::new()))?;
        let response = client.ready().await?.call(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        println!(
            "client: GET {path} -> {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}
