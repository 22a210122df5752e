//! Reading an error chain: each link may only conclude what its place in
//! the chain can know.
//!
//! An io kind means one thing when the connector returned it (nothing was
//! sent) and another when an established connection reported it (the
//! request may have been written and processed). So the walk carries where
//! it stands, and every conclusion is capped by that place:
//!
//! | where the walk stands | the most a link can mean |
//! |---|---|
//! | under hyper-util's `is_connect()` | transient kinds: `Connect`; permanent ones: `Other` |
//! | under a hyper-util error of another kind, inside a `hyper::Error`, or inside an `h2::Error` | `ConnectionLost` |
//! | under tonic's `ConnectError`, or hyper-timeout's connect timeout, right under tonic's `transport::Error` | as under hyper-util's `is_connect()` |
//! | tonic's `TimeoutExpired` right under its `transport::Error`, tower's or tokio's `Elapsed` | `ConnectionLost` |
//! | nowhere known (a bare error of the inner service) | what the io kind says |

use std::error::Error as StdError;
use std::io;

use crate::classify::error_class::ErrorClass;
use crate::classify::shapes;

/// Where the walk down an error chain stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// No wrapper has been seen: the error is the inner service's own.
    Unknown,
    /// Under hyper-util's `Error::is_connect()`, or at a connector: the
    /// connector failed, so no byte of the request was written.
    Connector,
    /// Under a hyper-util error of another kind (`SendRequest`, ...) or
    /// inside a `hyper::Error`: an established connection was in use, so
    /// the request may have been written.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    Transport,
    /// Right under tonic's `transport::Error` (kind `Transport`), for one
    /// link: what a `Channel` wraps there says where it failed. Its
    /// `ConnectError`, or hyper-timeout's connect timeout, is the
    /// connector's; a `hyper::Error` is a connection's; tonic's
    /// `TimeoutExpired` is a timeout around one attempt (a lost
    /// connection); anything else (tower's `buffer` errors) is read as if
    /// nothing had been seen.
    UnderTonic,
}

