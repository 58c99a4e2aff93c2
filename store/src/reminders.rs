//! A user's reminders: listed with their deliveries, snoozed (one pending re-reminder per occurrence, snoozing
//! again moves it, a bounded number an hour) and marked done.

use chrono::{DateTime, Duration, Utc};
use domain::reminders::{OccurrenceKind, OccurrenceState};
use entity::{delivery, occurrence};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;

use crate::Database;
use crate::StoreError;

/// Re-reminders one account may create in an hour.
pub const MAX_SNOOZES_PER_HOUR: u64 = 12;

/// The pending re-reminder, and whether it was created (`false`: an earlier one was moved).
pub struct Snoozed {
    pub occurrence: occurrence::Model,
    pub created: bool,
}

/// Reminds `user` again of occurrence `id` in `minutes`.
#[tracing::instrument(skip_all, fields(user.id = %user, occurrence.id = %id))]
pub async fn snooze(
    db: &Database,
    user: Uuid,
    id: Uuid,
    minutes: i64,
    now: DateTime<Utc>,
) -> Result<Snoozed, StoreError> {
    let due_at = now + Duration::minutes(minutes);
    let txn = crate::db::begin_write(db).await?;
    crate::staging::unstage(&txn, user, now).await?;
    // Locked, so two snoozes of one occurrence at once are taken one after the other (PostgreSQL).
    let o = owned_by(&txn, user, id).await?;
    if o.state == OccurrenceState::Done {
        return Err(StoreError::Conflict("this reminder is already done".into()));
    }
    let pending = if o.kind == OccurrenceKind::Snooze && o.state == OccurrenceState::Planned {
        Some(o.clone())
    } else {
        occurrence::Entity::find()
            .filter(occurrence::Column::SnoozedFrom.eq(o.id))
            .filter(occurrence::Column::State.eq(OccurrenceState::Planned))
            .one(&txn)
            .await?
    };
    if let Some(pending) = pending {
        let mut moved: occurrence::ActiveModel = pending.into();
        moved.due_at = Set(due_at);
        moved.updated_at = Set(now);
        let moved = moved.update(&txn).await?;
        txn.commit().await?;
        return Ok(Snoozed { occurrence: moved, created: false });
    }
    let (recent, oldest) = snoozes_in_the_last_hour(&txn, user, now).await?;
    if recent >= MAX_SNOOZES_PER_HOUR {
        tracing::warn!("snooze refused: the hourly limit is reached");
        let wait = (oldest.unwrap_or(now) + Duration::hours(1) - now).num_seconds().max(1) as u64;
        return Err(StoreError::TooManyRequests(wait));
    }
    if o.state != OccurrenceState::Snoozed {
        close(&txn, &o, OccurrenceState::Snoozed, now).await?;
    }
    let again = occurrence::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(o.user_id),
        routine_id: Set(o.routine_id),
        broadcast_id: Set(o.broadcast_id),
        kind: Set(OccurrenceKind::Snooze),
        routine_kind: Set(o.routine_kind),
        due_at: Set(due_at),
        state: Set(OccurrenceState::Planned),
        created_at: Set(now),
        updated_at: Set(now),
        snoozed_from: Set(Some(o.id)),
        client_id: Set(o.client_id),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Snoozed { occurrence: again, created: true })
}

/// How many re-reminders `user` created in the hour before `now`, and when the oldest of them was created.
async fn snoozes_in_the_last_hour(
    txn: &impl ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
    let (count, oldest) = occurrence::Entity::find()
        .filter(occurrence::Column::UserId.eq(user))
        .filter(occurrence::Column::Kind.eq(OccurrenceKind::Snooze))
        .filter(occurrence::Column::CreatedAt.gt(now - Duration::hours(1)))
        .select_only()
        .column_as(occurrence::Column::Id.count(), "count")
        .column_as(occurrence::Column::CreatedAt.min(), "oldest")
        .into_tuple::<(i64, Option<DateTime<Utc>>)>()
        .one(txn)
        .await?
        .unwrap_or((0, None));
    Ok((u64::try_from(count).unwrap_or(0), oldest))
}

/// The user's occurrence `id` (not cancelled), locked for this transaction.
async fn owned_by(txn: &impl ConnectionTrait, user: Uuid, id: Uuid) -> Result<occurrence::Model, StoreError> {
    occurrence::Entity::find_by_id(id)
        .filter(occurrence::Column::UserId.eq(user))
        .filter(occurrence::Column::State.ne(OccurrenceState::Cancelled))
        .lock(LockType::Update)
        .one(txn)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Closes an occurrence; if it was the routine's planned one, the routine's next one is planned.
async fn close(
    txn: &impl ConnectionTrait,
    o: &occurrence::Model,
    new_state: OccurrenceState,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    occurrence::Entity::update_many()
        .col_expr(occurrence::Column::State, Expr::value(new_state))
        .col_expr(occurrence::Column::UpdatedAt, Expr::value(now))
        .filter(occurrence::Column::Id.eq(o.id))
        .exec(txn)
        .await?;
    if o.state == OccurrenceState::Planned
        && o.kind == OccurrenceKind::Routine
        && let Some(routine_id) = o.routine_id
        && let Some(routine) = crate::planning::routines_by_id(txn, &[routine_id]).await?.pop()
    {
        crate::planning::replan(txn, &routine, now.max(o.due_at), now).await?;
    }
    Ok(())
}

/// An occurrence and its deliveries, one per device.
pub type WithDeliveries = (occurrence::Model, Vec<delivery::Model>);

/// The user's occurrences due in `[from, to)` (cancelled ones left out), earliest first, with their deliveries.
pub async fn list(
    db: &Database,
    user: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<WithDeliveries>, StoreError> {
    let rows = occurrence::Entity::find()
        .filter(occurrence::Column::UserId.eq(user))
        .filter(occurrence::Column::DueAt.gte(from))
        .filter(occurrence::Column::DueAt.lt(to))
        .filter(occurrence::Column::State.ne(OccurrenceState::Cancelled))
        .order_by_asc(occurrence::Column::DueAt)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
    let mut by_occurrence: HashMap<Uuid, Vec<delivery::Model>> = HashMap::new();
    for ids in ids.chunks(crate::planning::IN_CHUNK) {
        // The owner's own devices only (a care-team member's are the member's).
        let found = delivery::Entity::find()
            .filter(delivery::Column::OccurrenceId.is_in(ids.iter().copied()))
            .filter(delivery::Column::UserId.eq(user))
            .all(db)
            .await?;
        for d in found {
            by_occurrence.entry(d.occurrence_id).or_default().push(d);
        }
    }
    Ok(rows
        .into_iter()
        .map(|o| {
            let deliveries = by_occurrence.remove(&o.id).unwrap_or_default();
            (o, deliveries)
        })
        .collect())
}

/// Marks the user's occurrence `id` done (a routine's planned one plans the routine's next); gives it as it now
/// stands, with its deliveries.
pub async fn mark_done(db: &Database, user: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<WithDeliveries, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    crate::staging::unstage(&txn, user, now).await?;
    let o = owned_by(&txn, user, id).await?;
    if o.state != OccurrenceState::Done {
        close(&txn, &o, OccurrenceState::Done, now).await?;
    }
    let o = owned_by(&txn, user, id).await?;
    txn.commit().await?;
    let deliveries = delivery::Entity::find()
        .filter(delivery::Column::OccurrenceId.eq(o.id))
        .filter(delivery::Column::UserId.eq(user))
        .all(db)
        .await?;
    Ok((o, deliveries))
}
