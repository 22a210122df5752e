//! When a retry may go: what the layer has learnt of an authority (are its
//! connects failing? is it answering again?), released by evidence.
//!
//! This is the per-authority half of gRPC's split between connection
//! backoff and call retries (gRPC's `connection-backoff.md`: one backoff
//! per address, shared by every call). The gate has three phases:
//!
//! - **Open**: nothing is known against the authority; a retry goes after
//!   its own pause.
//! - **Down**: its connects fail: [`DOWN_AFTER`] failed, with no retry
//!   answered between them, and at least three in four of the requests
//!   made meanwhile (one failure among answers is a flaky path, not an
//!   outage). One retry at a time probes the authority,
//!   the next no sooner than the probe interval after a failed one (the
//!   policy's own backoff: its base doubling up to its cap, and at most
//!   [`MAX_PROBE_INTERVAL`], with equal jitter); the other retries wait for
//!   a probe's answer instead of adding doomed attempts. A request alone at
//!   the gate (nobody else waits) that probed last is its own probe, and
//!   goes after its own pause: the gate delays a retry only on the evidence
//!   of other requests.
//! - **Recovering**: a probe (or any request sent while down) was answered.
//!   Waiting retries are released as fast as the server keeps answering,
//!   by a window of retries per round trip, in the manner of TCP's
//!   congestion window. It begins at the budget's ratio of the client's
//!   own traffic (its first window goes at once; below one retry, the first
//!   goes at a random point within one spacing, so a fleet's clients
//!   release apart); every answer of a released retry grows it (doubling it
//!   each round trip until a failure; past that, additively, in proportion
//!   to the client's own traffic), and failures with no answer between
//!   them (two released retries' failed connects, or three failed
//!   connects, lost connections or refused streams of any attempt: see
//!   [`CONGESTED_AFTER`]) halve it, once per round trip. The
//!   releases are paced over the round trip (measured on the released
//!   attempts); a window below one releases one retry every few round
//!   trips, so a fleet of clients, each with its own gate, grows by a share
//!   of the fleet's traffic, however many they are. A window that fails at
//!   its least sends the gate back down. Once nothing released is in
//!   flight and no retry waits (or, before any was released, none is
//!   pending), the gate is open again.
//!
//! Each request's own backoff and retry count still apply: the gate only
//! delays a retry, bounded by the request's deadline, and never makes one.
//! A released retry or a probe holds a [`Turn`](super::admit::Turn); the turn is given back when
//! its attempt ends, however it ends (dropped, cancelled, or refused by the
//! budget before it was sent), so no turn is ever lost.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::futures::Notified;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::backoff::saturating_nanos;

/// The longest interval between two probes of an authority whose connects
/// fail, whatever the policy's cap: the most a recovery goes unnoticed by
/// the waiting retries.
pub(crate) const MAX_PROBE_INTERVAL: Duration = Duration::from_millis(1000);

/// The shortest interval between two probes, unless the policy's cap is
/// shorter still (zero for [`Backoff::none()`](crate::Backoff::none)):
/// probes of a dead authority do not go back to back.
const MIN_PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// The least window: one retry every 64 round trips. A window that fails
/// here sends the gate back down.
const MIN_WINDOW: f64 = 1.0 / 64.0;

/// Past its threshold (half the window at which a failure came), the
/// release rate grows each second by this many times the rate it began
/// with: additively, in proportion to the client's own traffic, so that a
/// fleet of clients, each with its own gate, grows together by a share of
/// the fleet's traffic, whatever its size. Before any failure, the window
/// doubles each round trip (slow start).
const GROWTH: f64 = 2.0;

/// How many failed connects, with no retry answered between them, mark an
/// open authority down.
const DOWN_AFTER: u32 = 5;

