//! The vocabulary: what an error says about the request that failed, and
//! the classes a request is retried (and counted) on.
//!
//! It stands below its users and imports nothing of the crate:
//! `evidence.rs` (the walk of an error chain) and `classifier.rs` (the
//! classifiers) import it, and so do the retry decision and the counts.
//! [`ErrorClass::of`] and [`ErrorClass::of_connector_error`], which walk a
//! chain, are implemented in `classifier.rs`.

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

/// The classes a request can be retried (or give up) on.
pub(crate) const CLASSES: [ErrorClass; 3] = [
    ErrorClass::Connect,
    ErrorClass::NotProcessed,
    ErrorClass::ConnectionLost,
];

/// The index of a retryable `class` in [`CLASSES`] (a class that is not
/// retryable counts as the first: it is never passed).
pub(crate) fn class_index(class: ErrorClass) -> usize {
    CLASSES.iter().position(|c| *c == class).unwrap_or(0)
}
