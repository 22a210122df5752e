//! Backoff and jitter: pure delay arithmetic, no I/O.
//!
//! The formulas are those of Marc Brooker, "Exponential Backoff and Jitter"
//! (AWS Architecture Blog, 2015). Nothing here sleeps or reads a clock, so the
//! whole module is tested by asserting exact delay sequences.

use std::fmt;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// How much randomness is mixed into each pause.
///
/// Without jitter, clients that failed together retry together, and an
/// outage turns into synchronized waves of load. Brooker's measurements show
/// `Full` jitter doing the least total work, which is why it is the default.
///
/// With `t = min(max_delay, base * factor^n)` for retry number `n` (from 0):
///
/// | jitter | pause |
/// |---|---|
/// | `None` | `t` |
/// | `Full` | uniform in `[0, t]` |
/// | `Equal` | `t/2 + ` uniform in `[0, t/2]` |
/// | `Decorrelated` | `min(max_delay, ` uniform in `[base, 3 * previous pause]` `)` |
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_conn_retry::{Backoff, Jitter};
///
/// let backoff = Backoff::exponential(Duration::from_millis(100)).jitter(Jitter::Equal);
/// assert_eq!(backoff.jitter_kind(), Jitter::Equal);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: the pause is exactly `min(max_delay, base * factor^n)`.
    None,
    /// A pause drawn uniformly from `[0, t]` (the default).
    #[default]
    Full,
    /// Half of `t` for sure, plus a uniform draw from `[0, t/2]`.
    Equal,
    /// A uniform draw from `[base, 3 * previous pause]`, then capped at
    /// `max_delay` (Brooker's `min(cap, random_between(base, sleep * 3))`):
    /// once the pauses reach the cap, about two in three equal it. The
    /// growth comes from the previous pause, so `factor` is not used.
    Decorrelated,
}

/// Exponential backoff settings: `base * factor^n`, capped at `max_delay`,
/// with a [`Jitter`].
///
/// Durations are kept in nanoseconds and saturate at `u64::MAX` ns (about
/// 584 years). `Backoff` is a plain value: it is checked when
/// [`RetryPolicyBuilder::build`](crate::RetryPolicyBuilder::build) runs, so
/// an invalid value is a [`ConfigError`](crate::ConfigError), never a panic.
/// Its arithmetic saturates: no attempt number, up to `u32::MAX`, overflows.
///
/// # Default
///
/// [`Backoff::default()`] is `exponential(100 ms)`, `factor` 2,
/// `max_delay` 10 s, [`Jitter::Full`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_conn_retry::{Backoff, Jitter};
///
/// let backoff = Backoff::exponential(Duration::from_millis(50))
///     .factor(2.0)
///     .max_delay(Duration::from_secs(2))
///     .jitter(Jitter::None);
///
/// let pauses: Vec<_> = backoff.delays(7).take(4).collect();
/// assert_eq!(pauses, [50, 100, 200, 400].map(Duration::from_millis));
/// ```
#[derive(Clone, Copy, PartialEq)]
pub struct Backoff {
    // Nanoseconds, converted once here rather than on every pause;
    // durations past `u64::MAX` ns (about 584 years) saturate.
    base_ns: u64,
    pub(crate) factor: f64,
    max_delay_ns: u64,
    pub(crate) jitter: Jitter,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::exponential(Duration::from_millis(100))
    }
}

impl Backoff {
    /// Exponential backoff starting at `base`, with `factor` 2, `max_delay`
    /// 10 s (or `base`, if that is larger) and [`Jitter::Full`].
    #[must_use]
    pub const fn exponential(base: Duration) -> Self {
        let base_ns = saturating_nanos(base);
        let ten_seconds_ns = 10_000_000_000;
        Self {
            base_ns,
            factor: 2.0,
            max_delay_ns: if base_ns > ten_seconds_ns {
                base_ns
            } else {
                ten_seconds_ns
            },
            jitter: Jitter::Full,
        }
    }

