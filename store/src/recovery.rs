//! Getting back into an account and changing its credentials: confirming an address (the account's or a new
//! one), password resets, and new passwords. Each is one transaction with the emails it sends.
//!
//! A change of credentials raises the account's token epoch (every access token issued before stops working)
//! and revokes every refresh-token family; the device that made the change gets a new session in the same
//! transaction.

use chrono::{DateTime, Utc};
use domain::email::{EmailTemplate, TokenPurpose};
use domain::{Email, UserStatus};
use entity::{email_token, refresh_token, user};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, SqlErr};
use uuid::Uuid;

use crate::email_tokens::{self, NewToken, Proof};
use crate::{Database, StoreError, outbox, sessions};

/// A session to open for the device that changes the account's credentials (all others end).
pub struct NewSession {
    pub family: Uuid,
    pub token: sessions::NewToken,
}

/// An email to queue with a change: its template and values (it goes to the account's address).
pub struct Notice {
    pub template: EmailTemplate,
    pub values: serde_json::Value,
}

/// Confirms an address by `proof` of a live token: the account's own address (a verification), or a new one
/// that then replaces it (a change of email). The account as now stored, or `None` when the proof matches no
/// live token; 409 when the new address has meanwhile become another account's.
pub async fn confirm_address(
    db: &Database,
    proof: Proof<'_>,
    now: DateTime<Utc>,
) -> Result<Option<user::Model>, StoreError> {
    let purposes = [TokenPurpose::VerifyEmail, TokenPurpose::ChangeEmail];
    let txn = crate::db::begin_write(db).await?;
    let Some(token) = email_tokens::redeem(&txn, &purposes, proof, now).await? else {
        // A wrong code's count must last.
        txn.commit().await?;
        return Ok(None);
    };
    let update = user::Entity::update_many().filter(user::Column::Id.eq(token.user_id));
    let update = if token.purpose == TokenPurpose::ChangeEmail {
        update
            .col_expr(user::Column::Email, Expr::value(&token.email))
            .col_expr(user::Column::EmailVerifiedAt, Expr::value(now))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Status.eq(UserStatus::Active))
    } else {
        // Only while the address the token went to is still the account's; a first confirmation's time stays.
        let verified_at = Func::coalesce([Expr::col(user::Column::EmailVerifiedAt), Expr::value(now)]);
        update.col_expr(user::Column::EmailVerifiedAt, verified_at.into()).filter(user::Column::Email.eq(&token.email))
    };
    match update.exec(&txn).await {
        Ok(_) => {}
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(crate::accounts::email_taken());
        }
        Err(e) => return Err(e.into()),
    }
    // Read back as stored (PostgreSQL keeps microseconds); `None` when the address changed since.
    let stored = user::Entity::find_by_id(token.user_id).filter(user::Column::Email.eq(&token.email)).one(&txn).await?;
    txn.commit().await?;
    Ok(stored)
}

/// Issues a password-reset `token` to the active account of `email` and queues its email (`values`), in one
/// transaction; the account's earlier reset tokens stop working. The account's id, or `None` (nothing is
/// sent) when no active account has that address.
pub async fn request_reset(
    db: &Database,
    email: &Email,
    token: NewToken,
    values: serde_json::Value,
    audit: Option<&crate::audit::Actor>,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let found = crate::accounts::find_by_email(&txn, email).await?.filter(|u| u.status == UserStatus::Active);
    let Some(account) = found else {
        txn.commit().await?;
        return Ok(None);
    };
    email_tokens::issue(&txn, account.id, TokenPurpose::PasswordReset, &account.email, &token, now).await?;
    outbox::queue(&txn, Some(account.id), &account.email, EmailTemplate::PasswordReset, &values, now).await?;
    if let Some(actor) = audit {
        let detail = serde_json::json!({});
        crate::audit::record(&txn, actor, "user.password_reset", "user", Some(account.id.to_string()), detail, now)
            .await?;
    }
    txn.commit().await?;
    Ok(Some(account.id))
}

