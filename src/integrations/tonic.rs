//! tonic (feature `tonic`): a [`Channel`] that retries connection failures,
//! wrapped in one line.
//!
//! ```no_run
//! use tonic::transport::Endpoint;
//! use tower_conn_retry::tonic::RetryChannel;
//! use tower_conn_retry::RetryPolicy;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = Endpoint::from_static("http://127.0.0.1:50051").connect_lazy();
//! let channel = RetryChannel::new(channel, RetryPolicy::default());
//! // Any client tonic generated takes it: `EchoClient::new(channel)`, or
//! // tonic's own `Grpc`:
//! let mut grpc = tonic::client::Grpc::new(channel);
//! # let _ = &mut grpc;
//! # Ok(())
//! # }
//! ```
//!
//! [`RetryChannel`] does what a hand-built stack around a `Channel` would:
//! each call's body goes into a [`ReplayBody`] (up to
//! [`DEFAULT_REPLAY_LIMIT`], 64 KiB, by default) so it can be sent again;
//! the default classifier reads tonic's `transport::Error`; and an error
//! left once retrying is over becomes a [`Status`], `Unavailable` with the
//! transport error as its `source()` when the call was never sent or
//! processed. [`RetryChannelLayer`] builds the same in a
//! `tower::ServiceBuilder` stack.
//!
//! The feature needs Rust 1.88 (tonic 0.14.9's `rust-version`).
//!
//! # Where to put the layer
//!
//! | | around the channel: [`RetryChannel`] | around the connector: [`Retry`] with [`ConnectorClassifier`] |
//! |---|---|---|
//! | written as | `RetryChannel::new(channel, policy)` | `endpoint.connect_with_connector(Retry::new(HttpConnector::new(), policy))` |
//! | retries | a call whose connect failed (refused, DNS, connect timeout), a call the server refused unprocessed (HTTP/2 REFUSED_STREAM), and a call whose connection was lost if it is idempotent | establishing a connection only, for whichever call is waiting |
//! | copies | each call's body, up to the replay limit (a call whose body outgrew it is not sent again) | nothing: no body is ever recorded |
//! | the caller sees, when retrying is over | `Status` `Unavailable`, the transport error as its source | tonic's own `Status` for the connector's error (also `Unavailable`) |
//!
//! Both can be used together. The connector placement:
//!
//! ```no_run
//! use hyper_util::client::legacy::connect::HttpConnector;
//! use tonic::transport::Endpoint;
//! use tower_conn_retry::{ConnectorClassifier, Retry, RetryPolicy};
//!
//! let policy = RetryPolicy::builder().classifier(ConnectorClassifier).build()?;
//! let connector = Retry::new(HttpConnector::new(), policy);
//! let channel = Endpoint::from_static("http://127.0.0.1:50051")
//!     .connect_with_connector_lazy(connector);
//! # let _ = channel;
//! # Ok::<(), tower_conn_retry::ConfigError>(())
//! ```
//!
//! # Budget
//!
//! A call reaches a `Channel` with no authority in its URI (tonic's
//! `Grpc` client sends the path alone; the `Channel` adds its endpoint's
//! origin below this layer: tonic 0.14.9 `client/grpc.rs`,
//! `prepare_request`), so every call of one `RetryChannel` draws on one
//! retry budget. Give each channel a policy of its own (a policy passed by
//! value to [`RetryChannel::new`] is): two channels to different servers
//! would otherwise share a budget.
//!
//! [`Channel`]: ::tonic::transport::Channel
//! [`ConnectorClassifier`]: crate::ConnectorClassifier

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use ::tonic::body::Body;
use ::tonic::transport::Channel;
use ::tonic::Status;
use http::Request;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::classify::classifier::{Classify, DefaultClassifier};
use crate::classify::error_class::ErrorClass;
use crate::observe::stats::RetryStats;
use crate::policy::RetryPolicy;
use crate::replay::ReplayBody;
use crate::request::RecordAttempts;
use crate::service::Retry;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The request the retry layer inside a [`RetryChannel`] sees: the call,
/// its body recorded for a replay.
type Call = Request<ReplayBody<Body>>;

/// The most of a call's body a [`RetryChannel`] records for a replay
/// unless told otherwise: 64 KiB (data, plus 32 bytes per frame; see
/// [`ReplayBody`]). A unary call's message is one frame; a call whose body
/// grows past the limit is not sent again.
///
/// ```
/// assert_eq!(tower_conn_retry::tonic::DEFAULT_REPLAY_LIMIT, 64 * 1024);
/// ```
pub const DEFAULT_REPLAY_LIMIT: usize = 64 * 1024;

