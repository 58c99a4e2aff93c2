//! Housekeeping: removes what is no longer needed: expired refresh tokens, finished reminders and their
//! deliveries past the retention, and devices that have been failing for weeks.

use crate::Database;
use chrono::{DateTime, Duration, Utc};
use domain::reminders::{DeliveryStatus, OccurrenceState};
use entity::{auth_limit, delivery, device, occurrence, refresh_token};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::StoreError;

/// How long an expired refresh token is kept (reuse of a just-expired token is still recognised).
pub const EXPIRED_TOKEN_GRACE: Duration = Duration::days(1);
/// How long finished reminders and their deliveries are kept (for the user's history and the delivery statistics).
pub const RETENTION: Duration = Duration::days(90);
/// A device with no success for this long and [`DEAD_AFTER_FAILURES`] failures in that time is removed.
pub const DEAD_AFTER: Duration = Duration::days(30);
pub const DEAD_AFTER_FAILURES: usize = 5;

/// What one housekeeping run removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HousekeepingOutcome {
    pub refresh_tokens_removed: u64,
    pub deliveries_removed: u64,
    pub occurrences_removed: u64,
    pub devices_removed: u64,
    /// Login limit windows and locks that have ended (kept in the database when Redis is not used).
    pub auth_limits_removed: u64,
}

/// One housekeeping run at `now`.
#[tracing::instrument(skip_all, fields(now = %now))]
pub async fn run_once(db: &Database, now: DateTime<Utc>) -> Result<HousekeepingOutcome, StoreError> {
    let refresh_tokens_removed = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::ExpiresAt.lt(now - EXPIRED_TOKEN_GRACE))
        .exec(db)
        .await?
        .rows_affected;
    let mut out = HousekeepingOutcome { refresh_tokens_removed, ..Default::default() };
    out.deliveries_removed = delivery::Entity::delete_many()
        .filter(delivery::Column::Status.is_in(DeliveryStatus::FINAL))
        .filter(delivery::Column::UpdatedAt.lt(now - RETENTION))
        .exec(db)
        .await?
        .rows_affected;
    // Deliveries of a finished occurrence go with it (the foreign key cascades).
    out.occurrences_removed = occurrence::Entity::delete_many()
        .filter(occurrence::Column::State.is_in([
            OccurrenceState::Sent,
            OccurrenceState::Missed,
            OccurrenceState::Done,
            OccurrenceState::Snoozed,
            OccurrenceState::Cancelled,
        ]))
        .filter(occurrence::Column::UpdatedAt.lt(now - RETENTION))
        .exec(db)
        .await?
        .rows_affected;
    out.devices_removed = remove_dead_devices(db, now).await?;
    out.auth_limits_removed = auth_limit::Entity::delete_many()
        .filter(auth_limit::Column::ExpiresMs.lte(now.timestamp_millis()))
        .exec(db)
        .await?
        .rows_affected;
    if out != HousekeepingOutcome::default() {
        tracing::info!(
            refresh_tokens = out.refresh_tokens_removed,
            deliveries = out.deliveries_removed,
            occurrences = out.occurrences_removed,
            devices = out.devices_removed,
            auth_limits = out.auth_limits_removed,
            "housekeeping removed old rows"
        );
    }
    Ok(out)
}

/// Removes devices with [`DEAD_AFTER_FAILURES`] or more failed deliveries and no success in [`DEAD_AFTER`]
/// (and older than that); gives how many.
async fn remove_dead_devices(db: &Database, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let since = now - DEAD_AFTER;
    let failing: Vec<(Uuid, i64)> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::DeviceId)
        .column_as(delivery::Column::Id.count(), "failures")
        .filter(delivery::Column::Status.is_in([DeliveryStatus::Failed, DeliveryStatus::Expired]))
        .filter(delivery::Column::UpdatedAt.gte(since))
        .group_by(delivery::Column::DeviceId)
        .having(delivery::Column::Id.count().gte(DEAD_AFTER_FAILURES as i64))
        .into_tuple()
        .all(db)
        .await?;
    let mut removed = 0;
    for (device_id, count) in failing {
        let recently_delivered = delivery::Entity::find()
            .filter(delivery::Column::DeviceId.eq(device_id))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Delivered))
            .filter(delivery::Column::UpdatedAt.gte(since))
            .count(db)
            .await?;
        let dead = device::Entity::find_by_id(device_id)
            .one(db)
            .await?
            .is_some_and(|d| d.created_at < since && d.last_success_at.is_none_or(|s| s < since));
        if dead && recently_delivered == 0 {
            tracing::info!(device.id = %device_id, failures = count, "removing a device that has failed for weeks");
            removed += device::Entity::delete_by_id(device_id).exec(db).await?.rows_affected;
        }
    }
    Ok(removed)
}
