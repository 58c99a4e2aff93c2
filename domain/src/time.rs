//! The user's time zone, wall-clock times and quiet hours.

use chrono::NaiveTime;
use chrono_tz::Tz;
use std::str::FromStr;

/// A valid IANA time-zone name such as `Europe/Berlin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZoneName(Tz);

impl TimeZoneName {
    /// Accepts IANA names only (`Europe/Berlin`, `UTC`), not offsets or abbreviations like `CET+1`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        Tz::from_str(raw.trim()).map(Self).map_err(|_| "must be an IANA time zone such as Europe/Berlin or UTC".into())
    }

    /// The chrono-tz zone.
    pub fn tz(self) -> Tz {
        self.0
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl Default for TimeZoneName {
    fn default() -> Self {
        Self(Tz::UTC)
    }
}

/// A wall-clock time of day written `HH:MM` (24-hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTime(NaiveTime);

impl LocalTime {
    /// Parses `HH:MM`, 00:00 to 23:59.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok_shape = raw.len() == 5 && raw.as_bytes()[2] == b':';
        match NaiveTime::parse_from_str(raw, "%H:%M") {
            Ok(t) if ok_shape => Ok(Self(t)),
            _ => Err("must be a local time written HH:MM, such as 07:30".into()),
        }
    }

    /// The chrono time.
    pub fn time(self) -> NaiveTime {
        self.0
    }

    /// `HH:MM`.
    pub fn to_hhmm(self) -> String {
        self.0.format("%H:%M").to_string()
    }
}

/// The local hours in which no reminder may fire; may wrap midnight (22:00-06:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: LocalTime,
    pub end: LocalTime,
}

impl QuietHours {
    /// A window from `start` to `end`; they must differ.
    pub fn new(start: LocalTime, end: LocalTime) -> Result<Self, String> {
        if start == end {
            return Err("start and end must differ".into());
        }
        Ok(Self { start, end })
    }

    /// Whether a local time falls inside the window (start inclusive, end exclusive).
    pub fn contains(&self, t: NaiveTime) -> bool {
        let (s, e) = (self.start.time(), self.end.time());
        if s < e { s <= t && t < e } else { t >= s || t < e }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_names_parse_and_others_do_not() {
        assert_eq!(TimeZoneName::parse("Europe/Berlin").unwrap().name(), "Europe/Berlin");
        assert_eq!(TimeZoneName::parse("UTC").unwrap().name(), "UTC");
        for bad in ["Mars/Olympus", "", "+02:00", "Europe/"] {
            assert!(TimeZoneName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn local_time_needs_hh_mm() {
        assert_eq!(LocalTime::parse("07:05").unwrap().to_hhmm(), "07:05");
        for bad in ["7:05", "24:00", "07:60", "07:05:00", "noon", ""] {
            assert!(LocalTime::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quiet_hours_wrap_midnight() {
        let t = |s| LocalTime::parse(s).unwrap();
        let night = QuietHours::new(t("22:00"), t("06:00")).unwrap();
        assert!(night.contains(t("23:30").time()));
        assert!(night.contains(t("22:00").time()));
        assert!(night.contains(t("05:59").time()));
        assert!(!night.contains(t("06:00").time()));
        assert!(!night.contains(t("12:00").time()));
        let nap = QuietHours::new(t("13:00"), t("15:00")).unwrap();
        assert!(nap.contains(t("14:00").time()));
        assert!(!nap.contains(t("15:00").time()));
        assert!(QuietHours::new(t("13:00"), t("13:00")).is_err());
    }
}
