//! The retry policy, its builder, and the error for invalid settings.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::admission::authority::Scopes;
use crate::admission::budget::RetryBudget;
use crate::backoff::Backoff;
use crate::classify::classifier::DefaultClassifier;
use crate::observe::stats::RetryStats;
use crate::observe::telemetry::Telemetry;
use crate::request::{CloneRequest, RequestHead};
use crate::timer::Timer;

/// When and how often a failed request is sent again.
///
/// A policy is made by [`RetryPolicy::builder`], which checks every setting,
/// so a `RetryPolicy` in hand is always valid. It is cheap to clone: the
/// layer copies it into each request's future.
///
/// # Default
///
/// [`RetryPolicy::default()`]: 3 retries (4 attempts), [`Backoff::default()`]
/// (100 ms doubling to at most 10 s, full jitter), no deadline,
/// [`DefaultClassifier`], and [`RetryBudget::default()`]: per authority,
/// retries may add 20% to its requests (at least 10 per 10 s), and a retry
/// that finds no room, or finds the authority's connects failing, waits up
/// to 5 s in all for it (see [`RetryBudget`]). So the worst a request's
/// retries add to its latency, beyond the attempts themselves, is the
/// pauses (at most 0.1 + 0.2 + 0.4 s) plus 5 s of waiting.
///
/// [`RetryPolicyBuilder::no_budget`] gives the defaults of 0.1 (no budget,
/// no waiting).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_conn_retry::{Backoff, Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::builder()
///     .max_retries(4)
///     .backoff(
///         Backoff::exponential(Duration::from_millis(50))
///             .max_delay(Duration::from_secs(2))
///             .jitter(Jitter::Full),
///     )
///     .max_elapsed(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(policy.max_retries(), 4);
/// # Ok::<(), tower_conn_retry::ConfigError>(())
/// ```
///
/// # Tracing events
///
/// What a policy's requests write (the crate docs' [Tracing](crate#tracing)
/// says how to select them). Every event has the target
/// `tower_conn_retry`; nothing is written on the happy path:
///
/// | Message (starts with) | Level | Fields |
/// |---|---|---|
/// | `connection failure; retrying` | `debug` | `policy`, `attempt`, `class`, `method`, `authority`, `error`, `pause_ms`, `timeout` |
/// | `connection failure returned: ` and why, in words | `debug` | `policy`, `attempts`, `class`, `reason`, `timeout`, `method`, `authority`, `error` |
/// | `connection failures returned to callers` | `warn` | `policy`, `requests`, a count per reason (`retries_spent`, `deadline`, `budget`, `no_timer`, `waited`, `queue_full`, `not_idempotent`, `not_copyable`, `after_redirect`), a count per class (`connect`, `not_processed`, `connection_lost`), `since_ms`, `method`, `authority`, `error` |
///
/// - The retry event is written when a retry is planned, before its pause
///   and any wait for room in the budget: a retry the budget then refuses
///   is followed by the request's give-up event, and is not counted in
///   [`RetryCounts::retries`](crate::RetryCounts::retries), which counts the retries sent.
/// - `policy`: the policy's [name](crate::RetryPolicyBuilder::name); absent if it
///   has none.
/// - `attempt`: the number of the attempt about to be made (2 for the
///   first retry); `attempts`: the attempts made in all.
/// - `class`: the failure's [`ErrorClass::as_str`](crate::ErrorClass::as_str): `connect`,
///   `not_processed` or `connection_lost`.
/// - `method`, `authority`: the request's; each absent when the request
///   names none (no authority in an origin-form URI such as `/path`, as
///   above a tonic `Channel`; no method for a connector's `Uri`; neither
///   for a request type of your own without a
///   [`head`](crate::CloneRequest::head)).
/// - `error`: the failed attempt's error, as `Debug` prints it (its text
///   is the error's, and not stable).
/// - `pause_ms`: the pause before the retry, in milliseconds (a wait for
///   room in the [`RetryBudget`](crate::RetryBudget) may follow).
/// - `timeout`: `true` when the failure was a timeout
///   ([`Classify::is_timeout`](crate::Classify::is_timeout)); absent otherwise.
/// - `reason`: why the failure was returned, each also a field of the
///   summary counting the give-ups for it, and a field of [`GiveUps`](crate::GiveUps):
///
///   | `reason` | The failure was returned because |
///   |---|---|
///   | `retries_spent` | `max_retries` retries were made |
///   | `deadline` | the next pause would end past `max_elapsed` |
///   | `budget` | the budget refused the retry outright |
///   | `no_timer` | no timer could be had for the pause |
///   | `waited` | the retry waited for room, or for its authority to answer, until `max_wait` or the deadline |
///   | `queue_full` | too many requests already waited at the authority ([`RetryBudget::max_waiting`](crate::RetryBudget::max_waiting)) |
///   | `not_idempotent` | the connection was lost (or timed out) after the request may have been sent, and the request is not idempotent |
///   | `not_copyable` | the request could not be copied again (a [`ReplayBody`](crate::ReplayBody) past its limit) |
///   | `after_redirect` | a connect failed (or a stream was refused) where the client follows redirects below the layer, so it may be a later hop's after the first server processed the request, and the request is not idempotent (reqwest's `RetryMiddleware` by default) |
///
/// - `requests`: the give-ups the summary counts: those since the previous
///   summary. The summary is written one interval (1 s) after the first
///   give-up that follows it, so a burst of failures is one summary
///   (without a tokio runtime to time it, a give-up writes it once an
///   interval has passed since the previous one); what is left is written
///   when the policy (its last clone, layer or service) is dropped. Every
///   give-up is in exactly one summary.
/// - `since_ms`: the time since the previous summary, in milliseconds;
///   absent in the first.
/// - `method`, `authority`, `error` of the summary: those of one request
///   of the interval, an example.
///
/// The layer also records OpenTelemetry's `http.request.resend_count` on
/// the caller's current span, if the span declared the field (say, as
/// `tracing::field::Empty`): once, as a call that was resent ends, with
/// the number of resends; nothing for a call that was not.
///
/// **These are stable**: the target, the messages' beginnings, the levels,
/// the field names and their meanings, and the `reason` and `class` values
/// change only in a major release (in 0.x, a minor one), and every change
/// is listed in the CHANGELOG. Fields may be added in any release.
///
#[derive(Clone, Debug)]
pub struct RetryPolicy<C = DefaultClassifier> {
    pub(crate) max_retries: u32,
    pub(crate) backoff: Backoff,
    pub(crate) max_elapsed: Option<Duration>,
    pub(crate) classifier: C,
    pub(crate) seed: Option<JitterSeed>,
    // The budgets and gates, per authority or shared; shared by every clone
    // of the policy, so by every clone of the layer. `None`: no budget.
    pub(crate) scopes: Option<Arc<Scopes>>,
    // The budget's longest wait per request (`max_wait`).
    pub(crate) max_wait: Duration,
    pub(crate) idempotent_when: Option<IdempotencyHook>,
    // Only idempotent requests are copied and retried.
    pub(crate) idempotent_only: bool,
    pub(crate) timer: Timer,
    // Shared by every clone: the name, the counts, the summaries.
    pub(crate) telemetry: Arc<Telemetry>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let budget = RetryBudget::default();
        let backoff = Backoff::default();
        Self {
            max_retries: 3,
            backoff,
            max_elapsed: None,
            classifier: DefaultClassifier,
            seed: None,
            scopes: Some(Arc::new(Scopes::new(budget, &backoff, unseeded()))),
            max_wait: budget.max_wait,
            idempotent_when: None,
            idempotent_only: false,
            timer: Timer::default(),
            telemetry: Arc::new(Telemetry::new(None)),
        }
    }
}