/// Sets `password_hash` on the account of the live reset token hashed as `token_hash` (its address still the
/// account's), using the token up; the account's other sessions and tokens end, its lock is lifted, its address
/// counts as confirmed and `notice` is queued. The account as now stored, or `None` when no live token matches.
pub async fn reset_password(
    db: &Database,
    token_hash: &str,
    password_hash: String,
    notice: Notice,
    now: DateTime<Utc>,
) -> Result<Option<user::Model>, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let Some(token) = email_tokens::redeem(&txn, &[TokenPurpose::PasswordReset], Proof::Token(token_hash), now).await?
    else {
        return Ok(None);
    };
    let account = crate::accounts::active(&txn, token.user_id).await?.filter(|u| u.email == token.email);
    let Some(account) = account else { return Ok(None) };
    let verified_at = Func::coalesce([Expr::col(user::Column::EmailVerifiedAt), Expr::value(now)]);
    let renewed = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(user::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(user::Column::EmailVerifiedAt, verified_at.into());
    let account = renew(&txn, account.id, renewed, None, now).await?;
    outbox::queue(&txn, Some(account.id), &account.email, notice.template, &notice.values, now).await?;
    txn.commit().await?;
    Ok(Some(account))
}

/// Sets `password_hash` on account `id` (its current password checked by the caller): every other session
/// ends, `session` opens for this device, `notice` is queued. The account as now stored.
pub async fn change_password(
    db: &Database,
    id: Uuid,
    password_hash: String,
    session: NewSession,
    notice: Notice,
    now: DateTime<Utc>,
) -> Result<user::Model, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let renewed = user::Entity::update_many().col_expr(user::Column::PasswordHash, Expr::value(password_hash));
    let account = renew(&txn, id, renewed, Some(session), now).await?;
    outbox::queue(&txn, Some(account.id), &account.email, notice.template, &notice.values, now).await?;
    txn.commit().await?;
    Ok(account)
}

/// A change of address asked for by the signed-in owner (current password checked by the caller).
pub struct EmailChange {
    pub new_email: Email,
    /// The token the new address's email carries, and that email's values.
    pub token: NewToken,
    pub confirm_values: serde_json::Value,
    /// The email to the current address.
    pub notice: Notice,
    pub session: NewSession,
}

/// Starts moving account `current` to a new address: every other session ends, `session` opens for this
/// device, the current address is told, and the new one gets a link and code to confirm it (unless another
/// account has it; the answer does not say). The account as now stored (its address unchanged until then).
pub async fn start_email_change(
    db: &Database,
    current: &user::Model,
    change: EmailChange,
    now: DateTime<Utc>,
) -> Result<user::Model, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let account = renew(&txn, current.id, user::Entity::update_many(), Some(change.session), now).await?;
    let new_email = change.new_email.as_str();
    if crate::accounts::find_by_email(&txn, &change.new_email).await?.is_none() {
        email_tokens::issue(&txn, account.id, TokenPurpose::ChangeEmail, new_email, &change.token, now).await?;
        let template = EmailTemplate::ConfirmNewEmail;
        outbox::queue(&txn, Some(account.id), new_email, template, &change.confirm_values, now).await?;
    }
    let notice = change.notice;
    outbox::queue(&txn, Some(account.id), &account.email, notice.template, &notice.values, now).await?;
    txn.commit().await?;
    Ok(account)
}

/// Applies `update` to account `id` with its token epoch raised, revokes all its refresh tokens, ends its live
/// reset and email-change tokens, and opens `session`; the account as now stored.
async fn renew(
    txn: &impl ConnectionTrait,
    id: Uuid,
    update: sea_orm::UpdateMany<user::Entity>,
    session: Option<NewSession>,
    now: DateTime<Utc>,
) -> Result<user::Model, StoreError> {
    update
        .col_expr(user::Column::TokenEpoch, Expr::col(user::Column::TokenEpoch).add(1))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(txn)
        .await?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::UserId.eq(id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now))
        .filter(email_token::Column::UserId.eq(id))
        .filter(email_token::Column::Purpose.is_in([TokenPurpose::PasswordReset, TokenPurpose::ChangeEmail]))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(txn)
        .await?;
    if let Some(session) = session {
        sessions::issue(txn, id, session.family, session.token, now).await?;
    }
    user::Entity::find_by_id(id).one(txn).await?.ok_or(StoreError::NotFound)
}
