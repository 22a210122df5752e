//! What a policy's retries did, as numbers: [`RetryStats`], the snapshot
//! read from [`RetryPolicy::stats`](crate::RetryPolicy::stats) (or the
//! layer's, or the service's).

use std::ops::AddAssign;

/// The counts of one policy (every clone of it, of the layer made from it,
/// and of the services the layer made), since it was built: what an
/// operator needs to tell which upstream fails, how many calls retries
/// saved, how many the budget refused, and how many failed anyway.
///
/// A snapshot: taking one reads a few atomics per tracked authority under
/// the authority table's read lock, and allocates its list. Counters only
/// grow; `waiting` and `budget_balance` are the state of the moment.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::io;
/// use tower::{service_fn, Service};
/// use tower_conn_retry::{Backoff, Retry, RetryPolicy};
///
/// let refusing = service_fn(|_: http::Request<String>| async {
///     Err::<http::Response<String>, _>(io::Error::from(io::ErrorKind::ConnectionRefused))
/// });
/// let policy = RetryPolicy::builder()
///     .name("billing")
///     .max_retries(2)
///     .backoff(Backoff::none())
///     .no_budget()
///     .build()
///     .unwrap();
/// let mut service = Retry::new(refusing, policy);
/// let request = http::Request::get("http://127.0.0.1:9/").body(String::new()).unwrap();
/// service.ready().await.unwrap().call(request).await.unwrap_err();
///
/// let stats = service.stats();
/// assert_eq!(stats.name.as_deref(), Some("billing"));
/// assert_eq!(stats.total.requests, 1);
/// assert_eq!(stats.total.retries.connect, 2);
/// assert_eq!(stats.total.attempts(), 3);
/// assert_eq!(stats.total.give_ups.retries_spent, 1);
/// assert_eq!(stats.total.failed(), 1);
/// # }
/// ```
///
/// # Metrics
///
/// With the `metrics` feature, the layer publishes these counts through the
/// [`metrics`](https://docs.rs/metrics) facade; the application installs
/// the recorder (for example metrics-exporter-prometheus), **at startup**:
///
/// | name | type | labels besides `policy`, `authority` | meaning |
/// |---|---|---|---|
/// | `tower_conn_retry_requests_total` | counter | | calls through the layer |
/// | `tower_conn_retry_retries_total` | counter | `class` | retries, by the class of the failure they followed (Envoy's `upstream_rq_retry`) |
/// | `tower_conn_retry_retry_successes_total` | counter | | calls answered after at least one retry (`upstream_rq_retry_success`) |
/// | `tower_conn_retry_give_ups_total` | counter | `reason`, `class` | calls whose connection failure was returned; `reason="retries_spent"` is `upstream_rq_retry_limit_exceeded` |
/// | `tower_conn_retry_budget_refused_total` | counter | | give-ups for `budget`, `waited` or `queue_full` (`upstream_rq_retry_overflow`) |
/// | `tower_conn_retry_waiting` | gauge | | retries waiting now at their authority's gate |
/// | `tower_conn_retry_budget_balance` | gauge | | the retries the budget allowed as of its latest retry decision |
///
/// Every metric also carries `policy` (the
/// [name](crate::RetryPolicyBuilder::name); left out when unnamed) and, under a
/// per-authority budget, `authority` (`scheme://host:port`, lowercase, the
/// default port explicit, no user information; `(overflow)` for the
/// authorities past [`max_authorities`](crate::RetryBudget::max_authorities), and
/// for an authority first seen after the policy labelled
/// `max_authorities` others, so the label has at most `max_authorities + 1`
/// values per policy, however many authorities come and go). Without a budget, under a shared one,
/// and for a request that names no authority, there is no `authority`
/// label. `class` is `connect`, `not_processed` or `connection_lost`;
/// `reason` is `retries_spent`, `deadline`, `budget`, `waited`,
/// `queue_full`, `no_timer`, `not_idempotent`, `not_copyable` or
/// `after_redirect` (the
/// fields of [`GiveUps`](crate::GiveUps)). The two gauges are per budget: they need one.
///
/// The happy path adds one to a handle cached at the policy's (or the
/// authority's) first request: no clock read, no allocation, no `Key`
/// built. A recorder installed after that first request is not seen by that
/// handle (a no-op handle cannot be told from a live one in `metrics`
/// 0.24), hence "at startup"; the other metrics are registered when they
/// happen. An authority forgotten to make room keeps its series where the
/// recorder keeps them (its counts stay in [`RetryStats::total`](crate::RetryStats::total)).
///
/// The names follow Prometheus (`_total` on counters: the Prometheus
/// exporter renders names as given) and Envoy's retry statistics, which
/// operators already chart. OpenTelemetry's HTTP client conventions
/// measure `http.client.request.duration`, a histogram: that needs a clock
/// read per request, which this layer does not make on the happy path, and
/// the client or a tracing layer around it already measures the call; the
/// retries of a call are recorded as `http.request.resend_count` on the
/// current span instead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryStats {
    /// The policy's [name](crate::RetryPolicyBuilder::name), if it has one.
    pub name: Option<String>,
    /// Every request of the policy, whatever its authority (including
    /// authorities no longer tracked).
    pub total: RetryCounts,
    /// One entry per authority tracked now, under a per-authority budget
    /// (the default): see [`AuthorityStats`]. Empty without a budget and
    /// under a shared one.
    pub authorities: Vec<AuthorityStats>,
}

