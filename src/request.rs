//! How a request is copied for a retry, and whether it may be sent twice.

use http::{Extensions, HeaderMap, Method, Request, Uri};

use crate::classify::classifier::is_idempotent;
use crate::replay::ReplayBody;

/// A request the layer can send again.
///
/// An `http::Request` with a `Clone` body (`Full<Bytes>`, `Empty<Bytes>`,
/// `String`, ...) is copied with `Request::clone` (method, URI, version,
/// headers, extensions and body); one with a [`ReplayBody`] part by part
/// around a replay of the body. A request is idempotent when its method is
/// (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) or when it carries an
/// `Idempotency-Key` header. A [`Uri`], the request of
/// a connector, is copied as it is and counts as idempotent: nothing has
/// been sent when a connection is being made.
///
/// Any other request type (a `SocketAddr` for a dialer, a query of your
/// own) needs no impl at all: wrap it in [`Retryable`]. Or implement
/// `CloneRequest` for a type of your own (with a no-op
/// [`RecordAttempts`], below), to give the layer its authority for the
/// events and the per-authority budget.
///
/// # Compile errors
///
/// A request that cannot be copied does not compile, and the error names
/// the fix: for a body that is not `Clone` (`hyper::body::Incoming`,
/// `tonic::body::Body`), [`ReplayBody`]; for another type, [`Retryable`].
///
/// ```compile_fail
/// use tower::Service;
/// use tower_conn_retry::{Retry, RetryPolicy};
///
/// struct Streaming; // a body that is not `Clone`
///
/// fn assert_service<S: Service<http::Request<Streaming>>>(_: S) {}
///
/// let inner = tower::service_fn(|_: http::Request<Streaming>| async {
///     Ok::<_, std::io::Error>(http::Response::new(()))
/// });
/// assert_service(Retry::new(inner, RetryPolicy::default()));
/// // error[E0277]: the retry layer cannot send a `http::Request<Streaming>` again
/// //   = note: an `http::Request` whose body is not `Clone` (`hyper::body::Incoming`,
/// //     `tonic::body::Body`, a stream): wrap the body in `ReplayBody` ...
/// ```
///
/// # Example
///
/// ```
/// use tower_conn_retry::CloneRequest;
///
/// #[derive(Clone)]
/// struct Lookup {
///     key: String,
/// }
///
/// impl CloneRequest for Lookup {
///     fn clone_request(&self) -> Option<Self> {
///         Some(self.clone())
///     }
///
///     fn is_idempotent(&self) -> bool {
///         true // a read has no side effect
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "the retry layer cannot send a `{Self}` again",
    label = "`{Self}` does not implement `CloneRequest`",
    note = "an `http::Request` whose body is not `Clone` (`hyper::body::Incoming`, `tonic::body::Body`, a stream): wrap the body in `ReplayBody`: `request.map(|body| ReplayBody::new(body, 64 * 1024))`; or use a `Clone` body such as `Full<Bytes>`; around a tonic `Channel`, `tower_conn_retry::tonic::RetryChannel::new(channel, policy)` (feature `tonic`) does it all",
    note = "any other request type needs no impl: wrap it in `Retryable::idempotent(request)` (or `Retryable::not_idempotent`); for a type of your own, implement `CloneRequest` (and a no-op `RecordAttempts`)"
)]
pub trait CloneRequest: Sized {
    /// A copy to send on the next attempt, or `None` if this request cannot
    /// be sent again (then the error of the failed attempt is returned).
    fn clone_request(&self) -> Option<Self>;

    /// Whether sending this request twice has the effect of sending it once.
    /// Only idempotent requests are retried after
    /// [`ErrorClass::ConnectionLost`](crate::ErrorClass::ConnectionLost).
    fn is_idempotent(&self) -> bool;

