//! Future types

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use rand::rngs::SmallRng;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::classify::{Classify, ErrorClass};
use crate::policy::RetryPolicy;
use crate::request::CloneRequest;

pin_project! {
    /// The response future of [`Retry`](crate::Retry): attempt, classify,
    /// pause, attempt again.
    ///
    /// Dropping it at any point stops the work: a pending pause is a timer
    /// owned by this future, and no task is spawned, so nothing is left
    /// behind and no further attempt is made.
    pub struct ResponseFuture<S, Req, C>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future>,
        // The clone of the service this request was called on.
        service: S,
        // The copy of the request kept for the next attempt, if retrying is
        // possible at all.
        copy: Option<Req>,
        // Whether the request may be sent twice, read before it was sent.
        idempotent: bool,
        // The request to send once `service` is ready again.
        next: Option<Req>,
        policy: RetryPolicy<C>,
        // Retries made so far.
        retries: u32,
        // When the first attempt started; kept only when there is a deadline.
        started: Option<Instant>,
        // The previous pause, for decorrelated jitter.
        previous: Duration,
        // Made at the first retry, so a request that succeeds draws nothing.
        rng: Option<SmallRng>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // Waiting for the inner service's response.
        Called { #[pin] future: F },
        // Pausing before the next attempt. Boxed, so only a request that
        // retries pays for the timer and the future stays small.
        Pausing { sleep: Pin<Box<Sleep>> },
        // Driving the inner service's readiness before the next attempt.
        Readying,
    }
}

impl<S, Req, C> ResponseFuture<S, Req, C>
where
    S: Service<Req>,
{
    pub(crate) fn new(
        future: S::Future,
        service: S,
        copy: Option<Req>,
        idempotent: bool,
        policy: RetryPolicy<C>,
    ) -> Self {
        let started = match (&copy, policy.max_elapsed) {
            (Some(_), Some(_)) => Some(Instant::now()),
            _ => None,
        };
        let previous = policy.backoff.base;
        Self {
            state: State::Called { future },
            service,
            copy,
            idempotent,
            next: None,
            policy,
            retries: 0,
            started,
            previous,
            rng: None,
        }
    }
}

impl<S, Req, C> Future for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
    S::Error: fmt::Debug,
    C: Classify<S::Error>,
    Req: CloneRequest,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { future } => {
                    let error = match ready!(future.poll(cx)) {
                        Ok(response) => return Poll::Ready(Ok(response)),
                        Err(error) => error,
                    };
                    let decision = decide(
                        error,
                        this.policy,
                        this.copy,
                        *this.idempotent,
                        *this.retries,
                        *this.previous,
                        *this.started,
                        this.rng,
                    );
                    let (request, pause) = match decision {
                        Ok(retry) => retry,
                        Err(error) => return Poll::Ready(Err(error)),
                    };
                    *this.retries += 1;
                    *this.previous = pause;
                    *this.next = Some(request);
                    if pause.is_zero() {
                        this.state.set(State::Readying);
                    } else {
                        let sleep = Box::pin(tokio::time::sleep(pause));
                        this.state.set(State::Pausing { sleep });
                    }
                }
                StateProj::Pausing { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    // NOTE: the inner service is called only once its
                    // `poll_ready` said so; an error here is the service's
                    // own and is returned, not retried.
                    if let Err(error) = ready!(this.service.poll_ready(cx)) {
                        return Poll::Ready(Err(error));
                    }
                    let request = this.next.take().expect("a retry always has a request");
                    let future = this.service.call(request);
                    this.state.set(State::Called { future });
                }
            }
        }
    }
}

/// After a failed attempt: the request and pause of the next attempt, or
/// the error to return.
fn decide<E, Req, C>(
    error: E,
    policy: &RetryPolicy<C>,
    copy: &mut Option<Req>,
    idempotent: bool,
    retries: u32,
    previous: Duration,
    started: Option<Instant>,
    rng: &mut Option<SmallRng>,
) -> Result<(Req, Duration), E>
where
    E: fmt::Debug,
    C: Classify<E>,
    Req: CloneRequest,
{
    if policy.max_retries == 0 {
        return Err(error);
    }
    let class = policy.classifier.classify(&error);
    if !class.is_retryable(idempotent) {
        if class == ErrorClass::ConnectionLost {
            tracing::debug!(
                error = ?error,
                "connection lost after the request may have been sent; not retried, as the request is not idempotent"
            );
        }
        return Err(error);
    }
    let attempts = retries + 1;
    if retries >= policy.max_retries {
        tracing::warn!(
            attempts,
            class = class.as_str(),
            error = ?error,
            "connection failure; retries spent"
        );
        return Err(error);
    }
    let Some(kept) = copy.as_ref() else {
        tracing::debug!(error = ?error, "connection failure; the request could not be copied, not retried");
        return Err(error);
    };
    let rng = rng.get_or_insert_with(|| policy.jitter_rng());
    let pause = policy.backoff.delay(retries, previous, rng);
    if let (Some(started), Some(max_elapsed)) = (started, policy.max_elapsed) {
        if started.elapsed().saturating_add(pause) > max_elapsed {
            tracing::warn!(
                attempts,
                class = class.as_str(),
                error = ?error,
                pause_ms = pause.as_millis() as u64,
                max_elapsed_ms = max_elapsed.as_millis() as u64,
                "connection failure; the next pause would end past max_elapsed, retries spent"
            );
            return Err(error);
        }
    }
    // The last permitted retry sends the kept copy itself; earlier ones
    // send a copy of it.
    let request = if retries + 1 == policy.max_retries {
        copy.take()
    } else {
        kept.clone_request()
    };
    let Some(request) = request else {
        tracing::debug!(error = ?error, "connection failure; the request could not be copied, not retried");
        return Err(error);
    };
    tracing::debug!(
        attempt = attempts + 1,
        class = class.as_str(),
        error = ?error,
        pause_ms = pause.as_millis() as u64,
        "connection failure; retrying"
    );
    Ok((request, pause))
}

impl<S, Req, C> fmt::Debug for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Called { .. } => "called",
            State::Pausing { .. } => "pausing",
            State::Readying => "readying",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}
