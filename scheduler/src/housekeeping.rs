//! Housekeeping: removes what is no longer needed: expired refresh tokens, finished reminders and their
//! deliveries past the retention, and devices that have been failing for weeks.

use chrono::{DateTime, Duration, Utc};
use entity::{auth_limit, delivery, device, occurrence, refresh_token};
use platform::Database;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::collections::HashMap;

use domain::reminders::DeliveryStatus;
use domain::reminders::OccurrenceState;

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
pub async fn run_once(db: &Database, now: DateTime<Utc>) -> anyhow::Result<HousekeepingOutcome> {
    let refresh_tokens_removed = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::ExpiresAt.lt(now - EXPIRED_TOKEN_GRACE))
        .exec(db)
        .await?
        .rows_affected;
    let mut out = HousekeepingOutcome { refresh_tokens_removed, ..Default::default() };
    let finished_deliveries =
        [DeliveryStatus::Delivered, DeliveryStatus::Failed, DeliveryStatus::Pruned, DeliveryStatus::Expired];
    out.deliveries_removed = delivery::Entity::delete_many()
        .filter(delivery::Column::Status.is_in(finished_deliveries))
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

async fn remove_dead_devices(db: &Database, now: DateTime<Utc>) -> anyhow::Result<u64> {
    let since = now - DEAD_AFTER;
    let failures = delivery::Entity::find()
        .filter(delivery::Column::Status.is_in([DeliveryStatus::Failed, DeliveryStatus::Expired]))
        .filter(delivery::Column::UpdatedAt.gte(since))
        .all(db)
        .await?;
    let mut per_device: HashMap<uuid::Uuid, usize> = HashMap::new();
    for f in failures {
        *per_device.entry(f.device_id).or_default() += 1;
    }
    let mut removed = 0;
    for (device_id, count) in per_device.into_iter().filter(|(_, n)| *n >= DEAD_AFTER_FAILURES) {
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