impl RetryPolicy {
    /// A builder starting from the [defaults](RetryPolicy#default).
    #[must_use]
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: RetryPolicy::default(),
            budget: Some(RetryBudget::default()),
            name: None,
        }
    }
}

impl<C> RetryPolicy<C> {
    /// The most retries after the first attempt.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The backoff between attempts.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The deadline, measured from the first attempt, past which no pause
    /// may end.
    pub fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The classifier.
    pub fn classifier(&self) -> &C {
        &self.classifier
    }

    /// The same policy (sharing its budget, gates and counts) with
    /// `classifier`.
    pub(crate) fn with_classifier<C2>(self, classifier: C2) -> RetryPolicy<C2> {
        let RetryPolicy {
            max_retries,
            backoff,
            max_elapsed,
            classifier: _,
            seed,
            scopes,
            max_wait,
            idempotent_when,
            idempotent_only,
            timer,
            telemetry,
        } = self;
        RetryPolicy {
            max_retries,
            backoff,
            max_elapsed,
            classifier,
            seed,
            scopes,
            max_wait,
            idempotent_when,
            idempotent_only,
            timer,
            telemetry,
        }
    }

    /// The policy's [name](RetryPolicyBuilder::name), if it has one.
    pub fn name(&self) -> Option<&str> {
        self.telemetry.name()
    }

