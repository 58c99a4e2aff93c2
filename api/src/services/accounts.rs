//! Accounts: registration, login, profile changes, erasure and admin creation.

use chrono::{DateTime, Utc};
use domain::{DisplayName, Email, LocalTime, Password, QuietHours, Role, TimeZoneName, Violations, VolumeUnit};
use entity::user;
use std::net::IpAddr;
use store::accounts as stored;
use uuid::Uuid;

use crate::auth::password;
use crate::error::ApiError;
use crate::ratelimit::AuthLimits;
use crate::services::{secrets, sessions, verification};
use store::Database;

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

/// Creates an account; an address that already has one gets the same answer after the same work (a hash and
/// an attempted insert), so registration cannot tell anyone whether an address belongs to an account.
#[tracing::instrument(skip_all)]
pub async fn register(
    db: &Database,
    public_url: &str,
    input: Registration,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut v = Violations::new();
    let email = v.check("email", Email::parse(&input.email));
    let password = v.check("password", Password::parse(&input.password));
    let timezone =
        v.check("timezone", input.timezone.as_deref().map_or(Ok(TimeZoneName::default()), TimeZoneName::parse));
    v.finish().map_err(ApiError::Validation)?;
    let (Some(email), Some(password), Some(timezone)) = (email, password, timezone) else {
        return Err(anyhow::anyhow!("validated fields missing").into());
    };
    let password_hash = password::hash(password.expose().to_owned()).await?;
    let secret = secrets::new_secret(verification::VALID_FOR, true, now);
    let emails = stored::RegistrationEmails {
        verify: verification::email_values(public_url, &secret),
        taken: verification::taken_values(public_url),
        token: secret.stored,
    };
    let row = stored::new_user(email, password_hash, timezone, Role::User, now);
    if stored::register(db, row, emails, now).await? {
        tracing::info!("account registered; verification email queued");
    } else {
        tracing::info!("registration for an address that already has an account; its owner is told by email");
    }
    Ok(())
}

/// Signs in from `address`; an unknown email, a wrong password and a lock get the same answer after the same
/// work. Failures lock the account for that address only (see [`AuthLimits`]).
#[tracing::instrument(skip_all)]
pub async fn login(
    db: &Database,
    limits: &AuthLimits,
    address: IpAddr,
    email: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<SignedIn, ApiError> {
    let found = match Email::parse(email) {
        Ok(email) => stored::find_by_email(db, &email).await?,
        Err(_) => None,
    };
    let active = found.filter(|u| u.status == domain::UserStatus::Active);
    let locked = match &active {
        Some(u) => limits.is_locked(u.id, address, now).await?,
        None => false,
    };
    // While locked the password is not checked (and the attempt not counted), at the cost of checking one.
    let usable = active.filter(|_| !locked);
    let matched = password::verify(password.to_owned(), usable.as_ref().map(|u| u.password_hash.clone())).await?;
    let Some(user) = usable else { return Err(ApiError::Unauthorized(BAD_CREDENTIALS)) };
    if !matched {
        wrong_password(db, limits, user.id, address, now).await?;
        return Err(ApiError::Unauthorized(BAD_CREDENTIALS));
    }
    limits.succeeded(user.id, address).await?;
    let refresh_token = sessions::issue(db, user.id, Uuid::now_v7(), now).await?;
    tracing::info!(user.id = %user.id, "signed in");
    Ok(SignedIn { user, refresh_token })
}

/// Counts a wrong password for `user` from `address` (at login, or to change a credential); the one that reaches
/// the limit locks the account for that address, which admins see.
pub async fn wrong_password(
    db: &Database,
    limits: &AuthLimits,
    user: Uuid,
    address: IpAddr,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(until) = limits.failed(user, address, now).await? {
        stored::note_lock(db, user, until).await?;
        tracing::warn!(user.id = %user, "account locked for one address after repeated wrong passwords");
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
    let mut edit = stored::ProfileEdit::default();
    if let Some(name) = change.display_name {
        edit.display_name = match name {
            Some(n) => v.check("display_name", DisplayName::parse(&n)).map(|d| Some(d.as_str().to_owned())),
            None => Some(None),
        };
    }
    if let Some(tz) = v.check("timezone", change.timezone.as_deref().map(TimeZoneName::parse).transpose()).flatten() {
        edit.timezone = Some(tz.name().to_owned());
    }
    if let Some(unit) =
        v.check("volume_unit", change.volume_unit.as_deref().map(VolumeUnit::parse).transpose()).flatten()
    {
        edit.volume_unit = Some(unit.as_str().to_owned());
    }
    match change.quiet_hours {
        None => {}
        Some(None) => edit.quiet_hours = Some(None),
        Some(Some((start, end))) => {
            let start = v.check("quiet_hours.start", LocalTime::parse(&start));
            let end = v.check("quiet_hours.end", LocalTime::parse(&end));
            if let (Some(start), Some(end)) = (start, end)
                && let Some(q) = v.check("quiet_hours", QuietHours::new(start, end))
            {
                edit.quiet_hours = Some(Some((q.start.to_hhmm(), q.end.to_hhmm())));
            }
        }
    }
    v.finish().map_err(ApiError::Validation)?;
    Ok(stored::save_profile(db, current, edit, now).await?)
}

/// Erases an account and everything it owns, in one transaction; the last active admin cannot be erased.
#[tracing::instrument(skip_all, fields(user.id = %user_id))]
pub async fn erase(db: &Database, user_id: Uuid) -> Result<(), ApiError> {
    stored::erase(db, user_id).await?;
    tracing::info!("account erased");
    Ok(())
}