/// The class of `error`, walking its chain from the outermost link.
pub(crate) fn classify(error: &(dyn StdError + 'static)) -> ErrorClass {
    walk(error, Place::Unknown)
}

/// The class of an error a connector returned: nothing was sent, so it is a
/// connect failure unless the chain shows it can never succeed.
pub(crate) fn classify_connector_error(error: &(dyn StdError + 'static)) -> ErrorClass {
    walk(error, Place::Connector)
}

fn walk(error: &(dyn StdError + 'static), mut place: Place) -> ErrorClass {
    let mut next = Some(error);
    while let Some(link) = next {
        match read(link, place) {
            Reading::Decided(class) => return class,
            Reading::Enter(inner) => place = inner,
            // `UnderTonic` places its one link only.
            Reading::Nothing if place == Place::UnderTonic => place = Place::Unknown,
            Reading::Nothing => {}
        }
        next = source(link);
    }
    match place {
        // hyper-util's `Connect` kind with no further evidence (a DNS
        // failure: `ConnectError("dns error", ..)` whose cause is an io
        // error of no telling kind): nothing was sent, and a later attempt
        // may succeed.
        Place::Connector => ErrorClass::Connect,
        Place::Unknown | Place::Transport | Place::UnderTonic => ErrorClass::Other,
    }
}

/// What one link says.
enum Reading {
    /// The class of the whole error.
    Decided(ErrorClass),
    /// The links below stand in this place.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    Enter(Place),
    /// Nothing; read on.
    Nothing,
}

fn read(link: &(dyn StdError + 'static), place: Place) -> Reading {
    if place == Place::UnderTonic {
        if let Some(reading) = read_under_tonic(link) {
            return reading;
        }
    }
    #[cfg(feature = "hyper")]
    if let Some(error) = link.downcast_ref::<hyper_util::client::legacy::Error>() {
        return read_client_error(error, place);
    }
    #[cfg(feature = "hyper")]
    if let Some(error) = link.downcast_ref::<hyper::Error>() {
        return read_hyper_error(error, place);
    }
    #[cfg(feature = "http2")]
    if let Some(error) = link.downcast_ref::<h2::Error>() {
        return read_h2_error(error, place);
    }
    if let Some(error) = link.downcast_ref::<io::Error>() {
        return match read_io_kind(error.kind(), place) {
            Some(class) => Reading::Decided(class),
            None => Reading::Nothing,
        };
    }
    if is_timeout_elapsed(link) {
        // A timeout around one attempt fired: the attempt may have been
        // written and processed, like an io `TimedOut`.
        return Reading::Decided(cap(ErrorClass::ConnectionLost, place));
    }
    if place == Place::Connector
        && (is_refused_before_connecting(link) || shapes::is_permanent_tonic_connect_failure(link))
    {
        return Reading::Decided(ErrorClass::Other);
    }
    if place == Place::Unknown && shapes::is_tonic_transport_error(link) {
        // Only where no wrapper was seen: a tonic `Channel` is the service
        // the layer wraps, its error the outermost (or under the caller's
        // own `Status`). Never inside a connection's error.
        return Reading::Enter(Place::UnderTonic);
    }
    Reading::Nothing
}

/// The link right under tonic's `transport::Error` (tonic 0.14.9): where
/// the `Channel` failed.
///
/// The `Channel` (`transport/channel/mod.rs`) is a tower `Buffer` over a
/// `Reconnect` (`service/reconnect.rs`) over hyper's HTTP/2 `SendRequest`
/// (`service/connection.rs`). A connect that failed is kept by `Reconnect`
/// (`poll_ready`: `self.error = Some(error)`) and returned by the *next*
/// call in place of sending it (`call`: `ResponseFuture::error`), so that
/// call was never written; the `Buffer` passes the boxed error on as it is,
/// and `Channel`'s future puts it right under a `transport::Error`. A
/// connection's own failure is a `hyper::Error` there (`SendRequest::call`).
fn read_under_tonic(link: &(dyn StdError + 'static)) -> Option<Reading> {
    if shapes::is_connect_timeout_of_hyper_timeout(link) {
        // A custom connector's connect timeout: nothing was sent.
        return Some(Reading::Decided(ErrorClass::Connect));
    }
    if shapes::is_tonic_connect_error(link) {
        // tonic's `Connector` failed: read its cause as hyper-util's
        // `is_connect()` cause (a DNS failure, a refused or timed-out
        // connect, a TLS handshake, a URI it cannot serve).
        return Some(Reading::Enter(Place::Connector));
    }
    if shapes::is_tonic_timeout_expired(link) {
        // The channel's per-call timer (`Endpoint::timeout`, or the call's
        // own `grpc-timeout`) fired after the call was handed to a
        // connection: it may have been written and processed, as under
        // tower's `Elapsed` (below) or reqwest's timeout.
        return Some(Reading::Decided(ErrorClass::ConnectionLost));
    }
    None
}

/// hyper-util's legacy client error (hyper-util 0.1.21,
/// `client/legacy/client.rs`).
#[cfg(feature = "hyper")]
fn read_client_error(error: &hyper_util::client::legacy::Error, place: Place) -> Reading {
    if place != Place::Unknown {
        // Already placed by an outer link, which knows better.
        return Reading::Nothing;
    }
    if error.is_connect() {
        // `connect_to` wraps whatever the connector returned as
        // `e!(Connect, src)`: the connector failed, nothing was written.
        Reading::Enter(Place::Connector)
    } else {
        // `SendRequest` (`Error::tx`), `Canceled`, `ChannelClosed`, ...:
        // a connection was handed the request, or was being set up for it.
        // Only hyper's own `is_canceled()` below may say it was not sent.
        Reading::Enter(Place::Transport)
    }
}

/// hyper's error (hyper 1.12, `error.rs`).
#[cfg(feature = "hyper")]
fn read_hyper_error(error: &hyper::Error, place: Place) -> Reading {
    if error.is_canceled() {
        // Never dispatched: `client/dispatch.rs` drops an `Envelope` with
        // "connection closed"; `proto/h1/dispatch.rs` cancels a queued
        // request with "the message was never even started". Nothing was
        // written, whatever the cause below says, and wherever it stands.
        return Reading::Decided(ErrorClass::Connect);
    }
    if is_dispatch_gone(error) {
        // hyper dropped the request's callback without an answer (hyper
        // 1.12 `client/dispatch.rs`: `Callback::drop` sends
        // `dispatch_gone()`). Over HTTP/2 this happens to a request queued
        // behind MAX_CONCURRENT_STREAMS when GOAWAY ends the connection
        // (`proto/h2/client.rs`: `ClientTask::poll` keeps it in `fut_ctx`
        // after `send_request`, then returns `Dispatched::Shutdown` on the
        // GOAWAY and drops it); it also happens when the runtime drops the
        // task of a stream already written. Not the caller's failure, and
        // not proof that nothing was sent: a lost connection.
        return Reading::Decided(cap(ErrorClass::ConnectionLost, place));
    }
    if error.is_user() {
        // `Kind::User`: the request body failed (`User::Body`), a body
        // write was aborted, a CONNECT with a body... The caller's own
        // failure; sending again would fail again or duplicate the head.
        return Reading::Decided(ErrorClass::Other);
    }
    if error.is_incomplete_message() || error.is_timeout() {
        // "connection closed before message completed", or a timer hyper
        // was given fired: the request may have been written.
        return Reading::Decided(cap(ErrorClass::ConnectionLost, place));
    }
    match place {
        // A connector that speaks HTTP itself (a proxy's CONNECT): still
        // the connector's failure.
        Place::Connector => Reading::Nothing,
        Place::Unknown | Place::Transport | Place::UnderTonic => Reading::Enter(Place::Transport),
    }
}

/// h2's error (h2 0.4, `error.rs`), the source of hyper's `Kind::Http2`,
/// or the error of a client built on the `h2` crate directly.
///
/// Only a remote RST_STREAM with REFUSED_STREAM says "not processed" (RFC
/// 9113, section 8.7): it is addressed to one stream, after the server
/// looked at that stream.
///
/// A remote GOAWAY is no such proof through hyper. h2 fails a locally
/// opened stream above the GOAWAY's last-stream-id with it
/// (`Inner::recv_go_away` in h2 0.4 `proto/streams/streams.rs`), but it also
/// keeps it as the connection's error (`actions.conn_error`) and returns
/// it from every later `SendRequest::poll_ready` (`poll_pending_open` →
/// `ensure_no_conn_error`). hyper 1.12's `ClientTask::poll`
/// (`proto/h2/client.rs`) calls `send_request` (the stream's HEADERS are
/// queued and will be written) and *then* `poll_ready`; when a GOAWAY was
/// processed in between, the request's callback gets that remote GOAWAY
/// while its HEADERS still go out, below the last-stream-id of a graceful
/// shutdown (2^31-1 first), and the server runs its handler. The two are
/// the same error, so a remote GOAWAY means at most a lost connection.
///
/// An io error inside an `h2::Error` was raised on a connection already
/// made (h2 is handed a connected io, `client::handshake`, and wraps what
/// it reports), so its kind means at most a lost connection too, unless the
/// walk already stands at the connector.
#[cfg(feature = "http2")]
fn read_h2_error(error: &h2::Error, place: Place) -> Reading {
    if error.is_remote() && error.is_reset() && error.reason() == Some(h2::Reason::REFUSED_STREAM) {
        return Reading::Decided(ErrorClass::NotProcessed);
    }
    let place = match place {
        Place::Connector => Place::Connector,
        Place::Unknown | Place::Transport | Place::UnderTonic => Place::Transport,
    };
    if let Some(io) = error.get_io() {
        return match read_io_kind(io.kind(), place) {
            Some(class) => Reading::Decided(class),
            None => Reading::Nothing,
        };
    }
    // A remote GOAWAY (see above), any other reset (CANCEL,
    // INTERNAL_ERROR, ...), or a GOAWAY h2 raised itself: the stream may
    // have been processed.
    Reading::Decided(cap(ErrorClass::ConnectionLost, place))
}

/// hyper's `User::DispatchGone` ("dispatch task is gone"). hyper 1.12 has
/// no accessor for it (`error.rs`: `new_user_dispatch_gone`), and its kind
/// is private, so the message its `Display` prints for that kind alone
/// (`description`) is the evidence, read only on a user error.
/// `tests/http2.rs` (`a_get_queued_behind_...`) raises it on the wire: if
/// hyper changes the message, that test fails.
#[cfg(feature = "hyper")]
fn is_dispatch_gone(error: &hyper::Error) -> bool {
    error.is_user() && error.to_string() == "dispatch task is gone"
}

/// What an io kind can say where it stands.
fn read_io_kind(kind: io::ErrorKind, place: Place) -> Option<ErrorClass> {
    use io::ErrorKind::*;
    let class = match kind {
        // The connector could never succeed with these: a bad address or
        // URI (`InvalidInput`), a TLS failure (`InvalidData`: "invalid peer
        // certificate"), a socket it may not open.
        InvalidInput | InvalidData | PermissionDenied | Unsupported
            if place == Place::Connector =>
        {
            return Some(ErrorClass::Other)
        }
        // Linux also reports EHOSTUNREACH, ENETUNREACH and ECONNREFUSED on
        // an *established* connection after an ICMP error: `cap` lets them
        // mean "never sent" only where no connection was in use.
        ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable => {
            ErrorClass::Connect
        }
        // The request may have been written. At the connector they broke
        // the handshake instead (hyper-util's "tcp connect error" carries
        // `TimedOut` for its connect timeout, and `NotConnected` for
        // "Network unreachable").
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected
        | TimedOut => ErrorClass::ConnectionLost,
        _ => return None,
    };
    Some(cap(class, place))
}

/// The most `class` can mean where the walk stands.
///
/// At the connector no byte of the request was written, so a lost
/// connection there is a failed connect; on a connection in use, a
/// "connect" kind can mean no more than a lost connection.
fn cap(class: ErrorClass, place: Place) -> ErrorClass {
    match (place, class) {
        (Place::Connector, ErrorClass::ConnectionLost) => ErrorClass::Connect,
        (Place::Transport, ErrorClass::Connect) => ErrorClass::ConnectionLost,
        _ => class,
    }
}

/// The next link. `io::Error::source()` skips the error an `io::Error`
/// wraps (it returns the wrapped error's own source), so an io error's
/// wrapped error is the next link instead.
fn source<'a>(link: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    if let Some(io) = link.downcast_ref::<io::Error>() {
        if let Some(inner) = io.get_ref() {
            return Some(inner);
        }
    }
    link.source()
}

/// Whether `error` says a timer fired: a link of its chain is tower's or
/// tokio's `Elapsed`, an io `TimedOut`, or a hyper error whose
/// `is_timeout()` is true (hyper 1.12 `error.rs`, `Error::is_timeout`: its
/// private `TimedOut` in the source chain, which a timer given to hyper
/// raises, or a server's header read timeout). It names the failure in the
/// events; it never changes the class.
pub(crate) fn is_timeout(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(link) = next {
        if is_timeout_elapsed(link) {
            return true;
        }
        if let Some(io) = link.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::TimedOut {
                return true;
            }
        }
        #[cfg(feature = "hyper")]
        if link
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            return true;
        }
        next = source(link);
    }
    false
}

/// tower's `timeout::error::Elapsed` or tokio's `time::error::Elapsed`.
fn is_timeout_elapsed(link: &(dyn StdError + 'static)) -> bool {
    link.is::<tower_timeout::Elapsed>() || link.is::<tokio::time::error::Elapsed>()
}

/// A connector refused the URI before connecting: the same URI fails the
/// same way every time. Their error types are private or foreign, so their
/// messages are the only evidence; each is an error with no cause, and is
/// read only under the connector.
///
/// - hyper-util 0.1.21 `connect/http.rs` (`HttpConnector::call_async`,
///   `get_host_port`): a `ConnectError` whose message starts "invalid URL"
///   (`INVALID_NOT_HTTP` "invalid URL, scheme is not http",
///   `INVALID_MISSING_SCHEME`, `INVALID_MISSING_HOST`).
/// - hyper-rustls 0.27 `connector.rs` (`HttpsConnector::call`), before it
///   calls the inner connector: `io::Error::other("unsupported scheme
///   {scheme}")` for `http` on an `https_only()` connector or any scheme
///   but http and https, `io::Error::other("missing scheme")`, and the
///   error of its `ResolveServerName`: the default one
///   (`DefaultServerNameResolver`) returns rustls-pki-types'
///   `InvalidDnsNameError`, "invalid dns name" (`server_name.rs`:
///   `ServerName::try_from` for a host that is neither a valid DNS name nor
///   an IP address, such as `bad_name!` or `300.1.1.1`).
///
/// - hyper-tls `client.rs` (`HttpsConnector::call`): an `https_only`
///   connector refuses a URI that is not https with
///   `ForceHttpsButUriNotHttps`, "https required but URI was not https"
///   (read in its source, not built here: native-tls needs OpenSSL).
///
/// After connecting, hyper-rustls' errors are tokio-rustls' io errors
/// (wrapped in `io::Error::other`), whose kinds the walk reads: a rejected
/// certificate is `InvalidData`, a handshake cut short `UnexpectedEof`.
fn is_refused_before_connecting(link: &(dyn StdError + 'static)) -> bool {
    if link.source().is_some() {
        return false;
    }
    let message = link.to_string();
    message.starts_with("invalid URL")
        || message.starts_with("unsupported scheme ")
        || message == "missing scheme"
        || message == "invalid dns name"
        || message == "https required but URI was not https"
}

/// tower's timeout error, named apart so the walk reads plainly.
mod tower_timeout {
    pub(super) use tower::timeout::error::Elapsed;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    /// An error with a message and an optional cause, as hyper-util's
    /// `ConnectError` is.
    #[derive(Debug)]
    struct Message(&'static str, Option<io::Error>);

    impl fmt::Display for Message {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Message {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_ref().map(|e| e as _)
        }
    }

    fn io(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "test")
    }

    #[test]
    fn at_the_connector_transient_failures_are_connect() {
        use io::ErrorKind::*;
        for kind in [
            ConnectionRefused,
            ConnectionReset,
            ConnectionAborted,
            TimedOut,
            HostUnreachable,
            NetworkUnreachable,
            AddrNotAvailable,
            NotConnected,
            UnexpectedEof,
        ] {
            let error = Message("tcp connect error", Some(io(kind)));
            assert_eq!(
                classify_connector_error(&error),
                ErrorClass::Connect,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn at_the_connector_permanent_failures_are_other() {
        use io::ErrorKind::*;
        for kind in [InvalidInput, InvalidData, PermissionDenied, Unsupported] {
            let error = Message("tls handshake", Some(io(kind)));
            assert_eq!(
                classify_connector_error(&error),
                ErrorClass::Other,
                "{kind:?}"
            );
        }
        let not_http = Message("invalid URL, scheme is not http", None);
        assert_eq!(classify_connector_error(&not_http), ErrorClass::Other);
    }

    #[test]
    fn at_the_connector_hyper_rustls_refusals_are_other() {
        // As hyper-rustls 0.27 `HttpsConnector::call` returns them, boxed:
        // an io error wrapping a message, or the resolver's own error.
        type BoxError = Box<dyn StdError + Send + Sync>;
        for message in [
            "unsupported scheme http",
            "unsupported scheme ftp",
            "missing scheme",
        ] {
            let boxed: BoxError = io::Error::other(message).into();
            assert_eq!(
                classify_connector_error(&*boxed),
                ErrorClass::Other,
                "{message}"
            );
            // Outside the connector, the message proves nothing.
            assert_eq!(classify(&*boxed), ErrorClass::Other, "{message}");
        }
        let dns = Message("invalid dns name", None);
        assert_eq!(classify_connector_error(&dns), ErrorClass::Other);
        // hyper-tls' `ForceHttpsButUriNotHttps`.
        let not_https = Message("https required but URI was not https", None);
        assert_eq!(classify_connector_error(&not_https), ErrorClass::Other);
        // The same words with a cause are somebody else's error.
        let caused = Message(
            "invalid dns name",
            Some(io(io::ErrorKind::ConnectionRefused)),
        );
        assert_eq!(classify_connector_error(&caused), ErrorClass::Connect);
    }

    #[test]
    fn at_the_connector_a_failure_without_evidence_is_connect() {
        // hyper-util's "dns error" over getaddrinfo's io error of no kind.
        let dns = Message(
            "dns error",
            Some(io::Error::other("failed to lookup address")),
        );
        assert_eq!(classify_connector_error(&dns), ErrorClass::Connect);
        // An "invalid URL" message counts only under the connector.
        let bare = Message("invalid URL, scheme is not http", None);
        assert_eq!(classify(&bare), ErrorClass::Other);
    }

    #[test]
    fn a_timer_that_fired_anywhere_in_the_chain_is_a_timeout() {
        let tower = tower::timeout::error::Elapsed::new();
        assert!(is_timeout(&tower));
        let wrapped = io::Error::other(tower::timeout::error::Elapsed::new());
        assert!(is_timeout(&wrapped));
        let timed_out = Message("tcp connect error", Some(io(io::ErrorKind::TimedOut)));
        assert!(is_timeout(&timed_out));
        let reset = Message("connection error", Some(io(io::ErrorKind::ConnectionReset)));
        assert!(!is_timeout(&reset));
        assert!(!is_timeout(&Message("no cause", None)));
    }

    #[tokio::test]
    async fn tokios_elapsed_is_a_timeout() {
        let elapsed = tokio::time::timeout(std::time::Duration::ZERO, std::future::pending::<()>())
            .await
            .unwrap_err();
        assert!(is_timeout(&elapsed));
    }

    #[test]
    fn a_timeout_around_an_attempt_is_a_lost_connection() {
        let tower = tower::timeout::error::Elapsed::new();
        assert_eq!(classify(&tower), ErrorClass::ConnectionLost);
        let boxed: Box<dyn StdError + Send + Sync> = Box::new(tower);
        assert_eq!(classify(&*boxed), ErrorClass::ConnectionLost);
        // ...and a failed connect when it was around the connector.
        let tower = tower::timeout::error::Elapsed::new();
        assert_eq!(classify_connector_error(&tower), ErrorClass::Connect);
    }

    #[test]
    fn the_error_an_io_error_wraps_is_read() {
        // `io::Error::source()` skips the error it wraps (it returns that
        // error's own source, here none), so only reading the wrapped error
        // finds the "invalid URL".
        let wrapped = io::Error::other(Message("invalid URL, scheme is not http", None));
        assert!(wrapped.source().is_none());
        assert_eq!(classify_connector_error(&wrapped), ErrorClass::Other);
    }

    // The walk under tonic's `transport::Error`, with a look-alike of it
    // that takes any cause (tonic builds its own only inside a `Channel`):
    // without the `tonic` feature, where its shape is what is read. With
    // the feature only the real type counts; `tests/tonic.rs` and
    // `tests/tonic_feature.rs` run real channels, and `shapes.rs` pins the
    // shapes to the real types.
    #[cfg(not(feature = "tonic"))]
    use crate::classify::shapes::lookalikes::TonicTransport;
    #[cfg(not(feature = "tonic"))]
    use ::tonic::ConnectError;

    #[cfg(not(feature = "tonic"))]
    fn tonic_connect(cause: Message) -> TonicTransport {
        TonicTransport(Box::new(ConnectError(Box::new(cause))))
    }

    #[cfg(not(feature = "tonic"))]
    #[test]
    fn under_tonics_connect_error_the_connector_failed() {
        let dns = Message("dns error", Some(io::Error::other("no such host")));
        assert_eq!(classify(&tonic_connect(dns)), ErrorClass::Connect);
        let timeout = Message("tcp connect error", Some(io(io::ErrorKind::TimedOut)));
        assert_eq!(classify(&tonic_connect(timeout)), ErrorClass::Connect);
        // Permanent failures stay permanent there, tonic's own included.
        let certificate = Message("tls handshake", Some(io(io::ErrorKind::InvalidData)));
        assert_eq!(classify(&tonic_connect(certificate)), ErrorClass::Other);
        for message in [
            "Connecting to HTTPS without TLS enabled",
            "HTTP/2 was not negotiated.",
        ] {
            let permanent = tonic_connect(Message(message, None));
            assert_eq!(classify(&permanent), ErrorClass::Other, "{message}");
        }
        let handshake_timeout = tonic_connect(Message("TLS handshake timeout.", None));
        assert_eq!(classify(&handshake_timeout), ErrorClass::Connect);
        // hyper-timeout's connect timeout, right under tonic's error.
        let elapsed = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(async {
                let never = std::future::pending::<()>();
                tokio::time::timeout(std::time::Duration::ZERO, never).await
            })
            .unwrap_err();
        let timed_out = TonicTransport(Box::new(io::Error::new(io::ErrorKind::TimedOut, elapsed)));
        assert_eq!(classify(&timed_out), ErrorClass::Connect);
    }

    #[cfg(not(feature = "tonic"))]
    #[test]
    fn under_tonics_error_its_own_timeout_is_a_lost_connection() {
        // `Endpoint::timeout` (or the call's `grpc-timeout`) fired: the
        // call may have been written, as under tower's `Elapsed`.
        let expired = TonicTransport(Box::new(::tonic::TimeoutExpired(())));
        assert_eq!(classify(&expired), ErrorClass::ConnectionLost);
        // Alone, it proves nothing.
        assert_eq!(classify(&::tonic::TimeoutExpired(())), ErrorClass::Other);
    }

    #[cfg(not(feature = "tonic"))]
    #[test]
    fn tonics_shapes_count_only_where_a_channel_puts_them() {
        // A `ConnectError` with no tonic error above it: the io kind alone.
        let alone = ConnectError(Box::new(io(io::ErrorKind::TimedOut)));
        assert_eq!(classify(&alone), ErrorClass::ConnectionLost);
        // ...or below another link (tower's buffer error, say).
        let deeper = TonicTransport(Box::new(Message(
            "buffered service failed",
            Some(io::Error::other(ConnectError(Box::new(io(
                io::ErrorKind::TimedOut,
            ))))),
        )));
        assert_eq!(classify(&deeper), ErrorClass::ConnectionLost);
        // A bare timed-out io error under tonic's error: no `Elapsed` in it.
        let bare = TonicTransport(Box::new(io(io::ErrorKind::TimedOut)));
        assert_eq!(classify(&bare), ErrorClass::ConnectionLost);
        // Under the connector already, tonic's error is not read again.
        let dns = Message("dns error", Some(io::Error::other("no such host")));
        assert_eq!(
            classify_connector_error(&tonic_connect(dns)),
            ErrorClass::Connect
        );
    }

    #[test]
    fn caps_keep_each_place_to_what_it_can_know() {
        assert_eq!(
            cap(ErrorClass::Connect, Place::Transport),
            ErrorClass::ConnectionLost
        );
        assert_eq!(
            cap(ErrorClass::ConnectionLost, Place::Connector),
            ErrorClass::Connect
        );
        assert_eq!(
            cap(ErrorClass::Connect, Place::Unknown),
            ErrorClass::Connect
        );
        assert_eq!(cap(ErrorClass::Other, Place::Connector), ErrorClass::Other);
    }
}
