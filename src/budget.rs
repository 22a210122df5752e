//! A retry budget: retries may add only a set fraction of extra load.
//!
//! In the spirit of Finagle's and linkerd's retry budgets and gRPC's retry
//! throttling: every request deposits, every retry withdraws, and a retry is
//! allowed only while the retries of the last `window` stay within
//! `ratio x requests + min_per_second x window`. During an outage the ratio
//! caps the extra load retries add, so failing clients do not turn the
//! outage into a retry storm; the floor keeps a quiet client able to retry.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::saturating_nanos;

/// How many slots the window is cut into; the window slides one slot at a
/// time.
const SLOTS: usize = 10;

/// The settings of a retry budget, shared by every clone of the policy it is
/// given to.
///
/// # Default
///
/// [`RetryBudget::default()`]: retries may add 20% to the requests of the
/// last 10 s, plus a floor of 10 retries per second.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_conn_retry::{RetryBudget, RetryPolicy};
///
/// let policy = RetryPolicy::builder()
///     .budget(
///         RetryBudget::default()
///             .ratio(0.1)
///             .min_per_second(5)
///             .window(Duration::from_secs(30)),
///     )
///     .build()?;
/// # let _ = policy;
/// # Ok::<(), tower_conn_retry::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudget {
    pub(crate) ratio: f64,
    pub(crate) min_per_second: u32,
    pub(crate) window: Duration,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_per_second: 10,
            window: Duration::from_secs(10),
        }
    }
}

impl RetryBudget {
    /// Retries allowed per request over the window, from 0 to 10 (1000%);
    /// default 0.2.
    pub const fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Retries per second allowed whatever the traffic; default 10.
    pub const fn min_per_second(mut self, min_per_second: u32) -> Self {
        self.min_per_second = min_per_second;
        self
    }

    /// The sliding window over which requests and retries are counted;
    /// default 10 s.
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }
}

/// The shared, lock-free state of a [`RetryBudget`].
pub(crate) struct BudgetState {
    settings: RetryBudget,
    start: Instant,
    slot_nanos: u64,
    // Each slot packs (epoch: high 32 bits, count: low 32 bits), so a stale
    // slot is recognized and restarted in the same compare-and-swap.
    requests: [AtomicU64; SLOTS],
    retries: [AtomicU64; SLOTS],
}

impl BudgetState {
    /// Made by `build()` after the settings were checked: `window` is not
    /// zero.
    pub(crate) fn new(settings: RetryBudget) -> Self {
        let window_nanos = saturating_nanos(settings.window);
        Self {
            settings,
            start: Instant::now(),
            slot_nanos: (window_nanos / SLOTS as u64).max(1),
            requests: Default::default(),
            retries: Default::default(),
        }
    }

    /// Counts one request.
    pub(crate) fn deposit(&self) {
        let epoch = self.epoch();
        add(&self.requests[epoch as usize % SLOTS], epoch);
    }

    /// Takes one retry if the budget allows it now.
    pub(crate) fn withdraw(&self) -> bool {
        let epoch = self.epoch();
        let requests = sum(&self.requests, epoch);
        let retries = sum(&self.retries, epoch);
        let floor = f64::from(self.settings.min_per_second) * self.settings.window.as_secs_f64();
        let allowed = self.settings.ratio * requests as f64 + floor;
        // Two concurrent withdrawals may both see room for one; a budget
        // bounds load, it is not a semaphore, so that overshoot is accepted.
        if (retries as f64) < allowed {
            add(&self.retries[epoch as usize % SLOTS], epoch);
            true
        } else {
            false
        }
    }

    /// The current slot number, counted from the budget's creation; it wraps
    /// after 2^32 slots, long after any slot it could be mistaken for.
    fn epoch(&self) -> u32 {
        (self.start.elapsed().as_nanos() / u128::from(self.slot_nanos)) as u32
    }
}

/// Adds one to `slot` for `epoch`, restarting it if it holds an older one.
fn add(slot: &AtomicU64, epoch: u32) {
    let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |packed| {
        let (slot_epoch, count) = unpack(packed);
        Some(if slot_epoch == epoch {
            pack(epoch, count.saturating_add(1))
        } else {
            pack(epoch, 1)
        })
    });
}

/// The counts of the slots still inside the window ending at `epoch`.
fn sum(slots: &[AtomicU64; SLOTS], epoch: u32) -> u64 {
    slots
        .iter()
        .map(|slot| unpack(slot.load(Ordering::Acquire)))
        .filter(|&(slot_epoch, _)| epoch.wrapping_sub(slot_epoch) < SLOTS as u32)
        .map(|(_, count)| u64::from(count))
        .sum()
}

fn pack(epoch: u32, count: u32) -> u64 {
    (u64::from(epoch) << 32) | u64::from(count)
}

fn unpack(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, packed as u32)
}

impl fmt::Debug for BudgetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let epoch = self.epoch();
        f.debug_struct("BudgetState")
            .field("settings", &self.settings)
            .field("requests", &sum(&self.requests, epoch))
            .field("retries", &sum(&self.retries, epoch))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(ratio: f64, min_per_second: u32, window_secs: u64) -> BudgetState {
        BudgetState::new(
            RetryBudget::default()
                .ratio(ratio)
                .min_per_second(min_per_second)
                .window(Duration::from_secs(window_secs)),
        )
    }

    fn withdrawals(budget: &BudgetState, tries: usize) -> usize {
        (0..tries).filter(|_| budget.withdraw()).count()
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_a_fraction_of_requests() {
        let budget = budget(0.2, 0, 10);
        for _ in 0..1_000 {
            budget.deposit();
        }
        assert_eq!(withdrawals(&budget, 1_000), 200);
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_allows_retries_without_traffic() {
        let budget = budget(0.2, 10, 10);
        // 10 per second over a 10 s window.
        assert_eq!(withdrawals(&budget, 1_000), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_budget_refuses_every_retry() {
        let budget = budget(0.0, 0, 10);
        for _ in 0..100 {
            budget.deposit();
        }
        assert_eq!(withdrawals(&budget, 10), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn old_requests_and_retries_slide_out_of_the_window() {
        let budget = budget(0.5, 0, 10);
        for _ in 0..100 {
            budget.deposit();
        }
        assert_eq!(withdrawals(&budget, 100), 50);
        tokio::time::advance(Duration::from_secs(5)).await;
        // Still inside the window: nothing more.
        assert_eq!(withdrawals(&budget, 100), 0);
        tokio::time::advance(Duration::from_secs(6)).await;
        // Both the requests and the retries have slid out.
        assert_eq!(withdrawals(&budget, 100), 0);
        for _ in 0..10 {
            budget.deposit();
        }
        assert_eq!(withdrawals(&budget, 100), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_reused_after_a_full_turn_starts_from_zero() {
        let budget = budget(1.0, 0, 10);
        for _ in 0..100 {
            budget.deposit();
        }
        // Exactly one window later the same slot index comes around.
        tokio::time::advance(Duration::from_secs(10)).await;
        budget.deposit();
        assert_eq!(withdrawals(&budget, 100), 1);
    }

    #[test]
    fn counts_pack_and_unpack() {
        assert_eq!(unpack(pack(7, 9)), (7, 9));
        assert_eq!(unpack(pack(u32::MAX, u32::MAX)), (u32::MAX, u32::MAX));
    }

    #[test]
    fn concurrent_deposits_are_all_counted() {
        let budget = std::sync::Arc::new(budget(1.0, 0, 10));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || (0..10_000).for_each(|_| budget.deposit()))
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(sum(&budget.requests, budget.epoch()), 40_000);
    }
}
