//! Future types

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use std::sync::Arc;

use pin_project_lite::pin_project;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tower_service::Service;

use crate::backoff::saturating_nanos;
use crate::classify::{Classify, ErrorClass};
use crate::policy::RetryPolicy;
use crate::report::{GiveUp, Target};
use crate::request::{CloneRequest, RecordAttempts};
use crate::timer::{NoTimer, Pause};

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
        state: State<S::Future, Req>,
        // The clone of the service this request was called on.
        service: S,
        retries: Retries<Req, C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, Req> {
        // Waiting for the inner service's response.
        Called { #[pin] future: F },
        // Pausing before sending `request`. The timer and the request are
        // boxed, so only a request that retries pays for them and the
        // future of one that succeeds stays small.
        Pausing { pause: Pause, request: Option<Box<Req>> },
        // Driving the inner service's readiness before sending `request`.
        Readying { request: Option<Box<Req>> },
    }
}

/// Retries without a pause made in one `poll` before the future yields to
/// the scheduler: `max_retries(u32::MAX)` with `Backoff::none()` against a
/// service that fails at once must not starve the other tasks.
const IMMEDIATE_RETRIES_PER_POLL: u32 = 32;

impl<S, Req, C> ResponseFuture<S, Req, C>
where
    S: Service<Req>,
{
    #[inline]
    pub(crate) fn new(
        future: S::Future,
        service: S,
        copy: Option<Req>,
        policy: Arc<RetryPolicy<C>>,
    ) -> Self {
        Self {
            state: State::Called { future },
            service,
            retries: Retries::new(copy, policy),
        }
    }
}

impl<S, Req, C> Future for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
    S::Error: fmt::Debug,
    C: Classify<S::Error, Req>,
    Req: CloneRequest + RecordAttempts<S::Response>,
{
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut immediate = 0;
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { future } => {
                    let error = match ready!(future.poll(cx)) {
                        Ok(mut response) => {
                            if this.retries.done > 0 {
                                Req::record_attempts(&mut response, this.retries.done + 1);
                            }
                            return Poll::Ready(Ok(response));
                        }
                        Err(error) => error,
                    };
                    let (request, pause) = match this.retries.next(error) {
                        Ok(retry) => retry,
                        Err(error) => return Poll::Ready(Err(error)),
                    };
                    let request = Some(Box::new(request));
                    match pause {
                        Some(pause) => this.state.set(State::Pausing { pause, request }),
                        None => {
                            this.state.set(State::Readying { request });
                            immediate += 1;
                            if immediate == IMMEDIATE_RETRIES_PER_POLL {
                                // Cooperate: let other tasks run, and come
                                // back at once.
                                cx.waker().wake_by_ref();
                                return Poll::Pending;
                            }
                        }
                    }
                }
                StateProj::Pausing { pause, request } => {
                    ready!(pause.as_mut().poll(cx));
                    let request = request.take();
                    this.state.set(State::Readying { request });
                }
                StateProj::Readying { request } => {
                    // NOTE: the inner service is called only once its
                    // `poll_ready` said so; an error here is the service's
                    // own and is returned, not retried.
                    if let Err(error) = ready!(this.service.poll_ready(cx)) {
                        return Poll::Ready(Err(error));
                    }
                    // Each state is left as soon as its request is taken.
                    let request = *request.take().expect("a retry state holds its request");
                    let future = this.service.call(request);
                    this.state.set(State::Called { future });
                }
            }
        }
    }
}

/// One request's retry bookkeeping: what is left of the policy's
/// allowance, and the copy of the request to send again.
struct Retries<Req, C> {
    policy: Arc<RetryPolicy<C>>,
    // The copy kept for the next attempts, if retrying is possible at all;
    // whether the request may be sent twice is read from it, when an error
    // asks, so a request that succeeds never pays for the question.
    copy: Option<Req>,
    // Retries made so far.
    done: u32,
    // When the first attempt started; kept only when there is a deadline.
    started: Option<Instant>,
    // The previous pause in nanoseconds, for decorrelated jitter; read only
    // once a retry was made (before the first, the base stands in for it).
    previous_ns: u64,
    // The jitter generator's seed for the next pause; drawn at the first
    // retry, so a request that succeeds draws nothing.
    rng_seed: u64,
}