    /// The request's method, URI, headers and extensions, for a policy's
    /// [`idempotent_when`](crate::RetryPolicyBuilder::idempotent_when)
    /// hook. `None` (the default) for a request that has no HTTP head.
    fn head(&self) -> Option<RequestHead<'_>> {
        None
    }

    /// The authority (host and port) the request goes to, named in the
    /// layer's events. By default, the head's URI's.
    fn authority(&self) -> Option<&http::uri::Authority> {
        self.head().and_then(|head| head.uri.authority())
    }

    /// The scheme the request goes to which, with its
    /// [`authority`](Self::authority), names the per-authority
    /// [`RetryBudget`](crate::RetryBudget) it draws on. By default, the
    /// head's URI's.
    fn scheme(&self) -> Option<&http::uri::Scheme> {
        self.head().and_then(|head| head.uri.scheme())
    }
}

/// Tells the caller how many attempts a response took, on the response
/// itself: implemented by a request type for the responses of its
/// services.
///
/// For `http::Request`, a response that took more than one attempt carries
/// an [`Attempts`] extension (a response without one took exactly one, so
/// the happy path adds nothing). A `Uri` (the connector placement) records
/// nothing, nor does a [`Retryable`]. For a request type of your own, a
/// no-op does:
///
/// ```
/// use tower_conn_retry::RecordAttempts;
///
/// struct Lookup;
///
/// impl<Resp> RecordAttempts<Resp> for Lookup {
///     fn record_attempts(_: &mut Resp, _: u32) {}
/// }
/// ```
///
/// Without it, the error says so:
///
/// ```compile_fail
/// use tower::Service;
/// use tower_conn_retry::{CloneRequest, Retry, RetryPolicy};
///
/// #[derive(Clone)]
/// struct Lookup;
///
/// impl CloneRequest for Lookup {
///     fn clone_request(&self) -> Option<Self> {
///         Some(self.clone())
///     }
///     fn is_idempotent(&self) -> bool {
///         true
///     }
/// }
///
/// fn assert_service<S: Service<Lookup>>(_: S) {}
///
/// let inner = tower::service_fn(|_: Lookup| async { Ok::<_, std::io::Error>(7u32) });
/// assert_service(Retry::new(inner, RetryPolicy::default()));
/// // error[E0277]: the retry layer cannot tell a `u32` how many attempts a `Lookup` took
/// //   = note: for a request type of your own, a no-op does: `impl<Resp> RecordAttempts<Resp> for Lookup ...`
/// ```
#[diagnostic::on_unimplemented(
    message = "the retry layer cannot tell a `{Resp}` how many attempts a `{Self}` took",
    label = "`{Self}` does not implement `RecordAttempts<{Resp}>`",
    note = "for a request type of your own, a no-op does: `impl<Resp> RecordAttempts<Resp> for {Self} {{ fn record_attempts(_: &mut Resp, _: u32) {{}} }}`; or wrap the request in `Retryable`, which needs no impl at all",
    note = "an `http::Request` records attempts on an `http::Response` only; for another response type, implement `RecordAttempts<{Resp}>` for the `http::Request` (a no-op is fine)"
)]
pub trait RecordAttempts<Resp> {
    /// Records on `response` that it took `attempts` attempts (at least 2).
    fn record_attempts(response: &mut Resp, attempts: u32);
}

impl<B, ResBody> RecordAttempts<http::Response<ResBody>> for Request<B> {
    fn record_attempts(response: &mut http::Response<ResBody>, attempts: u32) {
        response.extensions_mut().insert(Attempts(attempts));
    }
}

impl<Resp> RecordAttempts<Resp> for Uri {
    fn record_attempts(_: &mut Resp, _: u32) {}
}

