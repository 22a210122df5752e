//! Sorting errors into connection failures and everything else.
//!
//! The rule: a request that failed *to connect* never left the client, so it
//! is always safe to send again. A request whose established connection
//! broke may already have been written, so only an idempotent method may be
//! sent again. Everything else is not a connection failure and is returned
//! untouched.

use std::error::Error as StdError;
use std::io;

/// What an error says about the request that failed.
///
/// # Example
///
/// ```
/// use std::io;
/// use tower_conn_retry::ErrorClass;
///
/// let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
/// assert_eq!(ErrorClass::of(&refused), ErrorClass::Connect);
///
/// let reset = io::Error::from(io::ErrorKind::ConnectionReset);
/// assert_eq!(ErrorClass::of(&reset), ErrorClass::ConnectionLost);
///
/// let denied = io::Error::from(io::ErrorKind::PermissionDenied);
/// assert_eq!(ErrorClass::of(&denied), ErrorClass::Other);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Connecting failed: the request never left the client (refused,
    /// unreachable, DNS failure, connect timeout, address not available, or
    /// a request hyper canceled before writing it). Retried for every
    /// method.
    Connect,
    /// An established connection broke before a response arrived (reset,
    /// aborted, broken pipe, closed before the message completed). The
    /// request may have been written, so it is retried only for idempotent
    /// methods: a POST whose connection died is never sent twice.
    ConnectionLost,
    /// Not a connection failure (a bad URI, a TLS or protocol error, an
    /// error of the inner service's own making). Never retried.
    Other,
}

impl ErrorClass {
    /// Classifies an error by walking its [`source()`](StdError::source)
    /// chain, outermost first, and stopping at the first decisive evidence:
    ///
    /// 1. hyper-util's
    ///    [`Error::is_connect()`](hyper_util::client::legacy::Error::is_connect):
    ///    everything the connector returned (refused, DNS failure, connect timeout) is
    ///    wrapped that way by `Client::connect_to` (hyper-util 0.1.21,
    ///    `client/legacy/client.rs`, `e!(Connect, src)`): [`Connect`].
    /// 2. hyper's [`Error::is_canceled()`](hyper::Error::is_canceled): hyper hands a request back
    ///    canceled when it was never dispatched to the connection
    ///    (`client/dispatch.rs`, an `Envelope` dropped with "connection
    ///    closed"; `proto/h1/dispatch.rs`, "the message was never even
    ///    started"). Nothing was written: [`Connect`]. hyper-util retries
    ///    that only on a *reused* pooled connection; on a fresh one it hands
    ///    it to us wrapped in its private `Canceled` kind, with this error as
    ///    the source.
    /// 3. hyper's
    ///    [`Error::is_incomplete_message()`](hyper::Error::is_incomplete_message)
    ///    ("connection closed
    ///    before message completed"): [`ConnectionLost`].
    /// 4. The [`io::ErrorKind`] of a `std::io::Error`: `ConnectionRefused`, `AddrNotAvailable`,
    ///    `HostUnreachable`, `NetworkUnreachable` are [`Connect`];
    ///    `ConnectionReset`, `ConnectionAborted`, `BrokenPipe`,
    ///    `UnexpectedEof`, `NotConnected` and `TimedOut` are
    ///    [`ConnectionLost`]. A bare `TimedOut` or `NotConnected` may come
    ///    from a connection that was already carrying the request, so it is
    ///    not assumed to be safe; hyper-util's connect timeout is caught by
    ///    rule 1 before its inner `TimedOut` is looked at.
    ///
    /// Outer evidence wins: a hyper `Canceled` error whose cause is an io
    /// `ConnectionReset` is [`Connect`]. Anything else is [`Other`].
    ///
    /// [`Connect`]: ErrorClass::Connect
    /// [`ConnectionLost`]: ErrorClass::ConnectionLost
    /// [`Other`]: ErrorClass::Other
    pub fn of(error: &(dyn StdError + 'static)) -> ErrorClass {
        let mut next = Some(error);
        while let Some(error) = next {
            if let Some(class) = Self::of_one(error) {
                return class;
            }
            next = error.source();
        }
        ErrorClass::Other
    }

    /// The evidence one link of the chain gives, if it is decisive.
    fn of_one(error: &(dyn StdError + 'static)) -> Option<ErrorClass> {
        if let Some(error) = error.downcast_ref::<hyper_util::client::legacy::Error>() {
            return error.is_connect().then_some(ErrorClass::Connect);
        }
        if let Some(error) = error.downcast_ref::<hyper::Error>() {
            if error.is_canceled() {
                return Some(ErrorClass::Connect);
            }
            return error
                .is_incomplete_message()
                .then_some(ErrorClass::ConnectionLost);
        }
        error
            .downcast_ref::<io::Error>()
            .and_then(|error| Self::of_io_kind(error.kind()))
    }

    fn of_io_kind(kind: io::ErrorKind) -> Option<ErrorClass> {
        use io::ErrorKind::*;
        match kind {
            ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable => {
                Some(ErrorClass::Connect)
            }
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected
            | TimedOut => Some(ErrorClass::ConnectionLost),
            _ => None,
        }
    }

    /// Whether an error of this class may be retried for a request that is
    /// (or is not) idempotent.
    ///
    /// ```
    /// use tower_conn_retry::ErrorClass;
    ///
    /// assert!(ErrorClass::Connect.is_retryable(false));
    /// assert!(ErrorClass::ConnectionLost.is_retryable(true));
    /// assert!(!ErrorClass::ConnectionLost.is_retryable(false));
    /// assert!(!ErrorClass::Other.is_retryable(true));
    /// ```
    pub const fn is_retryable(self, idempotent: bool) -> bool {
        match self {
            ErrorClass::Connect => true,
            ErrorClass::ConnectionLost => idempotent,
            ErrorClass::Other => false,
        }
    }

    /// A short lowercase name, as used in `tracing` events.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::ConnectionLost => "connection_lost",
            ErrorClass::Other => "other",
        }
    }
}

