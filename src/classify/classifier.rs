//! Sorting errors into connection failures and everything else.
//!
//! The rule: a request that failed *to connect* never left the client, so it
//! is always safe to send again. A request whose established connection
//! broke may already have been written, so only an idempotent method may be
//! sent again. Everything else is not a connection failure and is returned
//! untouched.

use std::error::Error as StdError;
use std::io;

use http::Uri;

use crate::classify::error_class::ErrorClass;
use crate::classify::evidence;

impl ErrorClass {
    /// Classifies an error by walking its [`source()`](StdError::source)
    /// chain, outermost first. Each link may only conclude what its place in
    /// the chain can know ("evidence counts only where it stands"):
    ///
    /// | where the evidence stands | the most it can mean |
    /// |---|---|
    /// | under hyper-util's [`is_connect()`](hyper_util::client::legacy::Error::is_connect) (the connector failed) | transient kinds (refused, reset, timed out, unreachable, a failed DNS lookup, no addresses, anything not known to be permanent): [`Connect`]; permanent ones (`InvalidInput`, `InvalidData` such as a TLS certificate, `PermissionDenied`, `Unsupported`, a URI the connector refused before connecting: hyper-util's "invalid URL", hyper-rustls' "unsupported scheme" and "invalid dns name"): [`Other`] |
    /// | hyper's [`is_canceled()`](hyper::Error::is_canceled) (never dispatched) | [`Connect`], for every method |
    /// | an `h2::Error` from the server: RST_STREAM with REFUSED_STREAM, addressed to one stream (feature `http2`) | [`NotProcessed`], for every method |
    /// | an `h2::Error` from the server: GOAWAY, whatever its reason (NO_ERROR included) and whether or not the stream was above its last-stream-id | at most [`ConnectionLost`]: hyper can report it for a stream it already sent (below) |
    /// | an io error inside an `h2::Error`, wherever the walk finds it (a client built on `h2` directly), even `ConnectionRefused` or `HostUnreachable` | at most [`ConnectionLost`]: an `h2::Error` only comes from an established connection |
    /// | any other `h2::Error`: another reset reason, a GOAWAY h2 raised itself | at most [`ConnectionLost`] |
    /// | hyper's `DispatchGone` user error ("dispatch task is gone": a request queued behind MAX_CONCURRENT_STREAMS when GOAWAY arrived, or a task the runtime dropped) | [`ConnectionLost`]: not the caller's failure, and it can follow a stream already written |
    /// | hyper's [`is_user()`](hyper::Error::is_user) otherwise (the request body failed, ...) | [`Other`]: the caller's own failure |
    /// | hyper's [`is_incomplete_message()`](hyper::Error::is_incomplete_message) or [`is_timeout()`](hyper::Error::is_timeout) | [`ConnectionLost`] |
    /// | any io kind under another hyper-util error (`SendRequest`) or inside a `hyper::Error`, even `ConnectionRefused` or `HostUnreachable`, which Linux also reports on an established connection | at most [`ConnectionLost`] |
    /// | right under tonic's `transport::Error` (a `Channel`'s): tonic's `ConnectError`, or hyper-timeout's connect timeout | as under `is_connect()`: the channel failed to connect for this call and never sent it. A `hyper::Error` there is the connection's: at most [`ConnectionLost`] |
    /// | tower's or tokio's `Elapsed` (a timeout around one attempt) | [`ConnectionLost`] |
    /// | a bare `io::Error` of the inner service's own | `ConnectionRefused`, `AddrNotAvailable`, `HostUnreachable`, `NetworkUnreachable`: [`Connect`]; `ConnectionReset`, `ConnectionAborted`, `BrokenPipe`, `UnexpectedEof`, `NotConnected`, `TimedOut`: [`ConnectionLost`] |
    ///
    /// The outermost decisive link wins: a hyper `Canceled` error whose
    /// cause is an io `ConnectionReset` is [`Connect`]. A chain without
    /// evidence is [`Other`].
    ///
    /// The sources relied on: hyper-util 0.1.21 `client/legacy/client.rs`
    /// (`connect_to` wraps every connector error as `e!(Connect, src)`;
    /// `Error::tx` wraps a failed send as `SendRequest`) and
    /// `connect/http.rs` (`ConnectError`: "invalid URL, ..." without a
    /// cause, "dns error", "tcp connect error" with the io error);
    /// hyper-rustls 0.27 `connector.rs` (`HttpsConnector::call`: "unsupported
    /// scheme", "missing scheme", the server name resolver's
    /// `InvalidDnsNameError` before connecting; tokio-rustls' io error, in
    /// an `io::Error::other`, after); hyper
    /// 1.12 `error.rs`, `client/dispatch.rs` (an `Envelope` dropped with
    /// "connection closed") and `proto/h1/dispatch.rs` ("the message was
    /// never even started").
    ///
    /// For HTTP/2, h2 0.4 `proto/streams/streams.rs` (`recv_go_away` fails
    /// with the remote GOAWAY the locally opened streams above its
    /// last-stream-id, *and* keeps it as the connection's error, which
    /// `poll_pending_open` returns from every later
    /// `SendRequest::poll_ready` through `ensure_no_conn_error`),
    /// `error.rs` (`is_remote`: received in a frame from the peer) and
    /// hyper 1.12 `error.rs` (`new_h2`: an h2 error is the source of a
    /// `Kind::Http2` error, or its io error that of a `Kind::Io`;
    /// `new_user_dispatch_gone`, whose kind has no accessor, so its
    /// message "dispatch task is gone" is read). hyper 1.12
    /// `proto/h2/client.rs` (`ClientTask::poll`) calls `send_request`,
    /// which queues the stream's HEADERS, and *then* `poll_ready`; a GOAWAY
    /// processed in between is handed to that request although its HEADERS
    /// still go out, and a hyper server's graceful shutdown (GOAWAY 2^31-1,
    /// PING, GOAWAY last-stream-id) runs its handler: a few POSTs in tens of
    /// thousands were processed twice when GOAWAY meant "not processed".
    /// The same `ClientTask::poll` keeps a request waiting for a free
    /// stream (`fut_ctx`) and drops it, with its callback, when the GOAWAY
    /// ends the task (`client/dispatch.rs`: `Callback::drop` sends
    /// `DispatchGone`).
    ///
    /// reqwest 0.13's built-in retry (`src/retry.rs`,
    /// `is_retryable_error`) does otherwise: it treats a remote GOAWAY with
    /// NO_ERROR as safe to retry for any method.
    ///
    /// For tonic (not a dependency: its errors are recognised by their
    /// `Debug` and `Display` shape, checked against tonic 0.14.9 by
    /// `tests/tonic.rs`), tonic 0.14.9 `transport/channel/service/connector.rs`
    /// (`Connector` wraps its connector's and the TLS handshake's error
    /// in `ConnectError`), `service/reconnect.rs` (`Reconnect` keeps a
    /// failed connect and returns it from the next `call` in place of
    /// sending it), `transport/channel/mod.rs` (`Channel` puts it under a
    /// `transport::Error` of kind `Transport`) and `endpoint.rs`
    /// (`connect_with_connector` puts hyper-timeout 0.5's
    /// `TimeoutConnector` around the `Connector`: its connect timeout is an
    /// io `TimedOut` around tokio's `Elapsed`, outside any `ConnectError`).
    /// Errors that print otherwise (a later tonic) are not recognised and
    /// keep the classes they had without this: [`Other`] for a DNS
    /// failure, [`ConnectionLost`] for a timeout, so fewer retries.
    ///
    /// [`Connect`]: ErrorClass::Connect
    /// [`NotProcessed`]: ErrorClass::NotProcessed
    /// [`ConnectionLost`]: ErrorClass::ConnectionLost
    /// [`Other`]: ErrorClass::Other
    pub fn of(error: &(dyn StdError + 'static)) -> ErrorClass {
        evidence::classify(error)
    }

    /// Classifies an error that a *connector* returned (a `Service<Uri>`
    /// such as `HttpConnector`): nothing of any request was sent, so it is
    /// [`Connect`](ErrorClass::Connect) unless the chain shows a failure
    /// that can never succeed, which is [`Other`](ErrorClass::Other): a URI
    /// the connector refused before connecting (hyper-util's "invalid
    /// URL"; hyper-rustls' "unsupported scheme", "missing scheme" and a
    /// host that is no valid DNS name or IP address, "invalid dns name"),
    /// `InvalidInput`, `InvalidData` such as a TLS certificate,
    /// `PermissionDenied`, `Unsupported`.
    ///
    /// This is what [`ConnectorClassifier`] and
    /// [`BoxedConnectorClassifier`] apply; call it from a closure for a
    /// connector whose error type is neither a `std::error::Error` nor
    /// tower's boxed error.
    ///
    /// ```
    /// use std::io;
    /// use tower_conn_retry::ErrorClass;
    ///
    /// let dns = io::Error::other("failed to lookup address information");
    /// assert_eq!(ErrorClass::of_connector_error(&dns), ErrorClass::Connect);
    ///
    /// let tls = io::Error::new(io::ErrorKind::InvalidData, "invalid peer certificate: UnknownIssuer");
    /// assert_eq!(ErrorClass::of_connector_error(&tls), ErrorClass::Other);
    ///
    /// // hyper-rustls' `https_only()` connector, given an http:// URI.
    /// let scheme = io::Error::other("unsupported scheme http");
    /// assert_eq!(ErrorClass::of_connector_error(&scheme), ErrorClass::Other);
    /// ```
    pub fn of_connector_error(error: &(dyn StdError + 'static)) -> ErrorClass {
        evidence::classify_connector_error(error)
    }
}

/// Decides the [`ErrorClass`] of an inner service's error `E`, for a
/// service that takes requests of type `Req`.
///
/// The request type is part of the trait because what an error can mean
/// depends on where the layer stands: at a connector (`Req` is a [`Uri`])
/// nothing of any request has been sent, so every transient error is a
/// connect failure; around a client it is not. [`ConnectorClassifier`] is
/// therefore implemented for `Uri` only, and wrapping a client with it does
/// not compile.
///
/// Any closure `Fn(&E) -> ErrorClass` is a classifier for every request
/// type. The default, [`DefaultClassifier`], covers hyper-util's, hyper's
/// and std's errors and tower's boxed error.
///
/// # Example
///
/// ```
/// use tower_conn_retry::{ErrorClass, RetryPolicy};
///
/// #[derive(Debug)]
/// enum MyError {
///     Unreachable,
///     Rejected,
/// }
///
/// let policy = RetryPolicy::builder()
///     .classifier(|error: &MyError| match error {
///         MyError::Unreachable => ErrorClass::Connect,
///         MyError::Rejected => ErrorClass::Other,
///     })
///     .build()
///     .unwrap();
/// # let _ = policy;
/// ```
///
/// A classifier type of your own implements it for every request type it
/// serves, usually all of them:
///
/// ```
/// use tower_conn_retry::{Classify, ErrorClass};
///
/// struct Mine;
///
/// impl<Req> Classify<std::io::Error, Req> for Mine {
///     fn classify(&self, error: &std::io::Error) -> ErrorClass {
///         ErrorClass::of(error)
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot classify errors of type `{E}` for requests of type `{Req}`",
    label = "no classifier for `{E}` here",
    note = "for an error type of your own, pass a closure that reads its source chain: `.classifier(|e: &{E}| ErrorClass::of(e))` around a client, `.classifier(|e: &{E}| ErrorClass::of_connector_error(e))` at a connector",
    note = "`ConnectorClassifier` (an error that implements `std::error::Error`) and `BoxedConnectorClassifier` (`Box<dyn Error + Send + Sync>`: hyper-rustls' `HttpsConnector`, a connector under tower layers) serve only a connector, whose request is a `Uri`: around a client, leave `.classifier(..)` out or pass a closure"
)]
pub trait Classify<E: ?Sized, Req> {
    /// The class of `error`.
    fn classify(&self, error: &E) -> ErrorClass;