    /// What the policy's requests went through so far: see [`RetryStats`].
    /// Every clone of the policy, of a layer made from it and of the
    /// services that layer made count together.
    ///
    /// ```
    /// use tower_conn_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::builder().name("search").build()?;
    /// let stats = policy.stats();
    /// assert_eq!(stats.name.as_deref(), Some("search"));
    /// assert_eq!(stats.total.requests, 0);
    /// # Ok::<(), tower_conn_retry::ConfigError>(())
    /// ```
    pub fn stats(&self) -> RetryStats {
        let mut stats = RetryStats {
            name: self.name().map(str::to_owned),
            total: self.telemetry.counters.read(),
            authorities: Vec::new(),
        };
        if let Some(scopes) = &self.scopes {
            scopes.stats(&mut stats.total, &mut stats.authorities);
        }
        stats
    }

    /// Whether retries are limited by a [`RetryBudget`] (the default).
    pub fn has_budget(&self) -> bool {
        self.scopes.is_some()
    }

    /// Whether `request` may be sent twice: by its own account
    /// ([`CloneRequest::is_idempotent`]) or by the policy's
    /// [`idempotent_when`](RetryPolicyBuilder::idempotent_when) hook.
    pub(crate) fn is_idempotent<Req: CloneRequest>(&self, request: &Req) -> bool {
        request.is_idempotent()
            || match (&self.idempotent_when, request.head()) {
                (Some(hook), Some(head)) => (hook.0)(&head),
                _ => false,
            }
    }

    /// A fresh seed for one request's jitter generator.
    pub(crate) fn jitter_seed(&self) -> u64 {
        match &self.seed {
            Some(seed) => seed.next_seed(),
            None => unseeded(),
        }
    }
}

/// Builds a [`RetryPolicy`]; [`build`](RetryPolicyBuilder::build) checks it.
#[derive(Clone, Debug)]
pub struct RetryPolicyBuilder<C = DefaultClassifier> {
    policy: RetryPolicy<C>,
    budget: Option<RetryBudget>,
    name: Option<Arc<str>>,
}

