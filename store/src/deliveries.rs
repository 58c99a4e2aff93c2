//! Deliveries as the scheduler works them: due occurrences taken for fan-out, deliveries leased, what sending
//! needs loaded, and outcomes recorded. Statements only; the scheduler decides what they say.

use chrono::{DateTime, Duration, Utc};
use domain::FailureReason;
use domain::reminders::{DeliveryStatus, OccurrenceState};
use entity::{broadcast, delivery, device, occurrence, user};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::planning::IN_CHUNK;

/// A delivery still to be attempted (pending, retrying or staged), as the claim index's condition says it.
pub fn waiting() -> SimpleExpr {
    Expr::cust(migration::DELIVERY_CLAIMABLE)
}

/// Lets `txn` commit without waiting for the write-ahead log to reach the disk (PostgreSQL; SQLite's settings
/// are the file's): for writes that are safe to lose in a crash of the database server.
pub async fn commit_without_waiting_for_the_disk(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        txn.execute_unprepared("SET LOCAL synchronous_commit = off").await?;
    }
    Ok(())
}

/// Up to `batch` planned occurrences due by `until`, earliest first, locked for `txn` (others skip them).
pub async fn due_occurrences(
    txn: &impl ConnectionTrait,
    until: DateTime<Utc>,
    batch: u64,
) -> Result<Vec<occurrence::Model>, DbErr> {
    occurrence::Entity::find()
        .filter(occurrence::Column::State.eq(OccurrenceState::Planned))
        .filter(occurrence::Column::DueAt.lte(until))
        .order_by_asc(occurrence::Column::DueAt)
        .limit(batch)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(txn)
        .await
}

/// The accounts `ids`.
pub async fn accounts(db: &impl ConnectionTrait, ids: &HashSet<Uuid>) -> Result<Vec<user::Model>, DbErr> {
    Ok(crate::rows_by_id::<user::Entity>(db, ids, user::Column::Id, |u| u.id).await?.into_values().collect())
}

/// The devices of accounts `ids`, by account.
pub async fn devices_of(
    txn: &impl ConnectionTrait,
    ids: &HashSet<Uuid>,
) -> Result<HashMap<Uuid, Vec<device::Model>>, DbErr> {
    let mut devices: HashMap<Uuid, Vec<device::Model>> = HashMap::new();
    for ids in ids.iter().copied().collect::<Vec<_>>().chunks(IN_CHUNK) {
        for d in device::Entity::find().filter(device::Column::UserId.is_in(ids.iter().copied())).all(txn).await? {
            devices.entry(d.user_id).or_default().push(d);
        }
    }
    Ok(devices)
}

/// The devices `ids`, by id.
pub async fn devices(db: &impl ConnectionTrait, ids: &HashSet<Uuid>) -> Result<HashMap<Uuid, device::Model>, DbErr> {
    crate::rows_by_id::<device::Entity>(db, ids, device::Column::Id, |d| d.id).await
}

/// The occurrences `ids`, by id.
pub async fn occurrences(
    db: &impl ConnectionTrait,
    ids: &HashSet<Uuid>,
) -> Result<HashMap<Uuid, occurrence::Model>, DbErr> {
    crate::rows_by_id::<occurrence::Entity>(db, ids, occurrence::Column::Id, |o| o.id).await
}

/// The broadcasts `ids`, by id.
pub async fn broadcasts(
    db: &impl ConnectionTrait,
    ids: &HashSet<Uuid>,
) -> Result<HashMap<Uuid, broadcast::Model>, DbErr> {
    crate::rows_by_id::<broadcast::Entity>(db, ids, broadcast::Column::Id, |b| b.id).await
}

