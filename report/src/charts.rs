//! The report's charts, drawn by plotters into SVG text (no browser script, nothing fetched).

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::sync::Once;

use crate::figures::{Day, Effect, Mark, QUADRANTS, SpotMap};

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing the {chart} chart: {reason}")]
pub struct ChartError {
    chart: &'static str,
    reason: String,
}

/// A chart across the page, and one of two side by side.
const WIDE: (u32, u32) = (680, 230);
const HALF: (u32, u32) = (340, 230);
const LEFT: RGBColor = RGBColor(0x4f, 0x7c, 0xac);
const RIGHT: RGBColor = RGBColor(0xc9, 0x6f, 0x8b);
const WITH: RGBColor = RGBColor(0x5a, 0x9e, 0x6f);
const WITHOUT: RGBColor = RGBColor(0xb8, 0xb8, 0xb8);
const FEVER: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
const FONT: &str = "sans-serif";

/// A series of a chart: its name, its colour, and its value of an item.
type Series<T> = (&'static str, RGBColor, fn(&T) -> f64);

/// The font every label is measured and written in, from the crate (a server needs no fonts installed).
fn register_font() {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../fonts/DejaVuSans.ttf");
        // A font that does not load leaves labels out of the charts, which the tests would see.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, bytes);
    });
}

/// Draws into a new SVG of `size` with `draw`; the SVG text.
fn svg(
    chart: &'static str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> Result<String, ChartError> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| ChartError { chart, reason: e.to_string() })?;
        draw(&root).map_err(|reason| ChartError { chart, reason })?;
        root.present().map_err(|e| ChartError { chart, reason: e.to_string() })?;
    }
    Ok(out)
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn day_label(days: &[Day], x: f64) -> String {
    days.get(x.floor() as usize).map(|d| d.date.format("%-d %b").to_string()).unwrap_or_default()
}

/// A chart with a column per day from 0 to `top`, its axes drawn.
fn per_day<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    days: &[Day],
    top: f64,
    unit: &str,
) -> Result<ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(26)
        .y_label_area_size(46)
        .build_cartesian_2d(0f64..days.len() as f64, 0f64..top)
        .map_err(text)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(days.len().min(10))
        .x_label_formatter(&|x| day_label(days, *x))
        .y_desc(unit)
        .label_style((FONT, 12))
        .draw()
        .map_err(text)?;
    Ok(chart)
}

/// Pumped volume per breast per day (ml), side by side.
pub fn volume_per_side(days: &[Day]) -> Result<String, ChartError> {
    svg("volume", WIDE, |root| {
        let top = days.iter().map(|d| d.left_ml.max(d.right_ml)).fold(0.0, f64::max).max(10.0) * 1.5;
        let mut chart = per_day(root, days, top, "ml")?;
        let sides: [(Series<Day>, f64); 2] =
            [(("Left", LEFT, |d| d.left_ml), 0.12), (("Right", RIGHT, |d| d.right_ml), 0.5)];
        for ((name, colour, value), offset) in sides {
            let bars = days.iter().enumerate().map(move |(i, d)| {
                let x = i as f64 + offset;
                Rectangle::new([(x, 0.0), (x + 0.38, value(d))], colour.filled())
            });
            chart
                .draw_series(bars)
                .map_err(text)?
                .label(name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 12))
            .border_style(BLACK)
            .draw()
            .map_err(text)
    })
}

/// Pump sessions per day, with massage (before or during) and without, stacked.
pub fn sessions_per_day(days: &[Day]) -> Result<String, ChartError> {
    svg("sessions", HALF, |root| {
        let top = days.iter().map(|d| d.pumps_with_massage + d.pumps_without_massage).max().unwrap_or(0).max(2);
        let mut chart = per_day(root, days, f64::from(top) * 1.6, "pump sessions")?;
        let with = days.iter().enumerate().map(|(i, d)| {
            let x = i as f64 + 0.15;
            Rectangle::new([(x, 0.0), (x + 0.7, f64::from(d.pumps_with_massage))], WITH.filled())
        });
        chart
            .draw_series(with)
            .map_err(text)?
            .label("with massage")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], WITH.filled()));
        let without = days.iter().enumerate().map(|(i, d)| {
            let (x, base) = (i as f64 + 0.15, f64::from(d.pumps_with_massage));
            Rectangle::new([(x, base), (x + 0.7, base + f64::from(d.pumps_without_massage))], WITHOUT.filled())
        });
        chart
            .draw_series(without)
            .map_err(text)?
            .label("without massage")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], WITHOUT.filled()));
        chart.configure_series_labels().label_font((FONT, 12)).border_style(BLACK).draw().map_err(text)
    })
}

