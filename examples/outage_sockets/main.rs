//! Real sockets confirm the model (`examples/outage`): a hyper server on
//! 127.0.0.1 whose every new connection costs CPU, an open-loop client at a
//! fixed rate, and a 1 s outage made by dropping the listener and binding
//! the same port again. For four clients, one after the other, each
//! against a fresh server: attempts per request, the share that succeeds,
//! and how long after the outage the server serves 95% of arrivals again.
//!
//! Unlike the model, this is not deterministic: the figures move from run
//! to run with the machine's load (run it twice).
//!
//! ```text
//! cargo run --release --example outage_sockets                        # about 45 s
//! cargo run --release --example outage_sockets -- --quick             # about 25 s
//! cargo run --release --example outage_sockets -- --plot examples/outage-sockets.svg
//! cargo run --release --example outage_sockets -- --series            # per second too
//! cargo run --release --example outage_sockets -- --cpu               # costs burn CPU
//! cargo run --release --example outage_sockets -- --connect-timeout-ms 100
//! ```
//!
//! - `server.rs`: the server, its costs, the outage.
//! - `connector.rs`: the client's connector (connect and greeting, counted).
//! - `variants.rs`: the four clients.
//! - `open_loop.rs`: one run of one client.
//! - `series.rs`: counts per 100 ms, and the recovery measure.
//! - `plot.rs`: the SVG.

mod connector;
mod open_loop;
mod plot;
mod series;
mod server;
mod variants;

use std::time::Duration;

use open_loop::{Outcome, Plan};
use server::{Costs, Spend};
use variants::VARIANTS;

/// 200 requests a second, each 2.4 ms of handshake and 1 ms of serving:
/// the server's worker is 68% busy, a third in reserve, and a handshake
/// costs more than a small request, as in the model. A connect (TCP and
/// greeting) times out after 100 ms, 30 handshakes' worth of queue: with
/// 200 ms the retrying clients without a budget collapsed in only some runs
/// (the retry burst after the outage then has to be larger than chance
/// makes it); with 100 ms, in every run.
const PLAN: Plan = Plan {
    arrivals_per_sec: 200,
    run: Duration::from_secs(10),
    down_at: Duration::from_secs(2),
    down_for: Duration::from_secs(1),
    costs: Costs {
        handshake: Duration::from_micros(2_400),
        serve: Duration::from_micros(1_000),
        spend: Spend::Clock,
    },
    connect_timeout: Duration::from_millis(100),
    deadline: Duration::from_secs(5),
};

/// `--quick`: the same outage, less before and after it. Its 3 s deadline
/// cuts short the waits of the requests the outage held, so the defaults
/// save fewer of them than in the full run.
const QUICK: Plan = Plan {
    run: Duration::from_secs(5),
    down_at: Duration::from_secs(1),
    deadline: Duration::from_secs(3),
    ..PLAN
};

fn table(outcomes: &[Outcome]) {
    println!("| client | attempts / requests | succeeded | back to 95% of arrivals | latency of successes p50 / p99 / max |");
    println!("|---|---:|---:|---:|---:|");
    for o in outcomes {
        println!(
            "| {} | {:.2}x | {:.1}% | {} | {} / {} / {} |",
            o.variant.label(),
            o.amplification(),
            o.success_share() * 100.0,
            match o.recovery {
                Some(after) => format!("{:.1} s", after.as_secs_f64()),
                None => "not before the end".to_string(),
            },
            millis(o.latency(0.5)),
            millis(o.latency(0.99)),
            millis(o.latency(1.0)),
        );
    }
}

fn millis(latency: Duration) -> String {
    if latency < Duration::from_secs(1) {
        format!("{} ms", latency.as_millis())
    } else {
        format!("{:.1} s", latency.as_secs_f64())
    }
}

/// Per second: attempts, served, failed (by when they ended).
fn per_second(outcomes: &[Outcome], plan: &Plan) {
    let per_second = (Duration::from_secs(1).as_nanos() / series::BUCKET.as_nanos()) as usize;
    let seconds = (plan.span().as_secs()) as usize;
    let sum = |series: &[usize], second: usize| -> usize {
        series
            .iter()
            .skip(second * per_second)
            .take(per_second)
            .sum()
    };
    for o in outcomes {
        println!(
            "\n{}: per second, arrived / attempts / served / failed",
            o.variant.label()
        );
        let line: Vec<String> = (0..seconds)
            .map(|s| {
                format!(
                    "{s}s {}/{}/{}/{}",
                    sum(&o.arrived, s),
                    sum(&o.attempts, s),
                    sum(&o.served, s),
                    sum(&o.failed, s)
                )
            })
            .collect();
        println!("{}", line.join("  "));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut plan = if args.iter().any(|a| a == "--quick") {
        QUICK
    } else {
        PLAN
    };
    if let Some(i) = args.iter().position(|a| a == "--connect-timeout-ms") {
        let ms: u64 = args
            .get(i + 1)
            .and_then(|ms| ms.parse().ok())
            .ok_or("--connect-timeout-ms needs a number of milliseconds")?;
        plan.connect_timeout = Duration::from_millis(ms);
    }
    if args.iter().any(|a| a == "--cpu") {
        plan.costs.spend = Spend::Cpu;
    }
    let plot_path = args
        .iter()
        .position(|a| a == "--plot")
        .map(|i| args.get(i + 1).cloned().ok_or("--plot needs a path"))
        .transpose()?;
    println!(
        "Loopback: {} requests/s for {} s, a new connection each ({:.1} ms handshake, {:.1} ms request, one worker, {:?}); \
         listener dropped at {} s for {} s; connect timeout {} ms, deadline {} s\n",
        plan.arrivals_per_sec,
        plan.run.as_secs(),
        plan.costs.handshake.as_secs_f64() * 1e3,
        plan.costs.serve.as_secs_f64() * 1e3,
        plan.costs.spend,
        plan.down_at.as_secs(),
        plan.down_for.as_secs(),
        plan.connect_timeout.as_millis(),
        plan.deadline.as_secs(),
    );
    let mut outcomes = Vec::new();
    for variant in VARIANTS {
        outcomes.push(open_loop::run(plan, variant).await?);
    }
    table(&outcomes);
    let took: Duration = outcomes.iter().map(|o| o.elapsed).sum();
    println!("\n(the four runs took {:.1} s)", took.as_secs_f64());
    if args.iter().any(|a| a == "--series") {
        per_second(&outcomes, &plan);
    }
    if let Some(path) = plot_path {
        plot::plot(&outcomes, &plan, &path)?;
        println!("\nwrote {path}");
    }
    Ok(())
}
