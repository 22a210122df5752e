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

// ===== the open-loop model =====

#[path = "../examples/outage/open_loop.rs"]
mod open_loop;

use std::time::Duration;

/// Every row of the README's open-loop table, as (outage ms, policy,
/// amplification x100, success per mille, recovery in 100 ms or never):
/// any change in the layer's behaviour under load shows up here. The
/// small tolerances (0.02x, 0.3 points, 0.2 s) absorb rounding at the
/// table's last digit, and any float difference between build profiles in
/// the backoff arithmetic, not a change of behaviour: a collapse or a
/// recovery still shows.
const TABLE: [(u64, &str, usize, usize, Option<u32>); 15] = [
    (200, "no retries", 100, 990, Some(1)),
    (200, "3 retries, no jitter", 302, 354, None),
    (200, "3 retries, Full jitter (defaults)", 304, 338, None),
    (200, "3 retries, Full jitter + budget", 106, 971, Some(5)),
    (200, "3 retries, Decorrelated + budget", 107, 982, Some(14)),
    (1_000, "no retries", 100, 950, Some(1)),
    (1_000, "3 retries, no jitter", 304, 348, None),
    (1_000, "3 retries, Full jitter (defaults)", 305, 332, None),
    (1_000, "3 retries, Full jitter + budget", 107, 951, Some(0)),
    (1_000, "3 retries, Decorrelated + budget", 107, 955, Some(1)),
    (3_000, "no retries", 100, 850, Some(1)),
    (3_000, "3 retries, no jitter", 307, 338, None),
    (3_000, "3 retries, Full jitter (defaults)", 308, 323, None),
    (3_000, "3 retries, Full jitter + budget", 109, 851, Some(0)),
    (3_000, "3 retries, Decorrelated + budget", 109, 852, Some(0)),
];

#[test]
fn the_open_loop_table_is_what_the_readme_shows() {
    let outcomes: Vec<_> = open_loop::scenarios().map(open_loop::simulate).collect();
    assert_eq!(outcomes.len(), TABLE.len());
    for (outcome, &(outage_ms, label, amplification, success, recovery)) in
        outcomes.iter().zip(&TABLE)
    {
        let row = (
            outcome.scenario.down_for.as_millis() as u64,
            outcome.scenario.policy.label,
            (outcome.amplification() * 100.0).round() as usize,
            (outcome.success_share() * 1000.0).round() as usize,
            outcome.recovery.map(|r| (r.as_millis() / 100) as u32),
        );
        let expected = (outage_ms, label, amplification, success, recovery);
        assert_eq!((row.0, row.1), (outage_ms, label));
        assert!(
            row.2.abs_diff(amplification) <= 2,
            "{row:?} against {expected:?}"
        );
        assert!(row.3.abs_diff(success) <= 3, "{row:?} against {expected:?}");
        match (row.4, recovery) {
            (Some(got), Some(want)) => {
                assert!(got.abs_diff(want) <= 2, "{row:?} against {expected:?}")
            }
            (got, want) => assert_eq!(got, want, "{row:?} against {expected:?}"),
        }
    }
}

/// The budget's point, in this model: without it even a 200 ms outage
/// leaves the server collapsed for the rest of the run; with it, the
/// server is back within 1.5 s and no more than 2 points of requests are
/// lost beyond those that not retrying at all loses.
#[test]
fn without_a_budget_retries_hold_the_server_down_and_with_one_it_recovers() {
    for down_for in open_loop::OUTAGES {
        let run = |label| outcome_of(label, down_for, open_loop::CAPACITY);
        let none = run("no retries");
        let defaults = run("3 retries, Full jitter (defaults)");
        let budget = run("3 retries, Full jitter + budget");
        assert_eq!(defaults.recovery, None, "{down_for:?}");
        assert!(defaults.success_share() < 0.4, "{down_for:?}");
        assert!(defaults.amplification() > 2.9, "{down_for:?}");
        assert!(budget.recovery.unwrap() <= Duration::from_millis(1_500));
        assert!(budget.amplification() < 1.1);
        assert!(budget.success_share() >= none.success_share() - 0.02);
    }
}

/// With enough headroom the retries are absorbed: they then save requests
/// the outage would have cost, and the budget gives some of that back.
#[test]
fn with_headroom_retries_save_requests_and_the_budget_costs_some() {
    let run = |label| outcome_of(label, Duration::from_secs(1), 90);
    let none = run("no retries");
    let defaults = run("3 retries, Full jitter (defaults)");
    let budget = run("3 retries, Full jitter + budget");
    assert!(defaults.recovery.is_some());
    assert!(defaults.success_share() > none.success_share() + 0.01);
    assert!(budget.success_share() < defaults.success_share());
    assert!(budget.success_share() >= none.success_share());
}

/// The open-loop model's run of the policy named `label`.
fn outcome_of(label: &str, down_for: Duration, capacity: u32) -> open_loop::Outcome {
    let policy = open_loop::POLICIES
        .into_iter()
        .find(|p| p.label == label)
        .unwrap_or_else(|| panic!("no policy {label:?}"));
    open_loop::simulate(open_loop::Scenario {
        policy,
        down_for,
        capacity,
        clients: 1,
    })
}