/// A tonic [`Channel`] (or any service a tonic client takes) that retries
/// connection failures by a [`RetryPolicy`].
///
/// It is a `tower::Service<http::Request<tonic::body::Body>>`, so tonic's
/// `GrpcService` (blanket-implemented for such services: tonic 0.14.9
/// `client/service.rs`) and every generated client accept it. Inside:
///
/// - each call's body is wrapped in a [`ReplayBody`] recording up to
///   [`with_replay_limit`](RetryChannel::with_replay_limit) bytes, and handed to the
///   channel as a `tonic::body::Body` again (`Body::new`);
/// - the default classifier reads `tonic::transport::Error`: a failed
///   connect (tonic's `ConnectError`, a connect timeout) and a stream the
///   server refused unprocessed (REFUSED_STREAM) are retried for every
///   call, a lost connection only for an idempotent one (tonic sends every
///   call as a POST, so only one with an `Idempotency-Key`, or one the
///   policy's [`idempotent_when`](crate::RetryPolicyBuilder::idempotent_when)
///   says is); so is a timeout that ended an attempt, tonic's own
///   (`Endpoint::timeout`, tonic's `TimeoutExpired`) as well as a tower
///   `Timeout` below the layer. tonic's timer also fires at the call's own
///   `grpc-timeout` (`Request::set_timeout`), and cannot tell which: an
///   idempotent call sent again carries its `grpc-timeout` as it was, so
///   each attempt gets the whole of it, and the call up to
///   `max_retries + 1` times it, plus the pauses;
/// - the error left when retrying is over becomes a [`Status`]: for a call
///   never sent or processed ([`ErrorClass::Connect`],
///   [`ErrorClass::NotProcessed`]), `Status::unavailable` naming the cause,
///   with the transport error as its [`source()`](StdError::source); for
///   any other error, what tonic itself makes of it
///   ([`Status::from_error`]), so a call that may have been processed
///   keeps the status tonic gives it.
///
/// # Clone
///
/// tonic's clients clone their service for each call; clones share the
/// policy (its budget and its [`stats`](RetryChannel::stats)). Each call
/// keeps a clone of the inner channel, whose readiness it drives before a
/// retry (a `Channel` is a tower `Buffer`: readiness is per clone).
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
///
/// use tonic::transport::Endpoint;
/// use tower_conn_retry::tonic::RetryChannel;
/// use tower_conn_retry::{Backoff, RetryPolicy};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = RetryPolicy::builder()
///     .max_retries(4)
///     .backoff(Backoff::exponential(Duration::from_millis(50)))
///     .build()?;
/// let channel = Endpoint::from_static("http://127.0.0.1:50051").connect_lazy();
/// let channel = RetryChannel::new(channel, policy).with_replay_limit(16 * 1024);
/// let grpc = tonic::client::Grpc::new(channel);
/// # let _ = grpc;
/// # Ok(())
/// # }
/// ```
///
/// [`Channel`]: ::tonic::transport::Channel
pub struct RetryChannel<S = Channel, C = DefaultClassifier> {
    retry: Retry<TonicBody<S>, C>,
    // The same policy as `retry`'s, for the classifier that decides the
    // final error's `Status`.
    policy: Arc<RetryPolicy<C>>,
    replay_limit: usize,
}

impl<S, C> RetryChannel<S, C> {
    /// Wraps `channel`, retrying by `policy`, recording at most
    /// [`DEFAULT_REPLAY_LIMIT`] of each call's body.
    pub fn new(channel: S, policy: RetryPolicy<C>) -> Self {
        Self::shared(channel, Arc::new(policy), DEFAULT_REPLAY_LIMIT)
    }

    fn shared(channel: S, policy: Arc<RetryPolicy<C>>, replay_limit: usize) -> Self {
        Self {
            retry: Retry::shared(TonicBody(channel), Arc::clone(&policy)),
            policy,
            replay_limit,
        }
    }

    /// Records at most `limit` bytes of each call's body for a replay
    /// (data, plus 32 bytes per frame; see [`ReplayBody`]). A call whose
    /// body outgrows it is sent once, and its connection failure comes
    /// back as a `Status`.
    ///
    /// ```
    /// use tower_conn_retry::tonic::RetryChannel;
    /// use tower_conn_retry::RetryPolicy;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051").connect_lazy();
    /// let channel = RetryChannel::new(channel, RetryPolicy::default()).with_replay_limit(1024);
    /// assert_eq!(channel.replay_limit(), 1024);
    /// # }
    /// ```
    #[must_use]
    pub fn with_replay_limit(mut self, limit: usize) -> Self {
        self.replay_limit = limit;
        self
    }

