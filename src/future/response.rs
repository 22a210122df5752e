//! [`ResponseFuture`]: the future of [`Retry`](crate::Retry)'s `call`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use std::sync::Arc;

use pin_project_lite::pin_project;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::time::Instant;
use tower_service::Service;

use crate::admission::admit::{self, Admitted, Asking, Pending, Turn};
use crate::admission::authority::AuthorityState;
use crate::admission::gate::Outcome;
use crate::backoff::saturating_nanos;
use crate::classify::classifier::Classify;
use crate::classify::error_class::ErrorClass;
use crate::give_up::GiveUp;
use crate::observe::counters::Counters;
use crate::observe::report::{Failure, Target};
use crate::policy::RetryPolicy;
use crate::request::{CloneRequest, RecordAttempts};
use crate::timer::NoTimer;

/// The wait before a retry: its pause, then (under a budget) its turn at
/// the authority's gate. It ends with the time waited at the gate, or why
/// the retry may not go.
type Admit = Pin<Box<dyn Future<Output = Result<Admitted, GiveUp>> + Send + Sync>>;

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
        state: State<S::Future, S::Error>,
        // What sending the request again takes; `None` when no copy was
        // made, so a request that can never be resent keeps nothing else
        // (no clone of the service, no hold on the policy).
        resend: Option<Resend<S, Req, C>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, E> {
        // Waiting for the inner service's response.
        Called { #[pin] future: F },
        // Pausing, then waiting for the authority's turn, before the next
        // attempt, whose request waits in the retry progress. The failed
        // attempt's error is kept, to be returned if the retry may not go.
        Pausing { admit: Admit, error: Option<E> },
        // Driving the inner service's readiness before the next attempt.
        Readying,
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
    /// The future of a request that can be sent again through `resend`.
    #[inline]
    pub(crate) fn new(future: S::Future, resend: Resend<S, Req, C>) -> Self {
        Self {
            state: State::Called { future },
            resend: Some(resend),
        }
    }

    /// The future of a request that is sent once.
    #[inline]
    pub(crate) fn once(future: S::Future) -> Self {
        Self {
            state: State::Called { future },
            resend: None,
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
                    let mut result = ready!(future.poll(cx));
                    let Some(resend) = this.resend.as_mut() else {
                        return Poll::Ready(result);
                    };
                    let error = match result {
                        Ok(ref mut response) => {
                            let retries = resend.kept.retries();
                            if retries > 0 {
                                Req::record_attempts(response, retries + 1);
                                resend.counters().retry_success();
                                record_resend_count(retries);
                            }
                            resend.answered();
                            return Poll::Ready(result);
                        }
                        Err(error) => error,
                    };
                    match resend.next(error) {
                        Ok(Next::Later(admit, error)) => this.state.set(State::Pausing {
                            admit,
                            error: Some(error),
                        }),
                        Ok(Next::Now) => {
                            this.state.set(State::Readying);
                            immediate += 1;
                            if immediate == IMMEDIATE_RETRIES_PER_POLL {
                                // Cooperate: let other tasks run, and come
                                // back at once.
                                cx.waker().wake_by_ref();
                                return Poll::Pending;
                            }
                        }
                        Err(error) => {
                            record_resend_count(resend.kept.retries());
                            return Poll::Ready(Err(error));
                        }
                    }
                }
                StateProj::Pausing { admit, error } => {
                    let admitted = ready!(admit.as_mut().poll(cx));
                    let resend = this
                        .resend
                        .as_mut()
                        .expect("only a request that can be resent pauses");
                    match admitted {
                        Ok(admitted) => {
                            resend.admitted(admitted);
                            this.state.set(State::Readying);
                            immediate += 1;
                            if immediate >= IMMEDIATE_RETRIES_PER_POLL {
                                cx.waker().wake_by_ref();
                                return Poll::Pending;
                            }
                        }
                        Err(reason) => {
                            let error =
                                error.take().expect("the error is kept until the wait ends");
                            resend.give_up(reason, &error);
                            // The retry given up was never sent.
                            record_resend_count(resend.kept.retries().saturating_sub(1));
                            return Poll::Ready(Err(error));
                        }
                    }
                }
                StateProj::Readying => {
                    let resend = this
                        .resend
                        .as_mut()
                        .expect("only a request that can be resent retries");
                    // NOTE: the inner service is called only once its
                    // `poll_ready` said so; an error here is the service's
                    // own and is returned, not retried.
                    if let Err(error) = ready!(resend.service.poll_ready(cx)) {
                        // The retry readied was never sent: its turn goes
                        // back now, not when the future is dropped.
                        resend.not_sent();
                        record_resend_count(resend.kept.retries().saturating_sub(1));
                        return Poll::Ready(Err(error));
                    }
                    let request = resend.kept.take_next();
                    resend.count_retry();
                    crate::observe::attempt_count::record(&request, resend.kept.retries() + 1);
                    let future = resend.service.call(request);
                    this.state.set(State::Called { future });
                }
            }
        }
    }
}

