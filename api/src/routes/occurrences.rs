//! `/v1/occurrences`: the user's reminders with their status and per-device outcome; snooze and done.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use domain::reminders::{DeliveryStatus, OccurrenceState};
use entity::{delivery, occurrence};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use store::reminders;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::http::params::{instant_param, record_id};
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
    #[schema(required = true)]
    pub sent_at: Option<DateTime<Utc>>,
    /// Why the last attempt did not deliver, from a closed set (the push service's own answer is only logged).
    #[schema(required = true)]
    pub last_error: Option<domain::FailureReason>,
}

/// A reminder.
#[derive(Debug, Serialize, ToSchema)]
pub struct OccurrenceView {
    pub id: Uuid,
    /// What it came from: the routine, the broadcast, or (a care alert) the client who may need attention.
    pub routine_id: Uuid,
    /// `massage`, `pump`, `massage_then_pump`, `broadcast` or `care_alert`.
    pub kind: String,
    /// `routine`, `broadcast`, `care_alert`, or `snooze` for a re-reminder the user asked for.
    pub source: String,
    pub due_at: DateTime<Utc>,
    /// `planned`, `sending`, `delivered`, `failed`, `no_devices` (due, but the user had no device), `missed`, `done`
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
    // A staged reminder is made ahead and not yet sent: to the app it is planned until a send begins.
    let staged = o.state == OccurrenceState::Staged;
    if staged && deliveries.iter().all(|d| d.status == DeliveryStatus::Staged) {
        return OccurrenceState::Planned.as_str().into();
    }
    if o.state != OccurrenceState::Sent && !staged {
        return o.state.as_str().into();
    }
    if deliveries.is_empty() {
        "no_devices".into()
    } else if deliveries.iter().any(|d| d.status == DeliveryStatus::Delivered) {
        "delivered".into()
    } else if deliveries.iter().any(|d| DeliveryStatus::WAITING.contains(&d.status)) {
        "sending".into()
    } else {
        "failed".into()
    }
}

fn view(o: occurrence::Model, deliveries: Vec<delivery::Model>) -> OccurrenceView {
    OccurrenceView {
        status: status_of(&o, &deliveries),
        id: o.id,
        routine_id: o.routine_id.or(o.broadcast_id).or(o.client_id).unwrap_or_default(),
        kind: o.routine_kind.as_str().into(),
        source: o.kind.as_str().into(),
        due_at: o.due_at,
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryView {
                device_id: d.device_id,
                provider: d.provider.as_str().into(),
                // Made ahead and waiting for its time: pending, as far as the app can tell.
                status: match d.status {
                    DeliveryStatus::Staged => DeliveryStatus::Pending.as_str().into(),
                    other => other.as_str().into(),
                },
                attempts: d.attempts,
                sent_at: d.sent_at,
                // Rows from before reasons were codes held the push service's text: only its status is shown.
                last_error: d.last_error.as_deref().map(|stored| {
                    domain::FailureReason::parse(stored).unwrap_or_else(|| {
                        domain::FailureReason::from_status(d.last_status.and_then(|s| u16::try_from(s).ok()))
                    })
                }),
            })
            .collect(),
    }
}

/// The user's reminders due in `[from, to)` (default: the last and the next 24 hours; at most 31 days).
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
    let listed = reminders::list(&state.db, auth.user.id, from, to).await?;
    let views: Vec<OccurrenceView> = listed.into_iter().map(|(o, deliveries)| view(o, deliveries)).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Reminds the user again in `minutes` (5-120) with a one-off re-reminder; this one becomes `snoozed`. A reminder has
/// at most one pending re-reminder: snoozing it (or the re-reminder) again moves that one. At most
/// 12 re-reminders an hour per account.
#[utoipa::path(post, path = "/v1/occurrences/{id}/snooze", tag = "reminders", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SnoozeRequest,
    responses(
        (status = 201, body = OccurrenceView, description = "The new re-reminder"),
        (status = 200, body = OccurrenceView, description = "The pending re-reminder, moved"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "Too many snoozes this hour (see Retry-After)"),
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
    let snoozed = reminders::snooze(&state.db, auth.user.id, id, body.0.minutes, Utc::now()).await?;
    let mut response = if snoozed.created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.json(view(snoozed.occurrence, vec![])))
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
    let (o, deliveries) = reminders::mark_done(&state.db, auth.user.id, id, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(view(o, deliveries)))
}