    /// The most of a call's body recorded for a replay.
    pub fn replay_limit(&self) -> usize {
        self.replay_limit
    }

    /// The inner channel.
    pub fn get_ref(&self) -> &S {
        &self.retry.get_ref().0
    }

    /// The inner channel, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.retry.get_mut().0
    }

    /// The inner channel, unwrapped.
    pub fn into_inner(self) -> S {
        self.retry.into_inner().0
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy<C> {
        &self.policy
    }

    /// What the calls through this channel and its clones went through so
    /// far: see [`RetryPolicy::stats`].
    ///
    /// ```
    /// use tower_conn_retry::tonic::RetryChannel;
    /// use tower_conn_retry::RetryPolicy;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051").connect_lazy();
    /// let channel = RetryChannel::new(channel, RetryPolicy::default());
    /// assert_eq!(channel.stats().total.requests, 0);
    /// # }
    /// ```
    pub fn stats(&self) -> RetryStats {
        self.policy.stats()
    }
}

impl<S: Clone, C> Clone for RetryChannel<S, C> {
    fn clone(&self) -> Self {
        Self {
            retry: self.retry.clone(),
            policy: Arc::clone(&self.policy),
            replay_limit: self.replay_limit,
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug> fmt::Debug for RetryChannel<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryChannel")
            .field("channel", self.get_ref())
            .field("policy", &self.policy)
            .field("replay_limit", &self.replay_limit)
            .finish()
    }
}

impl<S, C> Service<Request<Body>> for RetryChannel<S, C>
where
    S: Service<Request<Body>> + Clone,
    S::Error: Into<BoxError> + fmt::Debug,
    C: Classify<S::Error, Call>,
    Call: RecordAttempts<S::Response>,
{
    type Response = S::Response;
    type Error = Status;
    type Future = ResponseFuture<S, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        // The channel's own readiness (a closed `Buffer`): no call was
        // made, so tonic's mapping, as its `Grpc::ready` would do.
        self.retry
            .poll_ready(cx)
            .map_err(|error| Status::from_error(error.into()))
    }

    fn call(&mut self, call: Request<Body>) -> Self::Future {
        let limit = self.replay_limit;
        let call = call.map(|body| ReplayBody::new(body, limit));
        ResponseFuture {
            inner: self.retry.call(call),
            policy: Arc::clone(&self.policy),
        }
    }
}

/// Wraps a service in a [`RetryChannel`], for a `tower::ServiceBuilder`
/// stack: what stands below it (a per-attempt timeout, an interceptor) runs
/// for every attempt. Every service it wraps shares its policy.
///
/// ```no_run
/// use std::time::Duration;
///
/// use tonic::transport::Endpoint;
/// use tower::ServiceBuilder;
/// use tower_conn_retry::tonic::RetryChannelLayer;
/// use tower_conn_retry::RetryPolicy;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let channel = Endpoint::from_static("http://127.0.0.1:50051").connect_lazy();
/// let channel = ServiceBuilder::new()
///     .layer(RetryChannelLayer::new(RetryPolicy::default()))
///     // Each attempt gets 2 s; its timeout is a lost connection, retried
///     // only for an idempotent call.
///     .timeout(Duration::from_secs(2))
///     .service(channel);
/// let grpc = tonic::client::Grpc::new(channel);
/// # let _ = grpc;
/// # }
/// ```
#[derive(Debug)]
pub struct RetryChannelLayer<C = DefaultClassifier> {
    policy: Arc<RetryPolicy<C>>,
    replay_limit: usize,
}

impl<C> RetryChannelLayer<C> {
    /// A layer retrying by `policy`, recording at most
    /// [`DEFAULT_REPLAY_LIMIT`] of each call's body.
    pub fn new(policy: RetryPolicy<C>) -> Self {
        Self {
            policy: Arc::new(policy),
            replay_limit: DEFAULT_REPLAY_LIMIT,
        }
    }

    /// Records at most `limit` bytes of each call's body: see
    /// [`RetryChannel::with_replay_limit`].
    ///
    /// ```
    /// use tower_conn_retry::tonic::RetryChannelLayer;
    /// use tower_conn_retry::RetryPolicy;
    ///
    /// let layer = RetryChannelLayer::new(RetryPolicy::default()).with_replay_limit(1024);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn with_replay_limit(mut self, limit: usize) -> Self {
        self.replay_limit = limit;
        self
    }
}

impl<C> Clone for RetryChannelLayer<C> {
    fn clone(&self) -> Self {
        Self {
            policy: Arc::clone(&self.policy),
            replay_limit: self.replay_limit,
        }
    }
}

impl<S, C> tower_layer::Layer<S> for RetryChannelLayer<C> {
    type Service = RetryChannel<S, C>;

