//! [`Retry`]: the service that sends a request again after a connection
//! failure.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::admission::authority::AuthorityState;
use crate::classify::classifier::{Classify, DefaultClassifier};
use crate::future::response::{Resend, ResponseFuture};
use crate::layer::RetryLayer;
use crate::observe::stats::RetryStats;
use crate::policy::RetryPolicy;
use crate::request::{CloneRequest, RecordAttempts};

/// Retries connection failures of the inner service `S`, classified by `C`.
///
/// A response of any status, an error that is not a connection failure, and
/// the last error once the policy is spent all come back unchanged, with the
/// inner service's own error type.
///
/// # Clone
///
/// `S` must be `Clone`: each request keeps the clone it was called on, so it
/// can drive that clone's readiness again and call it for a retry while the
/// `Retry` itself serves the next request. The request is copied once per
/// call through [`CloneRequest`], so a retry can send it again.
///
/// # Request types
///
/// `Retry<S, C>` is a `Service<Req>` when `Req` implements [`CloneRequest`]
/// and [`RecordAttempts`](crate::RecordAttempts): `http::Request` with a
/// `Clone` body or a [`ReplayBody`](crate::ReplayBody), a `Uri` (a
/// connector), and [`Retryable`](crate::Retryable), which makes any `Clone`
/// request (a `SocketAddr`, a query of your own) retryable with no impl.
/// `Retry`'s own [`ready`](Self::ready) and [`oneshot`](Self::oneshot)
/// (found before tower's `ServiceExt` methods) state these bounds, so a
/// request of another type fails to compile with a message that names the
/// fix. In generic code, where tower's methods are the ones found, the
/// error is E0599 ("the method `ready` exists ... but its trait bounds were
/// not satisfied"): name the request type,
/// `ServiceExt::<Req>::ready(&mut service)`, and the error says which trait
/// is missing and what to do.
///
/// # Differences from `tower::retry`
///
/// - It decides *what* to retry: only [connection failures](crate::ErrorClass),
///   and a lost connection only for an idempotent method.
/// - Backoff, jitter, limits and request copying come built in; tower leaves
///   them to a `Policy` you write.
/// - Jitter is Brooker's full (or equal, or decorrelated) jitter, not an
///   additive random term.
/// - The copy of the request is made only when retrying is possible at all:
///   with `max_retries(0)`, or a POST under
///   [`idempotent_only`](crate::RetryPolicyBuilder::idempotent_only),
///   nothing is copied and the inner service is called as it is, with no
///   clone of it kept.
/// - The response future is no larger than `tower::retry`'s: what only a
///   retry needs (its count, pause and jitter state) is boxed at the first
///   retry.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::io;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use tower::{service_fn, Service, ServiceExt};
/// use tower_conn_retry::{Backoff, Retry, RetryPolicy};
///
/// let attempts = Arc::new(AtomicUsize::new(0));
/// let counter = attempts.clone();
/// // Refuses the first connection, then answers.
/// let flaky = service_fn(move |request: http::Request<String>| {
///     let attempt = counter.fetch_add(1, Ordering::SeqCst);
///     async move {
///         if attempt == 0 {
///             return Err(io::Error::from(io::ErrorKind::ConnectionRefused));
///         }
///         Ok(http::Response::new(request.into_body()))
///     }
/// });
///
/// let policy = RetryPolicy::builder().backoff(Backoff::none()).build().unwrap();
/// let mut service = Retry::new(flaky, policy);
/// let request = http::Request::post("http://127.0.0.1/").body("hello".to_string()).unwrap();
/// let response = service.ready().await.unwrap().call(request).await.unwrap();
/// assert_eq!(response.body(), "hello");
/// assert_eq!(attempts.load(Ordering::SeqCst), 2);
/// # }
/// ```
pub struct Retry<S, C = DefaultClassifier> {
    service: S,
    // Shared by every clone and every request's future: a request that
    // succeeds costs one reference count, not a copy of the policy.
    policy: Arc<RetryPolicy<C>>,
    // The per-authority state this service's last request drew on: the
    // next request to the same authority finds it with one comparison.
    authority: Option<Arc<AuthorityState>>,
}

impl<S: Clone, C> Clone for Retry<S, C> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
            policy: self.policy.clone(),
            authority: self.authority.clone(),
        }
    }
}

impl<C> Retry<(), C> {
    /// A [`RetryLayer`] retrying by `policy`, tower's conventional
    /// shorthand for `RetryLayer::new(policy)`.
    ///
    /// ```
    /// use tower::ServiceBuilder;
    /// use tower_conn_retry::{Retry, RetryPolicy};
    ///
    /// let service = ServiceBuilder::new()
    ///     .layer(Retry::layer(RetryPolicy::default()))
    ///     .service_fn(|request: http::Request<String>| async move {
    ///         Ok::<_, std::io::Error>(http::Response::new(request.into_body()))
    ///     });
    /// # let _ = service;
    /// ```
    pub fn layer(policy: RetryPolicy<C>) -> RetryLayer<C> {
        RetryLayer::new(policy)
    }
}

impl<S, C> Retry<S, C> {
    /// Wraps `service`, retrying by `policy`.
    pub fn new(service: S, policy: RetryPolicy<C>) -> Self {
        Self::shared(service, Arc::new(policy))
    }

    pub(crate) const fn shared(service: S, policy: Arc<RetryPolicy<C>>) -> Self {
        Self {
            service,
            policy,
            authority: None,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.service
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.service
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy<C> {
        &self.policy
    }

    /// What the requests of this service's policy went through so far
    /// (every service and layer sharing the policy counts together): see
    /// [`RetryPolicy::stats`].
    pub fn stats(&self) -> RetryStats {
        self.policy.stats()
    }
}

impl<S: fmt::Debug, C: fmt::Debug> fmt::Debug for Retry<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("service", &self.service)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S, C, Req> Service<Req> for Retry<S, C>
where
    S: Service<Req> + Clone,
    S::Error: fmt::Debug,
    C: Classify<S::Error, Req>,
    Req: CloneRequest + RecordAttempts<S::Response>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let authority_down = match &self.policy.scopes {
            Some(scopes) => scopes.deposit(&request, &mut self.authority),
            None => {
                self.policy.telemetry.counters.request();
                false
            }
        };
        let policy = &*self.policy;
        let copy = if policy.max_retries > 0
            && (!policy.idempotent_only || policy.is_idempotent(&request))
        {
            request.clone_request()
        } else {
            None
        };
        let Some(copy) = copy else {
            // Never sent again: the ready service serves it, and its
            // future keeps nothing else.
            return ResponseFuture::once(self.service.call(request));
        };
        // The service that `poll_ready` made ready serves this request; the
        // future keeps a clone of it, whose readiness it drives before a
        // retry. (So tower's `Service` contract holds for services whose
        // readiness is per instance, as hyper-util's Client and tower's
        // Buffer: each `call` follows its own instance's `poll_ready`.)
        let future = self.service.call(request);
        let kept = self.service.clone();
        let policy = Arc::clone(&self.policy);
        let deadline = policy.max_elapsed.is_some();
        if deadline || authority_down {
            let resend = Resend::boxed(kept, policy, copy, deadline, authority_down);
            return ResponseFuture::new(future, resend);
        }
        ResponseFuture::new(future, Resend::new(kept, policy, copy))
    }
}
