//! What the user logs: massage sessions, pump sessions and symptom checks, validated field by field.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fields::FieldReader;
use crate::validation::FieldError;

macro_rules! choice {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "orm", derive(sea_orm::DeriveActiveEnum, sea_orm::EnumIter))]
        #[cfg_attr(feature = "orm", sea_orm(rs_type = "String", db_type = "String(sea_orm::sea_query::StringLen::N(16))", rename_all = "snake_case"))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }
    };
}

choice!(
    /// Which breast.
    Side { Left, Right, Both }
);
choice!(
    /// Massage pressure: never so much that it hurts.
    Pressure { Light, Moderate }
);
choice!(
    /// When a massage happened relative to pumping.
    MassageContext { Standalone, BeforePumping, DuringPumping }
);
choice!(
    /// An area of one breast.
    Quadrant { UpperOuter, UpperInner, LowerOuter, LowerInner, Areola }
);
choice!(
    /// What a spot felt like.
    SpotKind { Tender, Hard }
);
choice!(
    /// The pump used.
    PumpType { Manual, Electric }
);
choice!(
    /// One side at a time, or both at once.
    PumpMode { Single, Double }
);

/// A tender or hard spot: where, what, how strong (1-5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Spot {
    /// `left` or `right`.
    pub side: Side,
    pub quadrant: Quadrant,
    pub kind: SpotKind,
    /// 1 (barely) to 5 (very).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub severity: u8,
}

/// A massage session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"started_at": "2027-01-04T07:00:00Z", "duration_s": 300, "side": "both",
    "pressure": "light", "guide": "gentle-everyday-massage", "context": "before_pumping",
    "spots": [{"side": "left", "quadrant": "upper_outer", "kind": "tender", "severity": 2}], "notes": null})))]
pub struct MassageSession {
    pub started_at: DateTime<Utc>,
    /// Seconds, at most 4 hours.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 14400))]
    pub duration_s: u32,
    pub side: Side,
    pub pressure: Pressure,
    /// The slug of the guide the user followed.
    pub guide: Option<String>,
    pub context: MassageContext,
    #[serde(default)]
    pub spots: Vec<Spot>,
    /// At most 2,000 characters.
    pub notes: Option<String>,
}

/// A pumping session; volumes in ml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"started_at": "2027-01-04T07:05:00Z", "ended_at": "2027-01-04T07:25:00Z",
    "side": "both", "volume_left_ml": 60, "volume_right_ml": 45, "pump_type": "electric", "mode": "double",
    "massage_before": true, "massage_during": false, "notes": null})))]
pub struct PumpSession {
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// Derived when absent: `both` for double pumping, else the side with milk.
    pub side: Side,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1000))]
    pub volume_left_ml: f64,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1000))]
    pub volume_right_ml: f64,
    pub pump_type: PumpType,
    pub mode: PumpMode,
    #[serde(default)]
    pub massage_before: bool,
    #[serde(default)]
    pub massage_during: bool,
    pub notes: Option<String>,
}

/// How the user feels: engorgement, pain, spots, redness, temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"at": "2027-01-04T08:00:00Z", "engorgement": 3, "pain": 4,
    "spots": [{"side": "right", "quadrant": "lower_outer", "kind": "hard", "severity": 3}], "redness": false,
    "temperature_c": 37.2, "flu_like": false, "notes": null})))]
pub struct SymptomCheck {
    pub at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub engorgement: u8,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10))]
    pub pain: u8,
    #[serde(default)]
    pub spots: Vec<Spot>,
    #[serde(default)]
    pub redness: bool,
    #[cfg_attr(feature = "openapi", schema(minimum = 34, maximum = 43))]
    pub temperature_c: Option<f64>,
    #[serde(default)]
    pub flu_like: bool,
    pub notes: Option<String>,
}

/// How far in the future a start may be (clock skew between phone and server).
pub const FUTURE_TOLERANCE: Duration = Duration::minutes(5);
/// The longest session.
pub const MAX_SESSION: Duration = Duration::hours(4);
/// The longest note.
pub const MAX_NOTES_CHARS: usize = 2000;
/// The most spots one entry may list.
pub const MAX_SPOTS: usize = 20;

/// A required instant, kept to the millisecond (both databases store it exactly), not far in the future.
fn instant(r: &mut FieldReader, name: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let at: Option<DateTime<Utc>> = r.required(name);
    let at = at.map(|t| t.trunc_subsecs(3));
    r.check(name, at, |t| *t <= now + FUTURE_TOLERANCE, "must not be more than 5 minutes in the future")
}

fn notes(r: &mut FieldReader) -> Option<String> {
    let notes: Option<String> = r.optional("notes");
    let notes = notes.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    match notes {
        Some(n) if n.chars().count() > MAX_NOTES_CHARS => {
            r.error("notes", "must be at most 2,000 characters");
            None
        }
        other => other,
    }
}

