//! The audit log: every admin action (and a device's move between accounts), written in the same transaction
//! as the action itself.

use chrono::{DateTime, Utc};
use entity::audit_entry;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;

/// Who acted and from where.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Uuid,
    pub ip: Option<String>,
}

/// Appends one entry; call it inside the action's transaction.
pub async fn record(
    db: &impl ConnectionTrait,
    actor: &Actor,
    action: &str,
    target_type: &str,
    target_id: Option<String>,
    detail: Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    audit_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        actor_id: Set(actor.id),
        action: Set(action.to_owned()),
        target_type: Set(target_type.to_owned()),
        target_id: Set(target_id),
        detail: Set(detail.to_string()),
        ip: Set(actor.ip.clone()),
        at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}
