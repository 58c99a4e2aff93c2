//! `/admin/v1/users`: find, inspect (never the user's health entries), disable, enable, erase, change role.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::Role;
use domain::reminders::OccurrenceState;
use entity::{device, occurrence, refresh_token, user};
use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AdminUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::http::params::{decode_cursor, encode_cursor, instant_param, limit_param, record_id};
use crate::routes::me::RoleDto;
use crate::services::audit;
use crate::startup::AppState;

/// Registers the user-administration routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users").route(web::get().to(list_users)))
        .service(web::resource("/users/{id}").route(web::get().to(get_user)).route(web::delete().to(delete_user)))
        .service(web::resource("/users/{id}/disable").route(web::post().to(disable_user)))
        .service(web::resource("/users/{id}/enable").route(web::post().to(enable_user)))
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
    pub created_at: DateTime<Utc>,
}

impl From<user::Model> for AdminUserView {
    fn from(u: user::Model) -> Self {
        Self {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            timezone: u.timezone,
            role: sea_orm::ActiveEnum::to_value(&u.role),
            status: sea_orm::ActiveEnum::to_value(&u.status),
            locked_until: u.locked_until,
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

/// One account with its counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserDetail {
    #[serde(flatten)]
    pub user: AdminUserView,
    pub counts: UserCounts,
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

fn like_prefix(raw: &str) -> String {
    let escaped: String =
        raw.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    format!("{escaped}%")
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
    let mut q = user::Entity::find();
    if let Some(prefix) = params.get("email_prefix") {
        q = q.filter(user::Column::Email.like(LikeExpr::new(like_prefix(&prefix.trim().to_lowercase())).escape('\\')));
    }
    if let Some(from) = from {
        q = q.filter(user::Column::CreatedAt.gte(from));
    }
    if let Some(to) = to {
        q = q.filter(user::Column::CreatedAt.lt(to));
    }
    if let Some(status) = status {
        q = q.filter(user::Column::Status.eq(status));
    }
    if let Some((at, id)) = cursor {
        q = q.filter(
            Condition::any()
                .add(user::Column::CreatedAt.lt(at))
                .add(Condition::all().add(user::Column::CreatedAt.eq(at)).add(user::Column::Id.lt(id))),
        );
    }
    let mut rows = q
        .order_by_desc(user::Column::CreatedAt)
        .order_by_desc(user::Column::Id)
        .limit(limit + 1)
        .all(&state.db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more { rows.last().map(|u| encode_cursor(u.created_at, u.id)) } else { None };
    Ok(HttpResponse::Ok()
        .json(AdminUserPage { items: rows.into_iter().map(AdminUserView::from).collect(), next_cursor }))
}

async fn find(db: &impl sea_orm::ConnectionTrait, id: Uuid) -> Result<user::Model, ApiError> {
    user::Entity::find_by_id(id).one(db).await?.ok_or(ApiError::NotFound)
}

/// One account with counts of the user's sessions, devices and routines (never the entries themselves).
#[utoipa::path(operation_id = "admin_get_user", get, path = "/admin/v1/users/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = AdminUserDetail), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_user(
    state: web::Data<AppState>,
    _admin: AdminUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let u = find(&state.db, record_id(&path)?).await?;
    use domain::RecordKind as K;
    let live = |kinds: &'static [K]| store::records::count_live(&state.db, u.id, kinds);
    let counts = UserCounts {
        sessions: live(&[K::MassageSessions, K::PumpSessions, K::SymptomChecks]).await?,
        devices: device::Entity::find().filter(device::Column::UserId.eq(u.id)).count(&state.db).await?,
        routines: live(&[K::Routines]).await?,
    };
    Ok(HttpResponse::Ok().json(AdminUserDetail { user: u.into(), counts }))
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
    let now = Utc::now();
    let txn = platform::db::begin_write(&state.db).await?;
    find(&txn, id).await?;
    store::accounts::keep_an_active_admin(&txn, id, "disabled").await?;
    user::Entity::update_many()
        .col_expr(user::Column::Status, Expr::value(domain::UserStatus::Disabled))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::UserId.eq(id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    occurrence::Entity::update_many()
        .col_expr(occurrence::Column::State, Expr::value(OccurrenceState::Cancelled))
        .filter(occurrence::Column::UserId.eq(id))
        .filter(occurrence::Column::State.eq(OccurrenceState::Planned))
        .exec(&txn)
        .await?;
    audit::record(&txn, &admin.actor(&req), "user.disable", "user", Some(id.to_string()), json!({}), now).await?;
    let u = find(&txn, id).await?;
    txn.commit().await?;
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
    let now = Utc::now();
    let txn = platform::db::begin_write(&state.db).await?;
    find(&txn, id).await?;
    user::Entity::update_many()
        .col_expr(user::Column::Status, Expr::value(domain::UserStatus::Active))
        .col_expr(user::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    store::planning::replan_all(&txn, id, now).await?;
    audit::record(&txn, &admin.actor(&req), "user.enable", "user", Some(id.to_string()), json!({}), now).await?;
    let u = find(&txn, id).await?;
    txn.commit().await?;
    state.accounts.forget(id);
    state.auth_limits.clear_account(id).await?;
    Ok(HttpResponse::Ok().json(AdminUserView::from(u)))
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
    let now = Utc::now();
    let txn = platform::db::begin_write(&state.db).await?;
    let target = find(&txn, id).await?;
    store::accounts::keep_an_active_admin(&txn, id, "deleted").await?;
    store::accounts::erase_in(&txn, id).await?;
    audit::record(
        &txn,
        &admin.actor(&req),
        "user.delete",
        "user",
        Some(id.to_string()),
        json!({"role": target.role}),
        now,
    )
    .await?;
    txn.commit().await?;
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
    let now = Utc::now();
    let txn = platform::db::begin_write(&state.db).await?;
    let target = find(&txn, id).await?;
    if role == Role::User {
        store::accounts::keep_an_active_admin(&txn, id, "demoted").await?;
    }
    user::Entity::update_many()
        .col_expr(user::Column::Role, Expr::value(role))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let detail = json!({"from": target.role, "to": role.as_str()});
    audit::record(&txn, &admin.actor(&req), "user.role", "user", Some(id.to_string()), detail, now).await?;
    let u = find(&txn, id).await?;
    txn.commit().await?;
    state.accounts.forget(id);
    Ok(HttpResponse::Ok().json(AdminUserView::from(u)))
}
