//! Planning: each enabled routine has exactly one planned occurrence, its next fire instant, computed by the
//! shared recurrence in her time zone with her quiet hours. Changes re-plan in the writer's transaction.

use chrono::{DateTime, Utc};
use domain::routine::{Routine, RoutineKind};
use domain::{LocalTime, QuietHours, TimeZoneName};
use entity::{occurrence, record, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

/// Occurrence states.
pub mod state {
    pub const PLANNED: &str = "planned";
    pub const SENT: &str = "sent";
    pub const MISSED: &str = "missed";
    pub const DONE: &str = "done";
    pub const SNOOZED: &str = "snoozed";
    pub const CANCELLED: &str = "cancelled";
}

/// Her quiet hours, if she set them.
pub fn quiet_hours(u: &user::Model) -> Option<QuietHours> {
    let (start, end) = (u.quiet_hours_start.as_deref()?, u.quiet_hours_end.as_deref()?);
    QuietHours::new(LocalTime::parse(start).ok()?, LocalTime::parse(end).ok()?).ok()
}

/// The session collection an `after_last` routine of this kind counts from.
pub fn session_collection(kind: RoutineKind) -> &'static str {
    match kind {
        RoutineKind::Massage => "massage_sessions",
        RoutineKind::Pump | RoutineKind::MassageThenPump => "pump_sessions",
    }
}

fn kind_name(kind: RoutineKind) -> &'static str {
    match kind {
        RoutineKind::Massage => "massage",
        RoutineKind::Pump => "pump",
        RoutineKind::MassageThenPump => "massage_then_pump",
    }
}

/// When she last logged a session of `collection`.
pub async fn last_session(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    collection: &str,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(record::Entity::find()
        .filter(record::Column::UserId.eq(user_id))
        .filter(record::Column::Collection.eq(collection))
        .filter(record::Column::DeletedAt.is_null())
        .order_by_desc(record::Column::SortAt)
        .one(db)
        .await?
        .map(|r| r.sort_at))
}

/// Cancels the routine's planned occurrence and plans its next one strictly after `after` (if it is live
/// and enabled and its owner is active). Returns the new due time.
pub async fn replan(
    db: &impl ConnectionTrait,
    routine: &record::Model,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    occurrence::Entity::update_many()
        .col_expr(occurrence::Column::State, Expr::value(state::CANCELLED))
        .col_expr(occurrence::Column::UpdatedAt, Expr::value(now))
        .filter(occurrence::Column::RoutineId.eq(routine.id))
        .filter(occurrence::Column::Kind.eq("routine"))
        .filter(occurrence::Column::State.eq(state::PLANNED))
        .exec(db)
        .await?;
    if routine.deleted_at.is_some() {
        return Ok(None);
    }
    let Ok(spec) = serde_json::from_str::<serde_json::Value>(&routine.data)
        .map_err(|_| ())
        .and_then(|v| Routine::parse(&v).map_err(|_| ()))
    else {
        tracing::warn!(routine.id = %routine.id, "stored routine does not parse; not planned");
        return Ok(None);
    };
    if !spec.enabled {
        return Ok(None);
    }
    let Some(owner) = user::Entity::find_by_id(routine.user_id).one(db).await? else { return Ok(None) };
    if owner.status != "active" {
        return Ok(None);
    }
    let tz = TimeZoneName::parse(&owner.timezone).unwrap_or_default();
    let last = last_session(db, owner.id, session_collection(spec.kind)).await?;
    let Some(due) = spec.recurrence(tz.tz(), quiet_hours(&owner)).next_after(after, last) else { return Ok(None) };
    occurrence::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(owner.id),
        routine_id: Set(routine.id),
        kind: Set("routine".into()),
        routine_kind: Set(kind_name(spec.kind).into()),
        due_at: Set(due),
        state: Set(state::PLANNED.into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(Some(due))
}

/// Her routines that are not deleted.
async fn live_routines(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<record::Model>, DbErr> {
    record::Entity::find()
        .filter(record::Column::UserId.eq(user_id))
        .filter(record::Column::Collection.eq("routines"))
        .filter(record::Column::DeletedAt.is_null())
        .all(db)
        .await
}

/// Plans all her routines again (her zone, quiet hours or status changed).
pub async fn replan_all(db: &impl ConnectionTrait, user_id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    for r in live_routines(db, user_id).await? {
        replan(db, &r, now, now).await?;
    }
    Ok(())
}

/// Re-plans whatever a changed record affects: a routine itself, or her `after_last` routines counting from
/// a session collection. Call it inside the transaction that wrote the record.
pub async fn after_change(db: &impl ConnectionTrait, changed: &record::Model, now: DateTime<Utc>) -> Result<(), DbErr> {
    match changed.collection.as_str() {
        "routines" => {
            replan(db, changed, now, now).await?;
        }
        collection @ ("pump_sessions" | "massage_sessions") => {
            for r in live_routines(db, changed.user_id).await? {
                let counts_from_this = serde_json::from_str::<serde_json::Value>(&r.data)
                    .ok()
                    .and_then(|v| Routine::parse(&v).ok())
                    .is_some_and(|spec| {
                        matches!(spec.schedule, domain::routine::ScheduleSpec::AfterLast { .. })
                            && session_collection(spec.kind) == collection
                    });
                if counts_from_this {
                    replan(db, &r, now, now).await?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}
