//! The audit log: every admin action, written in the same transaction as the action itself.

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use entity::audit_entry;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ApiError;

/// Who acted and from where.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Uuid,
    pub ip: Option<String>,
}

impl Actor {
    /// The admin behind a request, with the client address (through trusted proxies).
    pub fn of(id: Uuid, req: &HttpRequest) -> Self {
        let trusted =
            req.app_data::<actix_web::web::Data<crate::startup::AppState>>().map(|s| s.trusted_proxies.clone());
        Self { id, ip: Some(crate::ratelimit::client_address(req, trusted.as_deref().unwrap_or_default()).to_string()) }
    }
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
) -> Result<(), ApiError> {
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