impl<C> RetryPolicyBuilder<C> {
    /// Names the policy (default: none), for the operator: the name is a
    /// field (`policy`) of every event the layer logs, the
    /// [`RetryStats::name`](crate::RetryStats::name) of its stats, and the
    /// `policy` label of its metrics. Give each client its own, such as
    /// the upstream service it calls.
    ///
    /// ```
    /// use tower_conn_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::builder().name("payments").build()?;
    /// assert_eq!(policy.name(), Some("payments"));
    /// # Ok::<(), tower_conn_retry::ConfigError>(())
    /// ```
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(Arc::from(name.into()));
        self
    }

    /// The most retries after the first attempt (default 3, so 4 attempts).
    /// Zero turns retrying off.
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.policy.max_retries = max_retries;
        self
    }

    /// The backoff between attempts (default [`Backoff::default()`]).
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.policy.backoff = backoff;
        self
    }

    /// A deadline measured from the first attempt: no retry is scheduled
    /// whose pause would end past it (default: none).
    ///
    /// The start of each request is then read from the clock and kept from
    /// the call on, in the small box that otherwise waits for a first
    /// retry: one allocation per request that is copied.
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.policy.max_elapsed = Some(max_elapsed);
        self
    }

    /// Seeds the jitter, so pauses are the same on every run.
    ///
    /// Each request that retries draws its own generator from the seed, in
    /// order, so concurrent requests still get different pauses. Meant for
    /// tests and simulations; without a seed, jitter is seeded from the
    /// thread's random generator.
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.policy.seed = Some(JitterSeed::new(seed));
        self
    }

    /// Limits retries by `budget` (default: [`RetryBudget::default()`], per
    /// authority), shared by every clone of the built policy and of a
    /// layer made from it. A retry that finds no room waits for it, up to
    /// the budget's [`max_wait`](RetryBudget::max_wait); then its error is
    /// returned.
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Retries with no budget: every retry the policy allows goes after its
    /// pause, whatever the load, and none waits for room. This is how the
    /// layer behaved by default before 0.2.
    ///
    /// Against an outage under steady load this can hold a recovering
    /// server down: see the outage model in the repository's OUTAGES.md.
    /// Meant for tests, and for callers that limit retries elsewhere.
    ///
    /// ```
    /// use tower_conn_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::builder().no_budget().build()?;
    /// assert!(!policy.has_budget());
    /// # Ok::<(), tower_conn_retry::ConfigError>(())
    /// ```
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn no_budget(mut self) -> Self {
        self.budget = None;
        self
    }

    /// Pauses with `timer`, a `hyper::rt::Timer` of any runtime (default:
    /// `tokio::time`).
    ///
    /// The default needs a tokio runtime with its time driver enabled
    /// (`Builder::enable_time()` or `enable_all()`; `#[tokio::main]` has
    /// it). Where none can be had, the layer does not unwind: tokio
    /// panics when asked for a pause ("timers are disabled"), the layer
    /// contains it, the retry is not made, the error is returned, and a
    /// `warn` event says why; the application's panic hook still runs
    /// (and prints tokio's message), once per pause asked for. In a
    /// `panic = "abort"` build the default cannot tell (see
    /// [`tokio_timer`](Self::tokio_timer)) and makes no pause: set a timer.
    ///
    /// ```
    /// use hyper_util::rt::TokioTimer;
    /// use tower_conn_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::builder().timer(TokioTimer::new()).build()?;
    /// # let _ = policy;
    /// # Ok::<(), tower_conn_retry::ConfigError>(())
    /// ```
    #[cfg(feature = "hyper")]
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn timer<T>(mut self, timer: T) -> Self
    where
        T: hyper::rt::Timer + Send + Sync + 'static,
    {
        self.policy.timer = Timer::Hyper(Arc::new(timer));
        self
    }

    /// Pauses with `tokio::time`, trusting that every runtime the layer runs
    /// on has its time driver enabled (`Builder::enable_time()` or
    /// `enable_all()`; `#[tokio::main]` and `Runtime::new()` have it).
    ///
    /// The default pauses with `tokio::time` too, but first checks that
    /// the driver is there: tokio has no way to ask, so the check contains
    /// tokio's panic ("timers are disabled"), and gives the retry up. In a
    /// `panic = "abort"` build no panic can be contained, so the default
    /// makes no pause at all there (each retry that needs one is given up,
    /// with a `warn` event): a `panic = "abort"` build sets this, or
    /// [`timer`](Self::timer). Set here, a runtime without the driver
    /// panics (or aborts) at the first pause, as tokio's own timers do.
    ///
    /// ```
    /// use tower_conn_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::builder().tokio_timer().build()?;
    /// # let _ = policy;
    /// # Ok::<(), tower_conn_retry::ConfigError>(())
    /// ```
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn tokio_timer(mut self) -> Self {
        self.policy.timer = Timer::TokioTrusted;
        self
    }

    /// Declares more requests idempotent than their method and headers do,
    /// so they too are retried after a lost connection
    /// ([`ErrorClass::ConnectionLost`](crate::ErrorClass::ConnectionLost)).
    ///
    /// A request is idempotent when its method is (GET, HEAD, OPTIONS,
    /// TRACE, PUT, DELETE), when it carries an `Idempotency-Key` header, or
    /// when `hook` says so. Only declare requests the server really treats
    /// as idempotent: a POST that creates an order is sent twice if it is
    /// declared so and its connection is lost after the server read it.
    ///
    /// ```
    /// use tower_conn_retry::{RequestHead, RetryPolicy};
    ///
    /// // A search API that takes its query as a POST body.
    /// let policy = RetryPolicy::builder()
    ///     .idempotent_when(|head: &RequestHead<'_>| {
    ///         head.method == http::Method::POST && head.uri.path() == "/search"
    ///     })
    ///     .build()?;
    /// # let _ = policy;
    /// # Ok::<(), tower_conn_retry::ConfigError>(())
    /// ```
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn idempotent_when<F>(mut self, hook: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> bool + Send + Sync + 'static,
    {
        self.policy.idempotent_when = Some(IdempotencyHook(Arc::new(hook)));
        self
    }

    /// Copies and retries only idempotent requests; any other request is
    /// passed through as it is, never copied (default: off).
    ///
    /// This is the client half of the combined placement: connect failures
    /// are retried for every method by a layer around the connector (where
    /// no request is copied), and this layer around the client adds
    /// retries after a lost connection for the idempotent requests, the
    /// only ones it may resend. A POST then costs nothing at this layer.
    /// The trade: an HTTP/2 stream the server refused
    /// ([`ErrorClass::NotProcessed`](crate::ErrorClass::NotProcessed)) is
    /// not retried for a non-idempotent request either.
    ///
    /// ```
    /// use tower_conn_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::builder().idempotent_only().build()?;
    /// # let _ = policy;
    /// # Ok::<(), tower_conn_retry::ConfigError>(())
    /// ```
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn idempotent_only(mut self) -> Self {
        self.policy.idempotent_only = true;
        self
    }

    /// Replaces the classifier: any `Fn(&E) -> ErrorClass`, or a type
    /// implementing [`Classify`](crate::Classify). Around a connector, use
    /// [`ConnectorClassifier`](crate::ConnectorClassifier).
    #[must_use = "the builder is consumed: use the one this returns"]
    pub fn classifier<C2>(self, classifier: C2) -> RetryPolicyBuilder<C2> {
        RetryPolicyBuilder {
            policy: self.policy.with_classifier(classifier),
            budget: self.budget,
            name: self.name,
        }
    }

    /// Checks every setting and returns the policy, or a [`ConfigError`]
    /// naming the first setting that is wrong.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_conn_retry::{Backoff, RetryPolicy};
    ///
    /// let err = RetryPolicy::builder()
    ///     .backoff(Backoff::exponential(Duration::from_millis(10)).factor(0.5))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "backoff.factor");
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid retry policy: backoff.factor is 0.5, but must be a finite number of at least 1"
    /// );
    /// ```
    pub fn build(mut self) -> Result<RetryPolicy<C>, ConfigError> {
        let backoff = &self.policy.backoff;
        if !(backoff.factor.is_finite() && backoff.factor >= 1.0) {
            return Err(ConfigError::new(
                "backoff.factor",
                backoff.factor,
                "must be a finite number of at least 1",
            ));
        }
        if backoff.base().is_zero() && (!backoff.is_none() || backoff.factor != 1.0) {
            return Err(ConfigError::new(
                "backoff.base",
                format_args!("{:?}", backoff.base()),
                "must be greater than zero (Backoff::none() retries without pausing)",
            ));
        }
        if backoff.cap() < backoff.base() {
            return Err(ConfigError::new(
                "backoff.max_delay",
                format_args!("{:?}", backoff.cap()),
                format_args!("must be at least backoff.base ({:?})", backoff.base()),
            ));
        }
        if let Some(max_elapsed) = self.policy.max_elapsed {
            if max_elapsed.is_zero() {
                return Err(ConfigError::new(
                    "max_elapsed",
                    "0ns",
                    "must be greater than zero (max_retries(0) turns retrying off)",
                ));
            }
        }
        if self.name.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::new(
                "name",
                "\"\"",
                "must not be empty (leave it unset for no name)",
            ));
        }
        self.policy.telemetry = Arc::new(Telemetry::new(self.name.take()));
        if let Some(budget) = self.budget {
            if !(0.0..=10.0).contains(&budget.ratio) {
                return Err(ConfigError::new(
                    "budget.ratio",
                    budget.ratio,
                    "must be between 0 and 10 (0% to 1000% of requests)",
                ));
            }
            if budget.window < MIN_BUDGET_WINDOW {
                return Err(ConfigError::new(
                    "budget.window",
                    format_args!("{:?}", budget.window),
                    "must be at least 1s (its tenths are counted by a 32-bit epoch, which then lasts 13 years before it wraps)",
                ));
            }
            if !(1..=MAX_COUNT).contains(&budget.max_authorities) {
                return Err(ConfigError::new(
                    "budget.max_authorities",
                    budget.max_authorities,
                    "must be between 1 and 1000000",
                ));
            }
            if !(1..=MAX_COUNT).contains(&budget.max_waiting) {
                return Err(ConfigError::new(
                    "budget.max_waiting",
                    budget.max_waiting,
                    "must be between 1 and 1000000",
                ));
            }
            if budget.max_wait > MAX_WAIT {
                return Err(ConfigError::new(
                    "budget.max_wait",
                    format_args!("{:?}", budget.max_wait),
                    "must be at most 600s (the deadline of a request belongs to the caller; use a timeout around the layer)",
                ));
            }
            let seed = self
                .policy
                .seed
                .as_ref()
                .map_or_else(unseeded, |seed| seed.0.seed);
            self.policy.scopes = Some(Arc::new(Scopes::named(
                budget,
                &self.policy.backoff,
                seed,
                self.policy.telemetry.name(),
            )));
            self.policy.max_wait = budget.max_wait;
        } else {
            self.policy.scopes = None;
            self.policy.max_wait = Duration::ZERO;
        }
        Ok(self.policy)
    }
}