    /// Whether `error` is a timeout (a per-attempt timeout around the inner
    /// service fired, or a connect or read timed out), so that the layer's
    /// events can name it one: a timed-out POST is "timed out after the
    /// request may have been sent", not "connection lost". It never
    /// changes what is retried, which [`classify`](Self::classify) alone
    /// decides, and it is asked only when an event is logged.
    ///
    /// `false` by default (closures too). [`DefaultClassifier`],
    /// [`ConnectorClassifier`] and [`BoxedConnectorClassifier`] find
    /// tower's and tokio's `Elapsed`, an io `TimedOut`, and hyper's
    /// `is_timeout()` anywhere in the error's chain.
    ///
    /// ```
    /// use tower_conn_retry::{Classify, DefaultClassifier, ErrorClass};
    ///
    /// type BoxError = Box<dyn std::error::Error + Send + Sync>;
    /// let elapsed: BoxError = Box::new(tower::timeout::error::Elapsed::new());
    /// let classifier = DefaultClassifier;
    /// assert_eq!(Classify::<BoxError, ()>::classify(&classifier, &elapsed), ErrorClass::ConnectionLost);
    /// assert!(Classify::<BoxError, ()>::is_timeout(&classifier, &elapsed));
    ///
    /// let reset: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
    /// assert!(!Classify::<BoxError, ()>::is_timeout(&classifier, &reset));
    /// ```
    fn is_timeout(&self, error: &E) -> bool {
        let _ = error;
        false
    }

