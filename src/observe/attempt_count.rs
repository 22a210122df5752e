//! How many attempts a call made, read by the caller after it ended.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::request::CloneRequest;

/// The number of attempts a call made, failed or not, for a caller that
/// put it in the request's extensions before the call.
///
/// A successful HTTP response that took more than one attempt carries an
/// [`Attempts`](crate::Attempts) extension; an error cannot, as the layer
/// returns the inner service's error untouched. So the caller keeps a
/// clone of this handle and reads it once the call's future has ended:
/// the clone the request carries is the same counter (an `Arc`).
///
/// It reads 1 until the layer retries, and the layer stores the number of
/// attempts as each retry is sent, so a call that is not retried pays
/// nothing for it (no lookup in the extensions, no atomic operation). A
/// retry that was planned but not sent (the retry budget refused it, or
/// the inner service's `poll_ready` failed) is not counted.
///
/// The layer finds it through [`CloneRequest::head`]: it works for an
/// `http::Request` with a `Clone` body or a [`ReplayBody`](crate::ReplayBody).
/// A request type without a head (a `Uri` at a connector, or a type of
/// your own whose `head` is `None`) is never read, so its count stays at 1.
///
/// # Example
///
/// A call refused three times (the policy allows two retries) fails, and
/// the count tells that it made three attempts:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::io;
/// use tower::{service_fn, Service};
/// use tower_conn_retry::{AttemptCount, Backoff, Retry, RetryPolicy};
///
/// let refusing = service_fn(|_: http::Request<String>| async {
///     Err::<http::Response<String>, _>(io::Error::from(io::ErrorKind::ConnectionRefused))
/// });
/// let policy = RetryPolicy::builder()
///     .max_retries(2)
///     .backoff(Backoff::none())
///     .build()
///     .unwrap();
/// let mut service = Retry::new(refusing, policy);
///
/// let attempts = AttemptCount::new();
/// let mut request = http::Request::new(String::new());
/// request.extensions_mut().insert(attempts.clone());
///
/// let result = service.ready().await.unwrap().call(request).await;
/// assert!(result.is_err());
/// assert_eq!(attempts.get(), 3);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AttemptCount(Arc<AtomicU32>);

impl AttemptCount {
    /// A new count, reading 1.
    pub fn new() -> Self {
        Self(Arc::new(AtomicU32::new(1)))
    }

    /// The number of attempts made so far (at least 1); the call's total
    /// once its future has ended.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, attempts: u32) {
        self.0.store(attempts, Ordering::Relaxed);
    }
}

/// Reads 1, as [`new`](AttemptCount::new).
impl Default for AttemptCount {
    fn default() -> Self {
        Self::new()
    }
}

/// Stores `attempts` in the [`AttemptCount`] `request` carries, if it
/// carries one. Called only as a retry is sent.
pub(crate) fn record<Req: CloneRequest>(request: &Req, attempts: u32) {
    if let Some(count) = request
        .head()
        .and_then(|head| head.extensions.get::<AttemptCount>())
    {
        count.set(attempts);
    }
}