/// The counts of one authority (scheme, host and port) under a
/// per-authority budget.
///
/// An authority no longer tracked (forgotten to make room, see
/// [`RetryBudget::max_authorities`](crate::RetryBudget::max_authorities))
/// leaves the list, its counts kept in the policy's total; if it comes
/// back, its counts start from zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorityStats {
    /// `scheme://host:port` (lowercase scheme and host, the default port
    /// made explicit, without the user information a URI may carry); `""` for requests that name none (an
    /// origin-form URI, as above a tonic `Channel`), and `"(overflow)"` for
    /// the state shared by the authorities past `max_authorities`.
    pub authority: String,
    /// Its counts.
    pub counts: RetryCounts,
}

/// What the requests of a policy, or of one authority, went through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryCounts {
    /// Calls through the layer.
    pub requests: u64,
    /// Retries sent, by the class of the failure they followed.
    pub retries: ByClass,
    /// Calls answered after at least one retry: the calls retries saved
    /// (Envoy's `upstream_rq_retry_success`).
    pub retry_successes: u64,
    /// Calls whose connection failure was returned to the caller, by why
    /// it was not retried (again).
    pub give_ups: GiveUps,
    /// Retries waiting now for room in the budget, or for their authority
    /// to answer again.
    pub waiting: u64,
    /// The retries the budget would allow now, if the counts are of one
    /// budget (an authority's, or a shared one); `None` otherwise.
    pub budget_balance: Option<u64>,
}

impl RetryCounts {
    /// Attempts made: every call's first attempt plus its retries.
    pub const fn attempts(&self) -> u64 {
        self.requests.saturating_add(self.retries.total())
    }

    /// Calls whose connection failure was returned to the caller: they
    /// failed anyway.
    ///
    /// Only calls the layer could send again count: a call it never copies
    /// (`max_retries(0)`, or a request that is not idempotent under
    /// [`idempotent_only`](crate::RetryPolicyBuilder::idempotent_only))
    /// passes through untouched and free, counted among the `requests`
    /// only; in the combined placement, the layer around the connector
    /// counts its connect failures.
    pub const fn failed(&self) -> u64 {
        self.give_ups.total()
    }

    /// Retries the budget did not let go (Envoy's
    /// `upstream_rq_retry_overflow`): refused outright, or after waiting
    /// for room as long as the request could, or with no place to wait.
    pub const fn budget_refused(&self) -> u64 {
        self.give_ups
            .budget
            .saturating_add(self.give_ups.waited)
            .saturating_add(self.give_ups.queue_full)
    }
}

