//! A routine as the user writes it: what (massage, pump, both), when (a schedule), on which days, on or off.

use chrono::Weekday;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fields::FieldReader;
use crate::recurrence::{Recurrence, Schedule, Weekdays};
use crate::time::{LocalTime, QuietHours};
use crate::validation::FieldError;

/// What a routine reminds the user of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "orm", derive(sea_orm::DeriveActiveEnum, sea_orm::EnumIter))]
#[cfg_attr(
    feature = "orm",
    sea_orm(rs_type = "String", db_type = "String(sea_orm::sea_query::StringLen::N(24))", rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
pub enum RoutineKind {
    Massage,
    Pump,
    MassageThenPump,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    const ALL: [Day; 7] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri, Day::Sat, Day::Sun];

    fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

/// A local window `HH:MM`-`HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Window {
    #[cfg_attr(feature = "openapi", schema(example = "06:00"))]
    pub start: String,
    #[cfg_attr(feature = "openapi", schema(example = "22:00"))]
    pub end: String,
}

/// When a routine fires, in the user's local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScheduleSpec {
    /// Fixed local times, `HH:MM`.
    Times { times: Vec<String> },
    /// Every `hours` (0.5-12) inside a waking window.
    Every { hours: f64, window: Window },
    /// `hours` (0.5-12) after the user's last logged session of the routine's kind.
    AfterLast { hours: f64 },
}

/// A routine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "Morning pumping", "kind": "massage_then_pump", "enabled": true,
    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "schedule": {"type": "times", "times": ["07:00", "10:00", "13:00"]}})))]
pub struct Routine {
    /// A name the user recognises, at most 100 characters.
    pub name: Option<String>,
    pub kind: RoutineKind,
    pub enabled: bool,
    /// Days it runs on; every day when absent.
    pub days: Vec<Day>,
    pub schedule: ScheduleSpec,
}

impl Routine {
    /// Reads and validates a routine.
    pub fn parse(body: &Value) -> Result<Self, Vec<FieldError>> {
        let mut r = FieldReader::new(body)?;
        let name: Option<String> = r.optional("name");
        let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        let name = match name {
            Some(n) if n.chars().count() > 100 => {
                r.error("name", "must be at most 100 characters");
                None
            }
            other => other,
        };
        let kind = r.required("kind");
        let enabled = r.or("enabled", true);
        let days: Option<Vec<Day>> = r.optional("days");
        let days = match days {
            Some(d) if d.is_empty() => {
                r.error("days", "must name at least one day");
                None
            }
            Some(mut d) => {
                d.sort_by_key(|x| x.weekday().num_days_from_monday());
                d.dedup();
                Some(d)
            }
            None => Some(Day::ALL.to_vec()),
        };
        let schedule = r.object("schedule", read_schedule);
        let value = (|| Some(Self { name, kind: kind?, enabled, days: days?, schedule: schedule? }))();
        r.finish(value)
    }

    /// The routine's timing in a zone with the user's quiet hours.
    pub fn recurrence(&self, tz: Tz, quiet: Option<QuietHours>) -> Recurrence {
        let weekdays: Vec<Weekday> = self.days.iter().map(|d| d.weekday()).collect();
        let t = |s: &str| LocalTime::parse(s).unwrap_or(LocalTime::parse("00:00").unwrap_or_else(|_| unreachable!()));
        // The spec was validated on the way in, so these conversions cannot fail; fall back to safe values anyway.
        let schedule = match &self.schedule {
            ScheduleSpec::Times { times } => Schedule::times(times.iter().map(|s| t(s)).collect()),
            ScheduleSpec::Every { hours, window } => Schedule::every(*hours, t(&window.start), t(&window.end)),
            ScheduleSpec::AfterLast { hours } => Schedule::after_last(*hours),
        }
        .unwrap_or(Schedule::AfterLast { minutes: 180 });
        Recurrence { schedule, days: Weekdays::new(&weekdays).unwrap_or(Weekdays::ALL), tz, quiet }
    }
}