/// How much failure, with no answer between, shrinks a recovering window:
/// less is chance (a flaky path). Every failure counts 1, and a released
/// retry's failed connect counts twice: through its turn
/// ([`Gate::turn_ended`]) and as a failed connect ([`Gate::connect_failed`],
/// told of every failed connect). So two released retries' failed
/// connects shrink it, or three failures of other kinds (a first
/// attempt's failed connect, a lost connection, a refused stream).
///
/// A released retry's failed connect is fresh evidence: it was sent after
/// the server answered, by this recovery. A first attempt's may be stale:
/// under a blackhole, a connect begun before the server came back times
/// out up to a connect timeout after, among answers. A lost connection or
/// a refused stream shows a server that accepts. Measured against the
/// alternatives (every failure counting once): with three to shrink, a
/// fleet of 100 clients made 1.30x the attempts of a 3 s outage in the
/// open-loop model (`tests/outage.rs` bounds it at 1.25x); with two, a 1 s
/// blackhole with a 100 ms connect timeout and no pool kept its last saved
/// request until 0.8 to 0.96 s after the blackhole ended, against 0.1 to
/// 0.2 s as it is (`examples/blackhole_sockets`).
const CONGESTED_AFTER: u32 = 3;

/// The round trip assumed before any was measured.
const FIRST_ROUND_TRIP: Duration = Duration::from_millis(10);

/// An authority's gate, shared by every request to it.
pub(crate) struct Gate {
    // Down or recovering: a retry must ask the phase (the happy path reads
    // only this).
    limited: AtomicBool,
    phase: Mutex<Phase>,
    // Requests waiting now.
    waiting: AtomicUsize,
    max_waiting: usize,
    // Failed connects of first attempts while open, since a retry was last
    // answered.
    failures: AtomicU32,
    // The authority's request count when the first of those failed.
    streak_from: AtomicU64,
    // Retries planned and not yet let go (pausing, or waiting): the
    // backlog a recovery must release before the gate opens.
    pending: AtomicUsize,
    // Woken when a waiting retry may find the phase changed: a probe or a
    // released retry ended, or the authority answered.
    changed: Notify,
    first_interval: Duration,
    max_interval: Duration,
    // The state of the generator that spreads the probe intervals.
    rng: AtomicU64,
}

/// What the gate knows of its authority.
#[derive(Debug)]
enum Phase {
    /// Nothing against it.
    Open,
    /// Its connects fail.
    Down {
        // Tells this outage's probe from an earlier one's.
        generation: u64,
        // A probe's attempt is in flight.
        probe_out: bool,
        // The request whose probe failed last, which alone may probe
        // before `next_probe` (its own backoff paces it), when nobody
        // else waits.
        prober: u64,
        // No other probe before this.
        next_probe: Instant,
        // The interval after the next failed probe.
        interval: Duration,
        // What the next recovery begins from.
        threshold: f64,
        round_trip: Duration,
    },
    /// It answered: retries are released by a window that grows with its
    /// answers and shrinks with its failures.
    Recovering(Window),
}

/// A recovering authority's window of released retries.
#[derive(Debug)]
struct Window {
    // Tells this recovery's turns from an earlier one's.
    generation: u64,
    // The rate, per second, it began with: the budget's share of the
    // client's own traffic.
    base_rate: f64,
    // Retries released per round trip (below one: one every `1 / size`).
    size: f64,
    // Past this size, the window grows additively (infinite until a
    // failure halves the window).
    threshold: f64,
    // The smoothed round trip of the released attempts.
    round_trip: Duration,
    // No release before this: releases are paced over the round trip.
    next_release: Instant,
    // Released retries in flight now.
    out: u64,
    // Retries released in this recovery, numbering the turns.
    released: u64,
    // The first window, released at once rather than paced (as TCP sends
    // its initial window): a slow server that answers in seconds gets its
    // first rate's worth of a round trip without waiting for answers.
    burst: u64,
    // `released` when the window last shrank: a failure of a turn released
    // before it is the same congestion, and shrinks it no further.
    shrunk_at: u64,
}

