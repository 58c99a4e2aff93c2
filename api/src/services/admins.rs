//! Admin accounts: creation (from the command line) and the start-up bootstrap.

use chrono::{DateTime, Utc};
use domain::{Email, Password, Role, TimeZoneName, Violations};
use entity::user;
use store::accounts as stored;

use crate::auth::password;
use crate::error::ApiError;
use crate::ratelimit::AuthLimits;
use store::Database;

/// Creates an admin account (the CLI and the start-up bootstrap).
pub async fn create_admin(
    db: &Database,
    email: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<user::Model, ApiError> {
    let (email, password) = credentials(email, password)?;
    if stored::find_by_email(db, &email).await?.is_some() {
        return Err(stored::email_taken().into());
    }
    let hash = password::hash(password.expose().to_owned()).await?;
    let new = stored::new_user(email, hash, TimeZoneName::default(), Role::Admin, now);
    // Two processes racing for one email: the loser gets the same 409.
    let admin = stored::insert_if_new(db, new).await?.ok_or_else(stored::email_taken)?;
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
    if !stored::active_admins(db, false).await?.is_empty() {
        return Ok(());
    }
    let (parsed, secret) = credentials(email, password)?;
    let Some(existing) = stored::find_by_email(db, &parsed).await? else {
        return match create_admin(db, email, password, now).await {
            // Another process starting at the same moment created it.
            Err(ApiError::Conflict(_)) => Ok(()),
            other => other.map(|_| ()),
        };
    };
    let hash = password::hash(secret.expose().to_owned()).await?;
    stored::make_active_admin(db, &existing, hash, now).await?;
    limits.clear_account(existing.id).await?;
    tracing::warn!(user.id = %existing.id, "no active admin: the account of MILKFLOW_ADMIN_EMAIL is now an active admin");
    Ok(())
}
