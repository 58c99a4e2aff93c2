//! `/admin/v1/users`: find, inspect (never the user's health entries), disable, enable, erase, change role.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::Role;
use entity::user;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use store::admin_users;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AdminUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::http::params::{decode_cursor, encode_cursor, instant_param, limit_param, record_id};
use crate::routes::me::RoleDto;
use crate::startup::AppState;

/// Registers the user-administration routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users").route(web::get().to(list_users)))
        .service(web::resource("/users/{id}").route(web::get().to(get_user)).route(web::delete().to(delete_user)))
        .service(web::resource("/users/{id}/disable").route(web::post().to(disable_user)))
        .service(web::resource("/users/{id}/enable").route(web::post().to(enable_user)))
        .service(web::resource("/users/{id}/password-reset").route(web::post().to(send_password_reset)))
        .service(web::resource("/users/{id}/role").route(web::post().to(set_role)));
}

/// An account as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub timezone: String,
    pub role: String,
    /// `active` or `disabled`.
    pub status: String,
    pub locked_until: Option<DateTime<Utc>>,
    /// When the address was confirmed; `null` until then.
    #[schema(required = true)]
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<user::Model> for AdminUserView {
    fn from(u: user::Model) -> Self {
        Self {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            timezone: u.timezone,
            role: u.role.as_str().to_owned(),
            status: u.status.as_str().to_owned(),
            locked_until: u.locked_until,
            email_verified_at: u.email_verified_at,
            created_at: u.created_at,
        }
    }
}

/// How much the user uses milkflow, without the entries themselves.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserCounts {
    /// Massage and pump sessions and symptom checks.
    pub sessions: u64,
    pub devices: u64,
    pub routines: u64,
}

/// A care-team grant the account is part of, either side (never what was read through it).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminGrantView {
    pub id: Uuid,
    /// The account that shares.
    pub owner_id: Uuid,
    /// The account that reads.
    pub member_id: Uuid,
    pub role: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<store::care::grants::Grant> for AdminGrantView {
    fn from(g: store::care::grants::Grant) -> Self {
        let grant = g.grant;
        Self {
            id: grant.id,
            owner_id: grant.owner_id,
            member_id: grant.member_id,
            role: grant.role.as_str().to_owned(),
            scopes: g.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: grant.created_at,
            expires_at: grant.expires_at,
            revoked_at: grant.revoked_at,
        }
    }
}

/// One account with its counts and care-team grants.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserDetail {
    #[serde(flatten)]
    pub user: AdminUserView,
    pub counts: UserCounts,
    /// Grants the account gave or received, oldest first.
    pub care_team: Vec<AdminGrantView>,
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserPage {
    pub items: Vec<AdminUserView>,
    pub next_cursor: Option<String>,
}

/// A role change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequest {
    pub role: RoleDto,
}

/// Accounts, newest first: `email_prefix`, `created_from`/`created_to`, `status`, `limit` (1-200), `cursor`.
#[utoipa::path(operation_id = "admin_list_users", get, path = "/admin/v1/users", tag = "admin", security(("bearer" = [])),
    params(
        ("email_prefix" = Option<String>, Query), ("created_from" = Option<DateTime<Utc>>, Query),
        ("created_to" = Option<DateTime<Utc>>, Query), ("status" = Option<String>, Query, description = "active or disabled"),
        ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query),
    ),
    responses(
        (status = 200, body = AdminUserPage),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: AdminUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut v = domain::Violations::new();
    let limit = limit_param(&params, 50, 200, &mut v);
    let from = instant_param(&params, "created_from", &mut v);
    let to = instant_param(&params, "created_to", &mut v);
    let status = params.get("status").and_then(|s| {
        v.check("status", domain::UserStatus::parse(s).ok_or_else(|| "must be active or disabled".to_owned()))
    });
    let cursor = params
        .get("cursor")
        .and_then(|c| v.check("cursor", decode_cursor(c).ok_or("is not a cursor from this list".into())));
    v.finish().map_err(ApiError::Validation)?;
    let filter = admin_users::Filter {
        email_prefix: params.get("email_prefix").map(|p| p.trim().to_lowercase()),
        created_from: from,
        created_to: to,
        status,
        after: cursor,
    };
    let (rows, more) = admin_users::page(&state.db, filter, limit).await?;
    let next_cursor = if more { rows.last().map(|u| encode_cursor(u.created_at, u.id)) } else { None };
    Ok(HttpResponse::Ok()
        .json(AdminUserPage { items: rows.into_iter().map(AdminUserView::from).collect(), next_cursor }))
}

