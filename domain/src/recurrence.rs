//! When a routine fires: fixed local times, every N minutes inside a waking window, or N minutes after the user's last
//! session; on chosen weekdays, outside the user's quiet hours, in the user's IANA time zone, exact across daylight saving.
//!
//! Daylight saving: a local time that does not exist (spring forward) fires when the gap ends; a local time that
//! occurs twice (fall back) fires once, at its first occurrence.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use crate::time::{LocalTime, QuietHours};

/// The days of the week a routine runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Every day.
    pub const ALL: Weekdays = Weekdays(0x7f);

    /// A non-empty set of days.
    pub fn new(days: &[Weekday]) -> Result<Self, String> {
        let bits = days.iter().fold(0u8, |acc, d| acc | 1 << d.num_days_from_monday());
        if bits == 0 { Err("must name at least one day".into()) } else { Ok(Self(bits)) }
    }

    /// Whether `day` is included.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }
}

/// How a routine is timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Fixed local times each day.
    Times(Vec<LocalTime>),
    /// Every `minutes` from the window's start up to its end (the window may wrap midnight).
    Every { minutes: u32, start: LocalTime, end: LocalTime },
    /// `minutes` after the user's last logged session of the routine's kind, repeating until the user logs one.
    AfterLast { minutes: u32 },
}

impl Schedule {
    /// Fixed times: 1 to 24 of them; duplicates are dropped.
    pub fn times(mut times: Vec<LocalTime>) -> Result<Self, String> {
        times.sort();
        times.dedup();
        match times.len() {
            0 => Err("must list at least one time".into()),
            n if n > 24 => Err("must list at most 24 times".into()),
            _ => Ok(Self::Times(times)),
        }
    }

    /// Every `hours` (0.5 to 12, whole minutes) inside a window.
    pub fn every(hours: f64, start: LocalTime, end: LocalTime) -> Result<Self, String> {
        let minutes = hours_to_minutes(hours)?;
        if start == end {
            return Err("the window's start and end must differ".into());
        }
        Ok(Self::Every { minutes, start, end })
    }

    /// `hours` (0.5 to 12, whole minutes) after the last session.
    pub fn after_last(hours: f64) -> Result<Self, String> {
        Ok(Self::AfterLast { minutes: hours_to_minutes(hours)? })
    }
}

fn hours_to_minutes(hours: f64) -> Result<u32, String> {
    let minutes = hours * 60.0;
    if !(30.0..=720.0).contains(&minutes) || (minutes - minutes.round()).abs() > 1e-9 {
        return Err("must be between 0.5 and 12 hours, in whole minutes".into());
    }
    Ok(minutes.round() as u32)
}

/// A routine's timing in the user's zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Recurrence {
    pub schedule: Schedule,
    pub days: Weekdays,
    pub tz: Tz,
    pub quiet: Option<QuietHours>,
}

/// Days searched ahead before concluding a routine never fires (every time inside quiet hours).
const HORIZON_DAYS: i64 = 9;

impl Recurrence {
    /// The first fire instant strictly after `after`; `last_session` matters only for `AfterLast`.
    pub fn next_after(&self, after: DateTime<Utc>, last_session: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        match &self.schedule {
            Schedule::Times(times) => self.first_slot(after, |_| times.iter().map(|t| (0, t.time())).collect()),
            Schedule::Every { minutes, start, end } => {
                let span = minutes_between(start.time(), end.time());
                self.first_slot(after, |_| {
                    (0..=span / minutes)
                        .map(|k| {
                            let offset = start.time() + Duration::minutes(i64::from(k * minutes));
                            let day = (start.time().signed_duration_since(NaiveTime::MIN).num_minutes()
                                + i64::from(k * minutes))
                                / (24 * 60);
                            (day, offset)
                        })
                        .collect()
                })
            }
            Schedule::AfterLast { minutes } => self.after_last(after, last_session, *minutes),
        }
    }

    /// The next `count` fire instants after `from`.
    pub fn upcoming(
        &self,
        from: DateTime<Utc>,
        count: usize,
        last_session: Option<DateTime<Utc>>,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(count);
        let mut cursor = from;
        while out.len() < count {
            match self.next_after(cursor, last_session) {
                Some(next) => {
                    out.push(next);
                    cursor = next;
                }
                None => break,
            }
        }
        out
    }

    /// Walks local days from the day before `after`; `slots(date)` gives (day offset, local time) pairs of a day.
    fn first_slot(
        &self,
        after: DateTime<Utc>,
        slots: impl Fn(NaiveDate) -> Vec<(i64, NaiveTime)>,
    ) -> Option<DateTime<Utc>> {
        let first_day = after.with_timezone(&self.tz).date_naive() - Duration::days(1);
        for d in 0..HORIZON_DAYS {
            let date = first_day + Duration::days(d);
            if !self.days.contains(date.weekday()) {
                continue;
            }
            let mut best: Option<DateTime<Utc>> = None;
            for (offset, time) in slots(date) {
                if self.quiet.is_some_and(|q| q.contains(time)) {
                    continue;
                }
                let at = resolve(self.tz, (date + Duration::days(offset)).and_time(time));
                if at > after && best.is_none_or(|b| at < b) {
                    best = Some(at);
                }
            }
            if best.is_some() {
                return best;
            }
        }
        None
    }

