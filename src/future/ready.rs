//! [`Retry`]'s own `ready` and `oneshot`: the futures of the two calls
//! most code makes on a service, with the request's bounds written where
//! the compiler reports them.
//!
//! Through tower's `ServiceExt`, a request type the layer cannot send again
//! (one that is not [`CloneRequest`], such as a bare `SocketAddr`) fails
//! with E0599, "the method `ready` exists ... but its trait bounds were not
//! satisfied", which names neither the missing trait nor the fix: rustc
//! reports only the bound of `ServiceExt`'s blanket impl
//! (`Retry<..>: Service<_>`), not the bound of our impl that failed. An
//! inherent method is found before a trait's, and its own bounds are
//! reported one by one, each with its trait's `on_unimplemented` message
//! ("wrap it in `Retryable::idempotent(request)`").

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use crate::classify::classifier::Classify;
use crate::future::response::ResponseFuture;
use crate::request::{CloneRequest, RecordAttempts};
use crate::service::Retry;

// The methods stand with their futures: `service.rs` names neither, so
// `Retry` does not import the futures that hold it.
impl<S, C> Retry<S, C> {
    /// Waits until the service is ready for a `Req`, as tower's
    /// `ServiceExt::ready` (which this shadows, for a concrete `Retry`):
    /// the same future, with the request's bounds stated here, so that a
    /// request the layer cannot send again fails to compile with a message
    /// that names the fix ([`Retryable`](crate::Retryable), or a replayable
    /// body), where `ServiceExt` reports only "trait bounds were not
    /// satisfied".
    ///
    /// ```compile_fail,E0277
    /// # async fn dial() -> std::io::Result<()> {
    /// use std::net::SocketAddr;
    /// use tower::{service_fn, Service};
    /// use tower_conn_retry::{Retry, RetryPolicy};
    ///
    /// let dialer = service_fn(|addr: SocketAddr| tokio::net::TcpStream::connect(addr));
    /// let mut dialer = Retry::new(dialer, RetryPolicy::default());
    /// let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    /// // error[E0277]: the retry layer cannot send a `SocketAddr` again
    /// // note: ... wrap it in `Retryable::idempotent(request)`
    /// let stream = dialer.ready().await?.call(addr).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// The fix, a [`Retryable`](crate::Retryable) request:
    ///
    /// ```
    /// # async fn dial() -> std::io::Result<()> {
    /// use std::net::SocketAddr;
    /// use tower::{service_fn, Service};
    /// use tower_conn_retry::{Retry, RetryPolicy, Retryable};
    ///
    /// let dialer = service_fn(|addr: Retryable<SocketAddr>| {
    ///     tokio::net::TcpStream::connect(addr.into_inner())
    /// });
    /// let mut dialer = Retry::new(dialer, RetryPolicy::default());
    /// let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    /// let stream = dialer.ready().await?.call(Retryable::idempotent(addr)).await?;
    /// # Ok(()) }
    /// ```
    pub fn ready<Req>(&mut self) -> Ready<'_, S, C, Req>
    where
        Req: CloneRequest + RecordAttempts<S::Response>,
        S: Service<Req> + Clone,
        S::Error: fmt::Debug,
        C: Classify<S::Error, Req>,
    {
        Ready::new(self)
    }