/// The user's rule for which requests are idempotent.
#[derive(Clone)]
pub(crate) struct IdempotencyHook(Arc<dyn Fn(&RequestHead<'_>) -> bool + Send + Sync>);

impl fmt::Debug for IdempotencyHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdempotencyHook")
    }
}

/// The most authorities tracked, or requests waiting, that a budget takes.
const MAX_COUNT: usize = 1_000_000;

/// The longest `max_wait` a budget takes.
const MAX_WAIT: Duration = Duration::from_secs(600);

/// The shortest budget window: a tenth of it is one slot, and 2^32 slots of
/// 100 ms last 13.6 years, so the budget's epoch does not wrap in practice.
const MIN_BUDGET_WINDOW: Duration = Duration::from_secs(1);

/// A seed for a policy built without [`jitter_seed`]: std's per-process
/// random hash keys over a counter, so no two requests share a sequence and
/// no OS randomness is read per request (tower's `HasherRng` does the same).
///
/// [`jitter_seed`]: RetryPolicyBuilder::jitter_seed
fn unseeded() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A seed shared by every clone of a policy; each request that retries
/// takes the next seed derived from it.
#[derive(Clone, Debug)]
pub(crate) struct JitterSeed(Arc<SeedSequence>);

#[derive(Debug)]
struct SeedSequence {
    seed: u64,
    next: AtomicU64,
}