/// What sending a request again takes: the clone of the service it was
/// called on, the policy, and the kept copy.
pub(crate) struct Resend<S, Req, C> {
    // The clone of the service this request was called on: its readiness
    // is driven again for each retry.
    service: S,
    policy: Arc<RetryPolicy<C>>,
    kept: Kept<Req>,
}

/// The copy kept for the next attempts, and once retrying has begun, the
/// progress beside it. Whether the request may be sent twice is read from
/// the copy when an error asks, so a request that succeeds never pays for
/// the question.
enum Kept<Req> {
    // The copy made at the call; nothing has been retried.
    Fresh(Req),
    // Boxed at the first retry (or at the call, under a deadline), so the
    // future of a request that succeeds stays as small as the copy.
    Retrying(Box<Progress<Req>>),
}

/// One request's retry progress.
struct Progress<Req> {
    copy: Req,
    // The request of the next attempt, while pausing and readying.
    next: Option<Req>,
    // Retries made so far.
    done: u32,
    // When the first attempt started; kept only when there is a deadline.
    started: Option<Instant>,
    // The previous pause in nanoseconds, for decorrelated jitter; read only
    // once a retry was made (before the first, the base stands in for it).
    previous_ns: u64,
    // The jitter generator, seeded at the first retry (so a request that
    // succeeds draws nothing) and drawn from for every pause, so a
    // request's pauses are exactly `Backoff::delays(seed)`.
    rng: Option<SmallRng>,
    // Time waited at the authority's gate so far, against `max_wait`.
    waited: Duration,
    // The class of the latest failure, for a give-up at the gate.
    class: ErrorClass,
    // Sent while its authority's connects failed: an answer is news.
    watch: bool,
    // The gate's turn the attempt in flight holds, given back when it ends.
    turn: Option<Turn>,
    // The request's number at the gate (0 until it first asks).
    number: u64,
    // The authority state its retries went through: answers go back to it.
    authority: Option<Arc<AuthorityState>>,
}

impl<Req> Progress<Req> {
    fn new(copy: Req, started: Option<Instant>) -> Box<Self> {
        Box::new(Self {
            copy,
            next: None,
            done: 0,
            started,
            previous_ns: 0,
            rng: None,
            waited: Duration::ZERO,
            class: ErrorClass::Other,
            watch: false,
            turn: None,
            number: 0,
            authority: None,
        })
    }
}

impl<Req> Kept<Req> {
    fn copy(&self) -> &Req {
        match self {
            Kept::Fresh(copy) => copy,
            Kept::Retrying(progress) => &progress.copy,
        }
    }

    /// Retries made so far.
    #[inline]
    fn retries(&self) -> u32 {
        match self {
            Kept::Retrying(progress) => progress.done,
            Kept::Fresh(_) => 0,
        }
    }

    /// Sets `request`, a fresh copy of the kept one, up to be sent next, and
    /// returns the progress. At the first retry the fresh copy is boxed as
    /// the kept one instead, and the copy made at the call goes next: the
    /// two are alike, and nothing is copied twice.
    fn send_next(&mut self, request: Req) -> &mut Progress<Req> {
        if let Kept::Fresh(_) = self {
            if let Kept::Fresh(made_at_call) =
                std::mem::replace(self, Kept::Retrying(Progress::new(request, None)))
            {
                return self.progress_with_next(made_at_call);
            }
            unreachable!("the kept copy was fresh");
        }
        self.progress_with_next(request)
    }

