//! Push targets of an account: registration (one device per endpoint or token; a device another account
//! holds moves to the one registering it), listing, removal.

use chrono::{DateTime, Utc};
use domain::reminders::Platform;
use entity::device;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::Database;
use crate::StoreError;

/// A device to register, its fields checked.
pub struct NewDevice {
    pub platform: Platform,
    /// The push endpoint (web) or the token (fcm, apns).
    pub target: String,
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    pub name: Option<String>,
    pub locale: String,
}

/// Registers (`true`) or updates (`false`) a device of `user_id`: the same endpoint or token is one device. A
/// device another account holds moves to this one and counts as new, so the answer never tells that another
/// account had it.
pub async fn register(
    db: &Database,
    user_id: Uuid,
    device: NewDevice,
    now: DateTime<Utc>,
) -> Result<(device::Model, bool), StoreError> {
    let NewDevice { platform, target, p256dh, auth, name, locale } = device;
    let txn = crate::db::begin_write(db).await?;
    let existing = device::Entity::find()
        .filter(device::Column::Platform.eq(platform))
        .filter(device::Column::Target.eq(target.as_str()))
        .one(&txn)
        .await?;
    let created = existing.as_ref().is_none_or(|e| e.user_id != user_id);
    let keys_changed = existing.as_ref().is_some_and(|e| e.p256dh != p256dh || e.auth != auth);
    if created || keys_changed || existing.as_ref().is_some_and(|e| e.locale != locale) {
        // What was staged for the account did not reach this device, or was made for its old keys or language.
        crate::staging::unstage(&txn, user_id, now).await?;
    }
    if let Some(e) = existing.as_ref().filter(|e| e.user_id != user_id) {
        crate::staging::unstage(&txn, e.user_id, now).await?;
        moved_away(&txn, e, user_id, now).await?;
    }
    if let Some(e) = existing.as_ref().filter(|_| keys_changed) {
        crate::deliveries::forget_payloads(&txn, e.id).await?;
    }
    let row = match existing {
        Some(e) => {
            let mut row: device::ActiveModel = e.into();
            row.user_id = Set(user_id);
            row.p256dh = Set(p256dh);
            row.auth = Set(auth);
            row.name = Set(name);
            row.locale = Set(locale);
            row.updated_at = Set(now);
            row.update(&txn).await?
        }
        None => {
            device::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(user_id),
                platform: Set(platform),
                target: Set(target),
                p256dh: Set(p256dh),
                auth: Set(auth),
                name: Set(name),
                locale: Set(locale),
                created_at: Set(now),
                updated_at: Set(now),
                last_success_at: Set(None),
            }
            .insert(&txn)
            .await?
        }
    };
    txn.commit().await?;
    Ok((row, created))
}

/// A device moves from its owner to `new_owner`: the old owner's waiting deliveries to it are dropped (pruned,
/// as for a device that is gone), and the move is audited.
async fn moved_away(
    txn: &impl sea_orm::ConnectionTrait,
    e: &device::Model,
    new_owner: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let dropped = crate::deliveries::prune_waiting(txn, e.id, e.user_id, None, now).await?;
    let actor = crate::audit::Actor { id: new_owner, ip: None };
    let detail = serde_json::json!({"from_user": e.user_id, "to_user": new_owner, "platform": e.platform, "deliveries_dropped": dropped});
    crate::audit::record(txn, &actor, "device.move", "device", Some(e.id.to_string()), detail, now).await?;
    tracing::info!(device.id = %e.id, deliveries_dropped = dropped, "a device moved to another account");
    Ok(())
}

/// The user's devices, newest first.
pub async fn list(db: &Database, user_id: Uuid) -> Result<Vec<device::Model>, StoreError> {
    Ok(device::Entity::find()
        .filter(device::Column::UserId.eq(user_id))
        .order_by_desc(device::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Removes one of the user's devices.
pub async fn remove(db: &Database, user_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    let txn = crate::db::begin_write(db).await?;
    // An occurrence staged for this device and others is staged again for the others.
    crate::staging::unstage(&txn, user_id, now).await?;
    let deleted = device::Entity::delete_many()
        .filter(device::Column::Id.eq(id))
        .filter(device::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    txn.commit().await?;
    Ok(())
}
