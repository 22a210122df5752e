//! The outage simulation (`examples/outage`) pins Brooker's result: without
//! jitter, clients retry in lockstep and keep colliding; with jitter they
//! all get through with far fewer attempts; a budget caps the load.

#[path = "../examples/outage/sim.rs"]
mod sim;

use tower_conn_retry::Jitter;

use sim::{simulate, CLIENTS, JITTERS};

#[test]
fn jitter_gets_every_client_through_with_far_less_load_than_lockstep_retries() {
    let lockstep = simulate(Jitter::None, false);
    assert!(
        lockstep.succeeded < CLIENTS,
        "without jitter every client got through: the simulation lost its contention"
    );
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let jittered = simulate(jitter, false);
        assert_eq!(jittered.succeeded, CLIENTS, "{jitter:?}");
        assert!(
            jittered.attempts * 10 < lockstep.attempts * 7,
            "{jitter:?}: {} attempts against {} without jitter",
            jittered.attempts,
            lockstep.attempts
        );
        assert!(
            jittered.last_success < lockstep.last_success / 3,
            "{jitter:?}"
        );
    }
}

#[test]
fn the_budget_caps_the_load_whatever_the_jitter() {
    for jitter in JITTERS {
        let budgeted = simulate(jitter, true);
        // 20% of the requests plus 10 retries per second over 10 s.
        let allowed_retries = CLIENTS / 5 + 100;
        assert!(
            budgeted.attempts <= CLIENTS + allowed_retries,
            "{jitter:?}: {} attempts",
            budgeted.attempts
        );
    }
}
