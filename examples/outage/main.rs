//! Outage simulator: 1,000 clients against a server that is down for 2 s,
//! then comes back able to accept only 50 connections per 10 ms; the
//! excess is refused, as a full accept queue refuses it. For each jitter
//! kind, with and without a retry budget, it reports the load the clients
//! put on the server and how long until every client succeeded, and draws
//! the server's load over time as an SVG.
//!
//! It runs in simulated time (tokio's paused clock), so it takes well under
//! a second and gives the same figures on every run:
//!
//! ```text
//! cargo run --example outage                      # table only
//! cargo run --example outage -- examples/outage.svg   # table and plot
//! ```
//!
//! It reproduces the result of Marc Brooker's "Exponential Backoff and
//! Jitter" (AWS Architecture Blog, 2015): clients without jitter retry in
//! lockstep and collide again and again; jitter spreads them out.

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
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
        println!("\nwrote {path}");
    }
    Ok(())
}