/// A request of any `Clone` type, ready for the retry layer with no impl of
/// your own: a retry sends a clone. It records no [`Attempts`]. Name its
/// destination with [`to`](Retryable::to): unnamed, its retries draw on the
/// one budget and gate shared by every request without an authority, so a
/// dead peer's failing connects would make the retries to a healthy one
/// wait for its probes.
///
/// Say whether the request may be sent twice: [`Retryable::idempotent`]
/// requests are also retried after
/// [`ConnectionLost`](crate::ErrorClass::ConnectionLost) (a connect, a
/// read), [`Retryable::not_idempotent`] ones only after a failure that
/// proves nothing was sent ([`Connect`](crate::ErrorClass::Connect),
/// [`NotProcessed`](crate::ErrorClass::NotProcessed)).
///
/// # Example
///
/// A dialer is a `Service<SocketAddr>`; under the layer, it takes a
/// `Retryable<SocketAddr>` (`examples/tcp_dialer.rs` runs one against a
/// loopback listener that starts late):
///
/// ```no_run
/// use std::net::SocketAddr;
///
/// use tower::{service_fn, Service, ServiceBuilder};
/// use tower_conn_retry::{RetryLayer, RetryPolicy, Retryable};
///
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let dialer = service_fn(|addr: SocketAddr| tokio::net::TcpStream::connect(addr));
/// let mut dialer = ServiceBuilder::new()
///     .layer(RetryLayer::new(RetryPolicy::default()))
///     .map_request(Retryable::into_inner)
///     .service(dialer);
///
/// let addr: SocketAddr = "127.0.0.1:7000".parse().unwrap();
/// let stream = dialer.ready().await?.call(Retryable::idempotent(addr)).await?;
/// # let _ = stream;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Retryable<T> {
    request: T,
    idempotent: bool,
    destination: Option<http::uri::Authority>,
}

impl<T> Retryable<T> {
    /// A request that may be sent twice (connecting, reading): retried
    /// after every retryable [`ErrorClass`](crate::ErrorClass).
    pub const fn idempotent(request: T) -> Self {
        Retryable {
            request,
            idempotent: true,
            destination: None,
        }
    }

    /// A request that must not be sent twice: retried only when the error
    /// proves it was not sent.
    pub const fn not_idempotent(request: T) -> Self {
        Retryable {
            request,
            idempotent: false,
            destination: None,
        }
    }

    /// Names where the request goes (host and port), so that it draws on
    /// that destination's own budget and gate: without a name, every
    /// `Retryable` request of a policy shares one, whatever its
    /// destination, and a dead peer's failing connects make the retries to
    /// a healthy one wait for its probes.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use http::uri::Authority;
    /// use tower_conn_retry::Retryable;
    ///
    /// let addr: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    /// let request = Retryable::idempotent(addr)
    ///     .to(Authority::try_from(addr.to_string()).unwrap());
    /// # let _ = request;
    /// ```
    #[must_use = "a Retryable is a value: use the one this returns"]
    pub fn to(mut self, destination: http::uri::Authority) -> Self {
        self.destination = Some(destination);
        self
    }

    /// The request.
    pub const fn get_ref(&self) -> &T {
        &self.request
    }

    /// The request, for the inner service (`map_request(Retryable::into_inner)`).
    pub fn into_inner(self) -> T {
        self.request
    }
}

