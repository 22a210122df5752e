//! Outage simulators, both driven through the crate's real `Retry` in
//! simulated time (tokio's paused clock: well under a second, the same
//! figures on every run).
//!
//! 1. **Open loop** (`open_loop.rs`): requests arrive at 1,000/s for 20 s;
//!    the server goes down for 0.2, 1 or 3 s; every connection attempt
//!    costs it capacity (the handshake), so retries compete with first
//!    tries. For each policy: the load offered, the goodput, the share of
//!    requests that succeed, and how long the server takes to recover.
//! 2. **One wave** (`sim.rs`): 1,000 clients start together against a
//!    server down for 2 s and then overloaded: Brooker's jitter result.
//!
//! ```text
//! cargo run --example outage                        # tables only
//! cargo run --example outage -- examples/outage.svg  # tables and plots
//! ```

mod open_loop;
mod sim;

use plotters::prelude::*;

use sim::{simulate, Outcome, ACCEPTS_PER_WINDOW, BUCKET_MS, CLIENTS, DOWN_FOR, WINDOW};

fn plot(outcomes: &[Outcome], path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let last_bucket = outcomes
        .iter()
        .filter_map(|o| o.attempts_by_bucket.keys().last().copied())
        .max()
        .unwrap_or(1);
    let peak = outcomes
        .iter()
        .flat_map(|o| o.attempts_by_bucket.values().copied())
        .max()
        .unwrap_or(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{CLIENTS} clients; server down {} s, then {} accepts per {} ms",
                DOWN_FOR.as_secs(),
                ACCEPTS_PER_WINDOW,
                WINDOW.as_millis()
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            0f64..(last_bucket + 1) as f64 * BUCKET_MS as f64 / 1000.0,
            0usize..peak + peak / 10,
        )?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(format!("attempts per {BUCKET_MS} ms"))
        .draw()?;
    let colors = [RED, BLUE, GREEN, MAGENTA];
    for (outcome, color) in outcomes
        .iter()
        .filter(|o| !o.label.contains("budget"))
        .zip(colors)
    {
        let points = (0..=last_bucket).map(|bucket| {
            let attempts = outcome
                .attempts_by_bucket
                .get(&bucket)
                .copied()
                .unwrap_or(0);
            (bucket as f64 * BUCKET_MS as f64 / 1000.0, attempts)
        });
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(format!("{} ({} attempts)", outcome.label, outcome.attempts))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The open-loop table: a row per scenario.
fn open_loop_table(outcomes: &[open_loop::Outcome]) {
    println!("| outage | capacity | clients | policy | attempts / requests | succeeded | recovery to 95% |");
    println!("|---|---:|---:|---|---:|---:|---:|");
    for o in outcomes {
        println!(
            "| {:.1} s | {} | {} | {} | {:.2}x | {:.1}% | {} |",
            o.scenario.down_for.as_secs_f64(),
            o.scenario.capacity,
            o.scenario.clients,
            o.scenario.policy.label,
            o.amplification(),
            o.success_share() * 100.0,
            match o.recovery {
                Some(after) => format!("{:.1} s", after.as_secs_f64()),
                None => "never".to_string(),
            },
        );
    }
}

/// Offered load and goodput over time for the 1 s outage, one line per
/// policy, from 2 s before the outage to 8 s after it, the outage shaded.
fn plot_open_loop(
    outcomes: &[open_loop::Outcome],
    path: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use open_loop::{ARRIVALS_PER_SEC, BUCKET, DOWN_AT};
    let shown: Vec<_> = outcomes
        .iter()
        .filter(|o| o.scenario.down_for == std::time::Duration::from_secs(1))
        .collect();
    let root = SVGBackend::new(path, (900, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(380);
    let from = DOWN_AT.as_secs_f64() - 2.0;
    let to = DOWN_AT.as_secs_f64() + 9.0;
    let per_bucket = |map: &std::collections::BTreeMap<u64, usize>, bucket: u64| {
        map.get(&bucket).copied().unwrap_or(0) as f64
    };
    let bucket_secs = BUCKET.as_secs_f64();
    let buckets = ((from / bucket_secs) as u64)..((to / bucket_secs) as u64);
    let colors = [BLACK, RED, MAGENTA, BLUE, GREEN];
    for (area, title, offered, legend) in [
        (
            &top,
            "attempts reaching the server per 100 ms (offered load); 1 s outage shaded",
            true,
            SeriesLabelPosition::MiddleRight,
        ),
        (
            &bottom,
            "requests served per 100 ms (goodput); grey line: 95% of arrivals",
            false,
            SeriesLabelPosition::LowerRight,
        ),
    ] {
        let peak = shown
            .iter()
            .flat_map(|o| {
                buckets
                    .clone()
                    .map(|b| per_bucket(if offered { &o.offered } else { &o.goodput }, b))
            })
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(from..to, 0f64..peak * 1.1)?;
        chart.configure_mesh().x_desc("time (s)").draw()?;
        let down = DOWN_AT.as_secs_f64();
        chart.draw_series(std::iter::once(Rectangle::new(
            [(down, 0.0), (down + 1.0, peak * 1.1)],
            RGBColor(220, 220, 220).filled(),
        )))?;
        if !offered {
            let arrivals = ARRIVALS_PER_SEC as f64 * bucket_secs;
            chart.draw_series(LineSeries::new(
                [(from, arrivals * 0.95), (to, arrivals * 0.95)],
                BLACK.mix(0.4).stroke_width(1),
            ))?;
        }
        for (o, color) in shown.iter().zip(colors) {
            let map = if offered { &o.offered } else { &o.goodput };
            let points = buckets
                .clone()
                .map(|b| (b as f64 * bucket_secs, per_bucket(map, b)));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(o.scenario.policy.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(legend)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("Open loop: 1,000 requests/s for 20 s; capacity per 10 ms tick, a handshake 2 units, a request 1\n");
    let open: Vec<_> = open_loop::scenarios().map(open_loop::simulate).collect();
    open_loop_table(&open);
    println!("\nHeadroom: the 1 s outage on servers of more capacity\n");
    let sweep: Vec<_> = open_loop::sweep().map(open_loop::simulate).collect();
    open_loop_table(&sweep);
    println!("\nFleets: the same 1,000 requests/s from 10 and from 100 clients, each with its own layer\n");
    let fleets: Vec<_> = open_loop::fleets().map(open_loop::simulate).collect();
    open_loop_table(&fleets);
    println!("\nOne wave: {CLIENTS} clients at once, the server down 2 s then overloaded\n");

    let outcomes: Vec<Outcome> = sim::scenarios()
        .map(|(jitter, budget)| simulate(jitter, budget))
        .collect();

    println!("| policy | attempts (server load) | amplification | succeeded | last success |");
    println!("|---|---:|---:|---:|---:|");
    for outcome in &outcomes {
        println!(
            "| {} | {} | {:.2}x | {} of {CLIENTS} | {:.2} s |",
            outcome.label,
            outcome.attempts,
            outcome.attempts as f64 / CLIENTS as f64,
            outcome.succeeded,
            outcome.last_success.as_secs_f64(),
        );
    }

    if let Some(path) = std::env::args().nth(1) {
        plot(&outcomes, &path)?;
        let open_path = path.replace(".svg", "-open-loop.svg");
        plot_open_loop(&open, &open_path)?;
        println!("\nwrote {path} and {open_path}");
    }
    Ok(())
}
