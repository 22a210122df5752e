//! What operators see when requests fail for good: one `warn` per interval
//! with counts, never one per request, and never a give-up left out.
//!
//! During an outage every request that spends its retries gives up at
//! once: ten thousand failing requests would be ten thousand warnings
//! exactly when logs matter most. Each give-up is a `debug` event; the
//! `warn` summary counts what gave up, by reason and by class. The first
//! give-up after a quiet spell starts an interval: its summary is written
//! when the interval ends (by a timer task holding no more than a weak
//! reference to the policy; or sooner, if the task's runtime shuts down), so it counts the whole burst, not its first
//! request, and every give-up is in a summary within one interval, even if
//! nothing gives up after it. Without a runtime to run that task on, a
//! give-up writes the summary itself once an interval has passed since
//! the last one, and what is left is written when the policy is dropped.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::classify::error_class::{ErrorClass, CLASSES};
use crate::give_up::GiveUp;

/// The time from the first give-up of an interval to its summary, and so
/// the shortest time between two summaries.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// The request a give-up was about, as the events name it: its method and
/// authority, never its path or query, nor the authority's user
/// information (`user:password@`), which may carry secrets. Empty
/// when the request names none (an origin-form URI, a request that is not
/// HTTP): the events then leave the field out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub(crate) method: &'a str,
    pub(crate) authority: &'a str,
}

impl<'a> Target<'a> {
    /// The method, if there is one.
    pub(crate) fn method(&self) -> Option<&'a str> {
        Some(self.method).filter(|method| !method.is_empty())
    }

    /// The authority, if there is one.
    pub(crate) fn authority(&self) -> Option<&'a str> {
        Some(self.authority).filter(|authority| !authority.is_empty())
    }
}

/// A connection failure returned to the caller: what the events say of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Failure<'a> {
    pub(crate) class: ErrorClass,
    pub(crate) attempts: u32,
    pub(crate) target: Target<'a>,
    /// The failure was a timeout (only known when `debug` is enabled).
    pub(crate) timed_out: bool,
}

/// One give-up of the interval, shown in its summary.
struct Example {
    method: Option<String>,
    authority: Option<String>,
    error: String,
}

/// Give-ups counted since the last summary, shared by every clone of a
/// policy. Lock-free but for the example, which only the first give-up of
/// an interval writes.
pub(crate) struct GiveUpReport {
    start: Instant,
    // Nanoseconds from `start` of the last summary, plus one; 0: none yet.
    last_warn: AtomicU64,
    counts: [[AtomicU64; CLASSES.len()]; GiveUp::ALL.len()],
    // A summary is due: its timer task is on its way.
    armed: AtomicBool,
    has_example: AtomicBool,
    example: Mutex<Option<Example>>,
}

impl GiveUpReport {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            last_warn: AtomicU64::new(0),
            counts: Default::default(),
            armed: AtomicBool::new(false),
            has_example: AtomicBool::new(false),
            example: Mutex::new(None),
        }
    }

    /// Counts one give-up, and keeps it as the interval's example if it is
    /// the first.
    pub(crate) fn count(
        &self,
        reason: GiveUp,
        class: usize,
        target: Target<'_>,
        error: &dyn fmt::Debug,
    ) {
        if !self.has_example.swap(true, Ordering::AcqRel) {
            let mut text = String::new();
            let _ = write!(text, "{error:?}");
            let example = Example {
                method: target.method().map(str::to_owned),
                authority: target.authority().map(str::to_owned),
                error: text,
            };
            *self.example.lock().unwrap_or_else(|p| p.into_inner()) = Some(example);
        }
        self.counts[reason as usize][class].fetch_add(1, Ordering::Relaxed);
    }

    /// Marks a summary as on its way; false if one already is.
    pub(crate) fn arm(&self) -> bool {
        !self.armed.swap(true, Ordering::AcqRel)
    }

    /// A summary that was armed will not come (no timer task could be
    /// made).
    pub(crate) fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
    }

    /// Whether an interval has passed since the last summary.
    pub(crate) fn is_due(&self) -> bool {
        let last = self.last_warn.load(Ordering::Acquire);
        last == 0 || self.stamp().saturating_sub(last) >= INTERVAL.as_nanos() as u64
    }

    fn stamp(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// Writes the summary of what gave up since the last one, if anything
    /// did. A give-up counted meanwhile is in this summary or arms the
    /// next: the summary is disarmed before the counts are taken.
    pub(crate) fn flush(&self, policy: Option<&str>) {
        self.armed.store(false, Ordering::Release);
        let taken = self
            .counts
            .each_ref()
            .map(|row| row.each_ref().map(|count| count.swap(0, Ordering::AcqRel)));
        let by_reason = taken.map(|row| row.iter().sum::<u64>());
        let requests: u64 = by_reason.iter().sum();
        if requests == 0 {
            return;
        }
        let by_class: [u64; CLASSES.len()] =
            std::array::from_fn(|class| taken.iter().map(|row| row[class]).sum());
        let example = self
            .example
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.has_example.store(false, Ordering::Release);
        let stamp = self.stamp();
        let last = self.last_warn.swap(stamp, Ordering::AcqRel);
        let since_ms = if last == 0 {
            None
        } else {
            Some(stamp.saturating_sub(last) / 1_000_000)
        };
        let (method, authority, error) = match &example {
            Some(example) => (
                example.method.as_deref(),
                example.authority.as_deref(),
                Some(example.error.as_str()),
            ),
            None => (None, None, None),
        };
        let reason = |reason: GiveUp| by_reason[reason as usize];
        tracing::warn!(
            target: "tower_conn_retry",
            policy,
            requests,
            retries_spent = reason(GiveUp::RetriesSpent),
            deadline = reason(GiveUp::Deadline),
            budget = reason(GiveUp::Budget),
            no_timer = reason(GiveUp::NoTimer),
            waited = reason(GiveUp::Waited),
            queue_full = reason(GiveUp::QueueFull),
            not_idempotent = reason(GiveUp::NotIdempotent),
            not_copyable = reason(GiveUp::NotCopyable),
            after_redirect = reason(GiveUp::AfterRedirect),
            connect = by_class[0],
            not_processed = by_class[1],
            connection_lost = by_class[2],
            since_ms,
            method,
            authority,
            error = error.map(tracing::field::display),
            "connection failures returned to callers (at most one such warning a second; each is a debug event)"
        );
    }
}

impl fmt::Debug for GiveUpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GiveUpReport").finish_non_exhaustive()
    }
}