    fn after_last(&self, after: DateTime<Utc>, last: Option<DateTime<Utc>>, minutes: u32) -> Option<DateTime<Utc>> {
        let step = Duration::minutes(i64::from(minutes));
        let base = last.unwrap_or(after);
        // The first step after `after`, counted from the last session: repeats until the user logs one.
        let steps = ((after - base).num_seconds().max(0) / step.num_seconds()) + 1;
        let mut at = base + step * steps as i32;
        for _ in 0..HORIZON_DAYS * 2 {
            let local = at.with_timezone(&self.tz).naive_local();
            if !self.days.contains(local.weekday()) {
                at = resolve(self.tz, (local.date() + Duration::days(1)).and_time(NaiveTime::MIN));
                continue;
            }
            let deferred = defer_past_quiet(self.tz, self.quiet, at);
            if deferred == at {
                return Some(at);
            }
            at = deferred;
        }
        None
    }
}

/// The first instant at or after `at` outside the user's quiet hours: `at` itself, or the end of the quiet hours it
/// falls in (a broadcast or an `after_last` reminder waits for the user's morning).
pub fn defer_past_quiet(tz: Tz, quiet: Option<QuietHours>, at: DateTime<Utc>) -> DateTime<Utc> {
    let local = at.with_timezone(&tz).naive_local();
    match quiet {
        Some(q) if q.contains(local.time()) => {
            let end = q.end.time();
            let date = if local.time() < end { local.date() } else { local.date() + Duration::days(1) };
            resolve(tz, date.and_time(end))
        }
        _ => at,
    }
}

fn minutes_between(start: NaiveTime, end: NaiveTime) -> u32 {
    let m = (end - start).num_minutes();
    (if m < 0 { m + 24 * 60 } else { m }) as u32
}

