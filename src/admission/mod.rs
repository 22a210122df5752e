//! Admission: when a planned retry may go.
//!
//! A request finds its authority's state in `authority`'s bounded table
//! (one per policy, shared by every clone of the layer): a `budget` (how
//! many retries the authority's own traffic allows, and the pacing when
//! there is no room) and a `gate` (is the authority's connect failing, is
//! it answering again: a probe at a time while down, a growing window of
//! releases while it recovers). `admit` is the way through both for one
//! retry: it waits, holding a place among the authority's waiting
//! requests, until the gate and the budget let the retry go, or tells the
//! caller why it may not ([`GiveUp`](crate::give_up::GiveUp)).
//!
//! `gate` is a state machine that names nothing of the authority that
//! holds it; `admit` joins the two. The happy path only touches atomics
//! here (a deposit in the budget, is the gate limited?) and, once its
//! service has cached the authority's state, takes no lock.

pub(crate) mod admit;
pub(crate) mod authority;
pub(crate) mod budget;
pub(crate) mod gate;
