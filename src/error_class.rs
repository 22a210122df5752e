//! The vocabulary: what an error says about the request that failed.
//!
//! It stands below both users: `evidence.rs` (the walk of an error chain)
//! and `classify.rs` (the classifiers) import it, and it imports neither.
//! [`ErrorClass::of`] and [`ErrorClass::of_connector_error`], which walk a
//! chain, are implemented in `classify.rs`.

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
///
/// New classes may come in a minor release, so a `match` needs a `_` arm:
///
/// ```compile_fail
/// use tower_conn_retry::ErrorClass;
///
/// fn retried(class: ErrorClass) -> bool {
///     match class {
///         ErrorClass::Connect | ErrorClass::NotProcessed => true,
///         ErrorClass::ConnectionLost | ErrorClass::Other => false,
///     } // error: non-exhaustive patterns: `_` not covered
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Connecting failed: the request never left the client (refused,
    /// unreachable, DNS failure, connect timeout, address not available, a
    /// tonic `Channel`'s failed connect for the call, or a request hyper
    /// canceled before writing it). Retried for every method.
    Connect,
    /// The server said it did not process the request: an HTTP/2
    /// RST_STREAM with REFUSED_STREAM from the server, addressed to the
    /// request's own stream (RFC 9113, section 8.7). Retried for every
    /// method, like a failed connect, but named apart so operators can tell
    /// a refusing server from an unreachable one.
    ///
    /// A remote GOAWAY is *not* this class, though RFC 9113 says the
    /// streams above its last-stream-id were not processed: through hyper
    /// the same error also reaches a stream whose HEADERS were already
    /// queued and then sent (see [`ErrorClass::of`]), so it is at most
    /// [`ConnectionLost`](ErrorClass::ConnectionLost).
    NotProcessed,
    /// An established connection broke before a response arrived (reset,
    /// aborted, broken pipe, closed before the message completed). The
    /// request may have been written, so it is retried only for idempotent
    /// requests: a POST whose connection died is never sent twice.
    ConnectionLost,
    /// Not a connection failure (a bad URI, a TLS or protocol error, an
    /// error of the inner service's own making). Never retried.
    Other,
}

impl ErrorClass {
    /// Whether an error of this class may be retried for a request that is
    /// (or is not) idempotent.
    ///
    /// ```
    /// use tower_conn_retry::ErrorClass;
    ///
    /// assert!(ErrorClass::Connect.is_retryable(false));
    /// assert!(ErrorClass::NotProcessed.is_retryable(false));
    /// assert!(ErrorClass::ConnectionLost.is_retryable(true));
    /// assert!(!ErrorClass::ConnectionLost.is_retryable(false));
    /// assert!(!ErrorClass::Other.is_retryable(true));
    /// ```
    pub const fn is_retryable(self, idempotent: bool) -> bool {
        match self {
            ErrorClass::Connect | ErrorClass::NotProcessed => true,
            ErrorClass::ConnectionLost => idempotent,
            ErrorClass::Other => false,
        }
    }

    /// A short lowercase name, as used in `tracing` events.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::NotProcessed => "not_processed",
            ErrorClass::ConnectionLost => "connection_lost",
            ErrorClass::Other => "other",
        }
    }
}
