//! Accounts: registration, login, profile changes, erasure and admin creation.

use chrono::{DateTime, Utc};
use domain::{
    DisplayName, Email, LocalTime, Password, QuietHours, Role, TimeZoneName, UserStatus, Violations, VolumeUnit,
};
use entity::{delivery, device, occurrence, record, refresh_token, user};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, SqlErr};
use uuid::Uuid;

use crate::auth::password;
use crate::error::ApiError;
use crate::services::sessions;
use platform::Database;

/// A new account's input, as received.
pub struct Registration {
    pub email: String,
    pub password: String,
    pub timezone: Option<String>,
}

/// A signed-in account and its fresh refresh token.
pub struct SignedIn {
    pub user: user::Model,
    pub refresh_token: String,
}

const BAD_CREDENTIALS: &str = "the email or password is not correct";

/// Creates an account and signs it in.
#[tracing::instrument(skip_all)]
pub async fn register(db: &Database, input: Registration, now: DateTime<Utc>) -> Result<SignedIn, ApiError> {
    let mut v = Violations::new();
    let email = v.check("email", Email::parse(&input.email));
    let password = v.check("password", Password::parse(&input.password));
    let timezone =
        v.check("timezone", input.timezone.as_deref().map_or(Ok(TimeZoneName::default()), TimeZoneName::parse));
    v.finish().map_err(ApiError::Validation)?;
    let (Some(email), Some(password), Some(timezone)) = (email, password, timezone) else {
        return Err(anyhow::anyhow!("validated fields missing").into());
    };
    if find_by_email(db, &email).await?.is_some() {
        return Err(email_taken());
    }
    let password_hash = password::hash(password.expose().to_owned()).await?;
    let txn = platform::db::begin_write(db).await?;
    let user = new_user(email, password_hash, timezone, Role::User, now).insert(&txn).await.map_err(unique_email)?;
    let refresh_token = sessions::issue(&txn, user.id, Uuid::now_v7(), now).await?;
    txn.commit().await?;
    tracing::info!(user.id = %user.id, "account registered");
    Ok(SignedIn { user, refresh_token })
}

/// Signs in; an unknown email and a wrong password get the same answer, after the same work.
#[tracing::instrument(skip_all)]
pub async fn login(db: &Database, email: &str, password: &str, now: DateTime<Utc>) -> Result<SignedIn, ApiError> {
    let found = match Email::parse(email) {
        Ok(email) => find_by_email(db, &email).await?,
        Err(_) => None,
    };
    let active = found.filter(|u| u.status == UserStatus::Active.as_str());
    let matched = password::verify(password.to_owned(), active.as_ref().map(|u| u.password_hash.clone())).await?;
    if let Some(u) = &active {
        let locked = u.locked_until.is_some_and(|t| t > now);
        record_attempt(db, u, matched && !locked, now).await?;
        if locked {
            // The same answer as a wrong password: a lock must not reveal that the account exists.
            return Err(ApiError::Unauthorized(BAD_CREDENTIALS));
        }
    }
    let user = active.filter(|_| matched).ok_or(ApiError::Unauthorized(BAD_CREDENTIALS))?;
    let refresh_token = sessions::issue(db, user.id, Uuid::now_v7(), now).await?;
    tracing::info!(user.id = %user.id, "signed in");
    Ok(SignedIn { user, refresh_token })
}

/// Failed logins in a row that lock an account.
pub const LOCK_AFTER_FAILURES: i32 = 5;
/// How long a locked account refuses logins.
pub const LOCK_FOR: chrono::Duration = chrono::Duration::minutes(15);

/// Counts a failed login (locking the account after [`LOCK_AFTER_FAILURES`]) or clears the count on success.
async fn record_attempt(db: &Database, u: &user::Model, success: bool, now: DateTime<Utc>) -> Result<(), ApiError> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    if success {
        if u.failed_logins != 0 || u.locked_until.is_some() {
            user::Entity::update_many()
                .col_expr(user::Column::FailedLogins, Expr::value(0))
                .col_expr(user::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
                .filter(user::Column::Id.eq(u.id))
                .exec(db)
                .await?;
        }
        return Ok(());
    }
    let updated = user::Entity::update_many()
        .col_expr(user::Column::FailedLogins, Expr::col(user::Column::FailedLogins).add(1))
        .filter(user::Column::Id.eq(u.id))
        .exec_with_returning(db)
        .await?;
    if updated.first().is_some_and(|x| x.failed_logins >= LOCK_AFTER_FAILURES) {
        user::Entity::update_many()
            .col_expr(user::Column::FailedLogins, Expr::value(0))
            .col_expr(user::Column::LockedUntil, Expr::value(Some(now + LOCK_FOR)))
            .filter(user::Column::Id.eq(u.id))
            .exec(db)
            .await?;
        tracing::warn!(user.id = %u.id, "account locked after repeated failed logins");
    }
    Ok(())
}

/// A profile change; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Default)]
pub struct ProfileChange {
    pub display_name: Option<Option<String>>,
    pub timezone: Option<String>,
    pub volume_unit: Option<String>,
    pub quiet_hours: Option<Option<(String, String)>>,
}