/// The instant a local wall-clock time means: the earlier one when it occurs twice, the end of the gap when it
/// does not occur at all.
pub fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // Gaps are at most a few hours; the first local minute that exists is the gap's end.
            (1..=24 * 60)
                .find_map(|m| tz.from_local_datetime(&(local + Duration::minutes(m))).earliest())
                .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> LocalTime {
        LocalTime::parse(s).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn daily(tz: Tz, times: &[&str]) -> Recurrence {
        Recurrence {
            schedule: Schedule::times(times.iter().map(|s| t(s)).collect()).unwrap(),
            days: Weekdays::ALL,
            tz,
            quiet: None,
        }
    }

    #[test]
    fn berlin_spring_forward_gap_fires_when_the_gap_ends() {
        let r = daily(chrono_tz::Europe::Berlin, &["02:30"]);
        let got = r.upcoming(utc("2027-03-27T00:00:00Z"), 3, None);
        // 27 March 02:30 CET, 28 March 03:00 CEST (02:30 does not exist), 29 March 02:30 CEST.
        assert_eq!(got, vec![utc("2027-03-27T01:30:00Z"), utc("2027-03-28T01:00:00Z"), utc("2027-03-29T00:30:00Z")]);
    }

    #[test]
    fn berlin_fall_back_fires_once_at_the_first_occurrence() {
        let r = daily(chrono_tz::Europe::Berlin, &["02:30"]);
        let got = r.upcoming(utc("2027-10-30T12:00:00Z"), 2, None);
        // 31 October 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET): only the first.
        assert_eq!(got, vec![utc("2027-10-31T00:30:00Z"), utc("2027-11-01T01:30:00Z")]);
    }

    #[test]
    fn new_york_spring_forward_and_fall_back() {
        let r = daily(chrono_tz::America::New_York, &["02:30"]);
        assert_eq!(r.next_after(utc("2027-03-14T00:00:00Z"), None), Some(utc("2027-03-14T07:00:00Z")));
        let r = daily(chrono_tz::America::New_York, &["01:30"]);
        let got = r.upcoming(utc("2027-11-07T00:00:00Z"), 2, None);
        assert_eq!(got, vec![utc("2027-11-07T05:30:00Z"), utc("2027-11-08T06:30:00Z")]);
    }

    #[test]
    fn several_times_fire_in_order_and_a_late_run_plans_strictly_after_now() {
        let r = daily(chrono_tz::UTC, &["13:00", "07:00", "10:00"]);
        let got = r.upcoming(utc("2027-01-01T08:00:00Z"), 4, None);
        assert_eq!(
            got,
            vec![
                utc("2027-01-01T10:00:00Z"),
                utc("2027-01-01T13:00:00Z"),
                utc("2027-01-02T07:00:00Z"),
                utc("2027-01-02T10:00:00Z")
            ]
        );
        // A slot that ran late (now is past the next slot) never yields an instant in the past.
        assert_eq!(r.next_after(utc("2027-01-01T10:00:00Z"), None), Some(utc("2027-01-01T13:00:00Z")));
        assert_eq!(r.next_after(utc("2027-01-01T13:00:01Z"), None), Some(utc("2027-01-02T07:00:00Z")));
    }

    #[test]
    fn quiet_hours_and_weekdays_are_honoured() {
        let mut r = daily(chrono_tz::UTC, &["06:00", "23:00"]);
        r.quiet = Some(QuietHours::new(t("22:00"), t("06:00")).unwrap());
        r.days = Weekdays::new(&[Weekday::Mon]).unwrap();
        // 2027-01-04 is a Monday; 23:00 is quiet; the next Monday follows.
        let got = r.upcoming(utc("2027-01-01T00:00:00Z"), 2, None);
        assert_eq!(got, vec![utc("2027-01-04T06:00:00Z"), utc("2027-01-11T06:00:00Z")]);
    }

    #[test]
    fn every_n_hours_inside_a_window_keeps_wall_clock_across_dst() {
        let r = Recurrence {
            schedule: Schedule::every(3.0, t("06:00"), t("22:00")).unwrap(),
            days: Weekdays::ALL,
            tz: chrono_tz::Europe::Berlin,
            quiet: None,
        };
        let got = r.upcoming(utc("2027-03-27T19:59:00Z"), 7, None);
        // 27 March: 21:00 CET (20:00Z); 28 March (CEST from 03:00): 06:00, 09:00, 12:00, 15:00, 18:00, 21:00 local.
        let expected = ["2027-03-27T20:00:00Z", "2027-03-28T04:00:00Z", "2027-03-28T07:00:00Z", "2027-03-28T10:00:00Z"];
        assert_eq!(got[..4], expected.map(utc)[..]);
        assert_eq!(got.len(), 7);
        assert_eq!(got[6], utc("2027-03-28T19:00:00Z"));
    }

    #[test]
    fn every_window_may_wrap_midnight() {
        let r = Recurrence {
            schedule: Schedule::every(4.0, t("20:00"), t("04:00")).unwrap(),
            days: Weekdays::ALL,
            tz: chrono_tz::UTC,
            quiet: None,
        };
        let got = r.upcoming(utc("2027-01-01T12:00:00Z"), 4, None);
        assert_eq!(
            got,
            vec![
                utc("2027-01-01T20:00:00Z"),
                utc("2027-01-02T00:00:00Z"),
                utc("2027-01-02T04:00:00Z"),
                utc("2027-01-02T20:00:00Z")
            ]
        );
    }

    #[test]
    fn after_last_counts_from_her_last_session_and_defers_past_quiet_hours() {
        let mut r = Recurrence {
            schedule: Schedule::after_last(3.0).unwrap(),
            days: Weekdays::ALL,
            tz: chrono_tz::UTC,
            quiet: None,
        };
        let last = utc("2027-01-01T08:00:00Z");
        assert_eq!(r.next_after(utc("2027-01-01T09:00:00Z"), Some(last)), Some(utc("2027-01-01T11:00:00Z")));
        // Not logged since: it repeats every 3 hours from the last session.
        assert_eq!(r.next_after(utc("2027-01-01T11:00:00Z"), Some(last)), Some(utc("2027-01-01T14:00:00Z")));
        r.quiet = Some(QuietHours::new(t("22:00"), t("06:00")).unwrap());
        let evening = utc("2027-01-01T21:00:00Z");
        assert_eq!(r.next_after(evening, Some(evening)), Some(utc("2027-01-02T06:00:00Z")));
    }

    #[test]
    fn quiet_hours_defer_to_their_end_in_her_zone() {
        let q = Some(QuietHours::new(t("22:00"), t("07:00")).unwrap());
        let berlin = chrono_tz::Europe::Berlin;
        // 23:30 in Berlin (22:30 UTC) waits until 07:00 Berlin the next morning (06:00 UTC).
        assert_eq!(defer_past_quiet(berlin, q, utc("2027-01-01T22:30:00Z")), utc("2027-01-02T06:00:00Z"));
        // 05:00 Berlin waits until 07:00 the same morning.
        assert_eq!(defer_past_quiet(berlin, q, utc("2027-01-02T04:00:00Z")), utc("2027-01-02T06:00:00Z"));
        assert_eq!(defer_past_quiet(berlin, q, utc("2027-01-02T12:00:00Z")), utc("2027-01-02T12:00:00Z"));
        assert_eq!(defer_past_quiet(berlin, None, utc("2027-01-01T22:30:00Z")), utc("2027-01-01T22:30:00Z"));
    }

    #[test]
    fn schedules_refuse_out_of_range_values() {
        assert!(Schedule::times(vec![]).is_err());
        assert!(Schedule::every(0.25, t("06:00"), t("22:00")).is_err());
        assert!(Schedule::every(13.0, t("06:00"), t("22:00")).is_err());
        assert!(Schedule::every(3.0, t("06:00"), t("06:00")).is_err());
        assert!(Schedule::after_last(0.5).is_ok());
        assert!(Schedule::after_last(1.005).is_err());
        assert!(Weekdays::new(&[]).is_err());
    }
}