impl Window {
    /// A recovery's window, beginning at `first_rate` retries per second
    /// (at most one per round trip, at least the least window).
    fn new(threshold: f64, round_trip: Duration, now: Instant, first_rate: f64) -> Self {
        // The first rate whatever the round trip: a slow server gets more
        // retries in flight, not fewer a second.
        let size = (first_rate * round_trip.as_secs_f64()).max(MIN_WINDOW);
        Self {
            generation: next_generation(),
            base_rate: first_rate,
            size,
            threshold,
            round_trip,
            next_release: now,
            out: 0,
            released: 0,
            burst: size.floor() as u64,
            shrunk_at: 0,
        }
    }

    /// The most released retries in flight at once.
    fn in_flight(&self) -> u64 {
        self.size.ceil().max(1.0) as u64
    }

    /// The time between two releases.
    fn spacing(&self) -> Duration {
        self.round_trip.div_f64(self.size)
    }

    /// An answer, `round_trip` after its release: the window grows, by one
    /// per answer while below its threshold (doubling each round trip),
    /// slowly past it.
    fn grow(&mut self, round_trip: Option<Duration>) {
        if let Some(sample) = round_trip {
            self.round_trip = (self.round_trip * 7 + sample) / 8;
        }
        let step = if self.size < self.threshold {
            self.size.min(1.0)
        } else {
            // d(size)/dt = GROWTH x first rate x round trip, per second; an
            // answer comes every round_trip / size.
            let round_trip = self.round_trip.as_secs_f64();
            GROWTH * self.base_rate * round_trip * round_trip / self.size
        };
        self.size = (self.size + step).min(1e6);
    }

    /// A failure of the turn released `seq`-th (or any failure, as
    /// `released`): halves the window, once per round trip's releases.
    /// Returns false if the window was at its least already.
    fn shrink(&mut self, seq: u64) -> bool {
        if seq <= self.shrunk_at {
            return true;
        }
        if self.size <= MIN_WINDOW {
            return false;
        }
        self.size = (self.size / 2.0).max(MIN_WINDOW);
        self.threshold = self.size;
        self.shrunk_at = self.released;
        true
    }
}

/// How the attempt a [`Turn`](super::admit::Turn) let go ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The authority answered (any response).
    Answered,
    /// Connecting failed.
    ConnectFailed,
    /// An established connection broke.
    ConnectionLost,
    /// The server refused the request unprocessed: it is up, and busy.
    Refused,
    /// Anything else, or nothing: the attempt was not made, or was dropped.
    Unknown,
}

/// Which turn a [`Pass::Go`] gave: a probe, or a released retry.
#[derive(Clone, Copy, Debug)]
pub(super) enum TurnKind {
    Probe { generation: u64 },
    Released { generation: u64, seq: u64 },
}

/// What the gate says to a retry that asks.
pub(super) enum Pass {
    /// Go now, holding this turn (none while the gate is open).
    Go(Option<TurnKind>),
    /// Wait for a change, or until this time.
    Wait(Option<Instant>),
}

