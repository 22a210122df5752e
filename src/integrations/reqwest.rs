//! reqwest 0.13 (feature `reqwest`): the same rules for a
//! [`reqwest::Client`], through
//! [reqwest-middleware](reqwest_middleware) 0.5 or through reqwest's own
//! [`retry`](::reqwest::retry) module.
//!
//! reqwest cannot be reached through its `connector_layer` (its request
//! type there, `Unnameable`, is neither `Clone` nor constructible), so this
//! module offers two other doors:
//!
//! - [`RetryMiddleware`], a reqwest-middleware [`Middleware`]: the whole
//!   [`RetryPolicy`] (classification by where the evidence stands,
//!   idempotency with `Idempotency-Key` and
//!   [`idempotent_when`](crate::RetryPolicyBuilder::idempotent_when),
//!   backoff, `max_elapsed`, the budget per authority, `tracing` events,
//!   [`stats`](RetryMiddleware::stats)). It drives the very [`Retry`]
//!   service the rest of the crate uses, around the rest of the middleware
//!   chain.
//! - [`is_retryable`] and [`classify_connection_failures`], for reqwest's
//!   built-in [`retry::Builder`](::reqwest::retry::Builder): its retries are
//!   immediate (no backoff), counted by its own budget, and its classifier
//!   sees the method but no header, so `Idempotency-Key` cannot count there.
//!
//! # What the others retry
//!
//! reqwest-retry 0.9's `RetryTransientMiddleware` (`src/retryable_strategy.rs`,
//! `default_on_request_failure`) retries every `is_connect()` and
//! `is_timeout()` error, hyper's `is_incomplete_message()` and
//! `is_canceled()`, and an io `ConnectionReset` or `ConnectionAborted` under
//! a hyper error, for *every* method, POST included: a POST whose
//! connection died after the server read it is sent again. reqwest 0.13's own default
//! (`src/retry.rs`, `is_retryable_error`) retries a remote RST_STREAM with
//! REFUSED_STREAM and a remote GOAWAY with NO_ERROR for any method; hyper
//! can hand that GOAWAY to a stream it already sent (see
//! [`ErrorClass::of`]). Here a POST that may have been processed is never
//! sent twice. `examples/reqwest_side_by_side.rs` counts the difference.
//!
//! # How a `reqwest::Error` is classified
//!
//! [`classify`]: [`ErrorClass::of`] over its source chain. reqwest 0.13
//! (`src/async_impl/client.rs`, `HyperService::call`) wraps hyper-util's
//! legacy `Error` as the source of a `Kind::Request` error: a failed
//! connect (refused, DNS, reqwest's `connect_timeout`, which its connector
//! returns inside that `Error`) shows hyper-util's `is_connect()` and is
//! [`ErrorClass::Connect`]; hyper's and h2's errors sit below it, where
//! [`ErrorClass::of`] reads them. reqwest's own whole-request timeout
//! (`ClientBuilder::timeout`, `RequestBuilder::timeout`; reqwest's private
//! `TimedOut`, found by [`is_timeout()`](::reqwest::Error::is_timeout)) may
//! fire after the request was sent: [`ErrorClass::ConnectionLost`].

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use ::reqwest::{Request, Response};
use http::{Extensions, Method, Uri};
use reqwest_middleware::{Middleware, Next};
use tower_service::Service;

use crate::request::IDEMPOTENCY_KEY;
use crate::{
    is_idempotent, Attempts, Classify, CloneRequest, DefaultClassifier, ErrorClass, RecordAttempts,
    RequestHead, Retry, RetryPolicy, RetryStats,
};

/// The class of a [`reqwest::Error`]: [`ErrorClass::of`]
/// over its source chain, and reqwest's own whole-request timeout as
/// [`ErrorClass::ConnectionLost`] (the request may have been sent before it
/// fired). See the [module docs](self).
///
/// ```
/// # #[tokio::main]
/// # async fn main() {
/// use tower_conn_retry::ErrorClass;
///
/// // Nothing listens on port 1 of the loopback address: the connect fails.
/// let error = reqwest::Client::new().post("http://127.0.0.1:1/").send().await.unwrap_err();
/// assert!(error.is_connect());
/// assert_eq!(tower_conn_retry::reqwest::classify(&error), ErrorClass::Connect);
/// # }
/// ```
pub fn classify(error: &::reqwest::Error) -> ErrorClass {
    match ErrorClass::of(error) {
        // Below `is_connect()` a timeout is the connector's, already
        // `Connect`; an unclassified one is the whole request's.
        ErrorClass::Other if error.is_timeout() => ErrorClass::ConnectionLost,
        class => class,
    }
}