impl AddAssign for RetryCounts {
    /// Adds the counts of `other` (the balance is dropped: the sum of
    /// several budgets' balances is no budget's).
    fn add_assign(&mut self, other: Self) {
        self.requests = self.requests.saturating_add(other.requests);
        self.retries += other.retries;
        self.retry_successes = self.retry_successes.saturating_add(other.retry_successes);
        self.give_ups += other.give_ups;
        self.waiting = self.waiting.saturating_add(other.waiting);
        self.budget_balance = None;
    }
}

/// Counts by the [class](crate::ErrorClass) of a retryable failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ByClass {
    /// [`ErrorClass::Connect`](crate::ErrorClass::Connect).
    pub connect: u64,
    /// [`ErrorClass::NotProcessed`](crate::ErrorClass::NotProcessed).
    pub not_processed: u64,
    /// [`ErrorClass::ConnectionLost`](crate::ErrorClass::ConnectionLost).
    pub connection_lost: u64,
}

impl ByClass {
    /// The sum over the classes.
    pub const fn total(&self) -> u64 {
        self.connect
            .saturating_add(self.not_processed)
            .saturating_add(self.connection_lost)
    }
}

impl AddAssign for ByClass {
    fn add_assign(&mut self, other: Self) {
        self.connect = self.connect.saturating_add(other.connect);
        self.not_processed = self.not_processed.saturating_add(other.not_processed);
        self.connection_lost = self.connection_lost.saturating_add(other.connection_lost);
    }
}

/// Calls that returned a connection failure to the caller, by why it was
/// not retried (again). Each call counts once, under the reason it ended
/// with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GiveUps {
    /// `max_retries` were made (Envoy's `upstream_rq_retry_limit_exceeded`).
    pub retries_spent: u64,
    /// The next pause would have ended past `max_elapsed`.
    pub deadline: u64,
    /// The budget refused the retry outright (a zero budget, or no room
    /// before the deadline).
    pub budget: u64,
    /// The retry waited for room, or for its authority to answer, until
    /// `max_wait` or the deadline.
    pub waited: u64,
    /// Too many requests already waited at the authority
    /// ([`RetryBudget::max_waiting`](crate::RetryBudget::max_waiting)).
    pub queue_full: u64,
    /// No timer could be had for the pause.
    pub no_timer: u64,
    /// The connection was lost after the request may have been sent, and
    /// the request is not idempotent: it is never sent twice.
    pub not_idempotent: u64,
    /// The request could not be copied again (a
    /// [`ReplayBody`](crate::ReplayBody) past its limit).
    pub not_copyable: u64,
    /// A connect failed (or a stream was refused) for a request that is not
    /// idempotent, where the client follows redirects below the layer (the
    /// `reqwest` feature's `RetryMiddleware` by default): the failure may
    /// be a later hop's, after the first server processed the request.
    pub after_redirect: u64,
}

impl GiveUps {
    /// The sum over the reasons.
    pub const fn total(&self) -> u64 {
        self.retries_spent
            .saturating_add(self.deadline)
            .saturating_add(self.budget)
            .saturating_add(self.waited)
            .saturating_add(self.queue_full)
            .saturating_add(self.no_timer)
            .saturating_add(self.not_idempotent)
            .saturating_add(self.not_copyable)
            .saturating_add(self.after_redirect)
    }
}

impl AddAssign for GiveUps {
    fn add_assign(&mut self, other: Self) {
        self.retries_spent = self.retries_spent.saturating_add(other.retries_spent);
        self.deadline = self.deadline.saturating_add(other.deadline);
        self.budget = self.budget.saturating_add(other.budget);
        self.waited = self.waited.saturating_add(other.waited);
        self.queue_full = self.queue_full.saturating_add(other.queue_full);
        self.no_timer = self.no_timer.saturating_add(other.no_timer);
        self.not_idempotent = self.not_idempotent.saturating_add(other.not_idempotent);
        self.not_copyable = self.not_copyable.saturating_add(other.not_copyable);
        self.after_redirect = self.after_redirect.saturating_add(other.after_redirect);
    }
}
