//! Admin accounts: creation, the start-up bootstrap, and the guard that keeps one active admin.

use chrono::{DateTime, Utc};
use domain::{Email, Password, Role, TimeZoneName, Violations};
use entity::user;
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use crate::auth::password;
use crate::error::ApiError;
use crate::ratelimit::AuthLimits;
use crate::services::accounts::{email_taken, find_by_email, new_user, unique_email};
use crate::services::audit;
use platform::Database;

/// Creates an admin account (the CLI and the start-up bootstrap).
pub async fn create_admin(
    db: &Database,
    email: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<user::Model, ApiError> {
    let (email, password) = credentials(email, password)?;
    if find_by_email(db, &email).await?.is_some() {
        return Err(email_taken());
    }
    let hash = password::hash(password.expose().to_owned()).await?;
    let admin =
        new_user(email, hash, TimeZoneName::default(), Role::Admin, now).insert(db).await.map_err(unique_email)?;
    tracing::info!(user.id = %admin.id, "admin created");
    Ok(admin)
}

fn credentials(email: &str, password: &str) -> Result<(Email, Password), ApiError> {
    let mut v = Violations::new();
    let email = v.check("email", Email::parse(email));
    let password = v.check("password", Password::parse(password));
    v.finish().map_err(ApiError::Validation)?;
    match (email, password) {
        (Some(e), Some(p)) => Ok((e, p)),
        _ => Err(anyhow::anyhow!("validated fields missing").into()),
    }
}

/// At start, when no active admin exists: creates the configured admin, or, when the address already has an
/// account (a disabled admin, a user), makes that account an active admin with the configured password.
pub async fn bootstrap_admin(
    db: &Database,
    limits: &AuthLimits,
    email: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if !active_admins(db, false).await?.is_empty() {
        return Ok(());
    }
    let (parsed, secret) = credentials(email, password)?;
    let Some(existing) = find_by_email(db, &parsed).await? else {
        return match create_admin(db, email, password, now).await {
            // Another process starting at the same moment created it.
            Err(ApiError::Conflict(_)) => Ok(()),
            other => other.map(|_| ()),
        };
    };
    let hash = password::hash(secret.expose().to_owned()).await?;
    let txn = platform::db::begin_write(db).await?;
    user::Entity::update_many()
        .col_expr(user::Column::Role, Expr::value(domain::Role::Admin))
        .col_expr(user::Column::Status, Expr::value(domain::UserStatus::Active))
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .col_expr(user::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(existing.id))
        .exec(&txn)
        .await?;
    let actor = audit::Actor { id: existing.id, ip: None };
    let detail = json!({"from_role": existing.role, "from_status": existing.status});
    audit::record(&txn, &actor, "admin.bootstrap", "user", Some(existing.id.to_string()), detail, now).await?;
    txn.commit().await?;
    limits.clear_account(existing.id).await?;
    tracing::warn!(user.id = %existing.id, "no active admin: the account of MILKFLOW_ADMIN_EMAIL is now an active admin");
    Ok(())
}

/// The ids of active admins; with `lock`, their rows are locked until the transaction ends (PostgreSQL), so
/// two admins stepping down at once are counted one after the other.
async fn active_admins(db: &impl ConnectionTrait, lock: bool) -> Result<Vec<Uuid>, ApiError> {
    let mut query = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Role.eq(domain::Role::Admin))
        .filter(user::Column::Status.eq(domain::UserStatus::Active));
    if lock {
        query = query.lock(LockType::Update);
    }
    Ok(query.into_tuple::<Uuid>().all(db).await?)
}

/// Refuses (409) a change that would leave no active admin: `target` stops being one (disabled, demoted or
/// erased). Call it inside the change's write transaction, before the change.
pub async fn keep_an_active_admin(txn: &impl ConnectionTrait, target: Uuid, change: &str) -> Result<(), ApiError> {
    let admins = active_admins(txn, true).await?;
    if admins.contains(&target) && admins.len() <= 1 {
        return Err(ApiError::Conflict(format!("the last active admin cannot be {change}")));
    }
    Ok(())
}
