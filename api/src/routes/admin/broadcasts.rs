//! `/admin/v1/broadcasts`: a message to every matching device, through the reminders' delivery path, each user
//! reached at the end of the user's quiet hours if it would fall inside them.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::TimeZoneName;
use domain::recurrence::defer_past_quiet;
use domain::reminders::{DeliveryStatus, OccurrenceKind, OccurrenceState, ReminderTopic};
use entity::{broadcast, delivery, device, occurrence, user};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AdminUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::http::params::record_id;
use crate::services::audit;
use crate::startup::AppState;

/// Registers the broadcast routes (inside the admin scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/broadcasts").route(web::post().to(create_broadcast)).route(web::get().to(list_broadcasts)),
    )
    .service(web::resource("/broadcasts/{id}").route(web::get().to(get_broadcast)));
}

/// Who receives a broadcast: exactly one of `all`, `timezones` or `locales` (the string `"all"` is accepted too).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "AudienceInput")]
pub struct Audience {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezones: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locales: Option<Vec<String>>,
}

/// The audience as written: `{"all": true}`, `{"timezones": [...]}`, `{"locales": [...]}` or just `"all"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum AudienceInput {
    Word(String),
    Spec {
        #[serde(default)]
        all: Option<bool>,
        #[serde(default)]
        timezones: Option<Vec<String>>,
        #[serde(default)]
        locales: Option<Vec<String>>,
    },
}

impl TryFrom<AudienceInput> for Audience {
    type Error = String;

    fn try_from(input: AudienceInput) -> Result<Self, String> {
        match input {
            AudienceInput::Word(w) if w == "all" => Ok(Audience { all: Some(true), ..Default::default() }),
            AudienceInput::Word(_) => Err("must be \"all\" or an object with all, timezones or locales".into()),
            AudienceInput::Spec { all, timezones, locales } => Ok(Audience { all, timezones, locales }),
        }
    }
}

/// A new broadcast.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"title": "New guide", "body": "Light strokes for a tender spot: a new gentle guide is in the app.",
    "audience": {"locales": ["en"]}}))]
pub struct BroadcastRequest {
    pub title: String,
    pub body: String,
    pub audience: Audience,
    /// When to send (default now); each user gets it at the end of their quiet hours if it falls inside them.
    pub send_at: Option<DateTime<Utc>>,
}

/// A broadcast and how far it got.
#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastView {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub audience: Audience,
    pub send_at: DateTime<Utc>,
    /// Devices that matched the audience.
    pub targeted: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Not yet delivered nor failed (waiting for its time, quiet hours or a retry).
    pub pending: i64,
    pub created_at: DateTime<Utc>,
}

async fn view(db: &impl sea_orm::ConnectionTrait, b: broadcast::Model) -> Result<BroadcastView, ApiError> {
    let occurrence_ids: Vec<Uuid> = occurrence::Entity::find()
        .select_only()
        .column(occurrence::Column::Id)
        .filter(occurrence::Column::BroadcastId.eq(b.id))
        .filter(occurrence::Column::Kind.eq(OccurrenceKind::Broadcast))
        .into_tuple()
        .all(db)
        .await?;
    let statuses: Vec<DeliveryStatus> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Status)
        .filter(delivery::Column::OccurrenceId.is_in(occurrence_ids))
        .into_tuple()
        .all(db)
        .await?;
    let delivered = statuses.iter().filter(|s| **s == DeliveryStatus::Delivered).count() as i64;
    let failed = statuses.iter().filter(|s| !DeliveryStatus::WAITING.contains(s)).count() as i64 - delivered;
    let targeted = i64::from(b.targeted);
    Ok(BroadcastView {
        id: b.id,
        title: b.title,
        body: b.body,
        audience: serde_json::from_str(&b.audience).unwrap_or_default(),
        send_at: b.send_at,
        targeted,
        delivered,
        failed,
        pending: (targeted - delivered - failed).max(0),
        created_at: b.created_at,
    })
}

fn validate(req: &BroadcastRequest) -> Result<(), ApiError> {
    let mut v = domain::Violations::new();
    if req.title.trim().is_empty() || req.title.chars().count() > 120 {
        v.push("title", "must be 1 to 120 characters");
    }
    if req.body.trim().is_empty() || req.body.chars().count() > 1000 {
        v.push("body", "must be 1 to 1,000 characters");
    }
    let a = &req.audience;
    let kinds = [a.all == Some(true), a.timezones.is_some(), a.locales.is_some()].iter().filter(|k| **k).count();
    if kinds != 1 {
        v.push("audience", "must be exactly one of: all, timezones, locales");
    }
    for (i, tz) in a.timezones.iter().flatten().enumerate() {
        if TimeZoneName::parse(tz).is_err() {
            v.push(&format!("audience.timezones[{i}]"), "must be an IANA time zone");
        }
    }
    for (i, l) in a.locales.iter().flatten().enumerate() {
        if l.is_empty() || l.len() > 16 || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            v.push(&format!("audience.locales[{i}]"), "must be a language tag such as en or de-AT");
        }
    }
    if a.timezones.as_ref().is_some_and(Vec::is_empty) || a.locales.as_ref().is_some_and(Vec::is_empty) {
        v.push("audience", "must name at least one time zone or locale");
    }
    v.finish().map_err(ApiError::Validation)
}