    /// Whether a retry after `error`, though its class says the request
    /// never left the client ([`ErrorClass::Connect`],
    /// [`ErrorClass::NotProcessed`]), must be limited to idempotent
    /// requests, because the failure may be a later hop's: a client that
    /// follows redirects below the layer (reqwest's, by default) reports a
    /// later hop's failed connect under the first URL, after the first
    /// server processed the request. Such a failure keeps its class in the
    /// counts and events; a request that is not idempotent gives up with
    /// reason `after_redirect`, and the failure says nothing of the first
    /// authority's connects (its gate is not told). `false` by default.
    fn idempotent_only(&self, error: &E) -> bool {
        let _ = error;
        false
    }
}

impl<E: ?Sized, Req, F> Classify<E, Req> for F
where
    F: Fn(&E) -> ErrorClass,
{
    fn classify(&self, error: &E) -> ErrorClass {
        self(error)
    }
}

/// The default classifier: [`ErrorClass::of`] over the error's source chain.
///
/// It is implemented for the error types a tower stack around hyper
/// produces: [`hyper_util::client::legacy::Error`], [`hyper::Error`],
/// [`std::io::Error`], and tower's `Box<dyn Error + Send + Sync>`. (A single
/// blanket impl over every `E: Error` cannot also cover the box, which does
/// not implement `Error`.) For an error type of your own, pass a closure:
/// `.classifier(|e: &MyError| ErrorClass::of(e))`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl<E, Req> Classify<E, Req> for DefaultClassifier
where
    E: DefaultClassified + ?Sized,
{
    fn classify(&self, error: &E) -> ErrorClass {
        ErrorClass::of(error.chain())
    }

    fn is_timeout(&self, error: &E) -> bool {
        evidence::is_timeout(error.chain())
    }
}