    /// Waits until the service is ready, sends `request` and resolves to
    /// its response, as tower's `ServiceExt::oneshot` (which this shadows,
    /// for a concrete `Retry`, for the reason [`ready`](Self::ready) gives).
    /// The same holds for a `Retry` built by `ServiceBuilder::service`:
    ///
    /// ```compile_fail,E0277
    /// # async fn dial() -> std::io::Result<()> {
    /// use std::net::SocketAddr;
    /// use tower::{service_fn, ServiceBuilder};
    /// use tower_conn_retry::{RetryLayer, RetryPolicy};
    ///
    /// let dialer = ServiceBuilder::new()
    ///     .layer(RetryLayer::new(RetryPolicy::default()))
    ///     .service(service_fn(|addr: SocketAddr| tokio::net::TcpStream::connect(addr)));
    /// let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    /// // error[E0277]: the retry layer cannot send a `SocketAddr` again
    /// let stream = dialer.oneshot(addr).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// With a [`Retryable`](crate::Retryable) request it compiles:
    ///
    /// ```
    /// # async fn dial() -> std::io::Result<()> {
    /// use std::net::SocketAddr;
    /// use tower::{service_fn, ServiceBuilder};
    /// use tower_conn_retry::{RetryLayer, RetryPolicy, Retryable};
    ///
    /// let dialer = ServiceBuilder::new()
    ///     .layer(RetryLayer::new(RetryPolicy::default()))
    ///     .map_request(Retryable::into_inner)
    ///     .service(service_fn(|addr: SocketAddr| tokio::net::TcpStream::connect(addr)));
    /// let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    /// let stream = dialer.oneshot(Retryable::idempotent(addr)).await?;
    /// # Ok(()) }
    /// ```
    pub fn oneshot<Req>(self, request: Req) -> Oneshot<S, C, Req>
    where
        Req: CloneRequest + RecordAttempts<S::Response>,
        S: Service<Req> + Clone,
        S::Error: fmt::Debug,
        C: Classify<S::Error, Req>,
    {
        Oneshot::new(self, request)
    }
}

/// The future of [`Retry::ready`]: the service, once it is ready for a
/// `Req`. As tower's `ServiceExt::ready`.
#[must_use = "futures do nothing unless polled"]
pub struct Ready<'a, S, C, Req> {
    service: Option<&'a mut Retry<S, C>>,
    _request: PhantomData<fn(Req)>,
}

impl<'a, S, C, Req> Ready<'a, S, C, Req> {
    fn new(service: &'a mut Retry<S, C>) -> Self {
        Self {
            service: Some(service),
            _request: PhantomData,
        }
    }
}

impl<'a, S, C, Req> Future for Ready<'a, S, C, Req>
where
    Req: CloneRequest + RecordAttempts<S::Response>,
    S: Service<Req> + Clone,
    S::Error: fmt::Debug,
    C: Classify<S::Error, Req>,
{
    type Output = Result<&'a mut Retry<S, C>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Ready` holds only a reference: it is `Unpin`.
        let Some(service) = self.service.as_mut() else {
            panic!("`Ready` polled after it completed");
        };
        ready!(Service::<Req>::poll_ready(&mut **service, cx))?;
        Poll::Ready(Ok(self.service.take().expect("checked above")))
    }
}

impl<S, C, Req> fmt::Debug for Ready<'_, S, C, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready").finish_non_exhaustive()
    }
}

pin_project! {
    /// The future of [`Retry::oneshot`]: waits until the service is ready,
    /// sends the request and resolves to its response. As tower's
    /// `ServiceExt::oneshot`.
    #[must_use = "futures do nothing unless polled"]
    pub struct Oneshot<S, C, Req>
    where
        S: Service<Req>,
    {
        waiting: Option<(Retry<S, C>, Req)>,
        #[pin]
        sent: Option<ResponseFuture<S, Req, C>>,
    }
}

impl<S, C, Req> Oneshot<S, C, Req>
where
    S: Service<Req>,
{
    fn new(service: Retry<S, C>, request: Req) -> Self {
        Self {
            waiting: Some((service, request)),
            sent: None,
        }
    }
}

impl<S, C, Req> Future for Oneshot<S, C, Req>
where
    Req: CloneRequest + RecordAttempts<S::Response>,
    S: Service<Req> + Clone,
    S::Error: fmt::Debug,
    C: Classify<S::Error, Req>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some((service, _)) = this.waiting.as_mut() {
            ready!(Service::<Req>::poll_ready(service, cx))?;
            let (mut service, request) = this.waiting.take().expect("matched above");
            this.sent.set(Some(service.call(request)));
        }
        match this.sent.as_pin_mut() {
            Some(sent) => sent.poll(cx),
            // `waiting` is taken only where `sent` is set.
            None => unreachable!("a `Oneshot` holds its request or its response future"),
        }
    }
}

impl<S, C, Req> fmt::Debug for Oneshot<S, C, Req>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oneshot")
            .field("sent", &self.sent.is_some())
            .finish_non_exhaustive()
    }
}
