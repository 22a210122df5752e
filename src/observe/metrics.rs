//! The counts published through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`): what [`RetryStats`](crate::RetryStats)' `# Metrics`
//! lists.
//!
//! Each set of [`Counters`](crate::observe::counters::Counters) (a policy's, or an
//! authority state's) carries a [`Published`]: its labels, and the handles
//! it caches. The happy path touches only the `requests` handle, cached in
//! a `OnceLock` at the set's first request: then one atomic load and the
//! handle's own branch (`metrics::Counter::increment` on a no-op handle,
//! `metrics-0.24.6/src/handles.rs`, is `if let Some(c) = &self.inner`), no
//! clock, no allocation, no `Key` built. Everything else is counted only
//! when a request fails, through the macros.
//!
//! A handle is registered with the recorder in place at the time
//! (`metrics::with_recorder`, `metrics-0.24.6/src/recorder/mod.rs`: the
//! thread's local recorder, else the global one, else a no-op), and a no-op
//! handle cannot be told from a live one (`Counter::inner` is private), so
//! a recorder installed after a policy's (or an authority's) first request
//! does not see that request counter: install it at startup.

use std::sync::OnceLock;

use ::metrics::{Counter, Gauge, Label, Unit};

use crate::classify::error_class::ErrorClass;
use crate::give_up::GiveUp;

/// Calls through the layer.
pub(crate) const REQUESTS: &str = "tower_conn_retry_requests_total";
/// Retries sent, by class.
pub(crate) const RETRIES: &str = "tower_conn_retry_retries_total";
/// Calls answered after at least one retry.
pub(crate) const RETRY_SUCCESSES: &str = "tower_conn_retry_retry_successes_total";
/// Calls whose connection failure was returned, by reason and class.
pub(crate) const GIVE_UPS: &str = "tower_conn_retry_give_ups_total";
/// Give-ups the budget caused (reasons `budget`, `waited`, `queue_full`).
pub(crate) const BUDGET_REFUSED: &str = "tower_conn_retry_budget_refused_total";
/// Retries waiting at an authority's gate now.
pub(crate) const WAITING: &str = "tower_conn_retry_waiting";
/// The retries the budget allowed at the latest retry decision.
pub(crate) const BUDGET_BALANCE: &str = "tower_conn_retry_budget_balance";

/// The labels and cached handles of one set of counts.
#[derive(Default)]
pub(crate) struct Published {
    // `policy` and `authority`, each if known.
    labels: Vec<Label>,
    requests: OnceLock<Counter>,
    waiting: OnceLock<Gauge>,
}

impl Published {
    /// The counts of `policy` (its name, if it has one) at `authority`
    /// (`scheme://host:port`, `(overflow)`, or none for a policy's own
    /// counts and a shared budget's).
    pub(crate) fn new(policy: Option<&str>, authority: Option<&str>) -> Self {
        let labels = [("policy", policy), ("authority", authority)]
            .into_iter()
            .filter_map(|(key, value)| Some(Label::new(key, value?.to_owned())))
            .collect();
        Self {
            labels,
            requests: OnceLock::new(),
            waiting: OnceLock::new(),
        }
    }

    /// The labels, and `extra`.
    fn labels<const N: usize>(&self, extra: [(&'static str, &'static str); N]) -> Vec<Label> {
        let mut labels = Vec::with_capacity(self.labels.len() + N);
        labels.extend_from_slice(&self.labels);
        labels.extend(
            extra
                .into_iter()
                .map(|(key, value)| Label::from_static_parts(key, value)),
        );
        labels
    }

    /// One call through the layer: the happy path's only touch.
    #[inline]
    pub(crate) fn request(&self) {
        match self.requests.get() {
            Some(requests) => requests.increment(1),
            None => self.first_request(),
        }
    }

    #[cold]
    #[inline(never)]
    fn first_request(&self) {
        self.requests
            .get_or_init(|| {
                describe();
                ::metrics::counter!(REQUESTS, self.labels.clone())
            })
            .increment(1);
    }

    /// One retry after a failure of `class`.
    pub(crate) fn retry(&self, class: ErrorClass) {
        ::metrics::counter!(RETRIES, self.labels([("class", class.as_str())])).increment(1);
    }

    /// One call answered after at least one retry.
    pub(crate) fn retry_success(&self) {
        ::metrics::counter!(RETRY_SUCCESSES, self.labels([])).increment(1);
    }

    /// One call that returned its connection failure of `class`, for
    /// `reason`.
    pub(crate) fn give_up(&self, reason: GiveUp, class: ErrorClass) {
        let labels = self.labels([("reason", reason.label()), ("class", class.as_str())]);
        ::metrics::counter!(GIVE_UPS, labels).increment(1);
        if matches!(reason, GiveUp::Budget | GiveUp::Waited | GiveUp::QueueFull) {
            ::metrics::counter!(BUDGET_REFUSED, self.labels([])).increment(1);
        }
    }

    fn waiting(&self) -> &Gauge {
        self.waiting
            .get_or_init(|| ::metrics::gauge!(WAITING, self.labels.clone()))
    }

    /// A retry began to wait at the gate.
    pub(crate) fn wait_began(&self) {
        self.waiting().increment(1.0);
    }

    /// A retry stopped waiting at the gate (it went, gave up, or was
    /// dropped).
    pub(crate) fn wait_ended(&self) {
        self.waiting().decrement(1.0);
    }

    /// The waiting gauge is published (at its value) once a retry asked
    /// the gate, even if none ever waited.
    pub(crate) fn gate_asked(&self) {
        self.waiting().increment(0.0);
    }

    /// The retries the budget allows now, read at a retry decision.
    pub(crate) fn budget_balance(&self, balance: u64) {
        ::metrics::gauge!(BUDGET_BALANCE, self.labels([])).set(balance as f64);
    }
}

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Published")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// Describes every metric to the recorder in place (at each first
/// request of a set of counts: a recorder keeps the latest description).
fn describe() {
    use ::metrics::{describe_counter, describe_gauge};
    describe_counter!(REQUESTS, Unit::Count, "Calls through the retry layer");
    describe_counter!(
        RETRIES,
        Unit::Count,
        "Retries sent, by the class of the connection failure they followed"
    );
    describe_counter!(
        RETRY_SUCCESSES,
        Unit::Count,
        "Calls answered after at least one retry"
    );
    describe_counter!(
        GIVE_UPS,
        Unit::Count,
        "Calls whose connection failure was returned to the caller, by reason and class"
    );
    describe_counter!(
        BUDGET_REFUSED,
        Unit::Count,
        "Calls the retry budget gave up (reasons budget, waited, queue_full)"
    );
    describe_gauge!(
        WAITING,
        Unit::Count,
        "Retries waiting now for room in the budget or for their authority to answer"
    );
    describe_gauge!(
        BUDGET_BALANCE,
        Unit::Count,
        "Retries the budget allowed at the latest retry decision"
    );
}
