//! The user's own numbers: pumping and massage per local day, and how pumping goes with and without massage.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::logs::PumpSession;

/// One local day of the account.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayStats {
    /// The user's local date.
    pub date: NaiveDate,
    pub pump_sessions: u32,
    pub volume_left_ml: f64,
    pub volume_right_ml: f64,
    pub volume_total_ml: f64,
    /// Total volume divided by pump sessions; null without sessions.
    pub average_volume_ml: Option<f64>,
    pub massage_sessions: u32,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// One local day's sums, as the database adds them up.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayTotals {
    pub pump_sessions: u32,
    pub volume_left_ml: f64,
    pub volume_right_ml: f64,
    pub massage_sessions: u32,
}

/// Every local day from `from` to `to` (inclusive), with pump sessions and massage starts counted on the local
/// day they started.
pub fn daily(
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
    pumps: &[PumpSession],
    massages: &[DateTime<Utc>],
) -> Vec<DayStats> {
    let mut totals: BTreeMap<NaiveDate, DayTotals> = BTreeMap::new();
    for p in pumps {
        let d = totals.entry(p.started_at.with_timezone(&tz).date_naive()).or_default();
        d.pump_sessions += 1;
        d.volume_left_ml += p.volume_left_ml;
        d.volume_right_ml += p.volume_right_ml;
    }
    for m in massages {
        totals.entry(m.with_timezone(&tz).date_naive()).or_default().massage_sessions += 1;
    }
    daily_from_totals(from, to, &totals)
}

/// Every local day from `from` to `to` (inclusive) from its sums (a day without any has none).
pub fn daily_from_totals(from: NaiveDate, to: NaiveDate, totals: &BTreeMap<NaiveDate, DayTotals>) -> Vec<DayStats> {
    from.iter_days()
        .take_while(|d| *d <= to)
        .map(|date| {
            let t = totals.get(&date).copied().unwrap_or_default();
            let (left, right) = (round1(t.volume_left_ml), round1(t.volume_right_ml));
            let total = round1(left + right);
            DayStats {
                date,
                pump_sessions: t.pump_sessions,
                volume_left_ml: left,
                volume_right_ml: right,
                volume_total_ml: total,
                average_volume_ml: (t.pump_sessions > 0).then(|| round1(total / f64::from(t.pump_sessions))),
                massage_sessions: t.massage_sessions,
            }
        })
        .collect()
}

/// Fewer sessions than this in either group and the comparison says so.
pub const MIN_GROUP_SESSIONS: u32 = 5;

/// Pump sessions of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionGroup {
    pub sessions: u32,
    /// Average total volume per session; null without sessions.
    pub average_volume_ml: Option<f64>,
}

/// Pumping with massage (before or during) compared with pumping without, for this account.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MassageEffect {
    pub days: u32,
    pub with_massage: SessionGroup,
    pub without_massage: SessionGroup,
    /// With minus without, in ml per session; null when a group is empty.
    pub difference_ml: Option<f64>,
    /// True when either group has fewer than 5 sessions: too few to compare.
    pub insufficient_data: bool,
}

/// Compares the user's sessions with and without massage.
pub fn massage_effect(days: u32, pumps: &[PumpSession]) -> MassageEffect {
    let group = |with: bool| {
        let volumes: Vec<f64> = pumps.iter().filter(|p| p.with_massage() == with).map(PumpSession::total_ml).collect();
        let sessions = volumes.len() as u32;
        (sessions, (sessions > 0).then(|| volumes.iter().sum::<f64>() / f64::from(sessions)))
    };
    massage_effect_from(days, group(true), group(false))
}

/// [`massage_effect`] from each group's count and average total volume per session, as the database gives them.
pub fn massage_effect_from(days: u32, with: (u32, Option<f64>), without: (u32, Option<f64>)) -> MassageEffect {
    let group = |(sessions, average): (u32, Option<f64>)| SessionGroup {
        sessions,
        average_volume_ml: average.filter(|_| sessions > 0).map(round1),
    };
    let (with_massage, without_massage) = (group(with), group(without));
    let difference_ml = match (with_massage.average_volume_ml, without_massage.average_volume_ml) {
        (Some(a), Some(b)) => Some(round1(a - b)),
        _ => None,
    };
    let insufficient_data = with_massage.sessions < MIN_GROUP_SESSIONS || without_massage.sessions < MIN_GROUP_SESSIONS;
    MassageEffect { days, with_massage, without_massage, difference_ml, insufficient_data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{PumpMode, PumpType, Side};

    fn pump(at: &str, left: f64, right: f64, massage: bool) -> PumpSession {
        let started_at: DateTime<Utc> = at.parse().unwrap();
        PumpSession {
            started_at,
            ended_at: started_at + chrono::Duration::minutes(20),
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

    #[test]
    fn sessions_count_on_her_local_day() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // 23:30 UTC on 1 January is 00:30 on 2 January in Berlin.
        let pumps = [pump("2027-01-01T23:30:00Z", 50.0, 40.0, true), pump("2027-01-02T10:00:00Z", 30.0, 20.0, false)];
        let massages = ["2027-01-01T22:00:00Z".parse().unwrap()];
        let days = daily(chrono_tz::Europe::Berlin, d("2027-01-01"), d("2027-01-03"), &pumps, &massages);
        assert_eq!(days.len(), 3);
        assert_eq!((days[0].pump_sessions, days[0].massage_sessions), (0, 1));
        assert_eq!((days[1].pump_sessions, days[1].volume_left_ml, days[1].volume_total_ml), (2, 80.0, 140.0));
        assert_eq!(days[1].average_volume_ml, Some(70.0));
        assert_eq!(days[2].average_volume_ml, None);
    }

    #[test]
    fn massage_effect_compares_groups_and_flags_small_ones() {
        let mut pumps: Vec<PumpSession> =
            (0..5).map(|i| pump(&format!("2027-01-0{}T08:00:00Z", i + 1), 60.0, 60.0, true)).collect();
        pumps.extend((0..4).map(|i| pump(&format!("2027-01-0{}T14:00:00Z", i + 1), 50.0, 40.0, false)));
        let e = massage_effect(30, &pumps);
        assert_eq!((e.with_massage.sessions, e.with_massage.average_volume_ml), (5, Some(120.0)));
        assert_eq!((e.without_massage.sessions, e.without_massage.average_volume_ml), (4, Some(90.0)));
        assert_eq!(e.difference_ml, Some(30.0));
        assert!(e.insufficient_data, "4 sessions without massage are too few");
        pumps.push(pump("2027-01-09T14:00:00Z", 45.0, 45.0, false));
        assert!(!massage_effect(30, &pumps).insufficient_data, "5 and 5 are enough");
        let empty = massage_effect(30, &[]);
        assert_eq!((empty.difference_ml, empty.insufficient_data), (None, true));
    }
}