    fn progress_with_next(&mut self, request: Req) -> &mut Progress<Req> {
        match self {
            Kept::Retrying(progress) => {
                progress.next = Some(request);
                progress
            }
            Kept::Fresh(_) => unreachable!("retrying has begun"),
        }
    }

    /// The request of the next attempt, set by [`Resend::next`].
    fn take_next(&mut self) -> Req {
        match self {
            Kept::Retrying(progress) => progress.next.take(),
            Kept::Fresh(_) => None,
        }
        .expect("a retry holds its request until it is sent")
    }
}

impl<S, Req, C> Resend<S, Req, C> {
    /// `service` (a clone of the one called) and `copy`, kept to send the
    /// request again by `policy`.
    #[inline]
    pub(crate) fn new(service: S, policy: Arc<RetryPolicy<C>>, copy: Req) -> Self {
        Self {
            service,
            policy,
            kept: Kept::Fresh(copy),
        }
    }

    /// As [`new`](Self::new), with the progress boxed from the call on:
    /// under a deadline, which counts from the first attempt (`deadline`:
    /// its start is kept); or for a request sent while its authority's
    /// connects fail (`watch`), whose answer tells the waiting retries
    /// that the authority is back.
    #[inline]
    pub(crate) fn boxed(
        service: S,
        policy: Arc<RetryPolicy<C>>,
        copy: Req,
        deadline: bool,
        watch: bool,
    ) -> Self {
        let mut progress = Progress::new(copy, deadline.then(Instant::now));
        progress.watch = watch;
        Self {
            service,
            policy,
            kept: Kept::Retrying(progress),
        }
    }

