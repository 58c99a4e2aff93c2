//! The kinds of record a user keeps (sessions, checks, routines) and a validated record of any kind.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::care::CareNote;
use crate::logs::{MassageSession, PumpSession, SymptomCheck};
use crate::routine::Routine;
use crate::validation::FieldError;

/// A kind of record, each with its own table, URL and validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    MassageSessions,
    PumpSessions,
    SymptomChecks,
    Routines,
    /// Notes from the owner's care team: written by members, read and deleted by the owner.
    CareNotes,
}

impl RecordKind {
    /// Every kind.
    pub const ALL: [RecordKind; 5] =
        [Self::MassageSessions, Self::PumpSessions, Self::SymptomChecks, Self::Routines, Self::CareNotes];

    /// The kinds the owner writes (care notes are written by the owner's care team).
    pub const OWNED: [RecordKind; 4] = [Self::MassageSessions, Self::PumpSessions, Self::SymptomChecks, Self::Routines];

    /// The name sync and exports use (also its table's name).
    pub fn name(self) -> &'static str {
        match self {
            Self::MassageSessions => "massage_sessions",
            Self::PumpSessions => "pump_sessions",
            Self::SymptomChecks => "symptom_checks",
            Self::Routines => "routines",
            Self::CareNotes => "care_notes",
        }
    }

    /// The kind's URL.
    pub fn path(self) -> &'static str {
        match self {
            Self::MassageSessions => "/v1/massage-sessions",
            Self::PumpSessions => "/v1/pump-sessions",
            Self::SymptomChecks => "/v1/symptom-checks",
            Self::Routines => "/v1/routines",
            Self::CareNotes => "/v1/care-team/notes",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A validated record of one kind: what a user wrote, without its id, version and times.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RecordBody {
    Massage(MassageSession),
    Pump(PumpSession),
    Symptom(SymptomCheck),
    Routine(Routine),
    CareNote(CareNote),
}

impl RecordBody {
    /// Validates a whole record of `kind`; `now` bounds the times a user may log.
    pub fn parse(kind: RecordKind, body: &Value, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        Ok(match kind {
            RecordKind::MassageSessions => Self::Massage(MassageSession::parse(body, now)?),
            RecordKind::PumpSessions => Self::Pump(PumpSession::parse(body, now)?),
            RecordKind::SymptomChecks => Self::Symptom(SymptomCheck::parse(body, now)?),
            RecordKind::Routines => Self::Routine(Routine::parse(body)?),
            RecordKind::CareNotes => Self::CareNote(CareNote::parse(body)?),
        })
    }

    pub fn kind(&self) -> RecordKind {
        match self {
            Self::Massage(_) => RecordKind::MassageSessions,
            Self::Pump(_) => RecordKind::PumpSessions,
            Self::Symptom(_) => RecordKind::SymptomChecks,
            Self::Routine(_) => RecordKind::Routines,
            Self::CareNote(_) => RecordKind::CareNotes,
        }
    }

    /// When it happened, for the kinds that log a moment (routines list by when they were created).
    pub fn happened_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Massage(m) => Some(m.started_at),
            Self::Pump(p) => Some(p.started_at),
            Self::Symptom(c) => Some(c.at),
            Self::Routine(_) | Self::CareNote(_) => None,
        }
    }

    /// The guide a massage session names, if any.
    pub fn guide(&self) -> Option<&str> {
        match self {
            Self::Massage(m) => m.guide.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(RecordKind::from_name("records"), None);
    }

    #[test]
    fn a_body_serialises_as_its_fields_alone() {
        let body = serde_json::json!({"kind": "pump", "schedule": {"type": "after_last", "hours": 3}});
        let parsed = RecordBody::parse(RecordKind::Routines, &body, Utc::now()).unwrap();
        assert_eq!(parsed.kind(), RecordKind::Routines);
        let written = serde_json::to_value(&parsed).unwrap();
        assert_eq!(written["kind"], "pump");
        assert_eq!(written["enabled"], true);
        assert!(written.get("Routine").is_none());
    }
}
