//! `sockops simulate --plot FILE.svg`: a time-sequence graph as tcptrace draws one — for
//! every connection and direction, each segment sent is a vertical bar from its first to its
//! last sequence number (relative to the sender's ISN) at the time it left, with a tick at
//! both ends; retransmissions are drawn in red with a cross. Drawn with `plotters` (SVG
//! backend only, default features off).

use plotters::prelude::*;

use crate::net::sim::run::SimReport;

/// One segment as drawn: time (ms), first and last sequence number, retransmitted.
type Bar = (f64, f64, f64, bool);

/// Why the graph could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the plot: {0}")]
pub struct PlotError(String);

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError(e.to_string())
}

/// The SVG text of the time-sequence graph of `report`.
pub fn render_svg(report: &SimReport) -> Result<String, PlotError> {
    // (label, segments (time ms, from, to, retransmit)) per connection and direction.
    let mut series: Vec<(String, Vec<Bar>)> = Vec::new();
    for c in &report.connections {
        for (arrow, side) in [
            ("client -> server", &c.client),
            ("server -> client", &c.server),
        ] {
            if let Some(s) = side {
                let segs = s
                    .sent
                    .iter()
                    .map(|g| {
                        let t = g.at_us as f64 / 1000.0;
                        let from = f64::from(g.rel_seq);
                        (t, from, from + f64::from(g.len), g.retransmit)
                    })
                    .collect();
                series.push((format!("{} {arrow}", c.name), segs));
            }
        }
    }
    let x_max = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|g| g.0))
        .fold(1.0f64, f64::max)
        * 1.05;
    let y_max = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|g| g.2))
        .fold(1.0f64, f64::max)
        * 1.05;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "time-sequence graph (engine {}, seed {})",
                    report.engine, report.seed
                ),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("time (ms)")
            .y_desc("relative sequence number (bytes)")
            .draw()
            .map_err(err)?;
        for (i, (label, segs)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            // tcptrace's ticks: a short horizontal bar at both ends of every segment, so
            // segments sent at the same instant stay apart.
            let tick = x_max / 300.0;
            chart
                .draw_series(segs.iter().filter(|g| !g.3).flat_map(move |&(t, a, b, _)| {
                    let style = color.stroke_width(2);
                    [
                        PathElement::new(vec![(t, a), (t, b)], style),
                        PathElement::new(vec![(t - tick, a), (t + tick, a)], style),
                        PathElement::new(vec![(t - tick, b), (t + tick, b)], style),
                    ]
                }))
                .map_err(err)?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(segs.iter().filter(|g| g.3).flat_map(|&(t, a, b, _)| {
                    [
                        PathElement::new(vec![(t, a), (t, b)], RED.stroke_width(2)).into_dyn(),
                        Cross::new((t, a), 5, RED.stroke_width(2)).into_dyn(),
                    ]
                }))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
