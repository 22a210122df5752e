//! The client's connector: a TCP connect, then the server's one-byte
//! greeting, both within a connect timeout, as a TLS connector waits for
//! the handshake. Every call is one attempt, counted.
//!
//! A timeout or a failure here is a connect failure for hyper-util's
//! legacy `Client` (`Error::is_connect()`): the request was never sent, so
//! the crate retries it for every method.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::series::Series;

/// Connects to one address (the URI's authority is the same everywhere).
#[derive(Clone)]
pub struct GreetedConnector {
    pub addr: SocketAddr,
    pub timeout: Duration,
    pub attempts: Arc<Series>,
}

impl tower::Service<http::Uri> for GreetedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        self.attempts.record();
        let (addr, timeout) = (self.addr, self.timeout);
        Box::pin(async move {
            let connect = async {
                let mut stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let mut greeting = [0u8; 1];
                stream.read_exact(&mut greeting).await?;
                Ok::<_, io::Error>(stream)
            };
            match tokio::time::timeout(timeout, connect).await {
                Ok(stream) => Ok(TokioIo::new(stream?)),
                Err(_) => Err(io::ErrorKind::TimedOut.into()),
            }
        })
    }
}
