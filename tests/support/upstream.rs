//! An upstream whose connects are refused for a while: the outage the
//! default budget's gate waits out.

use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tokio::time::Instant;
use tower::Service;

/// An upstream that refuses connects during `[down_from, down_until)` and
/// answers otherwise; it records when each attempt came and whether it was
/// answered.
#[derive(Clone)]
pub struct Upstream {
    pub down_from: Instant,
    pub down_until: Instant,
    attempts: Arc<Mutex<Vec<(Instant, bool)>>>,
}

impl Upstream {
    pub fn down_between(from: Duration, until: Duration) -> Self {
        let now = Instant::now();
        Self {
            down_from: now + from,
            down_until: now + until,
            attempts: Arc::default(),
        }
    }

    pub fn attempts(&self) -> Vec<(Instant, bool)> {
        self.attempts.lock().unwrap().clone()
    }
}

impl Service<Request<String>> for Upstream {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Response<String>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        let now = Instant::now();
        let up = now < self.down_from || now >= self.down_until;
        self.attempts.lock().unwrap().push((now, up));
        Box::pin(async move {
            if up {
                Ok(Response::new(String::new()))
            } else {
                Err(io::Error::from(ErrorKind::ConnectionRefused))
            }
        })
    }
}
