//! Errors of tonic, which this crate depends on only with its `tonic`
//! feature.
//!
//! With the feature, each predicate below asks for tonic's own type
//! (`downcast`): `transport::Error`, `ConnectError`, `TimeoutExpired`.
//! Without it (a gRPC user who wraps a `Channel` with `RetryLayer` and no
//! feature; an HTTP user should not pay for tonic), tonic's types cannot
//! be named, and what stays is what every error shows: its `Debug` and
//! `Display` output and its `source()`. Each predicate in [`text`] matches
//! one type's exact shape, read from tonic 0.14.9's sources. Either way the
//! walk (`evidence.rs`) trusts a predicate only in the one place that type
//! stands in a `Channel`'s errors: found anywhere else it proves nothing.
//!
//! The two permanent connect failures are `pub(crate)` in tonic, so they
//! are read by their message with the feature too. This module's tests run
//! the text predicates against tonic's real types (a dev-dependency,
//! whatever the features), so a tonic release that changes a shape fails
//! our CI instead of silently retrying less.

use std::error::Error as StdError;
use std::fmt::{self, Write as _};
use std::io;

/// tonic's `transport::Error` of kind `Transport`: the error a `Channel`
/// returns for everything below it (tonic 0.14.9,
/// `transport/channel/mod.rs`: `Channel::call`'s `ResponseFuture` maps its
/// error with `Error::from_source`, which is `Kind::Transport`). Its other
/// kinds (`InvalidUri`, ...) come from building an `Endpoint`.
pub(crate) fn is_tonic_transport_error(link: &(dyn StdError + 'static)) -> bool {
    #[cfg(feature = "tonic")]
    {
        // The kind is private; its `Display` is the kind's description
        // (`transport/error.rs`, `Error::description`).
        link.is::<::tonic::transport::Error>() && display_is(link, "transport error")
    }
    #[cfg(not(feature = "tonic"))]
    {
        text::is_transport_error(link)
    }
}

/// tonic's `ConnectError` (tonic 0.14.9, `status.rs`): tonic wraps in it
/// exactly what its `Connector` failed with before a connection existed
/// (`transport/channel/service/connector.rs`, `Connector::poll_ready` and
/// `call`: the inner connector's error and the TLS handshake's, each
/// `.map_err(ConnectError)`); it is the only error that says so, as it
/// hides hyper-util's `is_connect()`.
pub(crate) fn is_tonic_connect_error(link: &(dyn StdError + 'static)) -> bool {
    #[cfg(feature = "tonic")]
    {
        link.is::<::tonic::ConnectError>()
    }
    #[cfg(not(feature = "tonic"))]
    {
        text::is_connect_error(link)
    }
}

/// tonic's `TimeoutExpired` (tonic 0.14.9, `status.rs`): the per-call
/// timer of a `Channel` fired, `Endpoint::timeout` or the call's own
/// `grpc-timeout` header, whichever is shorter
/// (`transport/service/grpc_timeout.rs`, `ResponseFuture::poll`). That
/// timer wraps `Reconnect` (`transport/channel/service/connection.rs`,
/// `Connection::new`) and starts when the call is handed to it, after the
/// channel's `poll_ready` connected: the call may have been written.
pub(crate) fn is_tonic_timeout_expired(link: &(dyn StdError + 'static)) -> bool {
    #[cfg(feature = "tonic")]
    {
        link.is::<::tonic::TimeoutExpired>()
    }
    #[cfg(not(feature = "tonic"))]
    {
        text::is_timeout_expired(link)
    }
}

/// tonic's connect failures that no later attempt can cure, by their
/// message, with the feature or without: both types are `pub(crate)` in
/// tonic, and both carry no cause. They are read only where the walk stands
/// at a connector (tonic puts them under its `ConnectError`; tonic 0.14.9,
/// with a TLS feature): `HttpsUriWithoutTlsSupport`, "Connecting to HTTPS
/// without TLS enabled" (`transport/channel/service/connector.rs`, an
/// `https` URI on a channel without a TLS config), and
/// `TlsError::H2NotNegotiated`, "HTTP/2 was not negotiated."
/// (`transport/channel/service/tls.rs`, `TlsConnector::connect`: the
/// server's ALPN did not offer `h2`). Its `TlsError::HandshakeTimeout` is
/// transient, and stays a failed connect.
pub(crate) fn is_permanent_tonic_connect_failure(link: &(dyn StdError + 'static)) -> bool {
    const PERMANENT: [&str; 2] = [
        "Connecting to HTTPS without TLS enabled",
        "HTTP/2 was not negotiated.",
    ];
    link.source().is_none() && PERMANENT.iter().any(|message| display_is(link, message))
}

/// tonic's types by their printed shape, for builds without the `tonic`
/// feature (and for the tests, which pin each shape to the real type).
#[cfg_attr(all(feature = "tonic", not(test)), allow(dead_code))]
pub(crate) mod text {
    use std::error::Error as StdError;

    use super::{debug_starts_with, display_is};

    /// `transport::Error`'s `Debug` (`transport/error.rs`) is
    /// `debug_tuple("tonic::transport::Error")` with the kind first: a type
    /// name spelled with tonic's path, which no other type prints.
    pub(crate) fn is_transport_error(link: &(dyn StdError + 'static)) -> bool {
        link.source().is_some() && debug_starts_with(link, "tonic::transport::Error(Transport")
    }

    /// `ConnectError` is `#[derive(Debug)] pub struct ConnectError(pub
    /// Box<dyn Error + Send + Sync>)`, whose `Display` is its cause's and
    /// whose `source()` is its cause.
    pub(crate) fn is_connect_error(link: &(dyn StdError + 'static)) -> bool {
        let Some(cause) = link.source() else {
            return false;
        };
        debug_starts_with(link, "ConnectError(") && link.to_string() == cause.to_string()
    }

    /// `TimeoutExpired` is `#[derive(Debug)] pub struct
    /// TimeoutExpired(pub ())`, displayed "Timeout expired", with no cause.
    pub(crate) fn is_timeout_expired(link: &(dyn StdError + 'static)) -> bool {
        link.source().is_none()
            && display_is(link, "Timeout expired")
            && debug_starts_with(link, "TimeoutExpired(())")
    }
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

/// Whether `link`'s `Display` output is exactly `expected`, written into
/// no buffer.
fn display_is(link: &(dyn StdError + 'static), expected: &str) -> bool {
    let mut exact = Exact {
        rest: expected.as_bytes(),
    };
    write!(exact, "{link}").is_ok() && exact.rest.is_empty()
}

/// A `fmt::Write` that fails as soon as what is written strays from, or
/// goes past, what is expected.
struct Exact<'a> {
    rest: &'a [u8],
}

impl fmt::Write for Exact<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let rest = self.rest.strip_prefix(s.as_bytes()).ok_or(fmt::Error)?;
        self.rest = rest;
        Ok(())
    }
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

/// A look-alike of tonic's `transport::Error` of kind `Transport`, printing
/// as it does (tonic 0.14.9, `transport/error.rs`), with a cause of the
/// test's choosing: tonic makes its own only inside a `Channel`. It stands
/// in for the chain walk's unit tests without the `tonic` feature; with
/// it, only the real type counts, and `tests/tonic.rs` and
/// `tests/tonic_feature.rs` run real `Channel`s.
#[cfg(all(test, not(feature = "tonic")))]
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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

    #[test]
    fn display_is_exact() {
        let io = io::Error::other("transport error");
        assert!(display_is(&io, "transport error"));
        assert!(!display_is(&io, "transport"));
        assert!(!display_is(&io, "transport error and more"));
        assert!(!display_is(&io, ""));
    }

    /// Named like tonic's, with a message of its own (as hyper-util's
    /// `ConnectError("tcp connect error", cause)` is).
    mod own {
        #[derive(Debug)]
        pub(super) struct ConnectError(pub(super) &'static str, pub(super) std::io::Error);

        /// Named like tonic's, printed like it, but with a cause.
        #[derive(Debug)]
        pub(super) struct TimeoutExpired(pub(super) ());
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

    impl fmt::Display for own::TimeoutExpired {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Timeout expired")
        }
    }

    static CAUSE: std::sync::LazyLock<io::Error> =
        std::sync::LazyLock::new(|| io::Error::other("own cause"));

    impl StdError for own::TimeoutExpired {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*CAUSE)
        }
    }

    /// A real `transport::Error` of kind `Transport`: a call through a
    /// tonic `Channel` to a loopback port nobody listens on (tonic is a
    /// dev-dependency, whatever this build's features).
    fn real_transport_error() -> ::tonic::transport::Error {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = closed.local_addr().unwrap();
            drop(closed);
            let channel = ::tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_lazy();
            let call = tower::ServiceExt::oneshot(
                channel,
                http::Request::new(::tonic::body::Body::empty()),
            );
            tokio::time::timeout(Duration::from_secs(10), call)
                .await
                .expect("a refused loopback connect ends within 10 s")
                .expect_err("nobody listens")
        })
    }

    /// The text shapes match tonic's real types, of the version the lock
    /// file resolves: a tonic release that prints them otherwise fails
    /// here, in our CI, before builds without the `tonic` feature retry
    /// less.
    #[test]
    fn the_text_shapes_are_tonics_real_types() {
        let transport = real_transport_error();
        assert!(text::is_transport_error(&transport), "{transport:?}");
        let invalid_uri = ::tonic::transport::Endpoint::from_shared("http://[::1".to_string())
            .expect_err("an invalid URI");
        assert!(!text::is_transport_error(&invalid_uri), "{invalid_uri:?}");

        let connect = ::tonic::ConnectError(Box::new(io::Error::other("dns error")));
        assert!(text::is_connect_error(&connect));
        let own = own::ConnectError("tcp connect error", io::Error::other("refused"));
        assert!(!text::is_connect_error(&own));
        // Transparent, but not named so.
        let plain = io::Error::other(io::Error::other("connect failed"));
        assert!(!text::is_connect_error(&plain));

        assert!(text::is_timeout_expired(&::tonic::TimeoutExpired(())));
        assert!(!text::is_timeout_expired(&own::TimeoutExpired(())));
        assert!(!text::is_timeout_expired(&io::Error::other(
            "Timeout expired"
        )));
    }

    /// With the feature, the predicates ask for tonic's types, and say
    /// what the text shapes say of the real ones.
    #[cfg(feature = "tonic")]
    #[test]
    fn with_the_feature_tonics_own_types_are_read() {
        let transport = real_transport_error();
        assert!(is_tonic_transport_error(&transport));
        let invalid_uri = ::tonic::transport::Endpoint::from_shared("http://[::1".to_string())
            .expect_err("an invalid URI");
        assert!(!is_tonic_transport_error(&invalid_uri));
        let connect = ::tonic::ConnectError(Box::new(io::Error::other("dns error")));
        assert!(is_tonic_connect_error(&connect));
        assert!(is_tonic_timeout_expired(&::tonic::TimeoutExpired(())));
        // Look-alikes are not tonic's types.
        let own = own::ConnectError("dns error", io::Error::other("dns error"));
        assert!(!is_tonic_connect_error(&own));
        assert!(!is_tonic_timeout_expired(&io::Error::other(
            "Timeout expired"
        )));
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
