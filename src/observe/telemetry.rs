//! A policy's telemetry: its name, its counts, and its summaries, shared
//! by every clone of the policy.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use crate::classify::error_class::class_index;
use crate::give_up::GiveUp;
use crate::observe::counters::Counters;
use crate::observe::report::{Failure, GiveUpReport, INTERVAL};
use crate::timer::Timer;

pub(crate) struct Telemetry {
    name: Option<Arc<str>>,
    /// The counts of requests with no authority state of their own (no
    /// budget), and of the authorities forgotten from the table.
    pub(crate) counters: Counters,
    report: GiveUpReport,
    // The timer failed a summary once (tokio's, on a runtime without its
    // time driver: a panic contained, which the panic hook still sees):
    // the summaries are written inline from then on, not asked of the
    // timer again at every give-up.
    no_timer: AtomicBool,
}

impl Telemetry {
    pub(crate) fn new(name: Option<Arc<str>>) -> Self {
        Self {
            counters: Counters::published(name.as_deref(), None),
            name,
            report: GiveUpReport::new(),
            no_timer: AtomicBool::new(false),
        }
    }

    /// The policy's name, if it has one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// A connection failure returned to the caller, for `reason`: counted
    /// in `counters` (its authority's, or the policy's), logged at
    /// `debug`, and reported in the next summary.
    pub(crate) fn give_up(
        self: &Arc<Self>,
        counters: &Counters,
        timer: &Timer,
        reason: GiveUp,
        failure: Failure<'_>,
        error: &dyn fmt::Debug,
    ) {
        let Failure {
            class,
            attempts,
            target,
            timed_out,
        } = failure;
        tracing::debug!(
            target: "tower_conn_retry",
            policy = self.name(),
            attempts,
            class = class.as_str(),
            reason = reason.label(),
            timeout = timed_out.then_some(true),
            method = target.method(),
            authority = target.authority(),
            error = ?error,
            "connection failure returned: {}",
            reason.says(timed_out)
        );
        counters.give_up(reason);
        #[cfg(feature = "metrics")]
        counters.publish().give_up(reason, class);
        self.report.count(reason, class_index(class), target, error);
        if self.report.arm() && !self.flush_later(timer) {
            // No task can write the summary later: write it now if an
            // interval has passed since the last one.
            self.report.disarm();
            if self.report.is_due() {
                self.report.flush(self.name());
            }
        }
    }

    /// Writes the summary one interval from now, from a task on the
    /// current tokio runtime that holds the policy only weakly (dropping
    /// the policy writes what is left). False if there is no runtime or no
    /// timer (and, once the timer failed, from then on).
    fn flush_later(self: &Arc<Self>, timer: &Timer) -> bool {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        if self.no_timer.load(Ordering::Relaxed) {
            return false;
        }
        // The summary's timer is always the checked one: a policy trusted
        // with `tokio_timer()` may never pause (no backoff, no budget) on
        // a runtime without the time driver, and its give-ups must not
        // make tokio panic.
        let timer = match timer {
            Timer::TokioTrusted => &Timer::Tokio,
            timer => timer,
        };
        let Ok(pause) = timer.pause(INTERVAL) else {
            self.no_timer.store(true, Ordering::Relaxed);
            return false;
        };
        // The summary is written when the task ends, however it ends: a
        // runtime shut down before the interval is over (a short-lived
        // runtime, a `#[tokio::test]`'s) drops the task unrun, and the
        // summary, armed, would otherwise never be written, nor any later
        // one while the policy lives.
        let flush = FlushOnDrop(Arc::downgrade(self));
        drop(runtime.spawn(async move {
            pause.await;
            drop(flush);
        }));
        true
    }
}

/// Writes the policy's summary when dropped, if the policy is still there.
struct FlushOnDrop(Weak<Telemetry>);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        if let Some(telemetry) = self.0.upgrade() {
            telemetry.report.flush(telemetry.name());
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.report.flush(self.name());
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("name", &self.name)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}