/// Sends a message to every device in the audience, respecting each user's quiet hours.
#[utoipa::path(post, path = "/admin/v1/broadcasts", operation_id = "admin_create_broadcast", tag = "admin", security(("bearer" = [])),
    request_body = BroadcastRequest,
    responses((status = 201, body = BroadcastView), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_broadcast(
    state: web::Data<AppState>,
    admin: AdminUser,
    req: HttpRequest,
    body: JsonBody<BroadcastRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    validate(&input)?;
    let now = Utc::now();
    let send_at = input.send_at.unwrap_or(now).max(now);
    let locales: Option<Vec<String>> =
        input.audience.locales.as_ref().map(|l| l.iter().map(|x| x.to_lowercase()).collect());
    let txn = platform::db::begin_write(&state.db).await?;
    let mut users = user::Entity::find().filter(user::Column::Status.eq(domain::UserStatus::Active));
    if let Some(zones) = &input.audience.timezones {
        users = users.filter(user::Column::Timezone.is_in(zones.clone()));
    }
    let users: HashMap<Uuid, user::Model> = users.all(&txn).await?.into_iter().map(|u| (u.id, u)).collect();
    let mut per_user: HashMap<Uuid, i32> = HashMap::new();
    for d in device::Entity::find()
        .filter(device::Column::UserId.is_in(users.keys().copied().collect::<Vec<_>>()))
        .all(&txn)
        .await?
    {
        if locales.as_ref().is_none_or(|l| domain::delivery::locale_matches(&d.locale, l)) {
            *per_user.entry(d.user_id).or_default() += 1;
        }
    }
    let id = Uuid::now_v7();
    let saved = broadcast::ActiveModel {
        id: Set(id),
        title: Set(input.title.trim().to_owned()),
        body: Set(input.body.trim().to_owned()),
        audience: Set(serde_json::to_string(&input.audience).map_err(anyhow::Error::from)?),
        send_at: Set(send_at),
        targeted: Set(per_user.values().sum()),
        created_by: Set(admin.0.user.id),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let rows: Vec<occurrence::ActiveModel> = per_user
        .keys()
        .filter_map(|uid| users.get(uid))
        .map(|u| {
            let tz = TimeZoneName::parse(&u.timezone).unwrap_or_default();
            occurrence::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(u.id),
                routine_id: Set(None),
                broadcast_id: Set(Some(id)),
                kind: Set(OccurrenceKind::Broadcast),
                routine_kind: Set(ReminderTopic::Broadcast),
                due_at: Set(defer_past_quiet(tz.tz(), store::planning::quiet_hours(u), send_at)),
                state: Set(OccurrenceState::Planned),
                created_at: Set(now),
                updated_at: Set(now),
                snoozed_from: Set(None),
            }
        })
        .collect();
    for chunk in rows.chunks(500) {
        occurrence::Entity::insert_many(chunk.to_vec()).exec(&txn).await?;
    }
    let detail = json!({"targeted": saved.targeted, "audience": input.audience, "send_at": send_at});
    audit::record(&txn, &admin.actor(&req), "broadcast.create", "broadcast", Some(id.to_string()), detail, now).await?;
    let view = view(&txn, saved).await?;
    txn.commit().await?;
    tracing::info!(broadcast.id = %id, targeted = view.targeted, "broadcast planned");
    Ok(HttpResponse::Created().json(view))
}

/// A broadcast with its targeted, delivered, failed and pending counts.
#[utoipa::path(get, path = "/admin/v1/broadcasts/{id}", operation_id = "admin_get_broadcast", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = BroadcastView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_broadcast(
    state: web::Data<AppState>,
    _admin: AdminUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let b = broadcast::Entity::find_by_id(record_id(&path)?).one(&state.db).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(view(&state.db, b).await?))
}

/// The latest broadcasts (at most 100).
#[utoipa::path(get, path = "/admin/v1/broadcasts", operation_id = "admin_list_broadcasts", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<BroadcastView>)))]
pub async fn list_broadcasts(state: web::Data<AppState>, _admin: AdminUser) -> Result<HttpResponse, ApiError> {
    let rows = broadcast::Entity::find().order_by_desc(broadcast::Column::CreatedAt).limit(100).all(&state.db).await?;
    let mut views = Vec::with_capacity(rows.len());
    for b in rows {
        views.push(view(&state.db, b).await?);
    }
    Ok(HttpResponse::Ok().json(views))
}
