//! `/v1/me`: the user's own account.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use entity::user;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::services::accounts;
use crate::startup::AppState;

/// Registers the `/v1/me` routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/me")
            .route(web::get().to(get_me))
            .route(web::patch().to(patch_me))
            .route(web::delete().to(delete_me)),
    );
}

/// Local hours in which no reminder fires; may wrap midnight.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuietHoursDto {
    #[schema(example = "22:00")]
    pub start: String,
    #[schema(example = "06:00")]
    pub end: String,
}

/// The unit volumes are shown in; they are stored in ml.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VolumeUnitDto {
    Ml,
    Oz,
}

/// What an account may do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleDto {
    User,
    Admin,
}

/// An account as the user sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    #[schema(example = "mother@example.org")]
    pub email: String,
    #[schema(required = true)]
    pub display_name: Option<String>,
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
    pub volume_unit: VolumeUnitDto,
    #[schema(required = true)]
    pub quiet_hours: Option<QuietHoursDto>,
    pub role: RoleDto,
    /// When the address was confirmed by its email's link or code; `null` until then.
    #[schema(required = true)]
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<user::Model> for UserView {
    fn from(u: user::Model) -> Self {
        let quiet_hours = match (u.quiet_hours_start, u.quiet_hours_end) {
            (Some(start), Some(end)) => Some(QuietHoursDto { start, end }),
            _ => None,
        };
        Self {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            timezone: u.timezone,
            volume_unit: if u.volume_unit == "oz" { VolumeUnitDto::Oz } else { VolumeUnitDto::Ml },
            quiet_hours,
            role: if u.role == domain::Role::Admin { RoleDto::Admin } else { RoleDto::User },
            email_verified_at: u.email_verified_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A partial profile update: absent fields stay, `null` clears `display_name` or `quiet_hours`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PatchMeRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "Ana")]
    pub display_name: Option<Option<String>>,
    #[schema(example = "America/New_York")]
    pub timezone: Option<String>,
    pub volume_unit: Option<VolumeUnitDto>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<QuietHoursDto>)]
    pub quiet_hours: Option<Option<QuietHoursDto>>,
}

/// Distinguishes a field sent as `null` (`Some(None)`) from an absent one (`None`).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The user's account.
#[utoipa::path(get, path = "/v1/me", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, body = UserView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_me(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(UserView::from(auth.fresh(&state.db).await?)))
}

/// Changes the user's display name, time zone, volume unit or quiet hours.
#[utoipa::path(patch, path = "/v1/me", tag = "me", security(("bearer" = [])), request_body = PatchMeRequest,
    responses(
        (status = 200, body = UserView),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_me(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: JsonBody<PatchMeRequest>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody(req) = body;
    let change = accounts::ProfileChange {
        display_name: req.display_name,
        timezone: req.timezone,
        volume_unit: req.volume_unit.map(|u| match u {
            VolumeUnitDto::Ml => "ml".to_owned(),
            VolumeUnitDto::Oz => "oz".to_owned(),
        }),
        quiet_hours: req.quiet_hours.map(|q| q.map(|q| (q.start, q.end))),
    };
    let updated = accounts::update_profile(&state.db, auth.fresh(&state.db).await?, change, Utc::now()).await?;
    state.accounts.forget(updated.id);
    Ok(HttpResponse::Ok().json(UserView::from(updated)))
}

/// Erases the account and everything in it; its tokens stop working.
#[utoipa::path(delete, path = "/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 204, description = "Erased"),
        (status = 409, description = "The last active admin cannot be erased", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete_me(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    accounts::erase(&state.db, auth.user.id).await?;
    state.accounts.forget(auth.user.id);
    Ok(HttpResponse::NoContent().finish())
}
