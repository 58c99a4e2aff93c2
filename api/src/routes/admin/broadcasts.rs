//! `/admin/v1/broadcasts`: a message to every matching device, through the reminders' delivery path, each user
//! reached at the end of the user's quiet hours if it would fall inside them.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::TimeZoneName;
use entity::broadcast;
use serde::{Deserialize, Serialize};
use store::broadcasts::{self, Counts, NewBroadcast};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AdminUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::http::params::record_id;
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

fn view((b, counts): (broadcast::Model, Counts)) -> BroadcastView {
    let (delivered, failed) = (counts.delivered, counts.failed);
    let targeted = i64::from(b.targeted);
    BroadcastView {
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
    }
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
    let new = NewBroadcast {
        title: input.title.trim().to_owned(),
        body: input.body.trim().to_owned(),
        audience: serde_json::to_value(&input.audience).map_err(anyhow::Error::from)?,
        timezones: input.audience.timezones.clone(),
        locales,
        send_at,
    };
    let view = view(broadcasts::create(&state.db, new, &admin.actor(&req), now).await?);
    tracing::info!(broadcast.id = %view.id, targeted = view.targeted, "broadcast planned");
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
    Ok(HttpResponse::Ok().json(view(broadcasts::find(&state.db, record_id(&path)?).await?)))
}

/// The latest broadcasts (at most 100).
#[utoipa::path(get, path = "/admin/v1/broadcasts", operation_id = "admin_list_broadcasts", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<BroadcastView>)))]
pub async fn list_broadcasts(state: web::Data<AppState>, _admin: AdminUser) -> Result<HttpResponse, ApiError> {
    let views: Vec<BroadcastView> = broadcasts::latest(&state.db, 100).await?.into_iter().map(view).collect();
    Ok(HttpResponse::Ok().json(views))
}