    /// After a failed attempt: whether the next attempt goes at once or
    /// after a wait (its request then kept in the progress), or the error
    /// to return.
    fn next<E>(&mut self, error: E) -> Result<Next<E>, E>
    where
        E: fmt::Debug,
        C: Classify<E, Req>,
        Req: CloneRequest,
    {
        let policy = &*self.policy;
        let class = <C as Classify<E, Req>>::classify(&policy.classifier, &error);
        // A failure that never left the client by its class, but may be a
        // later redirect hop's (the classifier knows): idempotent requests
        // only, and no news for the first authority's gate.
        let hop = matches!(class, ErrorClass::Connect | ErrorClass::NotProcessed)
            && <C as Classify<E, Req>>::idempotent_only(&policy.classifier, &error);
        // The gate learns what the attempt found: through the turn that let
        // it go, or, for an attempt that held none, from a failed connect.
        let turn = match &mut self.kept {
            Kept::Retrying(progress) => progress.turn.take(),
            Kept::Fresh(_) => None,
        };
        // Every failed connect is told to the gate as one, a turn's too:
        // while it recovers, a released retry's failed connect weighs two
        // (see `gate::CONGESTED_AFTER`).
        let found_down = class == ErrorClass::Connect && !hop;
        if let Some(turn) = turn {
            turn.end(match class {
                _ if hop => Outcome::Unknown,
                ErrorClass::Connect => Outcome::ConnectFailed,
                ErrorClass::NotProcessed => Outcome::Refused,
                ErrorClass::ConnectionLost => Outcome::ConnectionLost,
                _ => Outcome::Unknown,
            });
        }
        let copy = self.kept.copy();
        let target = target(copy);
        // Idempotency decides only after a lost connection (or a failure
        // that may be a later hop's), so it is read (from the kept copy)
        // only then.
        let idempotent = (class == ErrorClass::ConnectionLost || hop) && policy.is_idempotent(copy);
        let done = self.kept.retries();
        let retryable = if hop {
            idempotent
        } else {
            class.is_retryable(idempotent)
        };
        if !retryable {
            let reason = match class {
                ErrorClass::ConnectionLost => Some(GiveUp::NotIdempotent),
                _ if hop => Some(GiveUp::AfterRedirect),
                _ => None,
            };
            if let Some(reason) = reason {
                let authority = self.authority();
                self.give_up_with(authority.as_deref(), reason, class, done + 1, &error);
            }
            return Err(error);
        }
        // What the retries so far left: the previous pause, the start, the
        // time waited, the jitter generator, and the authority state they
        // went through (it may have been evicted from the table since: its
        // waiters and its answers stay together). Before the first retry,
        // the base stands in for the pause and the rest starts afresh.
        let (previous, started, waited, rng, before) = match &self.kept {
            Kept::Retrying(progress) if done > 0 => (
                Duration::from_nanos(progress.previous_ns),
                progress.started,
                progress.waited,
                progress.rng.clone(),
                progress.authority.clone(),
            ),
            Kept::Retrying(progress) => (
                policy.backoff.base(),
                progress.started,
                Duration::ZERO,
                None,
                None,
            ),
            Kept::Fresh(_) => (policy.backoff.base(), None, Duration::ZERO, None, None),
        };
        // What the authority's gate learns: its connects fail.
        let authority =
            before.or_else(|| policy.scopes.as_ref().map(|scopes| scopes.state_of(copy)));
        // The request's number at the gate: drawn when it first meets it.
        let number = match &self.kept {
            Kept::Retrying(progress) if progress.number != 0 => progress.number,
            _ if authority.is_some() => admit::request_number(),
            _ => 0,
        };
        if let (Some(authority), true) = (&authority, found_down) {
            authority
                .gate
                .connect_failed(number, authority.counters.requests());
        }
        let attempts = done + 1;
        let give_up = |reason: GiveUp, error: &E| {
            self.give_up_with(authority.as_deref(), reason, class, attempts, error);
        };
        if done >= policy.max_retries {
            give_up(GiveUp::RetriesSpent, &error);
            return Err(error);
        }
        let mut rng = rng.unwrap_or_else(|| SmallRng::seed_from_u64(policy.jitter_seed()));
        let pause = policy.backoff.delay(done, previous, &mut rng);
        if let (Some(started), Some(max_elapsed)) = (started, policy.max_elapsed) {
            if started.elapsed().saturating_add(pause) > max_elapsed {
                give_up(GiveUp::Deadline, &error);
                return Err(error);
            }
        }
        // Every retry asks the kept copy for a fresh copy, so a request that
        // can no longer be sent again (a replay body past its limit) says so
        // on the last retry too.
        let Some(request) = copy.clone_request() else {
            give_up(GiveUp::NotCopyable, &error);
            return Err(error);
        };
        let timer = if pause.is_zero() {
            None
        } else {
            match policy.timer.pause(pause) {
                Ok(timer) => Some(timer),
                Err(NoTimer) => {
                    give_up(GiveUp::NoTimer, &error);
                    return Err(error);
                }
            }
        };
        tracing::debug!(
            target: "tower_conn_retry",
            policy = policy.telemetry.name(),
            attempt = attempts + 1,
            class = class.as_str(),
            method = target.method(),
            authority = target.authority(),
            error = ?error,
            pause_ms = pause.as_millis() as u64,
            timeout = <C as Classify<E, Req>>::is_timeout(&policy.classifier, &error).then_some(true),
            "connection failure; retrying"
        );
        let progress = self.kept.send_next(request);
        // What the budget is charged for, by what the failed attempt may
        // have cost the server (after gRPC's A6): a refused or unreachable
        // connect never reached a server process, and the gate alone paces
        // its retries; a connect that timed out may be a server too busy to
        // accept (or a blackhole: the two look alike), so it is charged
        // unless it goes on a turn of the gate, which paces it (see
        // `admit::decide`); a refused stream reached the server but not its
        // application (RFC 9113, 8.7): its retry draws first on an allowance
        // of one per request, and is charged past it (so a server refusing
        // 30% of its streams sees each retried, and one refusing every
        // stream about 2.2 attempts per request, not 1 + `max_retries`);
        // every other retry may cost the server work.
        let charged = match class {
            // A later hop's, maybe: the first server may have worked on it.
            _ if hop => true,
            ErrorClass::Connect => <C as Classify<E, Req>>::is_timeout(&policy.classifier, &error),
            ErrorClass::NotProcessed => true,
            _ => true,
        };
        progress.number = number;
        let asking = Asking {
            request: progress.number,
            charged,
            connect: class == ErrorClass::Connect && !hop,
            refused: class == ErrorClass::NotProcessed && !hop,
        };
        progress.done += 1;
        progress.previous_ns = saturating_nanos(pause);
        progress.rng = Some(rng);
        progress.class = class;
        progress.authority = authority.clone();
        let admit: Admit = match (authority, timer) {
            (None, None) => return Ok(Next::Now),
            (None, Some(timer)) => Box::pin(async move {
                timer.await;
                Ok(Admitted {
                    waited: Duration::ZERO,
                    turn: None,
                })
            }),
            (Some(authority), timer) => {
                // The gate's wait begins when the pause ends, however late
                // the timer wakes (tokio rounds a sleep up to the next
                // millisecond), and ends by the request's deadline and its
                // share of `max_wait`. Dated before the pause, a zero
                // `max_wait` ended before the timer woke, and every retry
                // was refused.
                let may_wait = policy.max_wait.saturating_sub(waited);
                let elapsed_deadline = match (started, policy.max_elapsed) {
                    (Some(started), Some(max_elapsed)) => Some(later(started, max_elapsed)),
                    _ => None,
                };
                let gate_timer = policy.timer.clone();
                let pending = Pending::new(authority);
                Box::pin(async move {
                    if let Some(timer) = timer {
                        timer.await;
                    }
                    let mut deadline = later(Instant::now(), may_wait);
                    if let Some(elapsed_deadline) = elapsed_deadline {
                        deadline = deadline.min(elapsed_deadline);
                    }
                    admit::admit(pending, &gate_timer, deadline, asking).await
                })
            }
        };
        Ok(Next::Later(admit, error))
    }

