//! Accounts as stored: new ones, lookups, profile saves, erasure, the admin role's keeping and login locks.

use chrono::{DateTime, Utc};
use domain::{Email, Role, TimeZoneName, UserStatus, VolumeUnit};
use entity::{delivery, device, occurrence, refresh_token, user};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, SqlErr,
};
use uuid::Uuid;

use crate::Database;
use crate::StoreError;

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
        role: Set(role),
        status: Set(UserStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
        change_seq: Set(0),
        locked_until: Set(None),
        email_verified_at: Set(None),
        token_epoch: Set(0),
    }
}

/// The emails a registration may send, made before it is known whether the address is taken (so both cases
/// cost the same): a verification token and its email's values, or the values of the "someone tried to sign up
/// with your address" email.
pub struct RegistrationEmails {
    pub token: crate::email_tokens::NewToken,
    pub verify: serde_json::Value,
    pub taken: serde_json::Value,
}

/// Registers `row` and queues its verification email, or, when its address already has an account, queues the
/// email telling that account; one transaction either way. Whether the account is new.
pub async fn register(
    db: &Database,
    row: user::ActiveModel,
    emails: RegistrationEmails,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use domain::email::{EmailTemplate, TokenPurpose};
    let (id, email) = (row.id.clone().unwrap(), row.email.clone().unwrap());
    let txn = crate::db::begin_write(db).await?;
    let inserted = user::Entity::insert(row)
        .on_conflict(sea_orm::sea_query::OnConflict::column(user::Column::Email).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
    if inserted == 1 {
        crate::email_tokens::issue(&txn, id, TokenPurpose::VerifyEmail, &email, &emails.token, now).await?;
        crate::outbox::queue(&txn, Some(id), &email, EmailTemplate::VerifyEmail, &emails.verify, now).await?;
    } else {
        let existing = user::Entity::find().filter(user::Column::Email.eq(&email)).one(&txn).await?;
        let owner = existing.map(|u| u.id);
        crate::outbox::queue(&txn, owner, &email, EmailTemplate::SignupAttempt, &emails.taken, now).await?;
    }
    txn.commit().await?;
    Ok(inserted == 1)
}

/// Issues account `account`'s new verification token and queues its email, unless one was queued in the last
/// minute or five in the last hour (then [`StoreError::TooManyRequests`]).
pub async fn resend_verification(
    db: &Database,
    account: &user::Model,
    token: crate::email_tokens::NewToken,
    values: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use domain::email::{EmailTemplate, TokenPurpose};
    use entity::email;
    let txn = crate::db::begin_write(db).await?;
    let recent: Vec<DateTime<Utc>> = email::Entity::find()
        .select_only()
        .column(email::Column::CreatedAt)
        .filter(email::Column::UserId.eq(account.id))
        .filter(email::Column::Template.eq(EmailTemplate::VerifyEmail))
        .filter(email::Column::CreatedAt.gt(now - chrono::Duration::hours(1)))
        .into_tuple()
        .all(&txn)
        .await?;
    let wait = recent.iter().map(|at| (*at + chrono::Duration::minutes(1) - now).num_seconds()).max().unwrap_or(0);
    if wait > 0 {
        return Err(StoreError::TooManyRequests(wait as u64));
    }
    if recent.len() >= 5 {
        let oldest = recent.iter().min().copied().unwrap_or(now);
        return Err(StoreError::TooManyRequests(
            (oldest + chrono::Duration::hours(1) - now).num_seconds().max(1) as u64
        ));
    }
    crate::email_tokens::issue(&txn, account.id, TokenPurpose::VerifyEmail, &account.email, &token, now).await?;
    crate::outbox::queue(&txn, Some(account.id), &account.email, EmailTemplate::VerifyEmail, &values, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Inserts `row`; `None` when its email already has an account.
pub async fn insert_if_new(
    db: &impl ConnectionTrait,
    row: user::ActiveModel,
) -> Result<Option<user::Model>, StoreError> {
    match row.insert(db).await {
        Ok(user) => Ok(Some(user)),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The 409 for an email that already has an account.
pub fn email_taken() -> StoreError {
    StoreError::Conflict("an account with this email already exists".into())
}

/// Account `id` when it is active.
pub async fn active(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<user::Model>, StoreError> {
    Ok(user::Entity::find_by_id(id).one(db).await?.filter(|u| u.status == UserStatus::Active))
}

/// The account of `email`, if any.
pub async fn find_by_email(db: &impl ConnectionTrait, email: &Email) -> Result<Option<user::Model>, StoreError> {
    Ok(user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(db).await?)
}

/// Shows admins the end of the latest login lock placed on account `id`.
pub async fn note_lock(db: &Database, id: Uuid, until: DateTime<Utc>) -> Result<(), StoreError> {
    user::Entity::update_many()
        .col_expr(user::Column::LockedUntil, Expr::value(Some(until)))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// A validated profile change; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default, Clone)]
pub struct ProfileEdit {
    pub display_name: Option<Option<String>>,
    pub timezone: Option<String>,
    pub volume_unit: Option<String>,
    /// Start and end, as `HH:MM`.
    pub quiet_hours: Option<Option<(String, String)>>,
}

/// Saves a profile change to `current`. A new zone or new quiet hours plan the account's reminders again, in the
/// same transaction.
pub async fn save_profile(
    db: &Database,
    current: user::Model,
    edit: ProfileEdit,
    now: DateTime<Utc>,
) -> Result<user::Model, StoreError> {
    let replan = edit.timezone.is_some() || edit.quiet_hours.is_some();
    let mut row: user::ActiveModel = current.into();
    if let Some(name) = edit.display_name {
        row.display_name = Set(name);
    }
    if let Some(zone) = edit.timezone {
        row.timezone = Set(zone);
    }
    if let Some(unit) = edit.volume_unit {
        row.volume_unit = Set(unit);
    }
    if let Some(hours) = edit.quiet_hours {
        let (start, end) = hours.unzip();
        row.quiet_hours_start = Set(start);
        row.quiet_hours_end = Set(end);
    }
    row.updated_at = Set(now);
    let txn = crate::db::begin_write(db).await?;
    let updated = row.update(&txn).await?;
    if replan {
        crate::planning::replan_all(&txn, updated.id, now).await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Erases an account and everything it owns, in one transaction; the last active admin cannot be erased.
pub async fn erase(db: &Database, user_id: Uuid) -> Result<(), StoreError> {
    let txn = crate::db::begin_write(db).await?;
    keep_an_active_admin(&txn, user_id, "deleted").await?;
    erase_in(&txn, user_id).await?;
    txn.commit().await?;
    Ok(())
}

/// Erases an account inside a caller's transaction (the admin API adds its audit entry to it).
pub async fn erase_in(txn: &impl ConnectionTrait, user_id: Uuid) -> Result<(), StoreError> {
    refresh_token::Entity::delete_many().filter(refresh_token::Column::UserId.eq(user_id)).exec(txn).await?;
    delivery::Entity::delete_many().filter(delivery::Column::UserId.eq(user_id)).exec(txn).await?;
    // Deliveries of the account's reminders to a care-team member's devices go with the reminders.
    let reminders = sea_orm::sea_query::Query::select()
        .column(occurrence::Column::Id)
        .from(occurrence::Entity)
        .and_where(occurrence::Column::UserId.eq(user_id))
        .to_owned();
    delivery::Entity::delete_many().filter(delivery::Column::OccurrenceId.in_subquery(reminders)).exec(txn).await?;
    occurrence::Entity::delete_many().filter(occurrence::Column::UserId.eq(user_id)).exec(txn).await?;
    device::Entity::delete_many().filter(device::Column::UserId.eq(user_id)).exec(txn).await?;
    crate::records::erase_all_of(txn, user_id).await?;
    let deleted = user::Entity::delete_by_id(user_id).exec(txn).await?;
    if deleted.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The ids of active admins; with `lock`, their rows are locked until the transaction ends (PostgreSQL), so
/// two admins stepping down at once are counted one after the other.
pub async fn active_admins(db: &impl ConnectionTrait, lock: bool) -> Result<Vec<Uuid>, StoreError> {
    let mut query = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Role.eq(Role::Admin))
        .filter(user::Column::Status.eq(UserStatus::Active));
    if lock {
        query = query.lock(LockType::Update);
    }
    Ok(query.into_tuple::<Uuid>().all(db).await?)
}

/// Refuses (409) a change that would leave no active admin: `target` stops being one (disabled, demoted or
/// erased). Call it inside the change's write transaction, before the change.
pub async fn keep_an_active_admin(txn: &impl ConnectionTrait, target: Uuid, change: &str) -> Result<(), StoreError> {
    let admins = active_admins(txn, true).await?;
    if admins.contains(&target) && admins.len() <= 1 {
        return Err(StoreError::Conflict(format!("the last active admin cannot be {change}")));
    }
    Ok(())
}

/// Makes account `id` an active admin with `password_hash`, its login lock lifted; audited as the bootstrap.
pub async fn make_active_admin(
    db: &Database,
    existing: &user::Model,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let txn = crate::db::begin_write(db).await?;
    user::Entity::update_many()
        .col_expr(user::Column::Role, Expr::value(Role::Admin))
        .col_expr(user::Column::Status, Expr::value(UserStatus::Active))
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(user::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(existing.id))
        .exec(&txn)
        .await?;
    let actor = crate::audit::Actor { id: existing.id, ip: None };
    let detail = serde_json::json!({"from_role": existing.role, "from_status": existing.status});
    crate::audit::record(&txn, &actor, "admin.bootstrap", "user", Some(existing.id.to_string()), detail, now).await?;
    txn.commit().await?;
    Ok(())
}
