//! The typed table of each kind of record: a [`Record`] from a row and a row from a [`Record`].

use chrono::{DateTime, Utc};
use domain::care::CareNote;
use domain::logs::{MassageSession, PumpSession, SymptomCheck};
use domain::routine::Routine;
use domain::{RecordBody, RecordKind};
use entity::json::{Days, Schedule, Spots};
use entity::{care_note, massage_session, pump_session, routine, symptom_check};
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;

use super::Record;

/// Runs `$body` with `$t` naming the entity module of `$kind`'s table.
macro_rules! on_table {
    ($kind:expr, $t:ident => $body:expr) => {
        match $kind {
            domain::RecordKind::MassageSessions => {
                use entity::massage_session as $t;
                $body
            }
            domain::RecordKind::PumpSessions => {
                use entity::pump_session as $t;
                $body
            }
            domain::RecordKind::SymptomChecks => {
                use entity::symptom_check as $t;
                $body
            }
            domain::RecordKind::Routines => {
                use entity::routine as $t;
                $body
            }
            domain::RecordKind::CareNotes => {
                use entity::care_note as $t;
                $body
            }
        }
    };
}
pub(crate) use on_table;

/// What every record table has beyond its envelope.
pub(crate) trait Table: EntityTrait {
    /// The column a list is ordered by: when it happened, or (routines) when it was created.
    const LISTED_BY: Self::Column;
}

impl Table for massage_session::Entity {
    const LISTED_BY: Self::Column = massage_session::Column::StartedAt;
}
impl Table for pump_session::Entity {
    const LISTED_BY: Self::Column = pump_session::Column::StartedAt;
}
impl Table for symptom_check::Entity {
    const LISTED_BY: Self::Column = symptom_check::Column::At;
}
impl Table for routine::Entity {
    const LISTED_BY: Self::Column = routine::Column::CreatedAt;
}
impl Table for care_note::Entity {
    const LISTED_BY: Self::Column = care_note::Column::CreatedAt;
}

/// A row of a record table, written from a [`Record`] (every column set; a tombstone's fields NULL).
pub(crate) trait FromRecord {
    fn from_record(r: &Record) -> Self;
}

macro_rules! envelope {
    ($r:expr, $t:ident { $($field:ident: $value:expr),* $(,)? }) => {
        $t::ActiveModel {
            id: Set($r.id),
            user_id: Set($r.user_id),
            version: Set($r.version),
            change_seq: Set($r.change_seq),
            created_at: Set($r.created_at),
            updated_at: Set($r.updated_at),
            deleted_at: Set($r.deleted_at),
            $($field: Set($value)),*
        }
    };
}

macro_rules! record {
    ($m:expr, $kind:expr, $sort_at:expr, $body:expr) => {{
        let deleted = $m.deleted_at.is_some();
        let body = if deleted { None } else { $body };
        if !deleted && body.is_none() {
            tracing::error!(record.id = %$m.id, kind = $kind.name(), "a live record lacks a required field");
        }
        Record {
            id: $m.id,
            user_id: $m.user_id,
            kind: $kind,
            sort_at: $sort_at,
            version: $m.version,
            change_seq: $m.change_seq,
            created_at: $m.created_at,
            updated_at: $m.updated_at,
            deleted_at: $m.deleted_at,
            body,
        }
    }};
}

impl From<massage_session::Model> for Record {
    fn from(m: massage_session::Model) -> Self {
        let body = (|| {
            Some(RecordBody::Massage(MassageSession {
                started_at: m.started_at,
                duration_s: u32::try_from(m.duration_s?).ok()?,
                side: m.side?,
                pressure: m.pressure?,
                guide: m.guide.clone(),
                context: m.context?,
                spots: m.spots.clone()?.0,
                notes: m.notes.clone(),
            }))
        })();
        record!(m, RecordKind::MassageSessions, m.started_at, body)
    }
}

impl FromRecord for massage_session::ActiveModel {
    fn from_record(r: &Record) -> Self {
        let m = match &r.body {
            Some(RecordBody::Massage(m)) => Some(m),
            _ => None,
        };
        envelope!(
            r,
            massage_session {
                started_at: m.map_or(r.sort_at, |m| m.started_at),
                duration_s: m.map(|m| i32::try_from(m.duration_s).unwrap_or(i32::MAX)),
                side: m.map(|m| m.side),
                pressure: m.map(|m| m.pressure),
                guide: m.and_then(|m| m.guide.clone()),
                context: m.map(|m| m.context),
                spots: m.map(|m| Spots(m.spots.clone())),
                notes: m.and_then(|m| m.notes.clone()),
            }
        )
    }
}

impl From<pump_session::Model> for Record {
    fn from(m: pump_session::Model) -> Self {
        let body = (|| {
            Some(RecordBody::Pump(PumpSession {
                started_at: m.started_at,
                ended_at: m.ended_at?,
                side: m.side?,
                volume_left_ml: m.volume_left_ml?,
                volume_right_ml: m.volume_right_ml?,
                pump_type: m.pump_type?,
                mode: m.mode?,
                massage_before: m.massage_before?,
                massage_during: m.massage_during?,
                notes: m.notes.clone(),
            }))
        })();
        record!(m, RecordKind::PumpSessions, m.started_at, body)
    }
}

