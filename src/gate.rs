//! When a retry may go: what the layer has learnt of an authority (are its
//! connects failing?) and the pace its budget allows.
//!
//! This is the per-authority half of gRPC's split between connection
//! backoff and call retries (gRPC's `connection-backoff.md`: one backoff
//! per address, shared by every call): while an authority's connects fail,
//! one retry at a time probes it, at growing intervals, and every other
//! retry waits instead of adding a doomed attempt. When a probe is answered,
//! the waiting retries go at the budget's pace, like a client-side rate
//! limiter (AWS SDKs' adaptive retry mode), so the backlog of an outage
//! reaches the returning server a few at a time. Each request's own backoff
//! and retry count still apply: the gate only delays a retry, bounded by
//! the request's deadline, and never makes one.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::authority::AuthorityState;
use crate::backoff::saturating_nanos;
use crate::report::GiveUp;
use crate::timer::{NoTimer, Pause, Timer};

/// The longest interval between two probes of an authority whose connects
/// fail: the most a recovery goes unnoticed by the waiting retries.
const MAX_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The shortest interval between two probes, whatever the backoff's base
/// (zero for [`Backoff::none()`](crate::Backoff::none)): probes of a dead
/// authority never go back to back.
const MIN_PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// How many retries may go together when the gate opens, before the rest
/// keep to the pace: a small burst keeps a quiet client's few concurrent
/// retries from queueing behind one another after a blip.
const BURST: u64 = 3;

/// An authority's gate, shared by every request to it.
pub(crate) struct Gate {
    start: Instant,
    // The authority's connects fail: retries wait for a probe's answer.
    down: AtomicBool,
    // Nanoseconds from `start` after which the next probe may go.
    next_probe_ns: AtomicU64,
    // The interval after the next probe; doubles while probes fail.
    probe_interval_ns: AtomicU64,
    first_probe_interval_ns: u64,
    // The pace's theoretical time of the next retry (GCRA), in nanoseconds
    // from `start`.
    next_turn_ns: AtomicU64,
    // Requests waiting now.
    waiting: AtomicUsize,
    max_waiting: usize,
    answered: Notify,
    // The state of the generator that spreads the first turns.
    rng: AtomicU64,
}

impl Gate {
    /// A gate whose first probe interval is `first_probe_interval` (the
    /// policy's backoff base, within 10 ms..=1 s) and which lets at most
    /// `max_waiting` requests wait.
    pub(crate) fn new(first_probe_interval: Duration, max_waiting: usize, seed: u64) -> Self {
        let first_probe_interval_ns =
            saturating_nanos(first_probe_interval.clamp(MIN_PROBE_INTERVAL, MAX_PROBE_INTERVAL));
        Self {
            start: Instant::now(),
            down: AtomicBool::new(false),
            next_probe_ns: AtomicU64::new(0),
            // Never zero, even to a probe claimed while `connect_failed`
            // is still storing the first interval: probes never go back to
            // back.
            probe_interval_ns: AtomicU64::new(first_probe_interval_ns),
            first_probe_interval_ns,
            next_turn_ns: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            max_waiting,
            answered: Notify::new(),
            rng: AtomicU64::new(seed),
        }
    }

    /// A draw from `0..bound` (splitmix64 over the gate's own state).
    fn random_below(&self, bound: u64) -> u64 {
        let state = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        if bound == 0 {
            0
        } else {
            z % bound
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        saturating_nanos(at.saturating_duration_since(self.start))
    }

    /// A connect to the authority failed: from now on its retries wait for
    /// a probe's answer.
    pub(crate) fn connect_failed(&self) {
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        // The first probe may go at once: it is the retry of the request
        // that found the authority down.
        self.probe_interval_ns
            .store(self.first_probe_interval_ns, Ordering::Release);
        self.next_probe_ns
            .store(self.nanos(Instant::now()), Ordering::Release);
    }

    /// A retried request to the authority was answered: the waiting
    /// retries may go, at `pace`.
    ///
    /// The first turn comes at a random point within one pace: many
    /// clients (each with its own layer) that learn of the recovery at the
    /// same moment then send their first retries spread over the pace, not
    /// together.
    pub(crate) fn answered(&self, pace: Duration) {
        if !self.down.swap(false, Ordering::AcqRel) {
            return;
        }
        let pace_ns = saturating_nanos(pace).min(saturating_nanos(MAX_PROBE_INTERVAL));
        let first = self
            .nanos(Instant::now())
            .saturating_add(self.random_below(pace_ns))
            .saturating_add(pace_ns.saturating_mul(BURST - 1));
        self.next_turn_ns.fetch_max(first, Ordering::AcqRel);
        self.answered.notify_waiters();
    }

    #[inline]
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Requests waiting now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Claims the probe, if its time has come: the caller's retry goes.
    fn claim_probe(&self, now: Instant) -> bool {
        let now_ns = self.nanos(now);
        let next = self.next_probe_ns.load(Ordering::Acquire);
        if now_ns < next {
            return false;
        }
        let interval = self.probe_interval_ns.load(Ordering::Acquire);
        if self
            .next_probe_ns
            .compare_exchange(
                next,
                now_ns.saturating_add(interval),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return false;
        }
        let grown = interval.saturating_mul(2).clamp(
            self.first_probe_interval_ns,
            saturating_nanos(MAX_PROBE_INTERVAL),
        );
        self.probe_interval_ns.store(grown, Ordering::Release);
        true
    }

    /// When the next probe may go.
    fn next_probe(&self) -> Instant {
        self.start + Duration::from_nanos(self.next_probe_ns.load(Ordering::Acquire))
    }

    /// Takes the next turn at `pace` (GCRA, with a burst of [`BURST`]), if it
    /// comes no later than `deadline`; a turn that would come later is not
    /// taken, so it stays for a request that can wait for it.
    fn take_turn(&self, now: Instant, pace: Duration, deadline: Instant) -> Option<Instant> {
        let now_ns = self.nanos(now);
        let deadline_ns = self.nanos(deadline);
        let pace_ns = saturating_nanos(pace);
        let tolerance = pace_ns.saturating_mul(BURST - 1);
        let mut theoretical = self.next_turn_ns.load(Ordering::Acquire);
        loop {
            let turn = theoretical.saturating_sub(tolerance).max(now_ns);
            if turn > deadline_ns {
                return None;
            }
            let next = theoretical.max(now_ns).saturating_add(pace_ns);
            match self.next_turn_ns.compare_exchange_weak(
                theoretical,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(self.start + Duration::from_nanos(turn)),
                Err(current) => theoretical = current,
            }
        }
    }
}

/// A request's place among `authority`'s waiting: freed when it goes, gives
/// up, or is dropped.
struct Place<'a>(&'a AuthorityState);