    fn layer(&self, channel: S) -> RetryChannel<S, C> {
        RetryChannel::shared(channel, Arc::clone(&self.policy), self.replay_limit)
    }
}

pin_project! {
    /// The response future of [`RetryChannel`]: the retrying call, whose
    /// last error becomes a [`Status`].
    pub struct ResponseFuture<S, C>
    where
        S: Service<Request<Body>>,
    {
        #[pin]
        inner: crate::future::response::ResponseFuture<TonicBody<S>, Call, C>,
        policy: Arc<RetryPolicy<C>>,
    }
}

impl<S, C> Future for ResponseFuture<S, C>
where
    S: Service<Request<Body>>,
    S::Error: Into<BoxError> + fmt::Debug,
    C: Classify<S::Error, Call>,
    Call: RecordAttempts<S::Response>,
{
    type Output = Result<S::Response, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        Poll::Ready(result.map_err(|error| into_status(error, this.policy.classifier())))
    }
}

impl<S, C> fmt::Debug for ResponseFuture<S, C>
where
    S: Service<Request<Body>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// The `Status` of a call's last error: `Unavailable` with the error as
/// its source when the call was never sent or processed, tonic's own
/// mapping otherwise.
///
/// tonic 0.14.9 `status.rs`: `Status::from_error` keeps a `Status` found
/// in the chain, maps tonic's `ConnectError` to `Unavailable` and hyper's
/// `is_timeout()` to `Unavailable`, `is_canceled()` to `Cancelled`, an h2
/// reset by its reason only with tonic's `server` feature (so a refused
/// stream is `Unknown` in a client-only build), and anything else to
/// `Unknown`. `client/grpc.rs` (`Grpc::streaming`, which every call goes through) applies it to a
/// service's error that is not a `Status` already; a `Status` passes
/// untouched.
fn into_status<E, C>(error: E, classifier: &C) -> Status
where
    E: Into<BoxError>,
    C: Classify<E, Call>,
{
    let class = classifier.classify(&error);
    let error = error.into();
    let what = match class {
        ErrorClass::Connect => "the call was not sent, connecting failed",
        ErrorClass::NotProcessed => "the server refused the call unprocessed",
        _ => return Status::from_error(error),
    };
    let mut status = Status::unavailable(describe(what, &*error));
    status.set_source(Arc::from(error));
    status
}

/// `what`, then the message of each link of `error`'s chain (at most 8; a
/// link that repeats its cause's message, as tonic's `ConnectError` does,
/// is said once).
fn describe(what: &str, error: &(dyn StdError + 'static)) -> String {
    let mut out = String::from(what);
    let mut previous = String::new();
    let mut link = Some(error);
    for _ in 0..8 {
        let Some(current) = link else { break };
        let message = current.to_string();
        if message != previous {
            out.push_str(": ");
            out.push_str(&message);
        }
        previous = message;
        link = current.source();
    }
    out
}

/// The channel, taking the call's recorded body as a `tonic::body::Body`.
///
/// tonic 0.14.9 `body.rs`, `Body::new`: boxes any body of `Bytes` whose
/// error converts into a boxed error (a `ReplayBody`'s does), mapping that
/// error with `Status::map_error`; a body already at its end becomes
/// `Body::empty()`. `transport/channel/mod.rs`, `impl Service<http::Request<Body>>
/// for Channel`: `Error = transport::Error`, readiness is its `Buffer`'s
/// (a closed buffer's error goes through `Error::from_source`), and every
/// error below it comes back as a `transport::Error` of kind `Transport`.
#[derive(Clone, Debug)]
pub(crate) struct TonicBody<S>(S);

impl<S> Service<Call> for TonicBody<S>
where
    S: Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, call: Call) -> S::Future {
        self.0.call(call.map(Body::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn the_description_says_each_message_once() {
        let cause = io::Error::from(io::ErrorKind::ConnectionRefused);
        let wrapped = ::tonic::ConnectError(Box::new(cause));
        let text = describe("connecting failed", &wrapped);
        assert_eq!(text.matches("refused").count(), 1, "{text}");
        assert!(text.starts_with("connecting failed: "), "{text}");
    }

    #[test]
    fn a_connect_failure_is_unavailable_with_its_cause() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let status = into_status(refused, &DefaultClassifier);
        assert_eq!(status.code(), ::tonic::Code::Unavailable);
        let source = status.source().expect("the cause is kept");
        assert!(source.is::<io::Error>());
    }

    #[test]
    fn another_error_is_what_tonic_makes_of_it() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let status = into_status(reset, &DefaultClassifier);
        assert_eq!(status.code(), ::tonic::Code::Unknown);
    }
}