    /// A retry about to be sent: counted in its authority's counts (or the
    /// policy's), by the class of the failure it follows. Counted here, not
    /// when it is planned: a retry the budget refuses, whose service fails
    /// `poll_ready`, or whose caller goes away during its pause is never
    /// sent.
    fn count_retry(&self) {
        if let Kept::Retrying(progress) = &self.kept {
            progress
                .authority
                .as_deref()
                .map_or(&self.policy.telemetry.counters, |state| &state.counters)
                .retry(progress.class);
        }
    }

    /// A retry the gate let go: the time it waited counts against
    /// `max_wait`, and its attempt holds the turn it took.
    fn admitted(&mut self, admitted: Admitted) {
        if let Kept::Retrying(progress) = &mut self.kept {
            progress.waited = progress.waited.saturating_add(admitted.waited);
            progress.turn = admitted.turn;
        }
    }

    /// A retry the gate would not let go: the request gives up with
    /// `error`, the failed attempt's.
    fn give_up<E: fmt::Debug>(&self, reason: GiveUp, error: &E)
    where
        Req: CloneRequest,
        C: Classify<E, Req>,
    {
        if let Kept::Retrying(progress) = &self.kept {
            self.give_up_with(
                progress.authority.as_deref(),
                reason,
                progress.class,
                progress.done,
                error,
            );
        }
    }

    /// A connection failure of `class` returned after `attempts`, for
    /// `reason`: counted in `authority`'s counts (or the policy's), and
    /// logged.
    fn give_up_with<E: fmt::Debug>(
        &self,
        authority: Option<&AuthorityState>,
        reason: GiveUp,
        class: ErrorClass,
        attempts: u32,
        error: &E,
    ) where
        Req: CloneRequest,
        C: Classify<E, Req>,
    {
        let policy = &*self.policy;
        let counters = authority.map_or(&policy.telemetry.counters, |state| &state.counters);
        let failure = Failure {
            class,
            attempts,
            target: target(self.kept.copy()),
            timed_out: timed_out(policy, error),
        };
        policy
            .telemetry
            .give_up(counters, &policy.timer, reason, failure, error);
    }