impl<'a> Place<'a> {
    /// A place among the waiting requests, if there is room.
    fn enter(authority: &'a AuthorityState) -> Option<Self> {
        let gate = &authority.gate;
        gate.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                (waiting < gate.max_waiting).then_some(waiting + 1)
            })
            .ok()?;
        #[cfg(feature = "metrics")]
        authority.counters.publish().wait_began();
        Some(Place(authority))
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.gate.waiting.fetch_sub(1, Ordering::AcqRel);
        #[cfg(feature = "metrics")]
        self.0.counters.publish().wait_ended();
    }
}

/// Waits until a retry to `authority` may go, no later than `deadline`:
/// `Ok` with the time waited, or why it may not.
///
/// The retry goes when the authority is not known to be down (or it is the
/// probe) and the pace and the budget have room. Dropping the future frees
/// its place at once.
pub(crate) async fn admit(
    authority: &AuthorityState,
    timer: &Timer,
    deadline: Instant,
) -> Result<Duration, GiveUp> {
    let admitted = decide(authority, timer, deadline).await;
    // The balance as of this retry decision (off the happy path: it reads
    // the clock).
    #[cfg(feature = "metrics")]
    authority
        .counters
        .publish()
        .budget_balance(authority.budget.balance());
    admitted
}

/// [`admit`]'s decision.
async fn decide(
    authority: &AuthorityState,
    timer: &Timer,
    deadline: Instant,
) -> Result<Duration, GiveUp> {
    let started = Instant::now();
    let gate = &authority.gate;
    let budget = &authority.budget;
    if budget.is_zero() {
        return Err(GiveUp::Budget);
    }
    let mut place = None;
    loop {
        let now = Instant::now();
        if gate.is_down() {
            if gate.claim_probe(now) && budget.withdraw() {
                return Ok(now - started);
            }
            // Wait for a probe's answer, or the next probe's time.
            let answered = gate.answered.notified();
            let mut answered = pin!(answered);
            answered.as_mut().enable();
            if !gate.is_down() {
                continue;
            }
            let wake = gate.next_probe().max(now).min(deadline);
            if wake <= now {
                if now >= deadline {
                    return Err(GiveUp::Waited);
                }
                // Another request claimed the probe this instant: look again.
                tokio::task::yield_now().await;
                continue;
            }
            let mut pause = wait_in_place(authority, &mut place, timer, wake - now)?;
            poll_fn(|cx| {
                if answered.as_mut().poll(cx).is_ready() || pause.as_mut().poll(cx).is_ready() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            continue;
        }
        // Answering: take a turn at the budget's pace.
        let Some(turn) = gate.take_turn(now, budget.pace(), deadline) else {
            return Err(GiveUp::Waited);
        };
        if turn > now {
            wait_in_place(authority, &mut place, timer, turn - now)?.await;
            if gate.is_down() {
                // A retry that went meanwhile found it down again.
                continue;
            }
        }
        if budget.withdraw() {
            return Ok(Instant::now() - started);
        }
        // The window is spent: room comes back as it slides, a tenth of
        // it at a time.
        let now = Instant::now();
        let retry_at = now + budget.slot();
        if retry_at > deadline {
            return Err(GiveUp::Budget);
        }
        wait_in_place(authority, &mut place, timer, retry_at - now)?.await;
    }
}

/// A pause of `duration` for a request that holds a place among the
/// waiting (taken now if it holds none yet), or why it cannot wait: the
/// queue is full, or there is no timer.
fn wait_in_place<'a>(
    authority: &'a AuthorityState,
    place: &mut Option<Place<'a>>,
    timer: &Timer,
    duration: Duration,
) -> Result<Pause, GiveUp> {
    if place.is_none() {
        *place = Some(Place::enter(authority).ok_or(GiveUp::QueueFull)?);
    }
    timer.pause(duration).map_err(|NoTimer| GiveUp::NoTimer)
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("down", &self.is_down())
            .field("waiting", &self.waiting())
            .finish_non_exhaustive()
    }
}