/// The error types [`DefaultClassifier`] reads: hyper-util's, hyper's,
/// std's io error, tower's `Box<dyn Error + Send + Sync>`, and (feature
/// `tonic`) `tonic::transport::Error`. Sealed: for
/// an error type of your own, pass a closure to
/// [`classifier`](crate::RetryPolicyBuilder::classifier).
///
/// A service failing with another error type does not compile with the
/// default classifier, and the error says what to do (rustc 1.95 reports
/// it against [`Classify`], whose impls it cannot tell apart:
/// "`DefaultClassifier` cannot classify errors of type `MyError` for
/// requests of type `http::Request<String>`" ... "for an error type of
/// your own, pass a closure that reads its source chain"):
///
/// ```compile_fail
/// use tower::Service;
/// use tower_conn_retry::{Retry, RetryPolicy};
///
/// #[derive(Debug)]
/// struct MyError;
///
/// fn assert_service<S: Service<http::Request<String>>>(_: S) {}
///
/// let inner = tower::service_fn(|request: http::Request<String>| async move {
///     Ok::<_, MyError>(http::Response::new(request.into_body()))
/// });
/// assert_service(Retry::new(inner, RetryPolicy::default()));
/// // error[E0277]: `DefaultClassifier` cannot classify errors of type `MyError` for requests of type `http::Request<String>`
/// ```
#[diagnostic::on_unimplemented(
    message = "the default classifier cannot read errors of type `{Self}`",
    label = "the inner service fails with `{Self}`",
    note = "classify your error type with a closure: `.classifier(|e: &{Self}| ErrorClass::of(e))`, or match on it"
)]
pub trait DefaultClassified: sealed::Chain {}

