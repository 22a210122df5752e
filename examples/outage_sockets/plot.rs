//! The SVG: attempts per 100 ms (top) and requests served per 100 ms
//! (bottom), one line per variant, the outage shaded; drawn as
//! `examples/outage` draws its open-loop plot.

use plotters::prelude::*;

use crate::open_loop::{Outcome, Plan};
use crate::series::BUCKET;

pub fn plot(
    outcomes: &[Outcome],
    plan: &Plan,
    path: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (900, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(380);
    let bucket_secs = BUCKET.as_secs_f64();
    let to = plan.run.as_secs_f64();
    let buckets = 0..(to / bucket_secs) as usize;
    let colors = [BLACK, RED, MAGENTA, BLUE];
    let down = plan.down_at.as_secs_f64();
    let up = plan.back_at().as_secs_f64();
    for (area, title, attempts) in [
        (
            &top,
            "connection attempts per 100 ms (loopback); outage shaded",
            true,
        ),
        (
            &bottom,
            "requests served per 100 ms; grey line: 95% of arrivals",
            false,
        ),
    ] {
        let pick = |o: &Outcome, b: usize| {
            let series = if attempts { &o.attempts } else { &o.served };
            series.get(b).copied().unwrap_or(0) as f64
        };
        let peak = outcomes
            .iter()
            .flat_map(|o| buckets.clone().map(move |b| pick(o, b)))
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..to, 0f64..peak * 1.1)?;
        chart.configure_mesh().x_desc("time (s)").draw()?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(down, 0.0), (up, peak * 1.1)],
            RGBColor(220, 220, 220).filled(),
        )))?;
        if !attempts {
            let arrivals = f64::from(plan.arrivals_per_sec) * bucket_secs;
            chart.draw_series(LineSeries::new(
                [(0.0, arrivals * 0.95), (to, arrivals * 0.95)],
                BLACK.mix(0.4).stroke_width(1),
            ))?;
        }
        for (o, color) in outcomes.iter().zip(colors) {
            let points = buckets
                .clone()
                .map(|b| (b as f64 * bucket_secs, pick(o, b)));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(o.variant.label())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
