//! The lock-free counts behind [`RetryStats`](crate::RetryStats): one set
//! per policy, and one per tracked authority under a per-authority budget.
//!
//! The happy path adds one to `requests` (a relaxed `fetch_add`, no clock,
//! no allocation); everything else is counted only when a request fails.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::classify::error_class::{class_index, ErrorClass, CLASSES};
use crate::give_up::GiveUp;
use crate::observe::stats::{ByClass, GiveUps, RetryCounts};

/// The counts of a policy or an authority.
#[derive(Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    retries: [AtomicU64; CLASSES.len()],
    retry_successes: AtomicU64,
    give_ups: [AtomicU64; GiveUp::ALL.len()],
    /// Where the counts are published (feature `metrics`).
    #[cfg(feature = "metrics")]
    published: crate::observe::metrics::Published,
}

impl Counters {
    /// The counts of `policy` (its name) at `authority`, published under
    /// those labels with the `metrics` feature (see `observe/metrics.rs`).
    pub(crate) fn published(policy: Option<&str>, authority: Option<&str>) -> Self {
        let counters = Self::default();
        #[cfg(feature = "metrics")]
        let counters = Self {
            published: crate::observe::metrics::Published::new(policy, authority),
            ..counters
        };
        #[cfg(not(feature = "metrics"))]
        let _ = (policy, authority);
        counters
    }

    /// Where the counts are published.
    #[cfg(feature = "metrics")]
    pub(crate) fn publish(&self) -> &crate::observe::metrics::Published {
        &self.published
    }

    /// One call through the layer.
    #[inline]
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.published.request();
    }

    /// The requests counted so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// One retry after a failure of `class`.
    pub(crate) fn retry(&self, class: ErrorClass) {
        self.retries[class_index(class)].fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.published.retry(class);
    }

    /// One call answered after at least one retry.
    pub(crate) fn retry_success(&self) {
        self.retry_successes.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.published.retry_success();
    }

    /// One call that returned its connection failure, for `reason`.
    pub(crate) fn give_up(&self, reason: GiveUp) {
        self.give_ups[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now (with no waiting and no balance: those are the
    /// budget's and the gate's).
    pub(crate) fn read(&self) -> RetryCounts {
        let load = |count: &AtomicU64| count.load(Ordering::Relaxed);
        let give_up = |reason: GiveUp| load(&self.give_ups[reason as usize]);
        RetryCounts {
            requests: load(&self.requests),
            retries: ByClass {
                connect: load(&self.retries[0]),
                not_processed: load(&self.retries[1]),
                connection_lost: load(&self.retries[2]),
            },
            retry_successes: load(&self.retry_successes),
            give_ups: GiveUps {
                retries_spent: give_up(GiveUp::RetriesSpent),
                deadline: give_up(GiveUp::Deadline),
                budget: give_up(GiveUp::Budget),
                waited: give_up(GiveUp::Waited),
                queue_full: give_up(GiveUp::QueueFull),
                no_timer: give_up(GiveUp::NoTimer),
                not_idempotent: give_up(GiveUp::NotIdempotent),
                not_copyable: give_up(GiveUp::NotCopyable),
                after_redirect: give_up(GiveUp::AfterRedirect),
            },
            waiting: 0,
            budget_balance: None,
        }
    }

    /// Adds what `other` counted (an authority forgotten from the table:
    /// its counts stay in the policy's total).
    pub(crate) fn absorb(&self, other: &Counters) {
        let pairs = std::iter::once((&self.requests, &other.requests))
            .chain(self.retries.iter().zip(&other.retries))
            .chain(std::iter::once((
                &self.retry_successes,
                &other.retry_successes,
            )))
            .chain(self.give_ups.iter().zip(&other.give_ups));
        for (into, from) in pairs {
            into.fetch_add(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Counters").field(&self.read()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_count_lands_in_its_own_field() {
        let counters = Counters::default();
        counters.request();
        counters.request();
        counters.retry(ErrorClass::Connect);
        counters.retry(ErrorClass::NotProcessed);
        counters.retry(ErrorClass::NotProcessed);
        counters.retry(ErrorClass::ConnectionLost);
        counters.retry_success();
        for (n, reason) in GiveUp::ALL.into_iter().enumerate() {
            for _ in 0..=n {
                counters.give_up(reason);
            }
        }
        let counts = counters.read();
        assert_eq!(counts.requests, 2);
        assert_eq!(
            (
                counts.retries.connect,
                counts.retries.not_processed,
                counts.retries.connection_lost
            ),
            (1, 2, 1)
        );
        assert_eq!(counts.retry_successes, 1);
        let g = counts.give_ups;
        assert_eq!(
            [
                g.retries_spent,
                g.deadline,
                g.budget,
                g.no_timer,
                g.waited,
                g.queue_full,
                g.not_idempotent,
                g.not_copyable,
                g.after_redirect
            ],
            [1, 2, 3, 4, 5, 6, 7, 8, 9],
            "in the order of GiveUp::ALL"
        );
        assert_eq!(counts.attempts(), 6);
        assert_eq!(counts.budget_refused(), 3 + 5 + 6);

        let total = Counters::default();
        total.request();
        total.absorb(&counters);
        let mut expected = counts;
        expected.requests += 1;
        assert_eq!(total.read(), expected);
    }
}