impl FromRecord for pump_session::ActiveModel {
    fn from_record(r: &Record) -> Self {
        let p = match &r.body {
            Some(RecordBody::Pump(p)) => Some(p),
            _ => None,
        };
        envelope!(
            r,
            pump_session {
                started_at: p.map_or(r.sort_at, |p| p.started_at),
                ended_at: p.map(|p| p.ended_at),
                side: p.map(|p| p.side),
                volume_left_ml: p.map(|p| p.volume_left_ml),
                volume_right_ml: p.map(|p| p.volume_right_ml),
                pump_type: p.map(|p| p.pump_type),
                mode: p.map(|p| p.mode),
                massage_before: p.map(|p| p.massage_before),
                massage_during: p.map(|p| p.massage_during),
                notes: p.and_then(|p| p.notes.clone()),
            }
        )
    }
}

impl From<symptom_check::Model> for Record {
    fn from(m: symptom_check::Model) -> Self {
        let body = (|| {
            Some(RecordBody::Symptom(SymptomCheck {
                at: m.at,
                engorgement: u8::try_from(m.engorgement?).ok()?,
                pain: u8::try_from(m.pain?).ok()?,
                spots: m.spots.clone()?.0,
                redness: m.redness?,
                temperature_c: m.temperature_c,
                flu_like: m.flu_like?,
                notes: m.notes.clone(),
            }))
        })();
        record!(m, RecordKind::SymptomChecks, m.at, body)
    }
}

impl FromRecord for symptom_check::ActiveModel {
    fn from_record(r: &Record) -> Self {
        let c = match &r.body {
            Some(RecordBody::Symptom(c)) => Some(c),
            _ => None,
        };
        envelope!(
            r,
            symptom_check {
                at: c.map_or(r.sort_at, |c| c.at),
                engorgement: c.map(|c| i16::from(c.engorgement)),
                pain: c.map(|c| i16::from(c.pain)),
                spots: c.map(|c| Spots(c.spots.clone())),
                redness: c.map(|c| c.redness),
                temperature_c: c.and_then(|c| c.temperature_c),
                flu_like: c.map(|c| c.flu_like),
                notes: c.and_then(|c| c.notes.clone()),
            }
        )
    }
}

impl From<routine::Model> for Record {
    fn from(m: routine::Model) -> Self {
        let body = (|| {
            Some(RecordBody::Routine(Routine {
                name: m.name.clone(),
                kind: m.kind?,
                enabled: m.enabled?,
                days: m.days.clone()?.0,
                schedule: m.schedule.clone()?.0,
            }))
        })();
        record!(m, RecordKind::Routines, m.created_at, body)
    }
}

impl FromRecord for routine::ActiveModel {
    fn from_record(r: &Record) -> Self {
        let s = match &r.body {
            Some(RecordBody::Routine(s)) => Some(s),
            _ => None,
        };
        envelope!(
            r,
            routine {
                name: s.and_then(|s| s.name.clone()),
                kind: s.map(|s| s.kind),
                enabled: s.map(|s| s.enabled),
                days: s.map(|s| Days(s.days.clone())),
                schedule: s.map(|s| Schedule(s.schedule.clone())),
            }
        )
    }
}

impl From<care_note::Model> for Record {
    fn from(m: care_note::Model) -> Self {
        let body = (|| {
            Some(RecordBody::CareNote(CareNote {
                text: m.text.clone()?,
                author_id: m.author_id?,
                author_name: m.author_name.clone()?,
            }))
        })();
        record!(m, RecordKind::CareNotes, m.created_at, body)
    }
}

impl FromRecord for care_note::ActiveModel {
    fn from_record(r: &Record) -> Self {
        let n = match &r.body {
            Some(RecordBody::CareNote(n)) => Some(n),
            _ => None,
        };
        envelope!(
            r,
            care_note {
                text: n.map(|n| n.text.clone()),
                author_id: n.map(|n| n.author_id),
                author_name: n.map(|n| n.author_name.clone()),
            }
        )
    }
}

/// When a new record of this body lists: when it happened, or (routines) when it was created.
pub(crate) fn listed_at(body: &RecordBody, created: DateTime<Utc>) -> DateTime<Utc> {
    body.happened_at().unwrap_or(created)
}

/// Whether any of `ids` is the id of a record in a table other than `except`'s: an id names one record of one
/// kind, and the tables' primary keys each see only their own kind. One statement for every table.
pub(crate) async fn ids_in_use(
    db: &impl sea_orm::ConnectionTrait,
    ids: &[uuid::Uuid],
    except: Option<RecordKind>,
) -> Result<bool, sea_orm::DbErr> {
    use sea_orm::{DbBackend, Statement, Value};
    if ids.is_empty() {
        return Ok(false);
    }
    let backend = db.get_database_backend();
    let ids = crate::db::padded(ids.to_vec(), &[1, 8, crate::writes::MAX_BATCH]);
    let mut values: Vec<Value> = Vec::new();
    let parts: Vec<String> = RecordKind::ALL
        .into_iter()
        .filter(|kind| Some(*kind) != except)
        .map(|kind| {
            let list: Vec<String> = ids
                .iter()
                .map(|id| {
                    values.push(Value::Uuid(Some(*id)));
                    if backend == DbBackend::Postgres { format!("${}::uuid", values.len()) } else { "?".into() }
                })
                .collect();
            format!("SELECT 1 AS n FROM {} WHERE id IN ({})", kind.name(), list.join(", "))
        })
        .collect();
    let sql = format!("SELECT n FROM ({}) AS found LIMIT 1", parts.join(" UNION ALL "));
    Ok(db.query_one_raw(Statement::from_sql_and_values(backend, sql, values)).await?.is_some())
}