/// Whether a request with `method` that failed with `error` may be sent
/// again: [`classify`] (for a `reqwest::Error`, else [`ErrorClass::of`]),
/// then [`ErrorClass::is_retryable`] with the method's idempotency.
///
/// For reqwest 0.13's own `retry::Builder::classify_fn`, whose `ReqRep`
/// gives the method and the error (but no header: an `Idempotency-Key`
/// cannot count there); [`classify_connection_failures`] writes that
/// closure for you.
///
/// ```
/// use reqwest::retry;
///
/// let policy = retry::for_host("api.example.com").classify_fn(|req_rep| {
///     match req_rep.error() {
///         Some(error) if tower_conn_retry::reqwest::is_retryable(req_rep.method(), error) => {
///             req_rep.retryable()
///         }
///         _ => req_rep.success(),
///     }
/// });
/// let client = reqwest::Client::builder().retry(policy).build().unwrap();
/// # let _ = client;
/// ```
pub fn is_retryable(method: &Method, error: &(dyn StdError + 'static)) -> bool {
    let class = match error.downcast_ref::<::reqwest::Error>() {
        Some(error) => classify(error),
        None => ErrorClass::of(error),
    };
    class.is_retryable(is_idempotent(method))
}

/// `builder` with [`is_retryable`] as its classifier: reqwest's built-in
/// retry then retries connection failures only, a POST only when it was
/// never sent (a failed connect, a stream the server refused), and no
/// HTTP response whatever its status.
///
/// reqwest's `ReqRep` and `Action` cannot be named outside reqwest, so this
/// function passes the closure for you. The retries stay reqwest's:
/// immediate (no backoff), at most `max_retries_per_request` (2 by
/// default), within reqwest's budget, for the builder's scope.
///
/// ```
/// use reqwest::retry;
/// use tower_conn_retry::reqwest::classify_connection_failures;
///
/// let client = reqwest::Client::builder()
///     .retry(classify_connection_failures(retry::for_host("api.example.com")))
///     .build()
///     .unwrap();
/// # let _ = client;
/// ```
pub fn classify_connection_failures(
    builder: ::reqwest::retry::Builder,
) -> ::reqwest::retry::Builder {
    builder.classify_fn(|req_rep| match req_rep.error() {
        Some(error) if is_retryable(req_rep.method(), error) => req_rep.retryable(),
        _ => req_rep.success(),
    })
}

// ===== impl RetryMiddleware =====

/// A reqwest-middleware [`Middleware`] that retries connection failures,
/// and only those, by a [`RetryPolicy`].
///
/// A request whose connection broke after it may have been written is
/// sent again only if it is idempotent (its method, an
/// `Idempotency-Key` header, or the policy's
/// [`idempotent_when`](crate::RetryPolicyBuilder::idempotent_when) hook,
/// which sees the middleware's [`Extensions`] in
/// [`RequestHead::extensions`]). So is, by default, one whose connect failed
/// or whose HTTP/2 stream was refused: reqwest may have followed a redirect
/// to get there, after the first server processed the request. For a
/// client that follows no redirects, say so with
/// [`client_follows_no_redirects`](Self::client_follows_no_redirects), and
/// such a request is sent again whatever its method. Responses, whatever their status, come back
/// untouched; a response that took more than one attempt carries
/// [`Attempts`] in its extensions.
///
/// Each retry is a copy made by [`Request::try_clone`]: a streaming body
/// (`Body::wrap_stream`) cannot be copied, so such a request is sent once.
/// Each attempt runs the rest of the middleware chain (`Next::run`) again.
/// Errors are classified by [`classify`] (a middleware's own error by
/// [`ErrorClass::of`]).
///
/// Every clone of the policy's budget counts together: give the middleware
/// one policy for all clients that talk to the same servers.
///
/// # reqwest's own retry, below
///
/// A `reqwest::Client` retries by itself too, below the middleware, where
/// the middleware cannot stop it: by default (reqwest 0.13 `src/retry.rs`,
/// `Builder::default` and `is_retryable_error`) immediately, up to twice,
/// after a REFUSED_STREAM or a remote GOAWAY with NO_ERROR, for any method;
/// and hyper can report that GOAWAY for a stream it already sent (see
/// [`ErrorClass::of`]). So build the client below with
/// `.retry(reqwest::retry::never())`, as here, or with
/// [`classify_connection_failures`], which keeps reqwest's retry of a
/// refused stream, per hop, and drops its GOAWAY rule.
///
/// ```no_run
/// use std::time::Duration;
///
/// use tower_conn_retry::reqwest::RetryMiddleware;
/// use tower_conn_retry::{Backoff, RetryPolicy};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = RetryPolicy::builder()
///     .max_retries(4)
///     .backoff(Backoff::exponential(Duration::from_millis(50)).max_delay(Duration::from_secs(2)))
///     .build()?;
/// let reqwest = reqwest::Client::builder().retry(reqwest::retry::never()).build()?;
/// let client = reqwest_middleware::ClientBuilder::new(reqwest)
///     .with(RetryMiddleware::new(policy))
///     .build();
/// let response = client.post("http://127.0.0.1:8080/orders").body("{}").send().await?;
/// # let _ = response;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RetryMiddleware {
    policy: RetryPolicy,
    // The same policy (its budget and counts shared), classifying by where
    // the request may have gone: see `client_follows_no_redirects`.
    retrying: Arc<RetryPolicy<AfterRedirects>>,
}

