//! Secrets the service generates for itself once and keeps in the database, so every process shares them.

use base64::Engine;
use chrono::Utc;
use entity::app_secret;
use rand::RngCore;
use sea_orm::{ActiveValue::Set, DbErr, EntityTrait};

use crate::Database;

/// Returns the secret stored under `name`, generating `bytes` random bytes (base64url) the first time.
pub async fn get_or_create(db: &Database, name: &str, bytes: usize) -> Result<(String, bool), DbErr> {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    get_or_store(db, name, &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)).await
}

/// Returns the secret stored under `name`, storing `candidate` the first time; `true` when it was stored now.
///
/// Concurrent first calls from several processes agree on one value: the insert does nothing on conflict.
pub async fn get_or_store(db: &Database, name: &str, candidate: &str) -> Result<(String, bool), DbErr> {
    if let Some(found) = app_secret::Entity::find_by_id(name.to_owned()).one(db).await? {
        return Ok((found.value, false));
    }
    let value = candidate.to_owned();
    let row = app_secret::ActiveModel { name: Set(name.to_owned()), value: Set(value), created_at: Set(Utc::now()) };
    app_secret::Entity::insert(row).on_conflict_do_nothing().exec(db).await?;
    let stored = app_secret::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("app secret {name}")))?;
    let created = stored.value == candidate;
    Ok((stored.value, created))
}
