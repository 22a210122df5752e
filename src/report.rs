//! What operators see when requests fail for good: one `warn` per interval
//! with counts, never one per request.
//!
//! During an outage every request that spends its retries gives up at
//! once: ten thousand failing requests would be ten thousand warnings
//! exactly when logs matter most. Each give-up is a `debug` event; the
//! `warn` comes at most once a second per policy (shared by every clone of
//! the layer), counting what gave up since the previous one, by reason and
//! by class, with the latest error as an example.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::classify::ErrorClass;

/// The shortest time between two `warn` summaries.
const INTERVAL: Duration = Duration::from_secs(1);

/// Why a request that could have been retried was not.
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
}

impl GiveUp {
    const ALL: [GiveUp; 6] = [
        GiveUp::RetriesSpent,
        GiveUp::Deadline,
        GiveUp::Budget,
        GiveUp::NoTimer,
        GiveUp::Waited,
        GiveUp::QueueFull,
    ];

    const fn as_str(self) -> &'static str {
        match self {
            GiveUp::RetriesSpent => "retries spent",
            GiveUp::Deadline => "the next pause would end past max_elapsed",
            GiveUp::Budget => "the retry budget is spent",
            GiveUp::NoTimer => "no timer for the pause: not on a tokio runtime with its time driver enabled (Builder::enable_time), or a panic = \"abort\" build, where that cannot be checked; set RetryPolicyBuilder::tokio_timer or ::timer",
            GiveUp::Waited => "waited for room in the retry budget, or for the authority to answer, until max_wait or the deadline",
            GiveUp::QueueFull => "too many requests already wait for room at this authority (RetryBudget::max_waiting)",
        }
    }
}

/// The classes a request can give up on (only retryable ones).
const CLASSES: [ErrorClass; 3] = [
    ErrorClass::Connect,
    ErrorClass::NotProcessed,
    ErrorClass::ConnectionLost,
];

fn class_index(class: ErrorClass) -> usize {
    CLASSES.iter().position(|c| *c == class).unwrap_or(0)
}

/// Give-ups counted since the last `warn`, shared by every clone of a
/// policy. Lock-free: a give-up adds to a counter, and the one that finds
/// the interval over takes the counts and writes the summary.
pub(crate) struct GiveUpReport {
    start: Instant,
    // Nanoseconds from `start` of the last summary, plus one; 0: none yet.
    last_warn: AtomicU64,
    counts: [[AtomicU64; CLASSES.len()]; GiveUp::ALL.len()],
}

/// The request a give-up was about, as the events name it: its method and
/// authority, never its path or query (which may carry secrets).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub(crate) method: &'a str,
    pub(crate) authority: &'a str,
}

impl GiveUpReport {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            last_warn: AtomicU64::new(0),
            counts: Default::default(),
        }
    }

    /// Counts one give-up, logs it at `debug`, and writes the `warn`
    /// summary if none was written in the last interval.
    pub(crate) fn record(
        &self,
        reason: GiveUp,
        class: ErrorClass,
        attempts: u32,
        target: Target<'_>,
        error: &dyn fmt::Debug,
    ) {
        tracing::debug!(
            attempts,
            class = class.as_str(),
            method = target.method,
            authority = target.authority,
            error = ?error,
            "connection failure; not retried: {}",
            reason.as_str()
        );
        self.counts[reason as usize][class_index(class)].fetch_add(1, Ordering::Relaxed);

        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let stamp = now.saturating_add(1);
        let last = self.last_warn.load(Ordering::Acquire);
        let due = last == 0 || stamp.saturating_sub(last) >= INTERVAL.as_nanos() as u64;
        if !due {
            return;
        }
        // One caller wins the summary; the others only counted.
        if self
            .last_warn
            .compare_exchange(last, stamp, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let taken = self
            .counts
            .each_ref()
            .map(|row| row.each_ref().map(|count| count.swap(0, Ordering::Relaxed)));
        let by_reason = taken.map(|row| row.iter().sum::<u64>());
        let by_class: [u64; CLASSES.len()] =
            std::array::from_fn(|class| taken.iter().map(|row| row[class]).sum());
        let since_ms = if last == 0 {
            0
        } else {
            (stamp - last) / 1_000_000
        };
        tracing::warn!(
            requests = by_reason.iter().sum::<u64>(),
            retries_spent = by_reason[GiveUp::RetriesSpent as usize],
            deadline = by_reason[GiveUp::Deadline as usize],
            budget_refused = by_reason[GiveUp::Budget as usize],
            no_timer = by_reason[GiveUp::NoTimer as usize],
            waited = by_reason[GiveUp::Waited as usize],
            queue_full = by_reason[GiveUp::QueueFull as usize],
            connect = by_class[0],
            not_processed = by_class[1],
            connection_lost = by_class[2],
            since_ms,
            method = target.method,
            authority = target.authority,
            last_error = ?error,
            "connection failures returned to callers after retrying (at most one such warning a second; each is a debug event)"
        );
    }
}

impl fmt::Debug for GiveUpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GiveUpReport").finish_non_exhaustive()
    }
}
