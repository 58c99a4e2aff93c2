//! `/v1/occurrences`: her reminders with their status and per-device outcome; snooze and done.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use entity::{delivery, occurrence, record};
use scheduler::planning::state;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::routes::records::{instant_param, record_id};
use crate::startup::AppState;

/// Registers the occurrence routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/occurrences").route(web::get().to(list_occurrences)))
        .service(web::resource("/v1/occurrences/{id}/snooze").route(web::post().to(snooze)))
        .service(web::resource("/v1/occurrences/{id}/done").route(web::post().to(done)));
}

/// One device's outcome for a reminder.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub device_id: Uuid,
    /// `web`, `fcm` or `apns`.
    pub provider: String,
    /// `pending`, `retrying`, `delivered`, `failed`, `pruned` or `expired`.
    pub status: String,
    pub attempts: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A reminder.
#[derive(Debug, Serialize, ToSchema)]
pub struct OccurrenceView {
    pub id: Uuid,
    pub routine_id: Uuid,
    /// `massage`, `pump` or `massage_then_pump`.
    pub kind: String,
    /// `routine`, or `snooze` for a re-reminder she asked for.
    pub source: String,
    pub due_at: DateTime<Utc>,
    /// `planned`, `sending`, `delivered`, `failed`, `no_devices` (due, but she had no device), `missed`, `done`
    /// or `snoozed`.
    pub status: String,
    pub deliveries: Vec<DeliveryView>,
}

/// A snooze.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SnoozeRequest {
    /// 5 to 120.
    #[schema(example = 15)]
    pub minutes: i64,
}

fn status_of(o: &occurrence::Model, deliveries: &[delivery::Model]) -> String {
    if o.state != state::SENT {
        return o.state.clone();
    }
    if deliveries.is_empty() {
        "no_devices".into()
    } else if deliveries.iter().any(|d| d.status == "delivered") {
        "delivered".into()
    } else if deliveries.iter().any(|d| d.status == "pending" || d.status == "retrying") {
        "sending".into()
    } else {
        "failed".into()
    }
}

fn view(o: occurrence::Model, deliveries: Vec<delivery::Model>) -> OccurrenceView {
    OccurrenceView {
        status: status_of(&o, &deliveries),
        id: o.id,
        routine_id: o.routine_id,
        kind: o.routine_kind,
        source: o.kind,
        due_at: o.due_at,
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryView {
                device_id: d.device_id,
                provider: d.provider,
                status: d.status,
                attempts: d.attempts,
                sent_at: d.sent_at,
                last_error: d.last_error,
            })
            .collect(),
    }
}

/// Her reminders due in `[from, to)` (default: the last and the next 24 hours; at most 31 days).
#[utoipa::path(get, path = "/v1/occurrences", tag = "reminders", security(("bearer" = [])),
    params(("from" = Option<DateTime<Utc>>, Query), ("to" = Option<DateTime<Utc>>, Query)),
    responses((status = 200, body = Vec<OccurrenceView>), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list_occurrences(
    state: web::Data<AppState>,
    auth: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let mut v = domain::Violations::new();
    let from = instant_param(&params, "from", &mut v).unwrap_or(now - Duration::hours(24));
    let to = instant_param(&params, "to", &mut v).unwrap_or(now + Duration::hours(24));
    if to < from {
        v.push("to", "must not be before from");
    } else if to - from > Duration::days(31) {
        v.push("to", "the range may cover at most 31 days");
    }
    v.finish().map_err(ApiError::Validation)?;
    let rows = occurrence::Entity::find()
        .filter(occurrence::Column::UserId.eq(auth.user.id))
        .filter(occurrence::Column::DueAt.gte(from))
        .filter(occurrence::Column::DueAt.lt(to))
        .filter(occurrence::Column::State.ne(state::CANCELLED))
        .order_by_asc(occurrence::Column::DueAt)
        .all(&state.db)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
    let mut by_occurrence: HashMap<Uuid, Vec<delivery::Model>> = HashMap::new();
    for d in delivery::Entity::find().filter(delivery::Column::OccurrenceId.is_in(ids)).all(&state.db).await? {
        by_occurrence.entry(d.occurrence_id).or_default().push(d);
    }
    let views: Vec<OccurrenceView> = rows
        .into_iter()
        .map(|o| {
            let d = by_occurrence.remove(&o.id).unwrap_or_default();
            view(o, d)
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

async fn find_hers(db: &impl sea_orm::ConnectionTrait, user: Uuid, id: Uuid) -> Result<occurrence::Model, ApiError> {
    occurrence::Entity::find_by_id(id)
        .filter(occurrence::Column::UserId.eq(user))
        .filter(occurrence::Column::State.ne(state::CANCELLED))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Closes an occurrence; if it was the routine's planned one, the routine's next one is planned.
async fn close(
    txn: &impl sea_orm::ConnectionTrait,
    o: &occurrence::Model,
    new_state: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    occurrence::Entity::update_many()
        .col_expr(occurrence::Column::State, Expr::value(new_state))
        .col_expr(occurrence::Column::UpdatedAt, Expr::value(now))
        .filter(occurrence::Column::Id.eq(o.id))
        .exec(txn)
        .await?;
    if o.state == state::PLANNED
        && o.kind == "routine"
        && let Some(routine) = record::Entity::find_by_id(o.routine_id).one(txn).await?
    {
        scheduler::planning::replan(txn, &routine, now.max(o.due_at), now).await?;
    }
    Ok(())
}

/// Reminds her again in `minutes` (5-120) with a one-off reminder; this one becomes `snoozed`.
#[utoipa::path(post, path = "/v1/occurrences/{id}/snooze", tag = "reminders", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SnoozeRequest,
    responses(
        (status = 201, body = OccurrenceView, description = "The new re-reminder"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn snooze(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    body: JsonBody<SnoozeRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    if !(5..=120).contains(&body.0.minutes) {
        return Err(ApiError::field("minutes", "must be between 5 and 120"));
    }
    let now = Utc::now();
    let txn = platform::db::begin_write(&state.db).await?;
    let o = find_hers(&txn, auth.user.id, id).await?;
    if o.state == state::DONE {
        return Err(ApiError::Conflict("this reminder is already done".into()));
    }
    close(&txn, &o, state::SNOOZED, now).await?;
    let again = occurrence::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(o.user_id),
        routine_id: Set(o.routine_id),
        kind: Set("snooze".into()),
        routine_kind: Set(o.routine_kind.clone()),
        due_at: Set(now + Duration::minutes(body.0.minutes)),
        state: Set(state::PLANNED.into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(view(again, vec![])))
}

/// Marks a reminder done (the app may then log the session).
#[utoipa::path(post, path = "/v1/occurrences/{id}/done", tag = "reminders", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = OccurrenceView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn done(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let now = Utc::now();
    let txn = platform::db::begin_write(&state.db).await?;
    let o = find_hers(&txn, auth.user.id, id).await?;
    if o.state != state::DONE {
        close(&txn, &o, state::DONE, now).await?;
    }
    txn.commit().await?;
    let o = find_hers(&state.db, auth.user.id, id).await?;
    let deliveries = delivery::Entity::find().filter(delivery::Column::OccurrenceId.eq(o.id)).all(&state.db).await?;
    Ok(HttpResponse::Ok().json(view(o, deliveries)))
}
