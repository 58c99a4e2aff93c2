//! `/v1/devices` (the user's push targets) and `/v1/push/vapid-public-key`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::reminders::Platform;
use entity::device;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::http::params::record_id;
use crate::services::devices::{self, Registration};
use crate::startup::AppState;

/// Registers the device routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/devices").route(web::get().to(list_devices)).route(web::post().to(register_device)))
        .service(web::resource("/v1/devices/{id}").route(web::delete().to(delete_device)))
        .service(web::resource("/v1/push/vapid-public-key").route(web::get().to(vapid_public_key)));
}

/// A browser PushSubscription's keys.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key, uncompressed, base64url.
    pub p256dh: Option<String>,
    /// The 16-byte auth secret, base64url.
    pub auth: Option<String>,
}

/// A push target: a browser subscription (`web`: endpoint and keys) or a token (`fcm`, `apns`).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"platform": "web", "endpoint": "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
    "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM", "auth": "tBHItJI5svbpez7KI4CCXg"},
    "name": "Ana's phone", "locale": "en"}))]
pub struct DeviceRequest {
    /// `web`, `fcm` or `apns`.
    pub platform: String,
    pub endpoint: Option<String>,
    pub keys: Option<SubscriptionKeys>,
    pub token: Option<String>,
    pub name: Option<String>,
    /// The language reminders are written in; default `en`.
    pub locale: Option<String>,
}

/// A device as the user sees it (keys and full tokens are never shown back).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: Uuid,
    pub platform: String,
    #[schema(required = true)]
    pub name: Option<String>,
    pub locale: String,
    /// The push service's host (web) or the token's last characters.
    pub target_hint: String,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub last_success_at: Option<DateTime<Utc>>,
}

impl From<device::Model> for DeviceView {
    fn from(d: device::Model) -> Self {
        let target_hint = if d.platform == Platform::Web {
            reqwest::Url::parse(&d.target).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
        } else {
            let tail: String = d.target.chars().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
            format!("…{tail}")
        };
        Self {
            id: d.id,
            platform: d.platform.as_str().into(),
            name: d.name,
            locale: d.locale,
            target_hint,
            created_at: d.created_at,
            last_success_at: d.last_success_at,
        }
    }
}

/// The VAPID public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct VapidPublicKey {
    /// Pass as `applicationServerKey` to `pushManager.subscribe`: an uncompressed P-256 point, base64url.
    pub public_key: String,
}

/// Registers a push target; registering one of the user's devices again updates it (200) instead of adding one. A target
/// another account holds moves to this one and is answered 201, as a new one is.
#[utoipa::path(post, path = "/v1/devices", tag = "devices", security(("bearer" = [])), request_body = DeviceRequest,
    responses(
        (status = 201, body = DeviceView, description = "Registered (new to the user's account)"),
        (status = 200, body = DeviceView, description = "Already one of the user's devices: updated"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register_device(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: JsonBody<DeviceRequest>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody(req) = body;
    let (p256dh, key_auth) = req.keys.map(|k| (k.p256dh, k.auth)).unwrap_or_default();
    let input = Registration {
        platform: req.platform,
        endpoint: req.endpoint,
        p256dh,
        auth: key_auth,
        token: req.token,
        name: req.name,
        locale: req.locale,
    };
    let (row, created) =
        devices::register(&state.db, auth.user.id, input, state.push_allow_insecure, Utc::now()).await?;
    let mut response = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.json(DeviceView::from(row)))
}

/// The user's devices.
#[utoipa::path(get, path = "/v1/devices", tag = "devices", security(("bearer" = [])), responses((status = 200, body = Vec<DeviceView>)))]
pub async fn list_devices(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let rows = store::devices::list(&state.db, auth.user.id).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(DeviceView::from).collect::<Vec<_>>()))
}

/// Removes a device; it receives nothing more.
#[utoipa::path(delete, path = "/v1/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_device(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    store::devices::remove(&state.db, auth.user.id, record_id(&path)?, chrono::Utc::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The key web clients subscribe with.
#[utoipa::path(get, path = "/v1/push/vapid-public-key", tag = "devices", responses((status = 200, body = VapidPublicKey)))]
pub async fn vapid_public_key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(VapidPublicKey { public_key: state.vapid_public_key.clone() })
}
