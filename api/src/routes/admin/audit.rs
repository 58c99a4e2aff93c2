//! `GET /admin/v1/audit-log`: read-only; nothing in the API edits it.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AdminUser;
use crate::error::{ApiError, Problem};
use crate::http::params::{instant_param, limit_param};
use crate::startup::AppState;

/// Registers the audit-log route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/audit-log").route(web::get().to(list_audit_log)));
}

/// One admin action.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: Uuid,
    pub actor_id: Uuid,
    #[schema(example = "user.disable")]
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The client address the action came from.
    pub ip: Option<String>,
    pub at: DateTime<Utc>,
}

/// Admin actions, newest first: filters `actor`, `action`, `target_id`, `from`, `to`; `limit` 1-500 (default 100).
#[utoipa::path(operation_id = "admin_list_audit_log", get, path = "/admin/v1/audit-log", tag = "admin", security(("bearer" = [])),
    params(
        ("actor" = Option<Uuid>, Query), ("action" = Option<String>, Query), ("target_id" = Option<String>, Query),
        ("from" = Option<DateTime<Utc>>, Query), ("to" = Option<DateTime<Utc>>, Query), ("limit" = Option<u32>, Query),
    ),
    responses((status = 200, body = Vec<AuditEntryView>), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_audit_log(
    state: web::Data<AppState>,
    _admin: AdminUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut v = domain::Violations::new();
    let limit = limit_param(&params, 100, 500, &mut v);
    let (from, to) = (instant_param(&params, "from", &mut v), instant_param(&params, "to", &mut v));
    let actor =
        params.get("actor").and_then(|a| v.check("actor", Uuid::parse_str(a).map_err(|_| "must be a UUID".to_owned())));
    v.finish().map_err(ApiError::Validation)?;
    let filter = store::audit::Filter {
        actor,
        action: params.get("action").cloned(),
        target_id: params.get("target_id").cloned(),
        from,
        to,
    };
    let rows = store::audit::list(&state.db, filter, limit).await?;
    let entries: Vec<AuditEntryView> = rows
        .into_iter()
        .map(|e| AuditEntryView {
            id: e.id,
            actor_id: e.actor_id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            detail: serde_json::from_str(&e.detail).unwrap_or_default(),
            ip: e.ip,
            at: e.at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(entries))
}
