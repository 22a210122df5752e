//! Errors of crates this crate does not depend on, recognised by their
//! shape: tonic's.
//!
//! tonic is not a dependency (a gRPC user has it; an HTTP user should not
//! pay for it), and its types cannot be named here, so `downcast_ref` is
//! out of reach. What stays is what every error shows: its `Debug` and
//! `Display` output and its `source()`. Each predicate below matches one
//! type's exact shape, read from tonic 0.14.9's sources, and the walk
//! (`evidence.rs`) trusts it only in the one place that type stands in a
//! `Channel`'s errors: a shape found anywhere else proves nothing.
//! `tests/tonic.rs` runs them against the real types, so a tonic release
//! that changes a shape fails a test instead of silently retrying less.

use std::error::Error as StdError;
use std::fmt::{self, Write as _};
use std::io;

/// tonic's `transport::Error` of kind `Transport`: the error a `Channel`
/// returns for everything below it (tonic 0.14.9,
/// `transport/channel/mod.rs`: `Channel::call`'s `ResponseFuture` maps its
/// error with `Error::from_source`, which is `Kind::Transport`).
///
/// Its `Debug` (`transport/error.rs`) is `debug_tuple("tonic::transport::Error")`
/// with the kind first: a type name spelled with tonic's path, which no
/// other type prints.
pub(crate) fn is_tonic_transport_error(link: &(dyn StdError + 'static)) -> bool {
    link.source().is_some() && debug_starts_with(link, "tonic::transport::Error(Transport")
}

/// tonic's `ConnectError` (tonic 0.14.9, `status.rs`: `#[derive(Debug)]
/// pub struct ConnectError(pub Box<dyn Error + Send + Sync>)`, whose
/// `Display` is its cause's and whose `source()` is its cause).
///
/// tonic wraps in it exactly what its `Connector` failed with before a
/// connection existed (`transport/channel/service/connector.rs`,
/// `Connector::poll_ready` and `call`: the inner connector's error and the
/// TLS handshake's, each `.map_err(ConnectError)`); it is the only error
/// that says so, as it hides hyper-util's `is_connect()`.
pub(crate) fn is_tonic_connect_error(link: &(dyn StdError + 'static)) -> bool {
    let Some(cause) = link.source() else {
        return false;
    };
    debug_starts_with(link, "ConnectError(") && link.to_string() == cause.to_string()
}

/// tonic's connect failures that no later attempt can cure, by their
/// message: both carry no cause, and are read only where the walk stands
/// at a connector (tonic puts them under its `ConnectError`; tonic 0.14.9,
/// with a TLS feature): `HttpsUriWithoutTlsSupport`, "Connecting to HTTPS without TLS
/// enabled" (`transport/channel/service/connector.rs`, an `https` URI on a
/// channel without a TLS config), and `TlsError::H2NotNegotiated`, "HTTP/2
/// was not negotiated." (`transport/channel/service/tls.rs`,
/// `TlsConnector::connect`: the server's ALPN did not offer `h2`). Its
/// `TlsError::HandshakeTimeout` is transient, and stays a failed connect.
pub(crate) fn is_permanent_tonic_connect_failure(link: &(dyn StdError + 'static)) -> bool {
    const PERMANENT: [&str; 2] = [
        "Connecting to HTTPS without TLS enabled",
        "HTTP/2 was not negotiated.",
    ];
    link.source().is_none() && PERMANENT.contains(&link.to_string().as_str())
}

/// hyper-timeout's connect timeout: an io `TimedOut` around tokio's
/// `Elapsed` (hyper-timeout 0.5.2, `TimeoutConnector::call`:
/// `io::Error::new(io::ErrorKind::TimedOut, e)` when `timeout(connect_timeout,
/// connecting)` elapses). tonic puts a `TimeoutConnector` *around* its
/// `Connector` when a custom connector is given a connect timeout
/// (`transport/channel/endpoint.rs`, `connect_with_connector` and
/// `connect_with_connector_lazy`), so this error is not in a `ConnectError`.
pub(crate) fn is_connect_timeout_of_hyper_timeout(link: &(dyn StdError + 'static)) -> bool {
    link.downcast_ref::<io::Error>().is_some_and(|io| {
        io.kind() == io::ErrorKind::TimedOut
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<tokio::time::error::Elapsed>())
    })
}

/// Whether `link`'s `Debug` output starts with `prefix`. Formatting stops
/// as soon as the answer is known, so no output is kept and a long chain
/// below `link` is not printed.
fn debug_starts_with(link: &(dyn StdError + 'static), prefix: &str) -> bool {
    let mut compare = Prefix {
        rest: prefix.as_bytes(),
        matched: false,
    };
    // An `Err` here is the comparison stopping early, not a failure.
    let _ = write!(compare, "{link:?}");
    compare.matched
}

/// A `fmt::Write` that compares what is written with a prefix.
struct Prefix<'a> {
    rest: &'a [u8],
    matched: bool,
}

impl fmt::Write for Prefix<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.rest.len());
        if s.as_bytes()[..n] != self.rest[..n] {
            return Err(fmt::Error);
        }
        self.rest = &self.rest[n..];
        if self.rest.is_empty() {
            self.matched = true;
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// Look-alikes of tonic's `transport::Error` and `ConnectError`, printing
/// as theirs do (tonic 0.14.9, `transport/error.rs`, `status.rs`): tonic is
/// not a dependency, so these stand in for this module's and the chain
/// walk's unit tests; `tests/tonic.rs` runs the real ones.
#[cfg(test)]
pub(crate) mod lookalikes {
    use std::error::Error as StdError;
    use std::fmt;

    pub(crate) struct TonicTransport(pub(crate) Box<dyn StdError + Send + Sync>);

    impl fmt::Debug for TonicTransport {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_tuple("tonic::transport::Error")
                .field(&format_args!("Transport"))
                .field(&self.0)
                .finish()
        }
    }

    impl fmt::Display for TonicTransport {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("transport error")
        }
    }

    impl StdError for TonicTransport {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(self.0.as_ref())
        }
    }

    #[derive(Debug)]
    pub(crate) struct ConnectError(pub(crate) Box<dyn StdError + Send + Sync>);

    impl fmt::Display for ConnectError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Display::fmt(&self.0, f)
        }
    }

    impl StdError for ConnectError {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(self.0.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lookalikes::ConnectError;
    use super::*;

    #[test]
    fn the_prefix_is_compared_across_writes() {
        let io = io::Error::other("x");
        assert!(debug_starts_with(&io, "Custom {"));
        assert!(debug_starts_with(&io, "Custom { kind: Other"));
        assert!(!debug_starts_with(&io, "Custom { kind: TimedOut"));
        assert!(!debug_starts_with(
            &io,
            "Custom { kind: Other, error: \"x\" } and more"
        ));
    }

    /// Named like tonic's, with a message of its own (as hyper-util's
    /// `ConnectError("tcp connect error", cause)` is).
    mod own {
        #[derive(Debug)]
        pub(super) struct ConnectError(pub(super) &'static str, pub(super) std::io::Error);
    }

    impl fmt::Display for own::ConnectError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for own::ConnectError {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn a_connect_error_is_a_transparent_wrapper_named_so() {
        let wrapped = ConnectError(Box::new(io::Error::other("dns error")));
        assert!(is_tonic_connect_error(&wrapped));
        let own = own::ConnectError("tcp connect error", io::Error::other("refused"));
        assert!(!is_tonic_connect_error(&own));
        // Transparent, but not named so.
        let plain = io::Error::other(io::Error::other("connect failed"));
        assert!(!is_tonic_connect_error(&plain));
    }

    #[test]
    fn only_a_timed_out_io_error_around_elapsed_is_hyper_timeouts() {
        let elapsed = tokio_elapsed();
        let timeout = io::Error::new(io::ErrorKind::TimedOut, elapsed);
        assert!(is_connect_timeout_of_hyper_timeout(&timeout));
        let bare = io::Error::from(io::ErrorKind::TimedOut);
        assert!(!is_connect_timeout_of_hyper_timeout(&bare));
        let other_kind = io::Error::other(tokio_elapsed());
        assert!(!is_connect_timeout_of_hyper_timeout(&other_kind));
    }

    fn tokio_elapsed() -> tokio::time::error::Elapsed {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::ZERO, std::future::pending::<()>())
                .await
                .unwrap_err()
        })
    }
}
