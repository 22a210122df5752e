//! A real `hyper_util` client wrapped in the layer, with a count of the
//! attempts that reach it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::Service;
use tower_conn_retry::{Retry, RetryPolicy};

pub type Body = Full<Bytes>;

/// Counts the attempts that reach the inner service.
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    attempts: Arc<AtomicUsize>,
}

impl<S: Service<Request<Body>>> Service<Request<Body>> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> S::Future {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.inner.call(request)
    }
}

/// `client` wrapped in the layer, and a count of the attempts that reached
/// it.
pub fn layered<C>(
    client: Client<C, Body>,
    policy: RetryPolicy,
) -> (Retry<Counted<Client<C, Body>>>, Arc<AtomicUsize>)
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = Counted {
        inner: client,
        attempts: attempts.clone(),
    };
    (Retry::new(counted, policy), attempts)
}

/// A plain HTTP/1 client.
pub fn http_client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}