impl JitterSeed {
    fn new(seed: u64) -> Self {
        Self(Arc::new(SeedSequence {
            seed,
            next: AtomicU64::new(0),
        }))
    }

    fn next_seed(&self) -> u64 {
        let index = self.0.next.fetch_add(1, Ordering::Relaxed);
        // Spread consecutive indexes over the seed space (the golden-ratio
        // increment of splitmix64).
        self.0.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// A setting of a [`RetryPolicy`] is invalid.
///
/// It names the setting ([`field`](ConfigError::field)), the value given
/// ([`value`](ConfigError::value)) and what was expected, in a sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    value: String,
    expected: String,
}

impl ConfigError {
    fn new(field: &'static str, value: impl fmt::Display, expected: impl fmt::Display) -> Self {
        Self {
            field,
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// The setting that is wrong, as a path such as `backoff.factor`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The value given, as text.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid retry policy: {} is {}, but {}",
            self.field, self.value, self.expected
        )
    }
}

impl StdError for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::Jitter;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn build_with(backoff: Backoff) -> Result<RetryPolicy, ConfigError> {
        RetryPolicy::builder().backoff(backoff).build()
    }

    #[test]
    fn defaults_are_documented_ones() {
        let policy = RetryPolicy::builder().build().unwrap();
        assert_eq!(policy.max_retries(), 3);
        assert_eq!(policy.max_elapsed(), None);
        assert_eq!(policy.backoff().base(), ms(100));
        assert_eq!(policy.backoff().growth_factor(), 2.0);
        assert_eq!(policy.backoff().cap(), Duration::from_secs(10));
        assert_eq!(policy.backoff().jitter_kind(), Jitter::Full);
    }