/// Decides the [`ErrorClass`] of an inner service's error.
///
/// Any closure `Fn(&E) -> ErrorClass` is a classifier. The default,
/// [`DefaultClassifier`], covers hyper-util's, hyper's and std's errors and
/// tower's boxed error.
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
pub trait Classify<E: ?Sized> {
    /// The class of `error`.
    fn classify(&self, error: &E) -> ErrorClass;
}

impl<E: ?Sized, F> Classify<E> for F
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

impl Classify<hyper_util::client::legacy::Error> for DefaultClassifier {
    fn classify(&self, error: &hyper_util::client::legacy::Error) -> ErrorClass {
        ErrorClass::of(error)
    }
}

impl Classify<hyper::Error> for DefaultClassifier {
    fn classify(&self, error: &hyper::Error) -> ErrorClass {
        ErrorClass::of(error)
    }
}

impl Classify<io::Error> for DefaultClassifier {
    fn classify(&self, error: &io::Error) -> ErrorClass {
        ErrorClass::of(error)
    }
}

impl Classify<Box<dyn StdError + Send + Sync>> for DefaultClassifier {
    fn classify(&self, error: &Box<dyn StdError + Send + Sync>) -> ErrorClass {
        ErrorClass::of(&**error)
    }
}

/// The classifier for a layer around a connector (a `Service<Uri>` such as
/// `HttpConnector`): every error is [`ErrorClass::Connect`].
///
/// A connector only makes connections, so whatever it returns (refused,
/// DNS failure, connect timeout, a failed TLS handshake) happened before any
/// byte of any request was written: retrying is safe for every method. It
/// is implemented for every error type, because hyper-util's connector error
/// cannot be named outside hyper-util.
///
/// ```
/// use tower_conn_retry::{Classify, ConnectorClassifier, ErrorClass};
///
/// let error = std::io::Error::other("dns error");
/// assert_eq!(ConnectorClassifier.classify(&error), ErrorClass::Connect);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectorClassifier;

impl<E: ?Sized> Classify<E> for ConnectorClassifier {
    fn classify(&self, _: &E) -> ErrorClass {
        ErrorClass::Connect
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
        assert_eq!(
            DefaultClassifier.classify(&boxed),
            ErrorClass::ConnectionLost
        );
        let boxed: Box<dyn StdError + Send + Sync> = Box::new(io(io::ErrorKind::HostUnreachable));
        assert_eq!(DefaultClassifier.classify(&boxed), ErrorClass::Connect);
    }

    #[test]
    fn closures_are_classifiers() {
        let always = |_: &u8| ErrorClass::Connect;
        assert_eq!(always.classify(&0), ErrorClass::Connect);
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
        assert!(ErrorClass::ConnectionLost.is_retryable(true));
        assert!(!ErrorClass::ConnectionLost.is_retryable(false));
        assert!(!ErrorClass::Other.is_retryable(true));
        assert!(!ErrorClass::Other.is_retryable(false));
    }
}
