//! The audit log: every admin action (and a device's move between accounts), written in the same transaction
//! as the action itself.

use chrono::{DateTime, Utc};
use entity::audit_entry;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
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

/// Which entries a listing shows.
#[derive(Default)]
pub struct Filter {
    pub actor: Option<Uuid>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Up to `limit` entries matching `filter`, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: Filter,
    limit: u64,
) -> Result<Vec<audit_entry::Model>, StoreError> {
    let mut q = audit_entry::Entity::find();
    if let Some(actor) = filter.actor {
        q = q.filter(audit_entry::Column::ActorId.eq(actor));
    }
    if let Some(action) = filter.action {
        q = q.filter(audit_entry::Column::Action.eq(action));
    }
    if let Some(target) = filter.target_id {
        q = q.filter(audit_entry::Column::TargetId.eq(target));
    }
    if let Some(from) = filter.from {
        q = q.filter(audit_entry::Column::At.gte(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(audit_entry::Column::At.lt(to));
    }
    Ok(q.order_by_desc(audit_entry::Column::At).order_by_desc(audit_entry::Column::Id).limit(limit).all(db).await?)
}