/// Moves each listed occurrence to its new state.
pub async fn set_states(
    txn: &impl ConnectionTrait,
    by_state: HashMap<OccurrenceState, Vec<Uuid>>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for (state, ids) in by_state {
        for ids in ids.chunks(IN_CHUNK) {
            occurrence::Entity::update_many()
                .col_expr(occurrence::Column::State, Expr::value(state))
                .col_expr(occurrence::Column::UpdatedAt, Expr::value(now))
                .filter(occurrence::Column::Id.is_in(ids.iter().copied()))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

/// A delivery of `occ` to device `d`: staged when `occ` is not yet due (it waits for its time, unleased),
/// else pending, leased to `lease`'s holder until then when given. Its body is made at the send unless one is
/// set.
pub fn new_delivery(
    occ: &occurrence::Model,
    d: &device::Model,
    now: DateTime<Utc>,
    ttl: Duration,
    lease: Option<(DateTime<Utc>, &str)>,
) -> delivery::ActiveModel {
    delivery::ActiveModel {
        id: Set(Uuid::now_v7()),
        occurrence_id: Set(occ.id),
        device_id: Set(d.id),
        // The device's account: the occurrence's owner, or a care-team member who receives the owner's reminders.
        user_id: Set(d.user_id),
        provider: Set(d.platform),
        status: Set(if occ.due_at > now { DeliveryStatus::Staged } else { DeliveryStatus::Pending }),
        attempts: Set(0),
        // Leased: attempted again only if the lease ends unrecorded (see `lease::claim`).
        next_attempt_at: Set(lease.map_or(Ord::max(occ.due_at, now), |(until, _)| until)),
        lease_until: Set(lease.map(|(until, _)| until)),
        leased_by: Set(lease.map(|(_, by)| by.to_owned())),
        payload: Set(None),
        due_at: Set(occ.due_at),
        expires_at: Set(Ord::max(occ.due_at, now) + ttl),
        sent_at: Set(None),
        last_status: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Gives a new delivery the body it will post (made ahead).
pub fn set_payload(row: &mut delivery::ActiveModel, payload: Option<Vec<u8>>) {
    row.payload = Set(payload);
}

/// Inserts new deliveries (one occurrence and device are one delivery: a second is not inserted). With
/// `leased`, gives the rows this statement inserted: they are this process's to send.
pub async fn insert(
    txn: &impl ConnectionTrait,
    rows: Vec<delivery::ActiveModel>,
    leased: bool,
) -> Result<Vec<delivery::Model>, DbErr> {
    let mut created = Vec::new();
    for chunk in crate::planning::in_chunks(rows) {
        let insert = delivery::Entity::insert_many(chunk)
            .on_conflict_do_nothing_on([delivery::Column::OccurrenceId, delivery::Column::DeviceId]);
        if leased {
            if let sea_orm::TryInsertResult::Inserted(rows) = insert.exec_with_returning_many(txn).await? {
                created.extend(rows);
            }
        } else {
            insert.exec(txn).await?;
        }
    }
    Ok(created)
}

/// Leases up to `batch` deliveries due by `now` (waiting, their lease ended or never taken) to `instance` until
/// `lease_until`; gives them.
pub async fn claim(
    db: &crate::Database,
    now: DateTime<Utc>,
    batch: u64,
    lease_until: DateTime<Utc>,
    instance: &str,
) -> Result<Vec<delivery::Model>, DbErr> {
    let table = crate::lease::Leasable::<delivery::Entity> {
        id: delivery::Column::Id,
        next_attempt_at: delivery::Column::NextAttemptAt,
        lease_until: delivery::Column::LeaseUntil,
        leased_by: delivery::Column::LeasedBy,
        key: |d| d.id,
    };
    crate::lease::claim(db, table, Condition::all().add(waiting()), now, batch, lease_until, instance).await
}

/// The earliest instant after `now` and before `until` at which a waiting delivery falls due (a staged one's
/// time, a retry, a lease's end), if any: when the on-time loop next has something to claim. The range is kept
/// short: past its end lie the lease ends of a burst's claimed rows, whose old index entries a scan would step
/// over one by one on PostgreSQL until they are vacuumed.
pub async fn next_due_between(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    delivery::Entity::find()
        .select_only()
        .column(delivery::Column::NextAttemptAt)
        .filter(waiting())
        .filter(delivery::Column::NextAttemptAt.gt(now))
        .filter(delivery::Column::NextAttemptAt.lt(until))
        .order_by_asc(delivery::Column::NextAttemptAt)
        .limit(1)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await
}

/// Due occurrences and deliveries still waiting at `now`.
pub async fn backlog(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let occurrences = occurrence::Entity::find()
        .filter(occurrence::Column::State.eq(OccurrenceState::Planned))
        .filter(occurrence::Column::DueAt.lte(now))
        .count(db)
        .await?;
    let deliveries =
        delivery::Entity::find().filter(waiting()).filter(delivery::Column::NextAttemptAt.lte(now)).count(db).await?;
    Ok(occurrences + deliveries)
}

/// Records deliveries the push service accepted (those still leased to `instance`), and their devices'
/// success: two statements.
pub async fn mark_delivered(
    txn: &impl ConnectionTrait,
    delivered: &[delivery::Model],
    instance: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let device_ids: HashSet<Uuid> = delivered.iter().map(|d| d.device_id).collect();
    device::Entity::update_many()
        .col_expr(device::Column::LastSuccessAt, Expr::value(now))
        .filter(device::Column::Id.is_in(device_ids))
        .exec(txn)
        .await?;
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(DeliveryStatus::Delivered))
        .col_expr(delivery::Column::Attempts, Expr::col(delivery::Column::Attempts).add(1))
        .col_expr(delivery::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(delivery::Column::LastStatus, Expr::value(Some(201)))
        .col_expr(delivery::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(delivery::Column::SentAt, Expr::value(Some(now)))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        .filter(delivery::Column::Id.is_in(delivered.iter().map(|d| d.id)))
        .filter(delivery::Column::LeasedBy.eq(instance.to_owned()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Drops the bodies made ahead for device `device_id`'s waiting deliveries (its keys changed): each is made
/// afresh at its send.
pub async fn forget_payloads(txn: &impl ConnectionTrait, device_id: Uuid) -> Result<(), DbErr> {
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Payload, Expr::value(Option::<Vec<u8>>::None))
        .filter(delivery::Column::DeviceId.eq(device_id))
        .filter(delivery::Column::Status.is_in(DeliveryStatus::WAITING))
        .exec(txn)
        .await?;
    Ok(())
}

/// Marks pruned the waiting deliveries of `user_id` to `device_id` (a device gone, or moved to another
/// account), but `except`; gives how many.
pub async fn prune_waiting(
    txn: &impl ConnectionTrait,
    device_id: Uuid,
    user_id: Uuid,
    except: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut update = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(DeliveryStatus::Pruned))
        .col_expr(delivery::Column::LastError, Expr::value(FailureReason::Gone.as_str()))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        .filter(delivery::Column::DeviceId.eq(device_id))
        .filter(delivery::Column::UserId.eq(user_id))
        .filter(delivery::Column::Status.is_in(DeliveryStatus::WAITING));
    if let Some(except) = except {
        update = update.filter(delivery::Column::Id.ne(except));
    }
    Ok(update.exec(txn).await?.rows_affected)
}

/// Removes `user_id`'s device `device_id` (gone at its push service), with its other waiting deliveries
/// pruned. A device that moved to another account since is left: it is the new owner's now.
pub async fn remove_gone_device(
    txn: &impl ConnectionTrait,
    d: &delivery::Model,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    device::Entity::delete_many()
        .filter(device::Column::Id.eq(d.device_id))
        .filter(device::Column::UserId.eq(d.user_id))
        .exec(txn)
        .await?;
    prune_waiting(txn, d.device_id, d.user_id, Some(d.id), now).await?;
    Ok(())
}

/// Where an attempted (or stale) delivery now stands.
pub struct Settled {
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<FailureReason>,
}

/// Records how delivery `d` stands, its lease released, if it is still leased to `instance`.
pub async fn settle(
    txn: &impl ConnectionTrait,
    d: &delivery::Model,
    settled: Settled,
    instance: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(settled.status))
        .col_expr(delivery::Column::Attempts, Expr::value(settled.attempts))
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(settled.next_attempt_at))
        .col_expr(delivery::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(delivery::Column::LastStatus, Expr::value(settled.last_status))
        .col_expr(delivery::Column::LastError, Expr::value(settled.last_error.map(FailureReason::as_str)))
        .col_expr(delivery::Column::SentAt, Expr::value(d.sent_at))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        .filter(delivery::Column::Id.eq(d.id))
        .filter(delivery::Column::LeasedBy.eq(instance.to_owned()))
        .exec(txn)
        .await?;
    Ok(())
}