    #[test]
    fn factors_below_one_or_not_finite_are_rejected() {
        for factor in [0.0, 0.99, -2.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = build_with(Backoff::exponential(ms(10)).factor(factor)).unwrap_err();
            assert_eq!(err.field(), "backoff.factor", "{factor}");
            assert_eq!(err.value(), factor.to_string());
        }
        assert!(build_with(Backoff::exponential(ms(10)).factor(1.0)).is_ok());
    }

    #[test]
    fn a_zero_base_is_rejected_but_none_is_allowed() {
        let err = build_with(Backoff::exponential(Duration::ZERO).max_delay(ms(5))).unwrap_err();
        assert_eq!(err.field(), "backoff.base");
        assert!(err.to_string().contains("Backoff::none()"), "{err}");
        // A zero cap too: the same pauses as `Backoff::none()`, but not
        // what was asked for; the error names the way to say it.
        let err =
            build_with(Backoff::exponential(Duration::ZERO).max_delay(Duration::ZERO)).unwrap_err();
        assert_eq!(err.field(), "backoff.base");
        assert!(err.to_string().contains("Backoff::none()"), "{err}");
        assert!(build_with(Backoff::none()).is_ok());
    }

    #[test]
    fn budget_caps_out_of_range_are_rejected_naming_the_field() {
        let build = |budget: RetryBudget| RetryPolicy::builder().budget(budget).build();
        for cap in [0, 1_000_001, usize::MAX] {
            let err = build(RetryBudget::default().max_authorities(cap)).unwrap_err();
            assert_eq!(err.field(), "budget.max_authorities", "{cap}");
            assert_eq!(err.value(), cap.to_string());
            let err = build(RetryBudget::default().max_waiting(cap)).unwrap_err();
            assert_eq!(err.field(), "budget.max_waiting", "{cap}");
        }
        for wait in [Duration::from_secs(601), Duration::MAX] {
            let err = build(RetryBudget::default().max_wait(wait)).unwrap_err();
            assert_eq!(err.field(), "budget.max_wait", "{wait:?}");
        }
        let edges = RetryBudget::default()
            .max_authorities(1)
            .max_waiting(1_000_000)
            .max_wait(Duration::from_secs(600));
        assert!(build(edges).unwrap().has_budget());
        assert!(build(RetryBudget::default().max_wait(Duration::ZERO)).is_ok());
    }

