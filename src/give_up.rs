//! Why a connection failure was returned to the caller: the give-up
//! reasons that the retry decision (`future`), the gate (`admission`) and
//! what operators see (`observe`: the events, the summaries, the counts,
//! the metrics) all name.
//!
//! Vocabulary: this file imports nothing of the crate.

/// Why a connection failure was returned to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// `max_retries` were made.
    RetriesSpent,
    /// The next pause would end past `max_elapsed`.
    Deadline,
    /// The retry budget refused the retry.
    Budget,
    /// No timer could be had for the pause.
    NoTimer,
    /// The retry waited for room (or for its authority to answer) as long
    /// as it could.
    Waited,
    /// Too many requests already waited for room at its authority.
    QueueFull,
    /// The connection was lost after the request may have been sent, and
    /// the request is not idempotent.
    NotIdempotent,
    /// The request could not be copied again.
    NotCopyable,
    /// A connect failed (or a stream was refused) where the client follows
    /// redirects below the layer, so the failure may be a later hop's, after
    /// the first server processed the request, and the request is not
    /// idempotent.
    AfterRedirect,
}

impl GiveUp {
    pub(crate) const ALL: [GiveUp; 9] = [
        GiveUp::RetriesSpent,
        GiveUp::Deadline,
        GiveUp::Budget,
        GiveUp::NoTimer,
        GiveUp::Waited,
        GiveUp::QueueFull,
        GiveUp::NotIdempotent,
        GiveUp::NotCopyable,
        GiveUp::AfterRedirect,
    ];

    /// The reason as a field of the summary and a metric label.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            GiveUp::RetriesSpent => "retries_spent",
            GiveUp::Deadline => "deadline",
            GiveUp::Budget => "budget",
            GiveUp::NoTimer => "no_timer",
            GiveUp::Waited => "waited",
            GiveUp::QueueFull => "queue_full",
            GiveUp::NotIdempotent => "not_idempotent",
            GiveUp::NotCopyable => "not_copyable",
            GiveUp::AfterRedirect => "after_redirect",
        }
    }

    /// The reason as the `debug` event says it, for a failure that
    /// `timed_out` or not.
    pub(crate) const fn says(self, timed_out: bool) -> &'static str {
        match self {
            GiveUp::NotIdempotent if timed_out => "timed out after the request may have been sent; not retried, as the request is not idempotent",
            GiveUp::RetriesSpent => "retries spent",
            GiveUp::Deadline => "the next pause would end past max_elapsed",
            GiveUp::Budget => "the retry budget is spent",
            GiveUp::NoTimer => "no timer for the pause: not on a tokio runtime with its time driver enabled (Builder::enable_time), or a panic = \"abort\" build, where that cannot be checked; set RetryPolicyBuilder::tokio_timer or ::timer",
            GiveUp::Waited => "waited for room in the retry budget, or for the authority to answer, until max_wait or the deadline",
            GiveUp::QueueFull => "too many requests already wait for room at this authority (RetryBudget::max_waiting)",
            GiveUp::NotIdempotent => "connection lost after the request may have been sent; not retried, as the request is not idempotent",
            GiveUp::NotCopyable => "the request could not be copied again (a ReplayBody past its limit)",
            GiveUp::AfterRedirect => "connect failed where the client follows redirects below the layer (a later hop's, maybe, after the first server processed the request); not retried, as the request is not idempotent",
        }
    }
}