impl<T: Clone> CloneRequest for Retryable<T> {
    fn clone_request(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn is_idempotent(&self) -> bool {
        self.idempotent
    }

    fn authority(&self) -> Option<&http::uri::Authority> {
        self.destination.as_ref()
    }
}

impl<T, Resp> RecordAttempts<Resp> for Retryable<T> {
    fn record_attempts(_: &mut Resp, _: u32) {}
}

/// How many attempts an HTTP response took, when more than one: an
/// extension on the `http::Response` the layer returns.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::io;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use tower::{service_fn, Service};
/// use tower_conn_retry::{Attempts, Backoff, Retry, RetryPolicy};
///
/// let calls = Arc::new(AtomicUsize::new(0));
/// let flaky = service_fn(move |_: http::Request<String>| {
///     let call = calls.fetch_add(1, Ordering::SeqCst);
///     async move {
///         if call < 2 {
///             return Err(io::Error::from(io::ErrorKind::ConnectionRefused));
///         }
///         Ok(http::Response::new(String::new()))
///     }
/// });
/// let policy = RetryPolicy::builder().backoff(Backoff::none()).build().unwrap();
/// let mut service = Retry::new(flaky, policy);
/// let response = service.ready().await.unwrap().call(http::Request::new(String::new())).await.unwrap();
/// assert_eq!(response.extensions().get::<Attempts>().map(|a| a.get()), Some(3));
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Attempts(pub(crate) u32);

impl Attempts {
    /// The number of attempts, retries included (at least 2).
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// The head of an HTTP request, as a policy's
/// [`idempotent_when`](crate::RetryPolicyBuilder::idempotent_when) hook
/// sees it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URI.
    pub uri: &'a Uri,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The extensions, where a caller may have tagged the request.
    pub extensions: &'a Extensions,
}

impl<'a, B> From<&'a Request<B>> for RequestHead<'a> {
    fn from(request: &'a Request<B>) -> Self {
        RequestHead {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }
}

/// Whether an HTTP request may be sent twice by its own account: its method
/// is idempotent (RFC 9110, section 9.2.2), or it carries an
/// `Idempotency-Key` header (IETF httpapi draft
/// "The Idempotency-Key HTTP Header Field"; Go's `net/http` treats such
/// requests as replayable too), by which the server recognizes a repeat.
fn request_is_idempotent<B>(request: &Request<B>) -> bool {
    is_idempotent(request.method()) || request.headers().contains_key(&IDEMPOTENCY_KEY)
}

/// The `Idempotency-Key` header's name, made once: looking it up by a
/// `&str` would parse and lower-case the name on every request.
pub(crate) const IDEMPOTENCY_KEY: http::HeaderName =
    http::HeaderName::from_static("idempotency-key");

// `do_not_recommend`: a body that is not `Clone` is reported as the
// request not implementing `CloneRequest`, whose message names
// `ReplayBody`, not as a bare "`B: Clone` is not satisfied".
#[diagnostic::do_not_recommend]
impl<B: Clone> CloneRequest for Request<B> {
    fn clone_request(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn is_idempotent(&self) -> bool {
        request_is_idempotent(self)
    }

    fn head(&self) -> Option<RequestHead<'_>> {
        Some(self.into())
    }

    // Read from the URI directly: the happy path names the authority of
    // every request (its budget), without building a head.
    #[inline]
    fn authority(&self) -> Option<&http::uri::Authority> {
        self.uri().authority()
    }

    #[inline]
    fn scheme(&self) -> Option<&http::uri::Scheme> {
        self.uri().scheme()
    }
}

/// A streaming body wrapped in [`ReplayBody`] can be sent again while its
/// recording holds everything read so far (see its docs).
impl<B> CloneRequest for Request<ReplayBody<B>> {
    fn clone_request(&self) -> Option<Self> {
        Some(with_body(self, self.body().replay()?))
    }

    fn is_idempotent(&self) -> bool {
        request_is_idempotent(self)
    }

    fn head(&self) -> Option<RequestHead<'_>> {
        Some(self.into())
    }

    // Read from the URI directly: the happy path names the authority of
    // every request (its budget), without building a head.
    #[inline]
    fn authority(&self) -> Option<&http::uri::Authority> {
        self.uri().authority()
    }

    #[inline]
    fn scheme(&self) -> Option<&http::uri::Scheme> {
        self.uri().scheme()
    }
}

/// A copy of `request`'s method, URI, version, headers and extensions
/// around `body`.
fn with_body<B, B2>(request: &Request<B>, body: B2) -> Request<B2> {
    let mut copy = Request::new(body);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    copy
}