fn spots(r: &mut FieldReader) -> Vec<Spot> {
    r.list("spots", MAX_SPOTS, |s| {
        let side: Option<Side> = s.required("side");
        let side = s.check("side", side, |x| *x != Side::Both, "must be left or right");
        let quadrant = s.required("quadrant");
        let kind = s.required("kind");
        let severity: Option<u8> = s.required("severity");
        let severity = s.check("severity", severity, |x| (1..=5).contains(x), "must be between 1 and 5");
        Some(Spot { side: side?, quadrant: quadrant?, kind: kind?, severity: severity? })
    })
}

fn volume(r: &mut FieldReader, name: &str) -> Option<f64> {
    let v: Option<f64> = r.required(name);
    r.check(name, v, |x| (0.0..=1000.0).contains(x), "must be between 0 and 1000 ml")
}

fn slug(r: &mut FieldReader, name: &str) -> Option<String> {
    let s: Option<String> = r.optional(name);
    let ok = |s: &String| {
        !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    match s {
        Some(s) if !ok(&s) => {
            r.error(name, "must be a guide slug: lower-case letters, digits and hyphens");
            None
        }
        other => other,
    }
}

impl MassageSession {
    /// Reads and validates a massage session; `now` bounds the start.
    pub fn parse(body: &Value, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        let mut r = FieldReader::new(body)?;
        let started_at = instant(&mut r, "started_at", now);
        let duration: Option<u32> = r.required("duration_s");
        let duration_s =
            r.check("duration_s", duration, |d| (1..=14_400).contains(d), "must be between 1 second and 4 hours");
        let (side, pressure, context) = (r.required("side"), r.required("pressure"), r.required("context"));
        let guide = slug(&mut r, "guide");
        let (spots, notes) = (spots(&mut r), notes(&mut r));
        let value = (|| {
            Some(Self {
                started_at: started_at?,
                duration_s: duration_s?,
                side: side?,
                pressure: pressure?,
                guide,
                context: context?,
                spots,
                notes,
            })
        })();
        r.finish(value)
    }
}

impl PumpSession {
    /// Reads and validates a pump session; `now` bounds the start and end.
    pub fn parse(body: &Value, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        let mut r = FieldReader::new(body)?;
        let started_at = instant(&mut r, "started_at", now);
        let ended_at = instant(&mut r, "ended_at", now);
        if let (Some(s), Some(e)) = (started_at, ended_at) {
            if e < s {
                r.error("ended_at", "must not be before started_at");
            } else if e - s > MAX_SESSION {
                r.error("ended_at", "a session lasts at most 4 hours");
            }
        }
        let (left, right) = (volume(&mut r, "volume_left_ml"), volume(&mut r, "volume_right_ml"));
        let (pump_type, mode): (Option<PumpType>, Option<PumpMode>) = (r.required("pump_type"), r.required("mode"));
        let side: Option<Side> = r.optional("side");
        let massage_before = r.or("massage_before", false);
        let massage_during = r.or("massage_during", false);
        let notes = notes(&mut r);
        let value = (|| {
            let (l, rt, mode) = (left?, right?, mode?);
            let side = side.unwrap_or(match (mode, l > 0.0, rt > 0.0) {
                (PumpMode::Single, true, false) => Side::Left,
                (PumpMode::Single, false, true) => Side::Right,
                _ => Side::Both,
            });
            Some(Self {
                started_at: started_at?,
                ended_at: ended_at?,
                side,
                volume_left_ml: l,
                volume_right_ml: rt,
                pump_type: pump_type?,
                mode,
                massage_before,
                massage_during,
                notes,
            })
        })();
        r.finish(value)
    }

    /// Left plus right, in ml.
    pub fn total_ml(&self) -> f64 {
        self.volume_left_ml + self.volume_right_ml
    }

    /// Whether the user massaged before or during this session.
    pub fn with_massage(&self) -> bool {
        self.massage_before || self.massage_during
    }
}

impl SymptomCheck {
    /// Reads and validates a symptom check; `now` bounds its time.
    pub fn parse(body: &Value, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        let mut r = FieldReader::new(body)?;
        let at = instant(&mut r, "at", now);
        let engorgement: Option<u8> = r.required("engorgement");
        let engorgement = r.check("engorgement", engorgement, |x| (1..=5).contains(x), "must be between 1 and 5");
        let pain: Option<u8> = r.required("pain");
        let pain = r.check("pain", pain, |x| *x <= 10, "must be between 0 and 10");
        let spots = spots(&mut r);
        let redness = r.or("redness", false);
        let temperature: Option<f64> = r.optional("temperature_c");
        let temperature_c = match temperature {
            Some(t) if !(34.0..=43.0).contains(&t) => {
                r.error("temperature_c", "must be between 34 and 43 °C");
                None
            }
            other => other,
        };
        let flu_like = r.or("flu_like", false);
        let notes = notes(&mut r);
        let value = (|| {
            Some(Self {
                at: at?,
                engorgement: engorgement?,
                pain: pain?,
                spots,
                redness,
                temperature_c,
                flu_like,
                notes,
            })
        })();
        r.finish(value)
    }
}

#[cfg(test)]
mod tests;
