//! A request type that is not HTTP needs no impl of your own: a TCP dialer
//! (a `Service<SocketAddr>` that returns a `TcpStream`) retried, through
//! `Retryable`, until a loopback listener that starts late accepts.
//!
//! ```text
//! cargo run --example tcp_dialer
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tower::{service_fn, Service, ServiceBuilder};
use tower_conn_retry::{Backoff, Jitter, RetryLayer, RetryPolicy, Retryable};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "tower_conn_retry=debug".into()),
        )
        .with_target(false)
        .init();

    // A free loopback port, and a listener that takes it 300 ms late: the
    // first connects are refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listener = TcpListener::bind(addr).await?;
        println!("server: listening on {addr}");
        let (mut stream, _) = listener.accept().await?;
        tokio::io::AsyncWriteExt::write_all(&mut stream, b"hello").await
    });

    // Any `Service<SocketAddr>` will do; a closure is the shortest.
    let dialer = service_fn(|addr: SocketAddr| TcpStream::connect(addr));

    // A refused connect is `ErrorClass::Connect` (the default classifier
    // reads io errors): retried, up to 20 times, 25 ms apart and doubling
    // up to 100 ms, with equal jitter (at least half of each), for at most
    // 5 s in all: the pauses alone outlast the listener's 300 ms.
    let policy = RetryPolicy::builder()
        .max_retries(20)
        .max_elapsed(Duration::from_secs(5))
        .backoff(
            Backoff::exponential(Duration::from_millis(25))
                .max_delay(Duration::from_millis(100))
                .jitter(Jitter::Equal),
        )
        .build()
        .expect("valid settings");

    // The layer takes a `Retryable<SocketAddr>` (a retry sends a clone of
    // the address) and hands the inner dialer the address itself.
    let mut dialer = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .map_request(Retryable::into_inner)
        .service(dialer);

    // Connecting sends nothing: it may be done twice. Naming the peer gives
    // it a budget and gate of its own, so another, dead peer never holds
    // back its retries.
    let peer = http::uri::Authority::try_from(addr.to_string()).map_err(std::io::Error::other)?;
    let mut stream = dialer
        .ready()
        .await?
        .call(Retryable::idempotent(addr).to(peer))
        .await?;
    let mut greeting = String::new();
    stream.read_to_string(&mut greeting).await?;
    println!("client: connected to {addr}, read {greeting:?}");

    server.await.expect("the server task")?;
    Ok(())
}