impl RetryMiddleware {
    /// A middleware retrying by `policy`, for a client that may follow
    /// redirects (reqwest's default, up to 10): see
    /// [`client_follows_no_redirects`](Self::client_follows_no_redirects).
    pub fn new(policy: RetryPolicy) -> Self {
        Self::classifying(policy, AfterRedirects { may_redirect: true })
    }

    fn classifying(policy: RetryPolicy, classifier: AfterRedirects) -> Self {
        let retrying = Arc::new(policy.clone().with_classifier(classifier));
        Self { policy, retrying }
    }

    /// Declares that the client below follows no redirects (built with
    /// `reqwest::redirect::Policy::none()`), so a failed connect or a
    /// refused HTTP/2 stream proves the request was not sent, and any
    /// request is sent again after it.
    ///
    /// By default the middleware cannot tell: reqwest follows redirects
    /// below the middleware (tower-http's `FollowRedirect` in reqwest
    /// 0.13's `ClientBuilder::build`), and the error of a later hop carries
    /// the first URL (`PendingRequest::poll`, `if_no_url`). A POST the first
    /// server processed and answered with a redirect to a host that
    /// refuses the connection would look like a POST that never left. So
    /// after such a failure an idempotent request is still sent again, and
    /// any other is returned, with its own give-up reason
    /// (`give_ups_total{reason="after_redirect",class="connect"}`: the
    /// class stays what the failure was). It does not make the retries to
    /// that authority wait for one of them to probe it (see
    /// [`RetryBudget`](crate::RetryBudget)), and a retry after it is charged
    /// to the budget, as after a lost connection.
    ///
    /// ```
    /// use tower_conn_retry::reqwest::RetryMiddleware;
    ///
    /// let reqwest = reqwest::Client::builder()
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .retry(reqwest::retry::never())
    ///     .build()
    ///     .unwrap();
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest)
    ///     .with(RetryMiddleware::default().client_follows_no_redirects())
    ///     .build();
    /// # let _ = client;
    /// ```
    #[must_use = "the middleware is consumed: use the one this returns"]
    pub fn client_follows_no_redirects(self) -> Self {
        Self::classifying(
            self.policy,
            AfterRedirects {
                may_redirect: false,
            },
        )
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// What the requests through this middleware went through so far: see
    /// [`RetryPolicy::stats`].
    ///
    /// ```
    /// let middleware = tower_conn_retry::reqwest::RetryMiddleware::default();
    /// assert_eq!(middleware.stats().total.requests, 0);
    /// ```
    pub fn stats(&self) -> RetryStats {
        self.policy.stats()
    }
}

impl Default for RetryMiddleware {
    /// [`RetryPolicy::default`].
    fn default() -> Self {
        Self::new(RetryPolicy::default())
    }
}

impl fmt::Debug for RetryMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryMiddleware")
            .field("policy", &self.policy)
            .finish()
    }
}

#[async_trait::async_trait]
impl Middleware for RetryMiddleware {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let attempt = Attempt::new(request, extensions.clone());
        // Attempts run one after the other: each takes the extensions,
        // runs the rest of the chain with them, and puts them back.
        let shared = Arc::new(Mutex::new(std::mem::take(extensions)));
        let service = NextService {
            next,
            extensions: Arc::clone(&shared),
        };
        let mut retry = Retry::shared(service, Arc::clone(&self.retrying));
        std::future::poll_fn(|cx| retry.poll_ready(cx)).await?;
        let result = retry.call(attempt).await;
        *extensions = std::mem::take(&mut *shared.lock().unwrap_or_else(PoisonError::into_inner));
        result
    }
}