impl<Req, C> Retries<Req, C> {
    #[inline]
    fn new(copy: Option<Req>, policy: Arc<RetryPolicy<C>>) -> Self {
        let started = match (&copy, policy.max_elapsed) {
            (Some(_), Some(_)) => Some(Instant::now()),
            _ => None,
        };
        Self {
            previous_ns: 0,
            policy,
            copy,
            done: 0,
            started,
            rng_seed: 0,
        }
    }

    /// After a failed attempt: the request and the pause (`None`: go at
    /// once) of the next attempt, or the error to return.
    fn next<E>(&mut self, error: E) -> Result<(Req, Option<Pause>), E>
    where
        E: fmt::Debug,
        C: Classify<E, Req>,
        Req: CloneRequest,
    {
        let policy = &*self.policy;
        if policy.max_retries == 0 {
            return Err(error);
        }
        let class = <C as Classify<E, Req>>::classify(&policy.classifier, &error);
        let target = target(self.copy.as_ref());
        // Idempotency decides only after a lost connection, so it is read
        // (from the kept copy) only then.
        let idempotent = class == ErrorClass::ConnectionLost
            && self
                .copy
                .as_ref()
                .is_some_and(|copy| policy.is_idempotent(copy));
        if !class.is_retryable(idempotent) {
            if class == ErrorClass::ConnectionLost {
                tracing::debug!(
                    method = target.method,
                    authority = target.authority,
                    error = ?error,
                    "connection lost after the request may have been sent; not retried, as the request is not idempotent"
                );
            }
            return Err(error);
        }
        let attempts = self.done + 1;
        if self.done >= policy.max_retries {
            policy
                .report
                .record(GiveUp::RetriesSpent, class, attempts, target, &error);
            return Err(error);
        }
        if self.done == 0 {
            self.rng_seed = policy.jitter_seed();
        }
        let mut rng = SmallRng::seed_from_u64(self.rng_seed);
        let previous = if self.done == 0 {
            policy.backoff.base()
        } else {
            Duration::from_nanos(self.previous_ns)
        };
        let pause = policy.backoff.delay(self.done, previous, &mut rng);
        self.rng_seed = rng.next_u64();
        if let (Some(started), Some(max_elapsed)) = (self.started, policy.max_elapsed) {
            if started.elapsed().saturating_add(pause) > max_elapsed {
                policy
                    .report
                    .record(GiveUp::Deadline, class, attempts, target, &error);
                return Err(error);
            }
        }
        // Every retry asks the kept copy for a fresh copy, so a request that
        // can no longer be sent again (a replay body past its limit) says so
        // on the last retry too.
        let Some(request) = self.copy.as_ref().and_then(CloneRequest::clone_request) else {
            tracing::debug!(
                method = target.method,
                authority = target.authority,
                error = ?error,
                "connection failure; the request could not be copied, not retried"
            );
            return Err(error);
        };
        if let Some(budget) = &policy.budget {
            if !budget.withdraw() {
                policy
                    .report
                    .record(GiveUp::Budget, class, attempts, target, &error);
                return Err(error);
            }
        }
        let timer = if pause.is_zero() {
            None
        } else {
            match policy.timer.pause(pause) {
                Ok(timer) => Some(timer),
                Err(NoTimer) => {
                    policy
                        .report
                        .record(GiveUp::NoTimer, class, attempts, target, &error);
                    return Err(error);
                }
            }
        };
        tracing::debug!(
            attempt = attempts + 1,
            class = class.as_str(),
            method = target.method,
            authority = target.authority,
            error = ?error,
            pause_ms = pause.as_millis() as u64,
            "connection failure; retrying"
        );
        self.done += 1;
        self.previous_ns = saturating_nanos(pause);
        // OpenTelemetry's `http.request.resend_count`, on the caller's span
        // if it declared the field (a no-op otherwise).
        tracing::Span::current().record("http.request.resend_count", self.done);
        Ok((request, timer))
    }
}

/// The method and authority of a request, for the events.
fn target<Req: CloneRequest>(request: Option<&Req>) -> Target<'_> {
    Target {
        method: request
            .and_then(CloneRequest::head)
            .map_or("", |head| head.method.as_str()),
        authority: request
            .and_then(CloneRequest::authority)
            .map_or("", |authority| authority.as_str()),
    }
}

impl<S, Req, C> fmt::Debug for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Called { .. } => "called",
            State::Pausing { .. } => "pausing",
            State::Readying { .. } => "readying",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("retries", &self.retries.done)
            .finish_non_exhaustive()
    }
}