    #[test]
    fn the_default_policy_carries_a_budget_and_no_budget_removes_it() {
        assert!(RetryPolicy::default().has_budget());
        assert!(RetryPolicy::builder().build().unwrap().has_budget());
        assert!(!RetryPolicy::builder()
            .no_budget()
            .build()
            .unwrap()
            .has_budget());
    }

    #[test]
    fn a_cap_below_the_base_is_rejected() {
        let err = build_with(Backoff::exponential(ms(100)).max_delay(ms(99))).unwrap_err();
        assert_eq!(err.field(), "backoff.max_delay");
        assert_eq!(err.value(), "99ms");
        assert_eq!(
            err.to_string(),
            "invalid retry policy: backoff.max_delay is 99ms, but must be at least backoff.base (100ms)"
        );
    }

    #[test]
    fn a_zero_deadline_is_rejected() {
        let err = RetryPolicy::builder()
            .max_elapsed(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_elapsed");
    }

    #[test]
    fn budget_ratios_outside_zero_to_ten_and_windows_under_a_second_are_rejected() {
        for ratio in [-0.1, 10.01, f64::NAN, f64::INFINITY] {
            let err = RetryPolicy::builder()
                .budget(RetryBudget::default().ratio(ratio))
                .build()
                .unwrap_err();
            assert_eq!(err.field(), "budget.ratio", "{ratio}");
        }
        for window in [Duration::ZERO, Duration::from_nanos(1), ms(999)] {
            let err = RetryPolicy::builder()
                .budget(RetryBudget::default().window(window))
                .build()
                .unwrap_err();
            assert_eq!(err.field(), "budget.window", "{window:?}");
        }
        let policy = RetryPolicy::builder()
            .budget(RetryBudget::default().window(ms(1_000)))
            .build();
        assert!(policy.unwrap().has_budget());
        for ratio in [0.0, 0.2, 10.0] {
            let policy = RetryPolicy::builder()
                .budget(RetryBudget::default().ratio(ratio))
                .build();
            assert!(policy.unwrap().has_budget());
        }
    }

    #[test]
    fn the_classifier_can_be_replaced_keeping_other_settings() {
        let policy = RetryPolicy::builder()
            .max_retries(9)
            .classifier(|_: &std::io::Error| crate::ErrorClass::Other)
            .build()
            .unwrap();
        assert_eq!(policy.max_retries(), 9);
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!((policy.classifier())(&io), crate::ErrorClass::Other);
    }

    #[test]
    fn seeded_generators_repeat_across_policies_and_differ_across_requests() {
        let draw = |policy: &RetryPolicy| policy.jitter_seed();
        let a = RetryPolicy::builder().jitter_seed(1).build().unwrap();
        let b = RetryPolicy::builder().jitter_seed(1).build().unwrap();
        let (a1, a2) = (draw(&a), draw(&a));
        assert_ne!(a1, a2, "two requests share one jitter sequence");
        assert_eq!((a1, a2), (draw(&b), draw(&b)));
        // Clones share the sequence, so they keep drawing fresh generators.
        let c = a.clone();
        assert_ne!(draw(&c), a1);
    }
}
