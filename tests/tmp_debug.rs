#[path = "../examples/outage/open_loop.rs"]
mod open_loop;
#[test]
fn dbg() {
    for clients in [1u32, 10, 100] {
        for down_for in open_loop::OUTAGES {
            let run = |label: &str| {
                let policy = open_loop::POLICIES.into_iter().find(|p| p.label == label).unwrap();
                open_loop::simulate(open_loop::Scenario { policy, down_for, capacity: open_loop::CAPACITY, clients })
            };
            let o = run("defaults (budget per authority, waits)");
            let n = run("no retries");
            println!("{clients} {:?} amp {:.3} succ {:.4} rec {:?} (none: {:.4} {:?})", down_for, o.amplification(), o.success_share(), o.recovery, n.success_share(), n.recovery);
        }
    }
}
