//! A retry's way through its authority's gate and budget: the authority
//! owns the waiting.
//!
//! A planned retry is [`Pending`] at its authority from when it is planned
//! until it is let go or gives up (the backlog a recovery releases);
//! [`admit`] asks the [`Gate`](super::gate::Gate) and the budget until it
//! may go, holding a place among the authority's waiting requests while it
//! waits (counted, and published as a gauge with the `metrics` feature);
//! a probe or a released retry goes holding a [`Turn`], given back to the
//! gate when its attempt ends, however it ends.
//!
//! The gate is the state machine and knows nothing of the authority that
//! holds it; this file joins it to the authority's budget and counters.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use crate::admission::authority::AuthorityState;
use crate::admission::gate::{Outcome, Pass, TurnKind};
use crate::give_up::GiveUp;
use crate::timer::{NoTimer, Pause, Timer};

/// A probe's or a released retry's place in flight: given back to the gate
/// when it ends, with what its attempt found, or on drop with nothing.
pub(crate) struct Turn {
    authority: Arc<AuthorityState>,
    kind: TurnKind,
    released_at: Instant,
    ended: bool,
}

impl Turn {
    /// The attempt this turn let go ended with `outcome`.
    pub(crate) fn end(mut self, outcome: Outcome) {
        self.ended = true;
        let round_trip = Instant::now().saturating_duration_since(self.released_at);
        let authority = &self.authority;
        authority
            .gate
            .turn_ended(self.kind, outcome, Some(round_trip), || {
                authority.budget.first_release_rate()
            });
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if !self.ended {
            let authority = &self.authority;
            authority
                .gate
                .turn_ended(self.kind, Outcome::Unknown, None, || {
                    authority.budget.first_release_rate()
                });
        }
    }
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn").field("kind", &self.kind).finish()
    }
}

/// A retry pending at `authority`'s gate, from when it is planned until it
/// is let go or given up: counted in the backlog a recovery releases.
pub(crate) struct Pending(Arc<AuthorityState>);

impl Pending {
    pub(crate) fn new(authority: Arc<AuthorityState>) -> Self {
        authority.gate.pending_began();
        Self(authority)
    }

    /// The authority's state.
    pub(crate) fn authority(&self) -> &Arc<AuthorityState> {
        &self.0
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.gate.pending_ended();
    }
}

/// A request's place among `authority`'s waiting: freed when it goes, gives
/// up, or is dropped.
struct Place<'a>(&'a AuthorityState);

impl<'a> Place<'a> {
    /// A place among the waiting requests, if there is room.
    fn enter(authority: &'a AuthorityState) -> Option<Self> {
        if !authority.gate.enter_waiting() {
            return None;
        }
        #[cfg(feature = "metrics")]
        authority.counters.publish().wait_began();
        Some(Place(authority))
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.gate.leave_waiting();
        #[cfg(feature = "metrics")]
        self.0.counters.publish().wait_ended();
    }
}

/// A retry the gate and the budget let go: the time it waited, and the
/// turn it holds while its attempt is in flight.
pub(crate) struct Admitted {
    pub(crate) waited: Duration,
    pub(crate) turn: Option<Turn>,
}

/// A retry asking the gate: which request's, and whether the budget is
/// charged for it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asking {
    /// The request, numbered by [`request_number`].
    pub(crate) request: u64,
    /// It needs room in the budget.
    pub(crate) charged: bool,
    /// It follows a failed connect: a probe or a released retry (a turn
    /// the gate gives) needs no room, since the gate paces it.
    pub(crate) connect: bool,
    /// It follows a refused HTTP/2 stream: it draws first on the refusals'
    /// own allowance, and is charged only past it.
    pub(crate) refused: bool,
}

/// A number for a request that retries, which no other request has.
pub(crate) fn request_number() -> u64 {
    static REQUESTS: AtomicU64 = AtomicU64::new(1);
    REQUESTS.fetch_add(1, Ordering::Relaxed)
}

/// Waits until a retry to `authority` may go, no later than `deadline`:
/// the time waited and its turn, or why it may not go. A `charged` retry
/// also needs room in the budget.
///
/// Dropping the future frees its place (and any turn it took) at once.
pub(crate) async fn admit(
    pending: Pending,
    timer: &Timer,
    deadline: Instant,
    retry: Asking,
) -> Result<Admitted, GiveUp> {
    let authority = pending.authority();
    let admitted = decide(authority, timer, deadline, retry).await;
    // The balance as of this retry decision (off the happy path: it reads
    // the clock).
    #[cfg(feature = "metrics")]
    {
        let published = authority.counters.publish();
        published.budget_balance(authority.budget.balance());
        published.gate_asked();
    }
    // No longer pending: let go, or given up.
    drop(pending);
    admitted
}

/// [`admit`]'s decision.
async fn decide(
    authority: &Arc<AuthorityState>,
    timer: &Timer,
    deadline: Instant,
    Asking {
        request,
        charged,
        connect,
        refused,
    }: Asking,
) -> Result<Admitted, GiveUp> {
    let started = Instant::now();
    let gate = &authority.gate;
    let budget = &authority.budget;
    // A refused stream's retry cost the server next to nothing: the
    // refusals' allowance (one per request) pays for it while it has room.
    let charged = charged && !(refused && budget.withdraw_refused());
    if charged && budget.is_zero() {
        return Err(GiveUp::Budget);
    }
    let mut place: Option<Place<'_>> = None;
    loop {
        let changed = gate.changed();
        let mut changed = pin!(changed);
        changed.as_mut().enable();
        let now = Instant::now();
        let others_waiting = gate.waiting() > usize::from(place.is_some());
        let mut charged_early = false;
        let early = || {
            charged_early = budget.withdraw();
            charged_early
        };
        let wake = match gate.pass(now, request, others_waiting, early) {
            Pass::Go(kind) => {
                let turn = kind.map(|kind| Turn {
                    authority: Arc::clone(authority),
                    kind,
                    released_at: now,
                    ended: false,
                });
                // A failed connect's retry that goes on a turn (a probe at
                // the gate's interval, or a retry the recovery releases) is
                // paced by the gate: one probe at a time while the connects
                // fail, then a window that grows with answers and halves
                // with failures. Charging it too lost a fresh client's
                // blackhole backlog (connects timed out, so charged) to
                // the ratio of its short history: the retries waited for
                // room after the server answered, and gave up.
                let paced = connect && turn.is_some();
                if !charged || charged_early || paced || budget.withdraw() {
                    return Ok(Admitted {
                        waited: Instant::now() - started,
                        turn,
                    });
                }
                // The window is spent: the turn goes back (to a retry that
                // needs no room), and room comes back as the window
                // slides, a tenth of it at a time.
                drop(turn);
                let retry_at = now + budget.slot();
                if retry_at > deadline {
                    return Err(GiveUp::Budget);
                }
                wait_in_place(authority, &mut place, timer, retry_at - now)?.await;
                continue;
            }
            Pass::Wait(until) => until.map_or(deadline, |until| until.min(deadline)),
        };
        if now >= deadline {
            return Err(GiveUp::Waited);
        }
        if wake <= now {
            // The probe's time came this instant, and another claimed it:
            // look again.
            tokio::task::yield_now().await;
            continue;
        }
        let mut pause = wait_in_place(authority, &mut place, timer, wake - now)?;
        poll_fn(|cx| {
            if changed.as_mut().poll(cx).is_ready() || pause.as_mut().poll(cx).is_ready() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
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
