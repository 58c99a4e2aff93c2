//! Planning: each enabled routine has exactly one planned occurrence, its next fire instant, computed by the
//! shared recurrence in the owner's time zone with the owner's quiet hours. Changes re-plan in the writer's
//! transaction.

use crate::db::{Fact, WriteTxn};
use chrono::{DateTime, Utc};
use domain::reminders::{OccurrenceKind, OccurrenceState};
use domain::routine::{Routine, RoutineKind};
use domain::{LocalTime, QuietHours, TimeZoneName};
use domain::{RecordBody, RecordKind};
use entity::{massage_session, occurrence, pump_session, routine, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::records::Record;

/// The user's quiet hours, if the user set them.
pub fn quiet_hours(u: &user::Model) -> Option<QuietHours> {
    let (start, end) = (u.quiet_hours_start.as_deref()?, u.quiet_hours_end.as_deref()?);
    QuietHours::new(LocalTime::parse(start).ok()?, LocalTime::parse(end).ok()?).ok()
}

/// The kind of session an `after_last` routine of this kind counts from.
pub fn session_kind(kind: RoutineKind) -> RecordKind {
    match kind {
        RoutineKind::Massage => RecordKind::MassageSessions,
        RoutineKind::Pump | RoutineKind::MassageThenPump => RecordKind::PumpSessions,
    }
}

/// When the user last logged a session of `kind` (a kind of session: massage or pump).
pub async fn last_session(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    kind: RecordKind,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    use sea_orm::sea_query::{Expr, Func};
    let latest: Option<Option<DateTime<Utc>>> = match kind {
        RecordKind::MassageSessions => {
            massage_session::Entity::find()
                .select_only()
                .expr(Func::max(Expr::col(massage_session::Column::StartedAt)))
                .filter(massage_session::Column::UserId.eq(user_id))
                .filter(massage_session::Column::DeletedAt.is_null())
                .into_tuple()
                .one(db)
                .await?
        }
        _ => {
            pump_session::Entity::find()
                .select_only()
                .expr(Func::max(Expr::col(pump_session::Column::StartedAt)))
                .filter(pump_session::Column::UserId.eq(user_id))
                .filter(pump_session::Column::DeletedAt.is_null())
                .into_tuple()
                .one(db)
                .await?
        }
    };
    Ok(latest.flatten())
}

/// Cancels the routine's planned occurrence and plans its next one strictly after `after` (if it is live
/// and enabled and its owner is active). Returns the new due time.
pub async fn replan(
    db: &impl ConnectionTrait,
    routine: &Record,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let planned = replan_many(db, std::slice::from_ref(routine), |_| after, now).await?;
    Ok(planned.get(&routine.id).copied())
}

/// [`replan`] for many routines in a few statements (the claim tick's fan-out re-plans a whole batch):
/// each routine's next occurrence comes strictly after `after(routine)`. Returns the new due times.
pub async fn replan_many(
    db: &impl ConnectionTrait,
    routines: &[Record],
    after: impl Fn(&Record) -> DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, DateTime<Utc>>, DbErr> {
    let mut planned = HashMap::new();
    if routines.is_empty() {
        return Ok(planned);
    }
    for ids in routines.chunks(IN_CHUNK) {
        occurrence::Entity::update_many()
            .col_expr(occurrence::Column::State, Expr::value(OccurrenceState::Cancelled))
            .col_expr(occurrence::Column::UpdatedAt, Expr::value(now))
            .filter(occurrence::Column::RoutineId.is_in(ids.iter().map(|r| r.id)))
            .filter(occurrence::Column::Kind.eq(OccurrenceKind::Routine))
            .filter(occurrence::Column::State.eq(OccurrenceState::Planned))
            .exec(db)
            .await?;
    }
    let live: Vec<(&Record, &Routine)> = routines
        .iter()
        .filter_map(|r| match &r.body {
            Some(RecordBody::Routine(spec)) if r.deleted_at.is_none() && spec.enabled => Some((r, spec)),
            _ => None,
        })
        .collect();
    let owner_ids: HashSet<Uuid> = live.iter().map(|(r, _)| r.user_id).collect();
    let owners = crate::rows_by_id::<user::Entity>(db, &owner_ids, user::Column::Id, |u| u.id).await?;
    let mut last_sessions: HashMap<(Uuid, RecordKind), Option<DateTime<Utc>>> = HashMap::new();
    let mut rows = Vec::new();
    for (routine, spec) in &live {
        let Some(owner) = owners.get(&routine.user_id).filter(|o| o.status == domain::UserStatus::Active) else {
            continue;
        };
        let tz = TimeZoneName::parse(&owner.timezone).unwrap_or_default();
        // Only `after_last` schedules read the owner's last session; fixed times and intervals never wait on it.
        let last = match spec.schedule {
            domain::routine::ScheduleSpec::AfterLast { .. } => {
                let key = (owner.id, session_kind(spec.kind));
                match last_sessions.get(&key) {
                    Some(found) => *found,
                    None => {
                        let found = last_session(db, key.0, key.1).await?;
                        *last_sessions.entry(key).or_insert(found)
                    }
                }
            }
            _ => None,
        };
        let Some(due) = spec.recurrence(tz.tz(), quiet_hours(owner)).next_after(after(routine), last) else {
            continue;
        };
        planned.insert(routine.id, due);
        rows.push(occurrence::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(owner.id),
            routine_id: Set(Some(routine.id)),
            broadcast_id: Set(None),
            kind: Set(OccurrenceKind::Routine),
            routine_kind: Set(spec.kind.into()),
            due_at: Set(due),
            state: Set(OccurrenceState::Planned),
            created_at: Set(now),
            updated_at: Set(now),
            snoozed_from: Set(None),
            client_id: Set(None),
        });
    }
    insert_occurrences(db, rows).await?;
    Ok(planned)
}

/// How many ids one `IN (...)` list carries, and rows one multi-row insert carries: well under the bind
/// parameter limits of SQLite (32,766) and PostgreSQL (65,535).
pub const IN_CHUNK: usize = 1000;

/// `items` in owned chunks of at most [`IN_CHUNK`], for multi-row inserts.
pub fn in_chunks<T>(items: Vec<T>) -> impl Iterator<Item = Vec<T>> {
    let mut items = items.into_iter().peekable();
    std::iter::from_fn(move || {
        items.peek()?;
        Some(items.by_ref().take(IN_CHUNK).collect())
    })
}

async fn insert_occurrences(db: &impl ConnectionTrait, rows: Vec<occurrence::ActiveModel>) -> Result<(), DbErr> {
    for chunk in in_chunks(rows) {
        occurrence::Entity::insert_many(chunk).exec(db).await?;
    }
    Ok(())
}

/// The user's routines that are not deleted.
async fn live_routines(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<Record>, DbErr> {
    live_routines_where(routine::Column::UserId.eq(user_id))
        .all(db)
        .await
        .map(|rows| rows.into_iter().map(Record::from).collect())
}

/// The routines that are not deleted, of the owners `owners` selects.
fn live_routines_where(owners: sea_orm::sea_query::SimpleExpr) -> sea_orm::Select<routine::Entity> {
    routine::Entity::find().filter(owners).filter(routine::Column::DeletedAt.is_null())
}

/// The routines `ids` (deleted or not).
pub async fn routines_by_id(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Record>, DbErr> {
    let mut found = Vec::with_capacity(ids.len());
    for ids in ids.chunks(IN_CHUNK) {
        let rows = routine::Entity::find().filter(routine::Column::Id.is_in(ids.iter().copied())).all(db).await?;
        found.extend(rows.into_iter().map(Record::from));
    }
    Ok(found)
}

/// Plans all the user's routines again (the user's zone, quiet hours or status changed).
pub async fn replan_all(db: &impl ConnectionTrait, user_id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    crate::staging::unstage(db, user_id, now).await?;
    for r in live_routines(db, user_id).await? {
        replan(db, &r, now, now).await?;
    }
    Ok(())
}

/// Whether `txn` knows that none of the owner's live routines counts from the owner's last session (it looked, or
/// was told by [`tell_no_routine_counts_from_last_session`], and has written none of the owner's routines since).
pub fn knows_no_routine_counts_from_last_session(txn: &WriteTxn, owner: Uuid) -> bool {
    txn.recall(Fact::NoAfterLastRoutine, owner) == Some(true)
}

/// Tells `txn` that none of the owner's live routines counts from the owner's last session, so that
/// [`after_change`] does not look. Sound only when that is known to hold at the moment `txn` holds (see
/// [`WriteTxn::recall`]).
pub fn tell_no_routine_counts_from_last_session(txn: &WriteTxn, owner: Uuid) {
    txn.learn(Fact::NoAfterLastRoutine, owner, true);
}

/// A routine's spec, when it counts from the owner's last session (`after_last`).
fn counting_from_last_session(r: &Record) -> Option<&Routine> {
    match &r.body {
        Some(RecordBody::Routine(spec)) if matches!(spec.schedule, domain::routine::ScheduleSpec::AfterLast { .. }) => {
            Some(spec)
        }
        _ => None,
    }
}

/// For new sessions of several owners written in one transaction, which has locked their rows: looks up all
/// their live routines in one query, and keeps for each owner with no `after_last` routine the fact
/// [`after_change`] would otherwise learn by a query per owner.
pub async fn look_up_routines_once(txn: &WriteTxn, changed: &[Record]) -> Result<(), DbErr> {
    let mut owners: Vec<Uuid> = changed
        .iter()
        .filter(|r| matches!(r.kind, RecordKind::PumpSessions | RecordKind::MassageSessions))
        .map(|r| r.user_id)
        .filter(|owner| txn.recall(Fact::NoAfterLastRoutine, *owner).is_none())
        .collect();
    owners.sort_unstable();
    owners.dedup();
    if owners.len() < 2 {
        return Ok(()); // One owner: `after_change` asks the same one query.
    }
    let routines: Vec<Record> =
        live_routines_where(routine::Column::UserId.is_in(crate::db::padded(owners.clone(), &[8, 64])))
            .all(txn)
            .await?
            .into_iter()
            .map(Record::from)
            .collect();
    let counting: HashSet<Uuid> =
        routines.iter().filter(|r| counting_from_last_session(r).is_some()).map(|r| r.user_id).collect();
    for owner in owners.into_iter().filter(|owner| !counting.contains(owner)) {
        txn.learn(Fact::NoAfterLastRoutine, owner, true);
    }
    Ok(())
}

/// Takes back what is staged for `owner` ([`crate::staging::unstage`]) once in this transaction: a batch of one
/// owner's writes asks once.
async fn unstage_once(txn: &WriteTxn, owner: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    if txn.recall(Fact::NothingStaged, owner) != Some(true) {
        crate::staging::unstage(txn, owner, now).await?;
        txn.learn(Fact::NothingStaged, owner, true);
    }
    Ok(())
}

/// Re-plans whatever a changed record affects: a routine itself, or the owner's `after_last` routines counting
/// from a session collection. Call it inside the transaction that wrote the record. Once a transaction has found
/// that the owner has no `after_last` routine it does not look again for the owner's next session, until it
/// writes one of the owner's routines (every writer of the owner's routines holds the lock it holds: see
/// [`WriteTxn::recall`]).
pub async fn after_change(txn: &WriteTxn, changed: &Record, now: DateTime<Utc>) -> Result<(), DbErr> {
    match changed.kind {
        RecordKind::Routines => {
            txn.forget(Fact::NoAfterLastRoutine, changed.user_id);
            unstage_once(txn, changed.user_id, now).await?;
            replan(txn, changed, now, now).await?;
        }
        session @ (RecordKind::PumpSessions | RecordKind::MassageSessions) => {
            if session == RecordKind::MassageSessions {
                // Massage logs count toward advisories, which make a pump reminder gentle.
                unstage_once(txn, changed.user_id, now).await?;
            }
            if txn.recall(Fact::NoAfterLastRoutine, changed.user_id) == Some(true) {
                return Ok(());
            }
            let mut after_last = false;
            for r in live_routines(txn, changed.user_id).await? {
                let Some(spec) = counting_from_last_session(&r) else { continue };
                after_last = true;
                if session_kind(spec.kind) == session {
                    unstage_once(txn, changed.user_id, now).await?;
                    replan(txn, &r, now, now).await?;
                }
            }
            if !after_last {
                txn.learn(Fact::NoAfterLastRoutine, changed.user_id, true);
            }
        }
        // A symptom check may raise an advisory, which makes a pump reminder gentle.
        RecordKind::SymptomChecks => {
            unstage_once(txn, changed.user_id, now).await?;
        }
        RecordKind::CareNotes => {}
    }
    Ok(())
}
