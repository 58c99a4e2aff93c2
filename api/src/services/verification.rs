//! Confirming an account's address: the registration's email, its link or code, and sending it again.

use chrono::{DateTime, Duration, Utc};
use entity::user;
use serde_json::{Value, json};
use store::Database;
use store::email_tokens::Proof;

use crate::error::ApiError;
use crate::services::secrets::{self, Secret};

/// How long a verification link and code work.
pub const VALID_FOR: Duration = Duration::hours(48);

/// The path of the verification link under `MILKFLOW_PUBLIC_URL` (an app link that opens the app).
pub const LINK_PATH: &str = "/verify-email";

/// The path of the page the "someone tried to sign up" email points to.
pub const RESET_PATH: &str = "/reset-password";

/// The values of an email confirming an address (a new account's or a new one) with `secret`.
pub fn email_values(public_url: &str, secret: &Secret) -> Value {
    json!({
        "link": format!("{public_url}{LINK_PATH}?token={}", secret.token),
        "code": secret.code,
        "valid_hours": VALID_FOR.num_hours(),
    })
}

/// The values of the email to an address that already has an account.
pub fn taken_values(public_url: &str) -> Value {
    json!({ "reset_link": format!("{public_url}{RESET_PATH}") })
}

/// What the app sends to confirm an address: the link's token, or the address and the code.
pub struct Confirmation {
    pub token: Option<String>,
    pub email: Option<String>,
    pub code: Option<String>,
}

/// Confirms an address (the account's, or a new one that then replaces it); a token or code that is unknown, used, expired or wrong gets one answer (422 naming the
/// field), and a wrong code counts against its token.
#[tracing::instrument(skip_all)]
pub async fn confirm(db: &Database, c: Confirmation, now: DateTime<Utc>) -> Result<user::Model, ApiError> {
    let (found, field) = match (c.token, c.email, c.code) {
        (Some(token), None, None) => (
            store::recovery::confirm_address(db, Proof::Token(&crate::auth::refresh::digest(token.trim())), now)
                .await?,
            "token",
        ),
        (None, Some(email), Some(code)) => {
            let email = domain::Email::parse(&email).map_err(|e| ApiError::field("email", e))?;
            let code = code.trim().to_owned();
            let code_hash = move |id| secrets::code_hash(id, &code);
            let proof = Proof::Code { email: email.as_str(), code_hash: &code_hash };
            (store::recovery::confirm_address(db, proof, now).await?, "code")
        }
        _ => return Err(ApiError::field("token", "give either token, or email and code")),
    };
    let account = found.ok_or_else(|| ApiError::field(field, "is not valid: it may be wrong, used or expired"))?;
    tracing::info!(user.id = %account.id, "email verified");
    Ok(account)
}

/// Sends the account a new verification email (the earlier link and code stop working); 409 when its address is
/// verified already, 429 when one was sent in the last minute or five in the last hour.
#[tracing::instrument(skip_all, fields(user.id = %account.id))]
pub async fn resend(
    db: &Database,
    public_url: &str,
    account: &user::Model,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if account.email_verified_at.is_some() {
        return Err(ApiError::Conflict("this account's email is verified already".into()));
    }
    let secret = secrets::new_secret(VALID_FOR, true, now);
    let values = email_values(public_url, &secret);
    store::accounts::resend_verification(db, account, secret.stored, values, now).await?;
    Ok(())
}
