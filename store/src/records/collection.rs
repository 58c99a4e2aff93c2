//! The kinds of record, each with its URL, its validation and the typed columns it fills.

use chrono::{DateTime, Utc};
use domain::FieldError;
use domain::logs::{MassageSession, PumpSession, SymptomCheck};
use domain::routine::Routine;
use serde::Serialize;
use serde_json::Value;

/// A kind of record, with its URL and its validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    MassageSessions,
    PumpSessions,
    SymptomChecks,
    Routines,
}

/// A validated record, ready to store.
pub struct Parsed {
    pub data: Value,
    pub sort_at: Option<DateTime<Utc>>,
    pub side: Option<String>,
    pub pump_type: Option<String>,
}

fn enum_str<T: Serialize>(v: &T) -> Option<String> {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned))
}

fn to_data<T: Serialize>(v: &T) -> Result<Value, Vec<FieldError>> {
    serde_json::to_value(v).map_err(|e| vec![FieldError::new("body", e.to_string())])
}

impl Collection {
    /// Every collection.
    pub const ALL: [Collection; 4] = [Self::MassageSessions, Self::PumpSessions, Self::SymptomChecks, Self::Routines];

    /// The stored and synced name.
    pub fn name(self) -> &'static str {
        match self {
            Self::MassageSessions => "massage_sessions",
            Self::PumpSessions => "pump_sessions",
            Self::SymptomChecks => "symptom_checks",
            Self::Routines => "routines",
        }
    }

    /// The collection's URL.
    pub fn path(self) -> &'static str {
        match self {
            Self::MassageSessions => "/v1/massage-sessions",
            Self::PumpSessions => "/v1/pump-sessions",
            Self::SymptomChecks => "/v1/symptom-checks",
            Self::Routines => "/v1/routines",
        }
    }

    /// The collection stored under `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Validates a whole record; `now` bounds the times she may log.
    pub fn parse(self, body: &Value, now: DateTime<Utc>) -> Result<Parsed, Vec<FieldError>> {
        Ok(match self {
            Self::MassageSessions => {
                let m = MassageSession::parse(body, now)?;
                Parsed { data: to_data(&m)?, sort_at: Some(m.started_at), side: enum_str(&m.side), pump_type: None }
            }
            Self::PumpSessions => {
                let p = PumpSession::parse(body, now)?;
                let (side, pump_type) = (enum_str(&p.side), enum_str(&p.pump_type));
                Parsed { data: to_data(&p)?, sort_at: Some(p.started_at), side, pump_type }
            }
            Self::SymptomChecks => {
                let c = SymptomCheck::parse(body, now)?;
                Parsed { data: to_data(&c)?, sort_at: Some(c.at), side: None, pump_type: None }
            }
            Self::Routines => {
                let r = Routine::parse(body)?;
                Parsed { data: to_data(&r)?, sort_at: None, side: None, pump_type: None }
            }
        })
    }
}
