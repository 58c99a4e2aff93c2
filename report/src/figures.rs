//! The figures of a report, from the owner's entries in its span: per local day, the massage effect, the
//! tender-spot map and the symptom timeline.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use domain::logs::{MassageSession, PumpSession, Quadrant, Side, Spot, SymptomCheck};

/// The owner's entries in the report's span.
#[derive(Debug, Clone, Default)]
pub struct Entries {
    pub pumps: Vec<PumpSession>,
    pub massages: Vec<MassageSession>,
    pub checks: Vec<SymptomCheck>,
}

/// One local day.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    pub left_ml: f64,
    pub right_ml: f64,
    /// Pump sessions with a massage before or during, and without.
    pub pumps_with_massage: u32,
    pub pumps_without_massage: u32,
    pub massages: u32,
}

/// Each local day from `from` to `to` (inclusive) on the clock `tz`.
pub fn days(entries: &Entries, tz: Tz, from: NaiveDate, to: NaiveDate) -> Vec<Day> {
    let mut days: Vec<Day> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|date| Day {
            date,
            left_ml: 0.0,
            right_ml: 0.0,
            pumps_with_massage: 0,
            pumps_without_massage: 0,
            massages: 0,
        })
        .collect();
    let index = |at: DateTime<Utc>| {
        let date = at.with_timezone(&tz).date_naive();
        (date >= from && date <= to).then(|| (date - from).num_days() as usize)
    };
    for p in &entries.pumps {
        if let Some(day) = index(p.started_at).and_then(|i| days.get_mut(i)) {
            day.left_ml += p.volume_left_ml;
            day.right_ml += p.volume_right_ml;
            if p.massage_before || p.massage_during {
                day.pumps_with_massage += 1;
            } else {
                day.pumps_without_massage += 1;
            }
        }
    }
    for m in &entries.massages {
        if let Some(day) = index(m.started_at).and_then(|i| days.get_mut(i)) {
            day.massages += 1;
        }
    }
    days
}

/// Pump sessions with massage against without: how many, and their average total volume.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Effect {
    pub with: (u32, Option<f64>),
    pub without: (u32, Option<f64>),
}

/// The massage effect over the report's pump sessions.
pub fn effect(pumps: &[PumpSession]) -> Effect {
    let average = |group: Vec<f64>| {
        let n = group.len() as u32;
        (n, (n > 0).then(|| (group.iter().sum::<f64>() / f64::from(n) * 10.0).round() / 10.0))
    };
    let (with, without): (Vec<&PumpSession>, Vec<&PumpSession>) =
        pumps.iter().partition(|p| p.massage_before || p.massage_during);
    let total = |ps: Vec<&PumpSession>| ps.iter().map(|p| p.volume_left_ml + p.volume_right_ml).collect();
    Effect { with: average(total(with)), without: average(total(without)) }
}

/// The quadrants of one breast, in the order the map draws them.
pub const QUADRANTS: [Quadrant; 5] =
    [Quadrant::UpperOuter, Quadrant::UpperInner, Quadrant::LowerOuter, Quadrant::LowerInner, Quadrant::Areola];

/// How often each quadrant of each breast was tender or hard, in massage sessions and symptom checks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpotMap {
    /// `[left, right]`, each in the order of [`QUADRANTS`].
    pub counts: [[u32; 5]; 2],
}

impl SpotMap {
    pub fn max(&self) -> u32 {
        self.counts.iter().flatten().copied().max().unwrap_or(0)
    }
}

/// Every spot noted in the span, both breasts counted for a spot on `both`.
pub fn spot_map(entries: &Entries) -> SpotMap {
    let mut map = SpotMap::default();
    let spots = entries.massages.iter().flat_map(|m| &m.spots).chain(entries.checks.iter().flat_map(|c| &c.spots));
    for Spot { side, quadrant, .. } in spots {
        let q = QUADRANTS.iter().position(|x| x == quadrant).unwrap_or(0);
        let sides: &[usize] = match side {
            Side::Left => &[0],
            Side::Right => &[1],
            Side::Both => &[0, 1],
        };
        for s in sides {
            map.counts[*s][q] += 1;
        }
    }
    map
}

/// One symptom check on the timeline, in hours since the span began.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub hours: f64,
    pub pain: u8,
    pub engorgement: u8,
    /// 38 °C or more.
    pub fever: bool,
}

/// The symptom checks of the span as marks, oldest first; `start` is the span's first instant.
pub fn timeline(checks: &[SymptomCheck], start: DateTime<Utc>) -> Vec<Mark> {
    let mut marks: Vec<Mark> = checks
        .iter()
        .map(|c| Mark {
            hours: (c.at - start).num_minutes() as f64 / 60.0,
            pain: c.pain,
            engorgement: c.engorgement,
            fever: c.temperature_c.is_some_and(|t| t >= domain::advisories::FEVER_C),
        })
        .collect();
    marks.sort_by(|a, b| a.hours.total_cmp(&b.hours));
    marks
}

/// The hours a span of `days` days covers.
pub fn span_hours(days: usize) -> f64 {
    Duration::days(days as i64).num_hours() as f64
}