    /// No pause at all: every retry is sent at once.
    ///
    /// Meant for tests and benchmarks that measure the retry machinery
    /// itself. Against a real outage it gives no relief to the server, so
    /// production policies want [`Backoff::exponential`].
    #[must_use]
    pub const fn none() -> Self {
        Self {
            base_ns: 0,
            factor: 1.0,
            max_delay_ns: 0,
            jitter: Jitter::None,
        }
    }

    /// Sets the growth factor between pauses (at least 1; default 2).
    #[must_use = "a Backoff is a value: use the one this returns"]
    pub const fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Sets the cap on any single pause (default 10 s; at least `base`).
    #[must_use = "a Backoff is a value: use the one this returns"]
    pub const fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay_ns = saturating_nanos(max_delay);
        self
    }

    /// Sets the [`Jitter`] kind (default [`Jitter::Full`]).
    ///
    /// `Backoff` is a `Copy` value and its setters return the new value:
    /// dropping it is a warning (an error here), since it changes nothing.
    ///
    /// ```compile_fail
    /// #![deny(unused_must_use)]
    /// use tower_conn_retry::{Backoff, Jitter};
    ///
    /// let backoff = Backoff::default();
    /// backoff.jitter(Jitter::None); // error: unused return value
    /// ```
    #[must_use = "a Backoff is a value: use the one this returns"]
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The first, smallest un-jittered pause.
    pub const fn base(&self) -> Duration {
        Duration::from_nanos(self.base_ns)
    }

    /// The growth factor between pauses.
    pub const fn growth_factor(&self) -> f64 {
        self.factor
    }

    /// The cap on any single pause.
    pub const fn cap(&self) -> Duration {
        Duration::from_nanos(self.max_delay_ns)
    }

    /// The [`Jitter`] kind.
    pub const fn jitter_kind(&self) -> Jitter {
        self.jitter
    }

    /// True for [`Backoff::none`]: every pause is zero.
    pub(crate) fn is_none(&self) -> bool {
        self.max_delay_ns == 0
    }

    /// The pause before retry number `retry` (from 0), given the previous
    /// pause (used only by [`Jitter::Decorrelated`]; `base` before the
    /// first retry), drawing its jitter from `rng`.
    ///
    /// The result always lies within `[0, max_delay]`; for
    /// `Decorrelated` within `[min(base, max_delay), max_delay]`.
    pub(crate) fn delay(&self, retry: u32, previous: Duration, rng: &mut SmallRng) -> Duration {
        let cap = self.max_delay_ns;
        let nanos = match self.jitter {
            Jitter::None => self.ceiling(retry, cap),
            Jitter::Full => rng.random_range(0..=self.ceiling(retry, cap)),
            Jitter::Equal => {
                let t = self.ceiling(retry, cap);
                let half = t / 2;
                // `t - half` rather than `half` again, so an odd `t` is reached.
                half + rng.random_range(0..=t - half)
            }
            Jitter::Decorrelated => {
                // min(cap, uniform(base, 3 * previous)): the draw is capped
                // after it is made, so at the cap most pauses equal it.
                let base = self.base_ns;
                let upper = saturating_nanos(previous).saturating_mul(3).max(base);
                rng.random_range(base..=upper).min(cap)
            }
        };
        Duration::from_nanos(nanos)
    }

    /// An endless iterator over successive pauses, its jitter drawn from a
    /// generator seeded with `seed`: the same seed gives the same pauses.
    ///
    /// It is the same arithmetic the layer uses: a policy seeded with
    /// [`jitter_seed(seed)`](crate::RetryPolicyBuilder::jitter_seed) makes
    /// exactly these pauses for its first retrying request when nothing
    /// else fails. What can lengthen them: a wait at the authority's gate,
    /// while other requests' connects fail there (one retry at a time
    /// probes it) or while the budget has no room for a charged retry, up
    /// to the budget's `max_wait` in all (see
    /// [`RetryBudget`](crate::RetryBudget)); and the timer, which wakes at
    /// its own granularity (tokio's, the next millisecond).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_conn_retry::{Backoff, Jitter};
    ///
    /// let backoff = Backoff::exponential(Duration::from_millis(10))
    ///     .max_delay(Duration::from_secs(1))
    ///     .jitter(Jitter::Full);
    /// let pauses: Vec<_> = backoff.delays(42).take(8).collect();
    /// assert_eq!(pauses, backoff.delays(42).take(8).collect::<Vec<_>>());
    /// assert!(pauses.iter().all(|p| *p <= Duration::from_secs(1)));
    /// ```
    pub fn delays(self, seed: u64) -> Delays {
        Delays {
            backoff: self,
            retry: 0,
            previous: self.base(),
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// `min(cap, base * factor^retry)` in nanoseconds, saturating.
    fn ceiling(&self, retry: u32, cap: u64) -> u64 {
        // powi takes an i32; any exponent that large already saturates, as
        // factor >= 1 is checked by the builder. f64 -> u64 `as` saturates,
        // and NaN cannot arise from a finite base and a finite factor >= 1.
        let exponent = retry.min(i32::MAX as u32) as i32;
        let grown = self.base_ns as f64 * self.factor.powi(exponent);
        if grown >= cap as f64 {
            cap
        } else {
            grown as u64
        }
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (about 584 years).
pub(crate) const fn saturating_nanos(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    if nanos > u64::MAX as u128 {
        u64::MAX
    } else {
        nanos as u64
    }
}

/// Iterator over the pauses of a [`Backoff`], made by [`Backoff::delays`].
#[derive(Clone, Debug)]
pub struct Delays {
    backoff: Backoff,
    retry: u32,
    previous: Duration,
    rng: SmallRng,
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let pause = self.backoff.delay(self.retry, self.previous, &mut self.rng);
        self.retry = self.retry.saturating_add(1);
        self.previous = pause;
        Some(pause)
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("base", &self.base())
            .field("factor", &self.factor)
            .field("max_delay", &self.cap())
            .field("jitter", &self.jitter)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn rng() -> SmallRng {
        SmallRng::seed_from_u64(7)
    }

    #[test]
    fn no_jitter_doubles_then_caps() {
        let backoff = Backoff::exponential(ms(50))
            .max_delay(ms(500))
            .jitter(Jitter::None);
        let pauses: Vec<_> = backoff.delays(7).take(6).collect();
        assert_eq!(
            pauses,
            [ms(50), ms(100), ms(200), ms(400), ms(500), ms(500)]
        );
    }

    #[test]
    fn factor_three_grows_by_three() {
        let backoff = Backoff::exponential(ms(10))
            .factor(3.0)
            .jitter(Jitter::None);
        let pauses: Vec<_> = backoff.delays(7).take(4).collect();
        assert_eq!(pauses, [ms(10), ms(30), ms(90), ms(270)]);
    }

    #[test]
    fn factor_one_is_constant() {
        let backoff = Backoff::exponential(ms(25))
            .factor(1.0)
            .jitter(Jitter::None);
        assert!(backoff.delays(7).take(100).all(|d| d == ms(25)));
    }

    #[test]
    fn huge_attempt_numbers_saturate_at_the_cap() {
        let cap = Duration::from_secs(30);
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            let backoff = Backoff::exponential(ms(1)).max_delay(cap).jitter(jitter);
            for retry in [63, 64, 1_000, i32::MAX as u32, u32::MAX - 1, u32::MAX] {
                let pause = backoff.delay(retry, Duration::MAX, &mut rng());
                assert!(pause <= cap, "{jitter:?} retry {retry}: {pause:?}");
            }
        }
        let none = Backoff::exponential(ms(1))
            .max_delay(cap)
            .jitter(Jitter::None);
        assert_eq!(none.delay(u32::MAX, ms(1), &mut rng()), cap);
    }

    #[test]
    fn enormous_durations_do_not_overflow() {
        let backoff = Backoff::exponential(Duration::MAX)
            .max_delay(Duration::MAX)
            .factor(f64::MAX);
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            let pause = backoff
                .jitter(jitter)
                .delay(u32::MAX, Duration::MAX, &mut rng());
            assert!(pause <= Duration::from_nanos(u64::MAX));
        }
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_ceiling_and_varies() {
        let backoff = Backoff::exponential(ms(100))
            .max_delay(ms(1_000))
            .jitter(Jitter::Full);
        let mut rng = rng();
        let mut seen = std::collections::HashSet::new();
        for retry in 0..10u32 {
            let ceiling = ms(100 * 2u64.pow(retry)).min(ms(1_000));
            for _ in 0..200 {
                let pause = backoff.delay(retry, Duration::ZERO, &mut rng);
                assert!(pause <= ceiling, "retry {retry}: {pause:?} > {ceiling:?}");
                seen.insert(pause);
            }
        }
        assert!(
            seen.len() > 1_000,
            "full jitter barely varies: {}",
            seen.len()
        );
    }

    #[test]
    fn equal_jitter_keeps_at_least_half() {
        let backoff = Backoff::exponential(ms(100))
            .max_delay(ms(1_000))
            .jitter(Jitter::Equal);
        let mut rng = rng();
        for retry in 0..10u32 {
            let ceiling = ms(100 * 2u64.pow(retry)).min(ms(1_000));
            for _ in 0..200 {
                let pause = backoff.delay(retry, Duration::ZERO, &mut rng);
                assert!(pause >= ceiling / 2 && pause <= ceiling, "{pause:?}");
            }
        }
    }

    #[test]
    fn decorrelated_stays_between_base_and_cap_and_tracks_previous() {
        let backoff = Backoff::exponential(ms(10))
            .max_delay(ms(300))
            .jitter(Jitter::Decorrelated);
        let mut rng = rng();
        let mut previous = backoff.base();
        for _ in 0..10_000 {
            let pause = backoff.delay(0, previous, &mut rng);
            assert!(pause >= ms(10) && pause <= ms(300), "{pause:?}");
            assert!(
                pause <= (previous * 3).max(ms(10)),
                "{pause:?} after {previous:?}"
            );
            previous = pause;
        }
    }

    /// Brooker's formula, `min(cap, uniform(base, 3 * previous))`: with
    /// the previous pause at the cap, two in three draws land past it and
    /// are capped, and the mean pause is
    /// `(1/3) * (base + cap) / 2 + (2/3) * cap`.
    #[test]
    fn decorrelated_caps_after_drawing_as_brooker_writes_it() {
        let backoff = Backoff::exponential(ms(10))
            .max_delay(ms(300))
            .jitter(Jitter::Decorrelated);
        let mut rng = rng();
        let draws = 30_000;
        let pauses: Vec<_> = (0..draws)
            .map(|_| backoff.delay(5, ms(300), &mut rng))
            .collect();
        let at_cap = pauses.iter().filter(|&&p| p == ms(300)).count() as f64 / draws as f64;
        let mean_ms = pauses.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / draws as f64;
        let expected_mean = (10.0 + 300.0) / 2.0 / 3.0 + 300.0 * 2.0 / 3.0;
        assert!(
            (at_cap - 2.0 / 3.0).abs() < 0.02,
            "{at_cap} of pauses at the cap"
        );
        assert!(
            (mean_ms - expected_mean).abs() < 3.0,
            "mean {mean_ms} ms, expected {expected_mean}"
        );
    }

    #[test]
    fn debug_prints_durations() {
        let text = format!("{:?}", Backoff::default());
        assert_eq!(
            text,
            "Backoff { base: 100ms, factor: 2.0, max_delay: 10s, jitter: Full }"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_pauses() {
        let backoff = Backoff::exponential(ms(10)).max_delay(ms(10_000));
        let a: Vec<_> = backoff.delays(7).take(20).collect();
        let b: Vec<_> = backoff.delays(7).take(20).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn none_never_pauses() {
        let pauses: Vec<_> = Backoff::none().delays(7).take(5).collect();
        assert_eq!(pauses, [Duration::ZERO; 5]);
        assert!(Backoff::none().is_none());
        assert!(!Backoff::default().is_none());
    }

    #[test]
    fn exponential_raises_the_default_cap_to_a_large_base() {
        assert_eq!(Backoff::exponential(ms(50)).cap(), Duration::from_secs(10));
        assert_eq!(
            Backoff::exponential(Duration::from_secs(60)).cap(),
            Duration::from_secs(60)
        );
    }
}