    /// The authority state of the request: the one its retries went
    /// through, or its authority's now (`None` without a budget).
    fn authority(&self) -> Option<Arc<AuthorityState>>
    where
        Req: CloneRequest,
    {
        if let Kept::Retrying(progress) = &self.kept {
            if let Some(authority) = &progress.authority {
                return Some(Arc::clone(authority));
            }
        }
        let scopes = self.policy.scopes.as_ref()?;
        Some(scopes.state_of(self.kept.copy()))
    }

    /// Where the request's counts go: its authority's counts, or the
    /// policy's.
    fn counters(&self) -> CountersRef<'_>
    where
        Req: CloneRequest,
    {
        match self.authority() {
            Some(authority) => CountersRef::Authority(authority),
            None => CountersRef::Policy(&self.policy.telemetry.counters),
        }
    }

    /// The retry the gate let go was never sent (the service was not
    /// ready): its turn goes back with no news of the authority.
    fn not_sent(&mut self) {
        if let Kept::Retrying(progress) = &mut self.kept {
            drop(progress.turn.take());
        }
    }

    /// The request was answered. If the gate let its attempt go, the turn
    /// goes back with the news; if it was sent while its authority's
    /// connects failed, the authority answers again.
    #[inline]
    fn answered(&mut self)
    where
        Req: CloneRequest,
    {
        let Kept::Retrying(progress) = &mut self.kept else {
            return;
        };
        if let Some(turn) = progress.turn.take() {
            turn.end(Outcome::Answered);
            return;
        }
        if !(progress.done > 0 || progress.watch) {
            return;
        }
        if let Some(authority) = &progress.authority {
            authority.answered();
            return;
        }
        if let Some(scopes) = &self.policy.scopes {
            scopes.state_of(&progress.copy).answered();
        }
    }
}

/// The counts a request adds to.
enum CountersRef<'a> {
    Authority(Arc<AuthorityState>),
    Policy(&'a Counters),
}

impl std::ops::Deref for CountersRef<'_> {
    type Target = Counters;

    fn deref(&self) -> &Counters {
        match self {
            CountersRef::Authority(authority) => &authority.counters,
            CountersRef::Policy(counters) => counters,
        }
    }
}

/// What follows a failed attempt that will be retried.
enum Next<E> {
    /// The next attempt goes at once.
    Now,
    /// The next attempt goes once the wait is over; if it ends refused,
    /// the kept error is returned.
    Later(Admit, E),
}

/// OpenTelemetry's `http.request.resend_count`, on the caller's span if it
/// declared the field (a no-op otherwise): recorded once, as a call that
/// was resent ends, with the number of resends; nothing for a call that
/// was not.
fn record_resend_count(resends: u32) {
    if resends > 0 {
        tracing::Span::current().record("http.request.resend_count", resends);
    }
}

/// `at + duration`, or a time far enough ahead to mean "never" where that
/// overflows.
fn later(at: Instant, duration: Duration) -> Instant {
    at.checked_add(duration)
        .or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(at)
}

/// Whether `error` is a timeout, asked of the classifier only when the
/// `debug` events that say so are enabled.
fn timed_out<C, E, Req>(policy: &RetryPolicy<C>, error: &E) -> bool
where
    C: Classify<E, Req>,
{
    tracing::enabled!(target: "tower_conn_retry", tracing::Level::DEBUG)
        && <C as Classify<E, Req>>::is_timeout(&policy.classifier, error)
}

/// The method and authority of a request, for the events: the authority
/// without the user information a URI may carry (`user:password@`).
fn target<Req: CloneRequest>(request: &Req) -> Target<'_> {
    Target {
        method: request.head().map_or("", |head| head.method.as_str()),
        authority: request.authority().map_or("", |authority| {
            let authority = authority.as_str();
            authority
                .rsplit_once('@')
                .map_or(authority, |(_, host_port)| host_port)
        }),
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
            State::Readying => "readying",
        };
        let retries = self
            .resend
            .as_ref()
            .map_or(0, |resend| resend.kept.retries());
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("retries", &retries)
            .finish_non_exhaustive()
    }
}
