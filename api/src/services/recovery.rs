//! Getting back into an account and changing its credentials: password resets, new passwords, new addresses.
//! Each change of credentials ends every other session (`store::recovery`).

use chrono::{DateTime, Duration, Utc};
use domain::email::EmailTemplate;
use domain::{Email, Password};
use entity::user;
use serde_json::{Value, json};
use std::net::IpAddr;
use store::Database;
use store::recovery::{self as stored, EmailChange, Notice};
use uuid::Uuid;

use crate::auth::{password, refresh};
use crate::error::ApiError;
use crate::ratelimit::AuthLimits;
use crate::services::accounts::SignedIn;
use crate::services::audit::Actor;
use crate::services::verification::{self, RESET_PATH};
use crate::services::{secrets, sessions};

/// How long a reset link works.
pub const RESET_VALID_FOR: Duration = Duration::minutes(30);

const NOT_VALID: &str = "is not valid: it may be wrong, used or expired";

fn reset_values(public_url: &str, secret: &secrets::Secret) -> Value {
    json!({
        "link": format!("{public_url}{RESET_PATH}?token={}", secret.token),
        "valid_minutes": RESET_VALID_FOR.num_minutes(),
    })
}

fn password_changed(public_url: &str, now: DateTime<Utc>) -> Notice {
    let values = json!({
        "changed_at": now.format("%Y-%m-%d %H:%M").to_string(),
        "reset_link": format!("{public_url}{RESET_PATH}"),
    });
    Notice { template: EmailTemplate::PasswordChanged, values }
}

/// Sends a reset link to `email` when an active account has it, and does the same work when none does, so
/// the answer and its time tell nobody whether it does. `actor`: the admin who asked (audited).
#[tracing::instrument(skip_all)]
pub async fn request_reset(
    db: &Database,
    public_url: &str,
    email: &str,
    actor: Option<&Actor>,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, ApiError> {
    let email = Email::parse(email).map_err(|e| ApiError::field("email", e))?;
    let secret = secrets::new_secret(RESET_VALID_FOR, false, now);
    let values = reset_values(public_url, &secret);
    let sent_to = stored::request_reset(db, &email, secret.stored, values, actor, now).await?;
    match sent_to {
        Some(id) => tracing::info!(user.id = %id, "password reset email queued"),
        None => tracing::info!("password reset asked for an address with no active account; nothing sent"),
    }
    Ok(sent_to)
}

/// Sets a new password with a reset link's token: every session and access token of the account ends, its
/// login locks are lifted (by the caller, in the limit store) and its owner is told by email.
#[tracing::instrument(skip_all)]
pub async fn confirm_reset(
    db: &Database,
    public_url: &str,
    token: &str,
    new_password: &str,
    now: DateTime<Utc>,
) -> Result<user::Model, ApiError> {
    let new_password = Password::parse(new_password).map_err(|e| ApiError::field("new_password", e))?;
    if token.trim().is_empty() {
        return Err(ApiError::field("token", "is required"));
    }
    let hash = password::hash(new_password.expose().to_owned()).await?;
    let notice = password_changed(public_url, now);
    let account = stored::reset_password(db, &refresh::digest(token.trim()), hash, notice, now).await?;
    let account = account.ok_or_else(|| ApiError::field("token", NOT_VALID))?;
    tracing::info!(user.id = %account.id, "password reset; every session ended");
    Ok(account)
}

/// Checks the signed-in owner's current password; a wrong one counts like a failed login from `address` (and
/// may lock the account for it), a locked one is not checked.
async fn check_current(
    db: &Database,
    limits: &AuthLimits,
    address: IpAddr,
    account: &user::Model,
    current: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let wrong = || ApiError::field("current_password", "is not correct");
    if limits.is_locked(account.id, address, now).await? {
        return Err(wrong());
    }
    if password::verify(current.to_owned(), Some(account.password_hash.clone())).await? {
        limits.succeeded(account.id, address).await?;
        return Ok(());
    }
    crate::services::accounts::wrong_password(db, limits, account.id, address, now).await?;
    Err(wrong())
}

/// What a signed-in owner sends to change a credential: the current password and the new value.
pub struct CredentialChange<'a> {
    pub address: IpAddr,
    pub current_password: &'a str,
    pub new_value: &'a str,
}

/// Sets a new password for the signed-in owner: every other session ends, this device gets a new one.
#[tracing::instrument(skip_all, fields(user.id = %account.id))]
pub async fn change_password(
    db: &Database,
    limits: &AuthLimits,
    public_url: &str,
    account: user::Model,
    change: CredentialChange<'_>,
    now: DateTime<Utc>,
) -> Result<SignedIn, ApiError> {
    check_current(db, limits, change.address, &account, change.current_password, now).await?;
    let new_password = Password::parse(change.new_value).map_err(|e| ApiError::field("new_password", e))?;
    let hash = password::hash(new_password.expose().to_owned()).await?;
    let (refresh_token, session) = sessions::new_session(now);
    let notice = password_changed(public_url, now);
    let user = stored::change_password(db, account.id, hash, session, notice, now).await?;
    tracing::info!("password changed; other sessions ended");
    Ok(SignedIn { user, refresh_token })
}

/// Starts moving the signed-in owner's account to a new address, which takes effect once confirmed by its
/// email's link or code; the current address is told, every other session ends, this device gets a new one.
#[tracing::instrument(skip_all, fields(user.id = %account.id))]
pub async fn change_email(
    db: &Database,
    limits: &AuthLimits,
    public_url: &str,
    account: user::Model,
    change: CredentialChange<'_>,
    now: DateTime<Utc>,
) -> Result<SignedIn, ApiError> {
    check_current(db, limits, change.address, &account, change.current_password, now).await?;
    let new_email = Email::parse(change.new_value).map_err(|e| ApiError::field("new_email", e))?;
    if new_email.as_str() == account.email {
        return Err(ApiError::field("new_email", "is already the account's address"));
    }
    limits.check_recovery(change.address, &account.email, now).await?;
    let secret = secrets::new_secret(verification::VALID_FOR, true, now);
    let notice_values = json!({
        "new_email": new_email.as_str(),
        "reset_link": format!("{public_url}{RESET_PATH}"),
    });
    let (refresh_token, session) = sessions::new_session(now);
    let change = EmailChange {
        confirm_values: verification::email_values(public_url, &secret),
        token: secret.stored,
        new_email,
        notice: Notice { template: EmailTemplate::EmailChangeRequested, values: notice_values },
        session,
    };
    let user = stored::start_email_change(db, &account, change, now).await?;
    tracing::info!("email change started; other sessions ended");
    Ok(SignedIn { user, refresh_token })
}