mod sealed {
    use std::error::Error as StdError;

    /// The error as the head of its `source()` chain.
    pub trait Chain {
        fn chain(&self) -> &(dyn StdError + 'static);
    }
}

macro_rules! default_classified {
    ($($error:ty),* $(,)?) => {$(
        impl sealed::Chain for $error {
            fn chain(&self) -> &(dyn StdError + 'static) {
                self
            }
        }
        impl DefaultClassified for $error {}
    )*};
}

default_classified!(io::Error);
#[cfg(feature = "hyper")]
default_classified!(hyper_util::client::legacy::Error, hyper::Error);
// A tonic `Channel`'s error (feature `tonic`): read like any chain, with
// tonic's `ConnectError` under it standing as a failed connect.
#[cfg(feature = "tonic")]
default_classified!(::tonic::transport::Error);

impl sealed::Chain for Box<dyn StdError + Send + Sync> {
    fn chain(&self) -> &(dyn StdError + 'static) {
        &**self
    }
}

impl DefaultClassified for Box<dyn StdError + Send + Sync> {}

/// The classifier for a layer around a connector (a `Service<Uri>` such as
/// `HttpConnector`): [`ErrorClass::of_connector_error`].
///
/// A connector only makes connections, so whatever it returns (refused,
/// DNS failure, connect timeout, a reset during the handshake) happened
/// before any byte of any request was written: retrying is safe for every
/// method. Only errors that can never succeed (an invalid URI, a TLS
/// certificate rejected, a permission denied) are [`ErrorClass::Other`].
///
/// It is implemented only where the request is a [`Uri`]: around a client,
/// where a lost connection may have carried a request, it would resend a
/// POST the server already processed, so that does not compile:
///
/// ```compile_fail
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower::{Service, ServiceBuilder};
/// use tower_conn_retry::{ConnectorClassifier, RetryLayer, RetryPolicy};
///
/// fn assert_service<S: Service<http::Request<Full<Bytes>>>>(_: S) {}
///
/// let policy = RetryPolicy::builder().classifier(ConnectorClassifier).build().unwrap();
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
/// let client = ServiceBuilder::new().layer(RetryLayer::new(policy)).service(client);
/// assert_service(client); // error: ConnectorClassifier is no Classify<_, Request<_>>
/// ```
///
/// Around a connector it does:
///
/// ```
/// use hyper_util::client::legacy::connect::HttpConnector;
/// use tower::{Service, ServiceBuilder};
/// use tower_conn_retry::{ConnectorClassifier, RetryLayer, RetryPolicy};
///
/// fn assert_service<S: Service<http::Uri>>(_: S) {}
///
/// let policy = RetryPolicy::builder().classifier(ConnectorClassifier).build().unwrap();
/// let connector = ServiceBuilder::new().layer(RetryLayer::new(policy)).service(HttpConnector::new());
/// assert_service(connector);
/// ```
///
/// It reads every error type that implements `std::error::Error`. A
/// connector failing with tower's `Box<dyn Error + Send + Sync>` (such as
/// hyper-rustls' and hyper-tls' `HttpsConnector`, or a connector under
/// tower's timeout) takes [`BoxedConnectorClassifier`] instead: the box
/// does not implement `Error`, and Rust does not let one type implement
/// the trait for both (std may one day implement `Error` for the box).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectorClassifier;

impl<E> Classify<E, Uri> for ConnectorClassifier
where
    E: StdError + 'static,
{
    fn classify(&self, error: &E) -> ErrorClass {
        ErrorClass::of_connector_error(error)
    }

    fn is_timeout(&self, error: &E) -> bool {
        evidence::is_timeout(error)
    }
}

/// [`ConnectorClassifier`] for a connector whose error is tower's boxed
/// error, `Box<dyn Error + Send + Sync>`: hyper-rustls' `HttpsConnector`
/// (which also fails with the errors of the `HttpConnector` it wraps),
/// hyper-tls', or any connector under a tower layer that boxes (such as
/// `tower::timeout`). It applies [`ErrorClass::of_connector_error`] to the
/// boxed error.
///
/// A transient failure (refused, unreachable, a failed DNS lookup, a TLS
/// handshake the server broke off) is retried for every method: a request
/// is written only once the connector has returned a finished TLS stream.
/// A URI the connector refuses before connecting (hyper-rustls' "unsupported
/// scheme" of an `https_only()` connector, a host rustls cannot take as a
/// server name: "invalid dns name"; hyper-tls' "https required but URI was
/// not https") and a certificate rustls rejects (an io `InvalidData`) are
/// [`ErrorClass::Other`], attempted once. hyper-tls' handshake errors are
/// native-tls errors, with no io kind to read: they count as
/// [`ErrorClass::Connect`], like any connector error without evidence.
///
/// Like [`ConnectorClassifier`], it is implemented only where the request
/// is a [`Uri`].
///
/// ```
/// use std::time::Duration;
/// use hyper_util::client::legacy::connect::HttpConnector;
/// use tower::{Service, ServiceBuilder};
/// use tower_conn_retry::{BoxedConnectorClassifier, RetryLayer, RetryPolicy};
///
/// fn assert_service<S: Service<http::Uri>>(_: S) {}
///
/// let policy = RetryPolicy::builder().classifier(BoxedConnectorClassifier).build().unwrap();
/// // A timeout around each connection attempt boxes the connector's error.
/// let connector = ServiceBuilder::new()
///     .layer(RetryLayer::new(policy))
///     .timeout(Duration::from_secs(2))
///     .service(HttpConnector::new());
/// assert_service(connector);
/// ```
///
/// [`ConnectorClassifier`] does not compile there, and the compiler's note
/// names this type:
///
/// ```compile_fail
/// use std::time::Duration;
/// use hyper_util::client::legacy::connect::HttpConnector;
/// use tower::{Service, ServiceBuilder};
/// use tower_conn_retry::{ConnectorClassifier, RetryLayer, RetryPolicy};
///
/// fn assert_service<S: Service<http::Uri>>(_: S) {}
///
/// let policy = RetryPolicy::builder().classifier(ConnectorClassifier).build().unwrap();
/// let connector = ServiceBuilder::new()
///     .layer(RetryLayer::new(policy))
///     .timeout(Duration::from_secs(2))
///     .service(HttpConnector::new());
/// assert_service(connector); // error: the box is no `std::error::Error`
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoxedConnectorClassifier;

impl Classify<Box<dyn StdError + Send + Sync>, Uri> for BoxedConnectorClassifier {
    fn classify(&self, error: &Box<dyn StdError + Send + Sync>) -> ErrorClass {
        ErrorClass::of_connector_error(&**error)
    }

