//! `GET /v1/sync`: every change to the user's records since a cursor, across all collections, in order.

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::http::params::limit_param;
use crate::http::views::{unit_of, view};
use crate::startup::AppState;
use store::records;

/// One change: the record's current state, or its tombstone.
#[derive(Debug, Serialize, ToSchema)]
pub struct Change {
    /// `massage_sessions`, `pump_sessions`, `symptom_checks` or `routines`.
    #[schema(example = "pump_sessions")]
    pub collection: String,
    pub id: Uuid,
    /// `upsert` or `delete`.
    #[schema(example = "upsert")]
    pub op: &'static str,
    pub version: i64,
    /// The record as `GET` returns it; absent for deletions.
    #[schema(value_type = Option<Object>)]
    pub record: Option<Value>,
}

/// A page of changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncPage {
    pub changes: Vec<Change>,
    /// Pass as `since` next time; unchanged when nothing changed.
    pub next_cursor: String,
    /// Whether more changes wait (ask again at once with `next_cursor`).
    pub has_more: bool,
}

fn encode(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("s:{seq}"))
}

fn decode(raw: &str) -> Option<i64> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    text.strip_prefix("s:")?.parse().ok().filter(|n: &i64| *n >= 0)
}

/// Changes after `since` (absent: from the beginning), oldest first, `limit` (1-500, default 100) at a time.
///
/// The cursor is the user's change sequence, not a clock: changes committed by two devices at once are never skipped.
/// A record changed several times since the cursor appears once, at its latest change.
#[utoipa::path(get, path = "/v1/sync", tag = "sync", security(("bearer" = [])),
    params(
        ("since" = Option<String>, Query, description = "The `next_cursor` of the previous sync"),
        ("limit" = Option<u32>, Query, description = "1-500, default 100"),
    ),
    responses(
        (status = 200, body = SyncPage),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sync(
    state: web::Data<AppState>,
    auth: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut v = domain::Violations::new();
    let limit = limit_param(&params, 100, 500, &mut v);
    let since = match params.get("since") {
        None => Some(0),
        Some(raw) => v.check("since", decode(raw).ok_or("is not a cursor from /v1/sync".into())),
    };
    v.finish().map_err(ApiError::Validation)?;
    let since = since.unwrap_or(0);
    let (rows, has_more) = records::changes_since(&state.db, auth.user.id, since, limit).await?;
    let unit = unit_of(&auth);
    let next = rows.last().map_or(since, |r| r.change_seq);
    let changes = rows
        .iter()
        .map(|r| Change {
            collection: r.kind.name().to_owned(),
            id: r.id,
            op: if r.deleted_at.is_some() { "delete" } else { "upsert" },
            version: r.version,
            record: r.deleted_at.is_none().then(|| view(r, unit)),
        })
        .collect();
    Ok(HttpResponse::Ok().json(SyncPage { changes, next_cursor: encode(next), has_more }))
}

/// Registers `/v1/sync`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/sync").route(web::get().to(sync)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_cursor_round_trips() {
        assert_eq!(decode(&encode(42)), Some(42));
        assert_eq!(decode("garbage"), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("s:-1")), None);
    }
}