/// Average volume per pump session with massage against without, each bar labelled with its sessions.
pub fn massage_effect(effect: &Effect) -> Result<String, ChartError> {
    svg("effect", HALF, |root| {
        let groups = [("with massage", effect.with, WITH), ("without massage", effect.without, WITHOUT)];
        let top = groups.iter().filter_map(|(_, (_, avg), _)| *avg).fold(0.0, f64::max).max(10.0) * 1.3;
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(26)
            .y_label_area_size(46)
            .build_cartesian_2d(0f64..2.0, 0f64..top)
            .map_err(text)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("ml per session")
            .label_style((FONT, 12))
            .draw()
            .map_err(text)?;
        for (i, (name, (n, avg), colour)) in groups.iter().enumerate() {
            let (x, value) = (i as f64 + 0.25, avg.unwrap_or(0.0));
            let bar = Rectangle::new([(x, 0.0), (x + 0.5, value)], colour.filled());
            let label = match avg {
                Some(avg) => format!("{avg} ml ({n})"),
                None => "no sessions".to_owned(),
            };
            let note = Text::new(label, (x, value + top * 0.1), (FONT, 12).into_font());
            let group = Text::new(*name, (x - 0.05, value + top * 0.04), (FONT, 11).into_font());
            chart.draw_series([group]).map_err(text)?;
            chart.draw_series([bar]).map_err(text)?;
            chart.draw_series([note]).map_err(text)?;
        }
        Ok(())
    })
}

/// Pain (0-10) and engorgement (1-5) of each symptom check over the span, fever checks marked.
pub fn symptom_timeline(marks: &[Mark], hours: f64, days: &[Day]) -> Result<String, ChartError> {
    svg("timeline", WIDE, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(26)
            .y_label_area_size(46)
            .build_cartesian_2d(0f64..hours.max(24.0), 0f64..10.5)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_labels(days.len().min(10))
            .x_label_formatter(&|h| day_label(days, *h / 24.0))
            .y_desc("score")
            .label_style((FONT, 12))
            .draw()
            .map_err(text)?;
        let series: [Series<Mark>; 2] =
            [("pain", RIGHT, |m| f64::from(m.pain)), ("engorgement", LEFT, |m| f64::from(m.engorgement))];
        for (name, colour, value) in series {
            let line = LineSeries::new(marks.iter().map(|m| (m.hours, value(m))), colour.stroke_width(2));
            chart
                .draw_series(line)
                .map_err(text)?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], colour.stroke_width(2)));
            chart
                .draw_series(marks.iter().map(|m| Circle::new((m.hours, value(m)), 3, colour.filled())))
                .map_err(text)?;
        }
        let fevers = marks.iter().filter(|m| m.fever).map(|m| TriangleMarker::new((m.hours, 10.0), 6, FEVER.filled()));
        chart
            .draw_series(fevers)
            .map_err(text)?
            .label("fever (38 °C or more)")
            .legend(|(x, y)| TriangleMarker::new((x + 5, y), 5, FEVER.filled()));
        chart.configure_series_labels().label_font((FONT, 12)).border_style(BLACK).draw().map_err(text)
    })
}

/// How often each quadrant of each breast was tender or hard: the breasts as the owner looks down at them,
/// outer quadrants to the outside, the areola in the middle; darker is more often.
pub fn tender_spots(map: &SpotMap) -> Result<String, ChartError> {
    svg("spots", WIDE, |root| {
        let max = map.max().max(1) as f64;
        let panels = root.split_evenly((1, 2));
        for (side, (panel, name)) in panels.iter().zip(["Left breast", "Right breast"]).enumerate() {
            let (w, h) = panel.dim_in_pixel();
            let (w, h) = (w as i32, h as i32);
            let cell = (h - 50) / 2;
            let x0 = (w - 2 * cell) / 2;
            let y0 = 30;
            panel.draw(&Text::new(name, (x0, 8), (FONT, 14).into_font())).map_err(text)?;
            let shade = |n: u32| {
                let t = f64::from(n) / max;
                RGBColor(255 - (t * 90.0) as u8, 255 - (t * 170.0) as u8, 255 - (t * 140.0) as u8)
            };
            // (quadrant index, column from the outside, row)
            for (q, col, row) in [(0, 0, 0), (1, 1, 0), (2, 0, 1), (3, 1, 1)] {
                let col = if side == 0 { col } else { 1 - col };
                let (cx, cy) = (x0 + col * cell, y0 + row * cell);
                let n = map.counts[side][q];
                panel.draw(&Rectangle::new([(cx, cy), (cx + cell, cy + cell)], shade(n).filled())).map_err(text)?;
                panel.draw(&Rectangle::new([(cx, cy), (cx + cell, cy + cell)], BLACK.stroke_width(1))).map_err(text)?;
                let label = format!("{} · {n}", quadrant_name(q));
                let y = if row == 0 { cy + 8 } else { cy + cell - 20 };
                panel.draw(&Text::new(label, (cx + 6, y), (FONT, 11).into_font())).map_err(text)?;
            }
            let areola = map.counts[side][4];
            let centre = (x0 + cell, y0 + cell);
            panel.draw(&Circle::new(centre, cell / 4, shade(areola).filled())).map_err(text)?;
            panel.draw(&Circle::new(centre, cell / 4, BLACK.stroke_width(1))).map_err(text)?;
            let label = format!("areola · {areola}");
            panel.draw(&Text::new(label, (centre.0 - 30, centre.1 - 6), (FONT, 11).into_font())).map_err(text)?;
        }
        Ok(())
    })
}

fn quadrant_name(q: usize) -> &'static str {
    match QUADRANTS.get(q) {
        Some(domain::logs::Quadrant::UpperOuter) => "upper outer",
        Some(domain::logs::Quadrant::UpperInner) => "upper inner",
        Some(domain::logs::Quadrant::LowerOuter) => "lower outer",
        Some(domain::logs::Quadrant::LowerInner) => "lower inner",
        _ => "areola",
    }
}