    fn is_timeout(&self, error: &Box<dyn StdError + Send + Sync>) -> bool {
        evidence::is_timeout(&**error)
    }
}

/// Whether a method is idempotent (RFC 9110, section 9.2.2): GET, HEAD,
/// OPTIONS, TRACE, PUT and DELETE.
///
/// Sending an idempotent request twice has the effect of sending it once, so
/// it alone may be retried after [`ErrorClass::ConnectionLost`].
///
/// ```
/// use http::Method;
/// use tower_conn_retry::is_idempotent;
///
/// assert!(is_idempotent(&Method::PUT));
/// assert!(!is_idempotent(&Method::POST));
/// assert!(!is_idempotent(&Method::PATCH));
/// ```
pub fn is_idempotent(method: &http::Method) -> bool {
    use http::Method;
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    /// An error that wraps another, as a connector or middleware would.
    #[derive(Debug)]
    struct Wrapped(Box<dyn StdError + Send + Sync>);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }

    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.0)
        }
    }

    fn io(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "test")
    }

    #[test]
    fn connect_kinds_are_connect() {
        use io::ErrorKind::*;
        for kind in [
            ConnectionRefused,
            AddrNotAvailable,
            HostUnreachable,
            NetworkUnreachable,
        ] {
            assert_eq!(ErrorClass::of(&io(kind)), ErrorClass::Connect, "{kind:?}");
        }
    }

    #[test]
    fn broken_connection_kinds_are_connection_lost() {
        use io::ErrorKind::*;
        for kind in [
            ConnectionReset,
            ConnectionAborted,
            BrokenPipe,
            UnexpectedEof,
            NotConnected,
            TimedOut,
        ] {
            assert_eq!(
                ErrorClass::of(&io(kind)),
                ErrorClass::ConnectionLost,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn other_kinds_are_other() {
        use io::ErrorKind::*;
        for kind in [PermissionDenied, InvalidInput, InvalidData, NotFound, Other] {
            assert_eq!(ErrorClass::of(&io(kind)), ErrorClass::Other, "{kind:?}");
        }
    }

    #[test]
    fn the_chain_is_walked_to_an_inner_io_error() {
        let deep = Wrapped(Box::new(Wrapped(Box::new(io(
            io::ErrorKind::ConnectionRefused,
        )))));
        assert_eq!(ErrorClass::of(&deep), ErrorClass::Connect);
    }

    #[test]
    fn a_chain_without_evidence_is_other() {
        let plain: Box<dyn StdError + Send + Sync> = "bad header".into();
        assert_eq!(ErrorClass::of(&Wrapped(plain)), ErrorClass::Other);
    }

    #[test]
    fn the_outermost_evidence_wins() {
        // A reset io error under an error that is itself a refusal: the
        // outer, more specific link decides.
        let outer = io::Error::new(
            io::ErrorKind::ConnectionRefused,
            Wrapped(Box::new(io(io::ErrorKind::ConnectionReset))),
        );
        assert_eq!(ErrorClass::of(&outer), ErrorClass::Connect);
    }

    #[test]
    fn default_classifier_reads_boxed_errors() {
        let boxed: Box<dyn StdError + Send + Sync> =
            Box::new(Wrapped(Box::new(io(io::ErrorKind::ConnectionReset))));
        type BoxError = Box<dyn StdError + Send + Sync>;
        let classify =
            |error: &BoxError| Classify::<BoxError, ()>::classify(&DefaultClassifier, error);
        assert_eq!(classify(&boxed), ErrorClass::ConnectionLost);
        let boxed: Box<dyn StdError + Send + Sync> = Box::new(io(io::ErrorKind::HostUnreachable));
        assert_eq!(classify(&boxed), ErrorClass::Connect);
    }

    #[test]
    fn closures_are_classifiers() {
        let always = |_: &u8| ErrorClass::Connect;
        assert_eq!(
            Classify::<u8, ()>::classify(&always, &0),
            ErrorClass::Connect
        );
    }

    #[test]
    fn only_the_rfc_idempotent_methods_are_idempotent() {
        use http::Method;
        for method in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
            Method::PUT,
            Method::DELETE,
        ] {
            assert!(is_idempotent(&method), "{method}");
        }
        for method in [
            Method::POST,
            Method::PATCH,
            Method::CONNECT,
            Method::from_bytes(b"PURGE").unwrap(),
        ] {
            assert!(!is_idempotent(&method), "{method}");
        }
    }

    #[test]
    fn retryability_follows_idempotency() {
        assert!(ErrorClass::Connect.is_retryable(false));
        assert!(ErrorClass::Connect.is_retryable(true));
        assert!(ErrorClass::NotProcessed.is_retryable(false));
        assert!(ErrorClass::NotProcessed.is_retryable(true));
        assert!(ErrorClass::ConnectionLost.is_retryable(true));
        assert!(!ErrorClass::ConnectionLost.is_retryable(false));
        assert!(!ErrorClass::Other.is_retryable(true));
        assert!(!ErrorClass::Other.is_retryable(false));
    }
}