fn read_schedule(s: &mut FieldReader) -> Option<ScheduleSpec> {
    let kind: Option<String> = s.required("type");
    let hours = |s: &mut FieldReader| -> Option<f64> {
        let h: Option<f64> = s.required("hours");
        s.check("hours", h, |h| Schedule::after_last(*h).is_ok(), "must be between 0.5 and 12 hours, in whole minutes")
    };
    let time = |s: &mut FieldReader, name: &str| -> Option<String> {
        let raw: Option<String> = s.required(name);
        s.check(name, raw, |t| LocalTime::parse(t).is_ok(), "must be a local time written HH:MM, such as 07:30")
    };
    match kind.as_deref() {
        Some("times") => {
            let times: Option<Vec<String>> = s.required("times");
            let times = times?;
            let mut ok = true;
            for (i, t) in times.iter().enumerate() {
                if LocalTime::parse(t).is_err() {
                    s.error(&format!("times[{i}]"), "must be a local time written HH:MM, such as 07:30");
                    ok = false;
                }
            }
            if !ok {
                return None;
            }
            let parsed: Vec<LocalTime> = times.iter().filter_map(|t| LocalTime::parse(t).ok()).collect();
            match Schedule::times(parsed) {
                Ok(Schedule::Times(sorted)) => {
                    Some(ScheduleSpec::Times { times: sorted.iter().map(|t| t.to_hhmm()).collect() })
                }
                Ok(_) => None,
                Err(e) => {
                    s.error("times", &e);
                    None
                }
            }
        }
        Some("every") => {
            let h = hours(s);
            let window = s.object("window", |w| {
                let (start, end) = (time(w, "start"), time(w, "end"));
                let (start, end) = (start?, end?);
                if start == end {
                    w.error("end", "must differ from start");
                    return None;
                }
                Some(Window { start, end })
            });
            Some(ScheduleSpec::Every { hours: h?, window: window? })
        }
        Some("after_last") => Some(ScheduleSpec::AfterLast { hours: hours(s)? }),
        Some(_) => {
            s.error("type", "must be one of: times, every, after_last");
            None
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(e: Vec<FieldError>) -> Vec<String> {
        e.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn times_routine_parses_with_defaults_and_sorted_times() {
        let r = Routine::parse(
            &json!({"kind": "pump", "schedule": {"type": "times", "times": ["13:00", "07:00", "07:00"]}}),
        )
        .unwrap();
        assert!(r.enabled);
        assert_eq!(r.days.len(), 7);
        assert_eq!(r.schedule, ScheduleSpec::Times { times: vec!["07:00".into(), "13:00".into()] });
    }

    #[test]
    fn every_and_after_last_parse() {
        let every = Routine::parse(&json!({"kind": "massage", "days": ["sun", "mon", "mon"],
            "schedule": {"type": "every", "hours": 3, "window": {"start": "06:00", "end": "22:00"}}}))
        .unwrap();
        assert_eq!(every.days, vec![Day::Mon, Day::Sun]);
        let after = Routine::parse(
            &json!({"kind": "massage_then_pump", "enabled": false, "schedule": {"type": "after_last", "hours": 2.5}}),
        )
        .unwrap();
        assert_eq!(after.schedule, ScheduleSpec::AfterLast { hours: 2.5 });
        assert!(!after.enabled);
    }

    #[test]
    fn bad_routine_fields_are_named_with_their_paths() {
        let e = Routine::parse(
            &json!({"kind": "nap", "days": [], "schedule": {"type": "times", "times": ["07:00", "7pm"]}}),
        )
        .unwrap_err();
        assert_eq!(fields(e), vec!["kind", "days", "schedule.times[1]"]);
        let e = Routine::parse(&json!({"kind": "pump", "schedule": {"type": "every", "hours": 13, "window": {"start": "06:00", "end": "25:00"}}})).unwrap_err();
        assert_eq!(fields(e), vec!["schedule.hours", "schedule.window.end"]);
        let e = Routine::parse(&json!({"kind": "pump", "schedule": {"type": "hourly"}})).unwrap_err();
        assert_eq!(fields(e), vec!["schedule.type"]);
        let e = Routine::parse(&json!({"kind": "pump"})).unwrap_err();
        assert_eq!(fields(e), vec!["schedule"]);
    }

    #[test]
    fn recurrence_follows_the_spec() {
        let r = Routine::parse(
            &json!({"kind": "pump", "days": ["mon"], "schedule": {"type": "times", "times": ["07:00"]}}),
        )
        .unwrap();
        let rec = r.recurrence(chrono_tz::Europe::Berlin, None);
        let from = chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
        // 2027-01-04 is a Monday; 07:00 CET is 06:00 UTC.
        assert_eq!(rec.next_after(from, None).unwrap().to_rfc3339(), "2027-01-04T06:00:00+00:00");
    }
}
