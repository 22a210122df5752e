//! A retrying `HttpConnector`, as hyper-util's Client and tonic take it,
//! with a count of connection attempts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use tower::Service;
use tower_conn_retry::{Backoff, ConnectorClassifier, Jitter, Retry, RetryPolicy};

/// Counts the connection attempts that reach the connector.
#[derive(Clone)]
pub struct CountedConnector {
    inner: HttpConnector,
    attempts: Arc<AtomicUsize>,
}

impl Service<Uri> for CountedConnector {
    type Response = <HttpConnector as Service<Uri>>::Response;
    type Error = <HttpConnector as Service<Uri>>::Error;
    type Future = <HttpConnector as Service<Uri>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.inner.call(uri)
    }
}

/// An `HttpConnector` that retries up to `max_retries` times, pausing
/// `base`, `2 base`, ... (no jitter), and the count of its attempts.
pub fn retrying_connector(
    max_retries: u32,
    base: Duration,
) -> (
    Retry<CountedConnector, ConnectorClassifier>,
    Arc<AtomicUsize>,
) {
    let attempts = Arc::new(AtomicUsize::new(0));
    let policy = RetryPolicy::builder()
        .max_retries(max_retries)
        .backoff(Backoff::exponential(base).jitter(Jitter::None))
        .classifier(ConnectorClassifier)
        .build()
        .unwrap();
    let connector = CountedConnector {
        inner: HttpConnector::new(),
        attempts: attempts.clone(),
    };
    (Retry::new(connector, policy), attempts)
}