impl CloneRequest for Uri {
    fn clone_request(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn is_idempotent(&self) -> bool {
        true
    }

    fn authority(&self) -> Option<&http::uri::Authority> {
        Uri::authority(self)
    }

    fn scheme(&self) -> Option<&http::uri::Scheme> {
        Uri::scheme(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{header, Method, Version};

    #[derive(Clone, Debug, PartialEq)]
    struct Tag(&'static str);

    #[test]
    fn a_request_copy_keeps_every_part() {
        let mut request = Request::builder()
            .method(Method::PUT)
            .uri("http://127.0.0.1:8080/items/7?x=1")
            .version(Version::HTTP_11)
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-trace", "abc")
            .body(String::from("{\"n\":7}"))
            .unwrap();
        request.extensions_mut().insert(Tag("kept"));

        let copy = request.clone_request().expect("a Clone body can be copied");
        assert_eq!(copy.method(), Method::PUT);
        assert_eq!(copy.uri(), request.uri());
        assert_eq!(copy.version(), Version::HTTP_11);
        assert_eq!(copy.headers(), request.headers());
        assert_eq!(copy.extensions().get::<Tag>(), Some(&Tag("kept")));
        assert_eq!(copy.body(), "{\"n\":7}");
    }

    #[test]
    fn an_idempotency_key_makes_any_method_idempotent() {
        for method in [Method::POST, Method::PATCH] {
            let keyed = Request::builder()
                .method(method.clone())
                .header("Idempotency-Key", "8e03978e-40d5-43e8-bc93-6894a57f9324")
                .body(())
                .unwrap();
            assert!(keyed.is_idempotent(), "{method}");
            let plain = Request::builder().method(method.clone()).body(()).unwrap();
            assert!(!plain.is_idempotent(), "{method}");
        }
    }

    /// A service of `Retryable<u16>` that fails with `errors`, in order,
    /// then answers; and the number of calls it got.
    fn failing(
        errors: Vec<std::io::ErrorKind>,
    ) -> (
        impl tower::Service<Retryable<u16>, Response = u16, Error = std::io::Error> + Clone,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use std::sync::atomic::Ordering;
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&calls);
        let errors = std::sync::Arc::new(errors);
        let service = tower::service_fn(move |request: Retryable<u16>| {
            let call = counted.fetch_add(1, Ordering::SeqCst);
            let error = errors.get(call).copied();
            async move {
                match error {
                    Some(kind) => Err(std::io::Error::from(kind)),
                    None => Ok(request.into_inner()),
                }
            }
        });
        (service, calls)
    }

    fn no_pause() -> crate::RetryPolicy {
        crate::RetryPolicy::builder()
            .backoff(crate::Backoff::none())
            .no_budget()
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_retryable_request_is_sent_again_with_no_impl_of_its_own() {
        use std::io::ErrorKind::ConnectionRefused;
        use tower::Service;

        let (inner, calls) = failing(vec![ConnectionRefused, ConnectionRefused]);
        let mut service = crate::Retry::new(inner, no_pause());
        let answer = service
            .ready()
            .await
            .unwrap()
            .call(Retryable::not_idempotent(7))
            .await;
        assert_eq!(answer.unwrap(), 7);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_retryable_says_whether_it_may_be_sent_twice() {
        use std::io::ErrorKind::ConnectionReset;
        use tower::Service;

        // A lost connection may have delivered the request: only an
        // idempotent one is sent again.
        let (inner, calls) = failing(vec![ConnectionReset]);
        let mut service = crate::Retry::new(inner, no_pause());
        let answer = service
            .ready()
            .await
            .unwrap()
            .call(Retryable::not_idempotent(7))
            .await;
        assert_eq!(answer.unwrap_err().kind(), ConnectionReset);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        let (inner, calls) = failing(vec![ConnectionReset]);
        let mut service = crate::Retry::new(inner, no_pause());
        let answer = service
            .ready()
            .await
            .unwrap()
            .call(Retryable::idempotent(7))
            .await;
        assert_eq!(answer.unwrap(), 7);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn idempotency_follows_the_method() {
        let get = Request::get("/").body(()).unwrap();
        let post = Request::post("/").body(()).unwrap();
        assert!(get.is_idempotent());
        assert!(!post.is_idempotent());
        assert!("http://127.0.0.1/".parse::<Uri>().unwrap().is_idempotent());
    }
}