/// Applies a profile change after validating every field.
#[tracing::instrument(skip_all, fields(user.id = %current.id))]
pub async fn update_profile(
    db: &Database,
    current: user::Model,
    change: ProfileChange,
    now: DateTime<Utc>,
) -> Result<user::Model, ApiError> {
    let mut v = Violations::new();
    let mut row: user::ActiveModel = current.into();
    if let Some(name) = change.display_name {
        let parsed = match name {
            Some(n) => v.check("display_name", DisplayName::parse(&n)).map(|d| Some(d.as_str().to_owned())),
            None => Some(None),
        };
        if let Some(parsed) = parsed {
            row.display_name = Set(parsed);
        }
    }
    if let Some(tz) = v.check("timezone", change.timezone.as_deref().map(TimeZoneName::parse).transpose()).flatten() {
        row.timezone = Set(tz.name().to_owned());
    }
    if let Some(unit) =
        v.check("volume_unit", change.volume_unit.as_deref().map(VolumeUnit::parse).transpose()).flatten()
    {
        row.volume_unit = Set(unit.as_str().to_owned());
    }
    match change.quiet_hours {
        None => {}
        Some(None) => {
            row.quiet_hours_start = Set(None);
            row.quiet_hours_end = Set(None);
        }
        Some(Some((start, end))) => {
            let start = v.check("quiet_hours.start", LocalTime::parse(&start));
            let end = v.check("quiet_hours.end", LocalTime::parse(&end));
            if let (Some(start), Some(end)) = (start, end)
                && let Some(q) = v.check("quiet_hours", QuietHours::new(start, end))
            {
                row.quiet_hours_start = Set(Some(q.start.to_hhmm()));
                row.quiet_hours_end = Set(Some(q.end.to_hhmm()));
            }
        }
    }
    v.finish().map_err(ApiError::Validation)?;
    row.updated_at = Set(now);
    let replan = row.timezone.is_set() || row.quiet_hours_start.is_set() || row.quiet_hours_end.is_set();
    let txn = platform::db::begin_write(db).await?;
    let updated = row.update(&txn).await?;
    if replan {
        // Her reminders follow her zone and quiet hours: plan them again.
        scheduler::planning::replan_all(&txn, updated.id, now).await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Erases an account and everything of hers, in one transaction.
#[tracing::instrument(skip_all, fields(user.id = %user_id))]
pub async fn erase(db: &Database, user_id: Uuid) -> Result<(), ApiError> {
    let txn = platform::db::begin_write(db).await?;
    erase_in(&txn, user_id).await?;
    txn.commit().await?;
    tracing::info!("account erased");
    Ok(())
}

/// Erases an account inside a caller's transaction (the admin API adds its audit entry to it).
pub async fn erase_in(txn: &impl sea_orm::ConnectionTrait, user_id: Uuid) -> Result<(), ApiError> {
    refresh_token::Entity::delete_many().filter(refresh_token::Column::UserId.eq(user_id)).exec(txn).await?;
    delivery::Entity::delete_many().filter(delivery::Column::UserId.eq(user_id)).exec(txn).await?;
    occurrence::Entity::delete_many().filter(occurrence::Column::UserId.eq(user_id)).exec(txn).await?;
    device::Entity::delete_many().filter(device::Column::UserId.eq(user_id)).exec(txn).await?;
    record::Entity::delete_many().filter(record::Column::UserId.eq(user_id)).exec(txn).await?;
    let deleted = user::Entity::delete_by_id(user_id).exec(txn).await?;
    if deleted.rows_affected == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// Creates an admin account (the CLI and the start-up bootstrap).
pub async fn create_admin(
    db: &Database,
    email: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<user::Model, ApiError> {
    let mut v = Violations::new();
    let email = v.check("email", Email::parse(email));
    let password = v.check("password", Password::parse(password));
    v.finish().map_err(ApiError::Validation)?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(anyhow::anyhow!("validated fields missing").into());
    };
    if find_by_email(db, &email).await?.is_some() {
        return Err(email_taken());
    }
    let hash = password::hash(password.expose().to_owned()).await?;
    let admin =
        new_user(email, hash, TimeZoneName::default(), Role::Admin, now).insert(db).await.map_err(unique_email)?;
    tracing::info!(user.id = %admin.id, "admin created");
    Ok(admin)
}

/// Creates the configured admin at start when no admin exists yet.
pub async fn bootstrap_admin(db: &Database, email: &str, password: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let admins = user::Entity::find().filter(user::Column::Role.eq(Role::Admin.as_str())).count(db).await?;
    if admins > 0 {
        return Ok(());
    }
    match create_admin(db, email, password, now).await {
        Err(ApiError::Conflict(_)) => {
            tracing::warn!("MILKFLOW_ADMIN_EMAIL belongs to an existing non-admin account; no admin was created");
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

async fn find_by_email(db: &Database, email: &Email) -> Result<Option<user::Model>, ApiError> {
    Ok(user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(db).await?)
}

/// A new, active account as registration makes it (the benchmark seeder makes its users with it too).
pub fn new_user(
    email: Email,
    password_hash: String,
    timezone: TimeZoneName,
    role: Role,
    now: DateTime<Utc>,
) -> user::ActiveModel {
    user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.as_str().to_owned()),
        password_hash: Set(password_hash),
        display_name: Set(None),
        timezone: Set(timezone.name().to_owned()),
        volume_unit: Set(VolumeUnit::Ml.as_str().to_owned()),
        quiet_hours_start: Set(None),
        quiet_hours_end: Set(None),
        role: Set(role.as_str().to_owned()),
        status: Set(UserStatus::Active.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        change_seq: Set(0),
        failed_logins: Set(0),
        locked_until: Set(None),
    }
}

fn email_taken() -> ApiError {
    ApiError::Conflict("an account with this email already exists".into())
}

/// Two registrations racing for one email: the loser gets the same 409.
fn unique_email(e: sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => email_taken(),
        _ => e.into(),
    }
}