/// The rest of the middleware chain as a tower `Service`, which [`Retry`]
/// drives: each call runs `Next::run` once.
#[derive(Clone)]
struct NextService<'a> {
    next: Next<'a>,
    extensions: Arc<Mutex<Extensions>>,
}

impl<'a> Service<Attempt> for NextService<'a> {
    type Response = Response;
    type Error = reqwest_middleware::Error;
    type Future = Pin<Box<dyn Future<Output = reqwest_middleware::Result<Response>> + Send + 'a>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, attempt: Attempt) -> Self::Future {
        let next = self.next.clone();
        let shared = Arc::clone(&self.extensions);
        Box::pin(async move {
            let mut extensions =
                std::mem::take(&mut *shared.lock().unwrap_or_else(PoisonError::into_inner));
            let result = next.run(attempt.request, &mut extensions).await;
            *shared.lock().unwrap_or_else(PoisonError::into_inner) = extensions;
            result
        })
    }
}

// ===== impl Attempt =====

/// A `reqwest::Request` as the retry layer sees it: with its URL as an
/// `http::Uri` (the authority names the budget; reqwest itself converts
/// the URL so before sending, `async_impl/client.rs`, `execute_request`)
/// and the middleware's extensions at the start, for `idempotent_when`.
struct Attempt {
    request: Request,
    uri: Uri,
    extensions: Extensions,
}

impl Attempt {
    fn new(request: Request, extensions: Extensions) -> Self {
        // A URL http cannot parse fails in reqwest before any connect; its
        // attempt draws on the budget of requests without an authority.
        let uri = Uri::try_from(request.url().as_str()).unwrap_or_default();
        Self {
            request,
            uri,
            extensions,
        }
    }
}

impl CloneRequest for Attempt {
    fn clone_request(&self) -> Option<Self> {
        // `None` for a streaming body: sent once.
        Some(Self {
            request: self.request.try_clone()?,
            uri: self.uri.clone(),
            extensions: self.extensions.clone(),
        })
    }

    fn is_idempotent(&self) -> bool {
        is_idempotent(self.request.method())
            || self.request.headers().contains_key(&IDEMPOTENCY_KEY)
    }

    fn head(&self) -> Option<RequestHead<'_>> {
        Some(RequestHead {
            method: self.request.method(),
            uri: &self.uri,
            headers: self.request.headers(),
            extensions: &self.extensions,
        })
    }

    fn authority(&self) -> Option<&http::uri::Authority> {
        self.uri.authority()
    }

    fn scheme(&self) -> Option<&http::uri::Scheme> {
        self.uri.scheme()
    }
}

impl RecordAttempts<Response> for Attempt {
    fn record_attempts(response: &mut Response, attempts: u32) {
        response.extensions_mut().insert(Attempts(attempts));
    }
}

/// The middleware's classifier: the default one, but where the client may
/// follow redirects, a failed connect or a refused stream may be a later
/// hop's, after the first server processed the request: its class stays
/// true, and a retry after it is for idempotent requests only.
#[derive(Clone, Copy, Debug)]
struct AfterRedirects {
    may_redirect: bool,
}

impl<Req> Classify<reqwest_middleware::Error, Req> for AfterRedirects {
    fn classify(&self, error: &reqwest_middleware::Error) -> ErrorClass {
        <DefaultClassifier as Classify<_, Req>>::classify(&DefaultClassifier, error)
    }

    fn idempotent_only(&self, error: &reqwest_middleware::Error) -> bool {
        self.may_redirect
            && matches!(
                <DefaultClassifier as Classify<_, Req>>::classify(&DefaultClassifier, error),
                ErrorClass::Connect | ErrorClass::NotProcessed
            )
    }

    fn is_timeout(&self, error: &reqwest_middleware::Error) -> bool {
        <DefaultClassifier as Classify<_, Req>>::is_timeout(&DefaultClassifier, error)
    }
}

/// reqwest-middleware's error: a `reqwest::Error` by [`classify`], a
/// middleware's own error by [`ErrorClass::of`] over its chain.
impl<Req> Classify<reqwest_middleware::Error, Req> for DefaultClassifier {
    fn classify(&self, error: &reqwest_middleware::Error) -> ErrorClass {
        match error {
            reqwest_middleware::Error::Reqwest(error) => classify(error),
            reqwest_middleware::Error::Middleware(error) => ErrorClass::of(error.as_ref()),
        }
    }

    fn is_timeout(&self, error: &reqwest_middleware::Error) -> bool {
        match error {
            reqwest_middleware::Error::Reqwest(error) => error.is_timeout(),
            reqwest_middleware::Error::Middleware(error) => {
                crate::classify::evidence::is_timeout(error.as_ref())
            }
        }
    }
}
