//! A week of example entries: for the tests, and for the picture of a report in the README
//! (`cargo run -p report --example sample > report.html`).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use domain::logs::{
    MassageContext, MassageSession, Pressure, PumpMode, PumpSession, PumpType, Quadrant, Side, Spot, SpotKind,
    SymptomCheck,
};

use crate::{Entries, ReportInput};

fn pump(at: DateTime<Utc>, left: f64, right: f64, massage: bool) -> PumpSession {
    PumpSession {
        started_at: at,
        ended_at: at + Duration::minutes(20),
        side: Side::Both,
        volume_left_ml: left,
        volume_right_ml: right,
        pump_type: PumpType::Electric,
        mode: PumpMode::Double,
        massage_before: massage,
        massage_during: false,
        notes: None,
    }
}

fn spot(side: Side, quadrant: Quadrant) -> Spot {
    Spot { side, quadrant, kind: SpotKind::Tender, severity: 3 }
}

/// A week of entries: pumps each morning (with massage every other day), a massage with a tender spot, a fever.
pub fn week() -> ReportInput {
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    let from = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let at =
        |day: i64, hour: u32| tz.with_ymd_and_hms(2026, 11, 28, hour, 0, 0).unwrap().to_utc() + Duration::days(day);
    let mut entries = Entries::default();
    for day in 0..7 {
        entries.pumps.push(pump(at(day, 7), 60.0 + day as f64, 50.0, day % 2 == 0));
        entries.pumps.push(pump(at(day, 19), 40.0, 45.0, false));
    }
    entries.massages.push(MassageSession {
        started_at: at(2, 6),
        duration_s: 300,
        side: Side::Left,
        pressure: Pressure::Light,
        guide: None,
        context: MassageContext::BeforePumping,
        spots: vec![spot(Side::Left, Quadrant::UpperOuter), spot(Side::Both, Quadrant::Areola)],
        notes: None,
    });
    entries.checks.push(SymptomCheck {
        at: at(3, 12),
        engorgement: 4,
        pain: 6,
        spots: vec![spot(Side::Left, Quadrant::UpperOuter)],
        redness: true,
        temperature_c: Some(38.5),
        flu_like: false,
        notes: None,
    });
    ReportInput {
        name: "Ana <script>alert(1)</script>".into(),
        timezone: tz,
        from,
        to: from + Duration::days(6),
        entries,
        advisories: Vec::new(),
        generated_at: at(7, 9),
    }
}
