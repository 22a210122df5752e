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

use std::collections::BTreeMap;
use std::future::{ready, Ready};
use std::io;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use plotters::prelude::*;
use tokio::time::Instant;
use tower::{Service, ServiceExt};
use tower_conn_retry::{Backoff, Jitter, Retry, RetryBudget, RetryPolicy};

const CLIENTS: usize = 1_000;
const DOWN_FOR: Duration = Duration::from_secs(2);
const WINDOW: Duration = Duration::from_millis(10);
const ACCEPTS_PER_WINDOW: usize = 50;
/// The load plot's bucket.
const BUCKET_MS: u64 = 100;

/// The server's state: when it started, what it accepted in the current
/// window, and every attempt by 100 ms bucket.
struct Server {
    start: Instant,
    window: u64,
    accepted_in_window: usize,
    attempts_by_bucket: BTreeMap<u64, usize>,
}

/// A simulated server: refuses everything while down, then accepts at most
/// `ACCEPTS_PER_WINDOW` connections per `WINDOW` and refuses the rest.
#[derive(Clone)]
struct Simulated(Arc<Mutex<Server>>);

impl Service<http::Request<()>> for Simulated {
    type Response = http::Response<()>;
    type Error = io::Error;
    type Future = Ready<Result<http::Response<()>, io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        let mut server = self.0.lock().unwrap();
        let elapsed = server.start.elapsed();
        *server
            .attempts_by_bucket
            .entry(elapsed.as_millis() as u64 / BUCKET_MS)
            .or_default() += 1;
        let window = (elapsed.as_nanos() / WINDOW.as_nanos()) as u64;
        if window != server.window {
            server.window = window;
            server.accepted_in_window = 0;
        }
        let up = elapsed >= DOWN_FOR;
        if up && server.accepted_in_window < ACCEPTS_PER_WINDOW {
            server.accepted_in_window += 1;
            ready(Ok(http::Response::new(())))
        } else {
            ready(Err(io::Error::from(io::ErrorKind::ConnectionRefused)))
        }
    }
}

/// What one scenario gave.
struct Outcome {
    label: String,
    attempts: usize,
    succeeded: usize,
    last_success: Duration,
    attempts_by_bucket: BTreeMap<u64, usize>,
}

fn policy(jitter: Jitter, budget: bool) -> RetryPolicy {
    let builder = RetryPolicy::builder()
        .max_retries(12)
        .backoff(
            Backoff::exponential(Duration::from_millis(100))
                .max_delay(Duration::from_secs(5))
                .jitter(jitter),
        )
        .jitter_seed(2015);
    let builder = if budget {
        builder.budget(RetryBudget::default())
    } else {
        builder
    };
    builder.build().expect("valid settings")
}

fn simulate(jitter: Jitter, budget: bool) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let server = Simulated(Arc::new(Mutex::new(Server {
            start: Instant::now(),
            window: 0,
            accepted_in_window: 0,
            attempts_by_bucket: BTreeMap::new(),
        })));
        let service = Retry::new(server.clone(), policy(jitter, budget));
        let start = Instant::now();
        let clients: FuturesUnordered<_> = (0..CLIENTS)
            .map(|_| {
                let service = service.clone();
                async move {
                    let result = service.oneshot(http::Request::new(())).await;
                    result.ok().map(|_| start.elapsed())
                }
            })
            .collect();
        let finished: Vec<Option<Duration>> = clients.collect().await;
        let server = server.0.lock().unwrap();
        Outcome {
            label: format!("{jitter:?}{}", if budget { " + budget" } else { "" }),
            attempts: server.attempts_by_bucket.values().sum(),
            succeeded: finished.iter().flatten().count(),
            last_success: finished.iter().flatten().max().copied().unwrap_or_default(),
            attempts_by_bucket: server.attempts_by_bucket.clone(),
        }
    })
}

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
    let mut outcomes = Vec::new();
    for budget in [false, true] {
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            outcomes.push(simulate(jitter, budget));
        }
    }

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
