//! Staff broadcasts: a message planned as an occurrence for every active account with a matching device, at
//! the time given or past each account's quiet hours; and how far each got.

use chrono::{DateTime, Utc};
use domain::TimeZoneName;
use domain::recurrence::defer_past_quiet;
use domain::reminders::{DeliveryStatus, OccurrenceKind, OccurrenceState, ReminderTopic};
use entity::{broadcast, delivery, device, occurrence, user};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

use crate::Database;
use crate::StoreError;
use crate::audit::{self, Actor};

/// A broadcast to plan.
pub struct NewBroadcast {
    pub title: String,
    pub body: String,
    /// The audience as written, kept as JSON.
    pub audience: Value,
    /// Only accounts in these time zones, when given.
    pub timezones: Option<Vec<String>>,
    /// Only devices in these locales (lower case), when given.
    pub locales: Option<Vec<String>>,
    pub send_at: DateTime<Utc>,
}

/// How a broadcast's deliveries stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub delivered: i64,
    /// Failed, expired or dropped with their device.
    pub failed: i64,
}

/// Plans `new` for every matching device's account; audited as `actor`'s. Gives it with its (still empty)
/// delivery counts.
pub async fn create(
    db: &Database,
    new: NewBroadcast,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(broadcast::Model, Counts), StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let mut users = user::Entity::find().filter(user::Column::Status.eq(domain::UserStatus::Active));
    if let Some(zones) = &new.timezones {
        users = users.filter(user::Column::Timezone.is_in(zones.iter().map(String::as_str)));
    }
    let users: HashMap<Uuid, user::Model> = users.all(&txn).await?.into_iter().map(|u| (u.id, u)).collect();
    let mut per_user: HashMap<Uuid, i32> = HashMap::new();
    let ids: Vec<Uuid> = users.keys().copied().collect();
    for ids in ids.chunks(crate::planning::IN_CHUNK) {
        for d in device::Entity::find().filter(device::Column::UserId.is_in(ids.iter().copied())).all(&txn).await? {
            if new.locales.as_ref().is_none_or(|l| domain::delivery::locale_matches(&d.locale, l)) {
                *per_user.entry(d.user_id).or_default() += 1;
            }
        }
    }
    let id = Uuid::now_v7();
    let saved = broadcast::ActiveModel {
        id: Set(id),
        title: Set(new.title),
        body: Set(new.body),
        audience: Set(new.audience.to_string()),
        send_at: Set(new.send_at),
        targeted: Set(per_user.values().sum()),
        created_by: Set(actor.id),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let rows: Vec<occurrence::ActiveModel> = per_user
        .keys()
        .filter_map(|uid| users.get(uid))
        .map(|u| {
            let tz = TimeZoneName::parse(&u.timezone).unwrap_or_default();
            occurrence::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(u.id),
                routine_id: Set(None),
                broadcast_id: Set(Some(id)),
                kind: Set(OccurrenceKind::Broadcast),
                routine_kind: Set(ReminderTopic::Broadcast),
                due_at: Set(defer_past_quiet(tz.tz(), crate::planning::quiet_hours(u), new.send_at)),
                state: Set(OccurrenceState::Planned),
                created_at: Set(now),
                updated_at: Set(now),
                snoozed_from: Set(None),
                client_id: Set(None),
            }
        })
        .collect();
    for chunk in crate::planning::in_chunks(rows) {
        occurrence::Entity::insert_many(chunk).exec(&txn).await?;
    }
    let detail = serde_json::json!({"targeted": saved.targeted, "audience": new.audience, "send_at": new.send_at});
    audit::record(&txn, actor, "broadcast.create", "broadcast", Some(id.to_string()), detail, now).await?;
    txn.commit().await?;
    // Its deliveries are made by the scheduler's fan-out, after this commit: none exist yet.
    Ok((saved, Counts::default()))
}

/// Broadcast `id` and how its deliveries stand.
pub async fn find(db: &Database, id: Uuid) -> Result<(broadcast::Model, Counts), StoreError> {
    let b = broadcast::Entity::find_by_id(id).one(db).await?.ok_or(StoreError::NotFound)?;
    let counts = counts(db, b.id).await?;
    Ok((b, counts))
}

/// The latest `limit` broadcasts, newest first, with how their deliveries stand.
pub async fn latest(db: &Database, limit: u64) -> Result<Vec<(broadcast::Model, Counts)>, StoreError> {
    let rows = broadcast::Entity::find().order_by_desc(broadcast::Column::CreatedAt).limit(limit).all(db).await?;
    let mut out = Vec::with_capacity(rows.len());
    for b in rows {
        let counts = counts(db, b.id).await?;
        out.push((b, counts));
    }
    Ok(out)
}

/// How the deliveries of broadcast `id` stand: one query grouping them by status.
async fn counts(db: &impl ConnectionTrait, id: Uuid) -> Result<Counts, StoreError> {
    let of_broadcast = Query::select()
        .column(occurrence::Column::Id)
        .from(occurrence::Entity)
        .and_where(occurrence::Column::BroadcastId.eq(id))
        .and_where(occurrence::Column::Kind.eq(OccurrenceKind::Broadcast))
        .to_owned();
    let by_status: Vec<(DeliveryStatus, i64)> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Status)
        .column_as(delivery::Column::Id.count(), "n")
        .filter(delivery::Column::OccurrenceId.in_subquery(of_broadcast))
        .group_by(delivery::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut counts = Counts::default();
    for (status, n) in by_status {
        match status {
            DeliveryStatus::Delivered => counts.delivered += n,
            DeliveryStatus::Failed | DeliveryStatus::Expired | DeliveryStatus::Pruned => counts.failed += n,
            DeliveryStatus::Pending | DeliveryStatus::Retrying | DeliveryStatus::Staged => {}
        }
    }
    Ok(counts)
}