/// One account with counts of the user's sessions, devices and routines (never the entries themselves).
#[utoipa::path(operation_id = "admin_get_user", get, path = "/admin/v1/users/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = AdminUserDetail), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_user(
    state: web::Data<AppState>,
    _admin: AdminUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let u = admin_users::find(&state.db, record_id(&path)?).await?;
    use domain::RecordKind as K;
    let live = |kinds: &'static [K]| store::records::count_live(&state.db, u.id, kinds);
    let counts = UserCounts {
        sessions: live(&[K::MassageSessions, K::PumpSessions, K::SymptomChecks]).await?,
        devices: admin_users::device_count(&state.db, u.id).await?,
        routines: live(&[K::Routines]).await?,
    };
    let care_team = store::care::grants::of_account(&state.db, u.id).await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(AdminUserDetail { user: u.into(), counts, care_team }))
}

/// Disables an account: the user's sessions end, logins are refused and the user's reminders stop.
#[utoipa::path(operation_id = "admin_disable_user", post, path = "/admin/v1/users/{id}/disable", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = AdminUserView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn disable_user(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    if id == admin.0.user.id {
        return Err(ApiError::Conflict("an admin cannot disable their own account".into()));
    }
    let u = admin_users::disable(&state.db, id, &admin.actor(&req), Utc::now()).await?;
    state.accounts.forget(id);
    Ok(HttpResponse::Ok().json(AdminUserView::from(u)))
}

/// Enables an account again; the user's routines are planned afresh.
#[utoipa::path(operation_id = "admin_enable_user", post, path = "/admin/v1/users/{id}/enable", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = AdminUserView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn enable_user(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let u = admin_users::enable(&state.db, id, &admin.actor(&req), Utc::now()).await?;
    state.accounts.forget(id);
    state.auth_limits.clear_account(id).await?;
    Ok(HttpResponse::Ok().json(AdminUserView::from(u)))
}

/// Emails the account a link to choose a new password (as `POST /v1/auth/password-reset` does; audited). Its
/// password and sessions stay as they are until the link is used.
#[utoipa::path(operation_id = "admin_send_password_reset", post, path = "/admin/v1/users/{id}/password-reset", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 202, description = "The reset email is queued"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account is disabled", body = Problem, content_type = "application/problem+json")))]
pub async fn send_password_reset(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let u = admin_users::find(&state.db, record_id(&path)?).await?;
    if u.status != domain::UserStatus::Active {
        return Err(ApiError::Conflict("the account is disabled; enable it first".into()));
    }
    let actor = admin.actor(&req);
    crate::services::recovery::request_reset(&state.db, &state.public_url, &u.email, Some(&actor), Utc::now()).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Erases an account and everything in the account (as `DELETE /v1/me` does); the last active admin cannot be erased.
#[utoipa::path(operation_id = "admin_delete_user", delete, path = "/admin/v1/users/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_user(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    admin_users::erase(&state.db, id, &admin.actor(&req), Utc::now()).await?;
    state.accounts.forget(id);
    Ok(HttpResponse::NoContent().finish())
}

/// Makes an account an admin or a user; the last active admin cannot be demoted.
#[utoipa::path(operation_id = "admin_set_role", post, path = "/admin/v1/users/{id}/role", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = RoleRequest,
    responses((status = 200, body = AdminUserView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn set_role(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<RoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let role = match body.0.role {
        RoleDto::Admin => Role::Admin,
        RoleDto::User => Role::User,
    };
    let u = admin_users::set_role(&state.db, id, role, &admin.actor(&req), Utc::now()).await?;
    state.accounts.forget(id);
    Ok(HttpResponse::Ok().json(AdminUserView::from(u)))
}