impl Gate {
    /// A gate whose probes of a failing authority follow the policy's
    /// backoff: `base` doubling up to `cap` (and at most
    /// [`MAX_PROBE_INTERVAL`]); at most `max_waiting` requests may wait.
    pub(crate) fn new(base: Duration, cap: Duration, max_waiting: usize, seed: u64) -> Self {
        let max_interval = cap.min(MAX_PROBE_INTERVAL);
        let first_interval = base.max(MIN_PROBE_INTERVAL).min(max_interval);
        Self {
            limited: AtomicBool::new(false),
            phase: Mutex::new(Phase::Open),
            waiting: AtomicUsize::new(0),
            max_waiting,
            pending: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            streak_from: AtomicU64::new(0),
            changed: Notify::new(),
            first_interval,
            max_interval,
            rng: AtomicU64::new(seed),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // A panic while the lock is held leaves a consistent phase (every
        // change is one assignment), so a poisoned lock is used as it is.
        self.phase
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A draw from `0..=bound` (splitmix64 over the gate's own state).
    fn random_up_to(&self, bound: Duration) -> Duration {
        let state = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let bound = saturating_nanos(bound);
        Duration::from_nanos(z % bound.saturating_add(1))
    }

    /// A recovery's window. Its first release comes at a random point
    /// within one spacing: the clients of a fleet that learn of a recovery
    /// together (each with its own gate) then release apart, not in step.
    fn recovery(
        &self,
        threshold: f64,
        round_trip: Duration,
        now: Instant,
        first_rate: f64,
    ) -> Window {
        let mut window = Window::new(threshold, round_trip, now, first_rate);
        window.next_release = now + self.random_up_to(window.spacing());
        window
    }

    /// `interval` with equal jitter: half of it, plus up to the other half.
    /// Clients that learn of an outage together probe it apart.
    fn jittered(&self, interval: Duration) -> Duration {
        interval / 2 + self.random_up_to(interval / 2)
    }

    /// A connect to the authority failed, for any attempt: one that held
    /// a turn (a probe, a released retry) has told the gate through its
    /// [`Turn`](super::admit::Turn) already, and is counted again here (see
    /// [`CONGESTED_AFTER`]), of request number `request`, when the
    /// authority had seen `requests` in all: once it is down (see the
    /// first arm), its retries wait for a probe's
    /// answer. The first probe goes one (jittered) probe interval later, or
    /// sooner at the failing request's own pace while it waits alone. While
    /// it recovers, any failed connect is a sign of congestion, whoever's
    /// it is (a server may serve the released retries and fail the first
    /// attempts that come after them): it shrinks the window as a released
    /// retry's failure does.
    pub(crate) fn connect_failed(&self, request: u64, requests: u64) {
        let now = Instant::now();
        let mut phase = self.phase();
        match &mut *phase {
            Phase::Open => {
                // A failed connect among answered requests is no outage (a
                // flaky path, a restarting instance behind a balancer):
                // the authority is down only once `DOWN_AFTER` connects
                // failed, with no retry answered between them, and at
                // least three in four of the requests made since the first
                // of them failed. A retry's failed connect counts too, and
                // is no new request: with 1 connect in 6 refused at random
                // at 100 requests/s (`examples/recovery_sockets`), the rule
                // was met 0 to 2 times in 13 s, each time ended by the next
                // answer (a first attempt's, as a probe's).
                let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
                if failures == 1 {
                    self.streak_from.store(requests, Ordering::Release);
                }
                let since = requests.saturating_sub(self.streak_from.load(Ordering::Acquire));
                if u64::from(failures) * 4 < since * 3 {
                    // Most were answered: chance. A new streak begins here.
                    self.failures.store(1, Ordering::Release);
                    self.streak_from.store(requests, Ordering::Release);
                    return;
                }
                if failures < DOWN_AFTER {
                    return;
                }
                self.failures.store(0, Ordering::Release);
                self.go_down(&mut phase, now, f64::INFINITY, FIRST_ROUND_TRIP);
                // The request that found it down probes it next, at its own
                // pace, while it is alone.
                if let Phase::Down { prober, .. } = &mut *phase {
                    *prober = request;
                }
            }
            Phase::Recovering(window) => {
                if self.failures.fetch_add(1, Ordering::AcqRel) + 1 < CONGESTED_AFTER {
                    return;
                }
                self.failures.store(0, Ordering::Release);
                let latest = window.released;
                if !window.shrink(latest) {
                    let (threshold, round_trip) = (window.threshold, window.round_trip);
                    self.go_down(&mut phase, now, threshold, round_trip);
                }
            }
            Phase::Down { .. } => return,
        }
        drop(phase);
        self.changed.notify_waiters();
    }

    /// Marks the authority down, keeping what the next recovery begins
    /// from.
    fn go_down(&self, phase: &mut Phase, now: Instant, threshold: f64, round_trip: Duration) {
        *phase = Phase::Down {
            generation: next_generation(),
            probe_out: false,
            prober: 0,
            next_probe: now + self.jittered(self.first_interval),
            interval: self.first_interval.saturating_mul(2).min(self.max_interval),
            threshold,
            round_trip,
        };
        self.limited.store(true, Ordering::Release);
    }

    /// A request to the authority that no turn let go (sent while it was
    /// down, or a retry that went while the gate was open) was answered.
    pub(crate) fn answered(&self, first_rate: impl FnOnce() -> f64) {
        if !self.is_limited() {
            if self.failures.load(Ordering::Acquire) != 0 {
                self.failures.store(0, Ordering::Release);
            }
            return;
        }
        let now = Instant::now();
        let mut phase = self.phase();
        match &mut *phase {
            Phase::Open => return,
            Phase::Down {
                threshold,
                round_trip,
                ..
            } => {
                let window = self.recovery(*threshold, *round_trip, now, first_rate());
                *phase = Phase::Recovering(window);
            }
            // The released retries' own answers grow the window; a first
            // attempt's answer says only that the authority answers: the
            // failures before it were chance, not congestion.
            Phase::Recovering(_) => {
                self.failures.store(0, Ordering::Release);
                return;
            }
        }
        self.settle(&mut phase);
        drop(phase);
        self.changed.notify_waiters();
    }

    /// Opens a recovering gate that has nothing in flight and no retry
    /// pending (pausing or waiting): the recovery is over. Retries still
    /// pausing would otherwise come back all at once to an open gate.
    fn settle(&self, phase: &mut Phase) {
        if let Phase::Recovering(Window {
            out: 0, released, ..
        }) = *phase
        {
            let backlog = if released > 0 {
                // Once retries were released and none is out (answered,
                // or failed too few to shrink the window), the retries
                // still pausing meet an open gate, whose own rule
                // (`connect_failed`) marks it down again if their connects
                // fail; none may be waiting.
                self.waiting()
            } else {
                self.pending.load(Ordering::Acquire)
            };
            if backlog == 0 {
                *phase = Phase::Open;
                self.limited.store(false, Ordering::Release);
            }
        }
    }

    /// Whether retries must ask the gate: the authority is down or
    /// recovering. The happy path's one read.
    #[inline]
    pub(crate) fn is_limited(&self) -> bool {
        self.limited.load(Ordering::Acquire)
    }

    /// Requests waiting now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Takes a place among the waiting requests if fewer than
    /// `max_waiting` wait: whether it did.
    pub(super) fn enter_waiting(&self) -> bool {
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                (waiting < self.max_waiting).then_some(waiting + 1)
            })
            .is_ok()
    }

    /// Gives back a place among the waiting requests.
    pub(super) fn leave_waiting(&self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }

    /// A retry was planned: it joins the backlog a recovery releases.
    pub(super) fn pending_began(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// A planned retry was let go, or gave up.
    pub(super) fn pending_ended(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 && self.is_limited() {
            // The last of the backlog left without a turn: a recovery with
            // nothing in flight is over.
            let mut phase = self.phase();
            self.settle(&mut phase);
        }
    }

    /// Completes when a waiting retry may find the phase changed (a probe
    /// or a released retry ended, or the authority answered).
    pub(super) fn changed(&self) -> Notified<'_> {
        self.changed.notified()
    }

    /// What the gate says to the retry of request `me` asking at `now`;
    /// `others_waiting`: whether any other request waits. A request alone
    /// that probed last may probe again before the probe interval is over,
    /// at its own pace, if `early` allows it (the budget is charged for
    /// it: a fleet of clients, each alone at its own gate, stays within the
    /// budget's share of its traffic).
    pub(super) fn pass(
        &self,
        now: Instant,
        me: u64,
        others_waiting: bool,
        early: impl FnOnce() -> bool,
    ) -> Pass {
        if !self.is_limited() {
            return Pass::Go(None);
        }
        let mut phase = self.phase();
        match &mut *phase {
            Phase::Open => Pass::Go(None),
            Phase::Down {
                generation,
                probe_out,
                prober,
                next_probe,
                ..
            } => {
                if *probe_out {
                    Pass::Wait(None)
                } else if now >= *next_probe || (*prober == me && !others_waiting && early()) {
                    *probe_out = true;
                    *prober = me;
                    Pass::Go(Some(TurnKind::Probe {
                        generation: *generation,
                    }))
                } else {
                    Pass::Wait(Some(*next_probe))
                }
            }
            Phase::Recovering(window) => {
                if window.out >= window.in_flight() {
                    Pass::Wait(None)
                } else if now < window.next_release && window.released >= window.burst {
                    Pass::Wait(Some(window.next_release))
                } else {
                    window.out += 1;
                    window.released += 1;
                    window.next_release = now + window.spacing();
                    Pass::Go(Some(TurnKind::Released {
                        generation: window.generation,
                        seq: window.released,
                    }))
                }
            }
        }
    }

    /// A turn's attempt ended with `outcome`, `round_trip` after its
    /// release (`None`: it was not sent, or was dropped).
    pub(super) fn turn_ended(
        &self,
        kind: TurnKind,
        outcome: Outcome,
        round_trip: Option<Duration>,
        first_rate: impl FnOnce() -> f64,
    ) {
        let now = Instant::now();
        let mut phase = self.phase();
        match (&mut *phase, kind) {
            (
                Phase::Down {
                    generation,
                    probe_out,
                    next_probe,
                    interval,
                    threshold,
                    round_trip: previous,
                    ..
                },
                TurnKind::Probe { generation: of },
            ) if of == *generation => match outcome {
                Outcome::Answered | Outcome::Refused => {
                    let measured = round_trip.unwrap_or(*previous);
                    let window = self.recovery(*threshold, measured, now, first_rate());
                    *phase = Phase::Recovering(window);
                }
                Outcome::ConnectFailed => {
                    *probe_out = false;
                    *next_probe = now + self.jittered(*interval);
                    *interval = interval.saturating_mul(2).min(self.max_interval);
                }
                // No news: another may probe at once.
                Outcome::ConnectionLost | Outcome::Unknown => *probe_out = false,
            },
            (Phase::Recovering(window), kind) => {
                // A probe that ends after a recovery began counts as
                // released last.
                let seq = match kind {
                    TurnKind::Released { generation, seq } if generation == window.generation => {
                        window.out = window.out.saturating_sub(1);
                        seq
                    }
                    _ => window.released,
                };
                let kept = match outcome {
                    Outcome::Answered => {
                        self.failures.store(0, Ordering::Release);
                        window.grow(round_trip);
                        true
                    }
                    // A failure among answers may be chance (a flaky path);
                    // only `CONGESTED_AFTER` with no answer between them are
                    // congestion.
                    Outcome::ConnectFailed | Outcome::ConnectionLost | Outcome::Refused
                        if self.failures.fetch_add(1, Ordering::AcqRel) + 1 < CONGESTED_AFTER =>
                    {
                        true
                    }
                    Outcome::ConnectFailed => {
                        self.failures.store(0, Ordering::Release);
                        window.shrink(seq)
                    }
                    Outcome::ConnectionLost | Outcome::Refused => {
                        self.failures.store(0, Ordering::Release);
                        window.shrink(seq);
                        true
                    }
                    Outcome::Unknown => true,
                };
                if !kept {
                    let (threshold, round_trip) = (window.threshold, window.round_trip);
                    self.go_down(&mut phase, now, threshold, round_trip);
                }
            }
            // A turn of an earlier phase: the authority answered since; one
            // failed connect does not undo that (the first attempts' own
            // failures mark it down again, by the rule of `connect_failed`).
            (Phase::Open, _) => {}
            (Phase::Down { .. }, _) => {}
        }
        self.settle(&mut phase);
        drop(phase);
        self.changed.notify_waiters();
    }
}

/// A number no earlier phase of any gate carried.
fn next_generation() -> u64 {
    static GENERATIONS: AtomicU64 = AtomicU64::new(0);
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("phase", &*self.phase())
            .field("waiting", &self.waiting())
            .finish_non_exhaustive()
    }
}
