//! Login sessions: refresh tokens made here (`auth::refresh`), kept and rotated by `store::sessions`.

use chrono::{DateTime, Utc};
use store::sessions::{self as stored, NewToken};
use uuid::Uuid;

use crate::auth::refresh;
use crate::error::ApiError;
use store::Database;

/// A new refresh token; gives the token to hand out and what to keep of it.
fn new_token(now: DateTime<Utc>) -> (String, NewToken) {
    let (token, hash) = refresh::generate();
    (token, NewToken { hash, expires_at: now + refresh::REFRESH_TOKEN_TTL })
}

/// A new session (a new family) to open with a change of credentials; gives the refresh token to hand out.
pub fn new_session(now: DateTime<Utc>) -> (String, store::recovery::NewSession) {
    let (token, kept) = new_token(now);
    (token, store::recovery::NewSession { family: Uuid::now_v7(), token: kept })
}

/// A new refresh token in `family` for `user`; returns the token to hand out.
pub async fn issue(db: &Database, user: Uuid, family: Uuid, now: DateTime<Utc>) -> Result<String, ApiError> {
    let (token, kept) = new_token(now);
    stored::issue(db, user, family, kept, now).await?;
    Ok(token)
}

/// What presenting a refresh token led to.
pub enum Rotation {
    /// The token was valid; here is its successor.
    Rotated { user: Uuid, token: String },
    /// The token was already used or revoked: its whole family is now revoked.
    Reused,
    /// Unknown or expired.
    Invalid,
}

/// Uses a refresh token once: marks it used and issues its successor in the same family.
pub async fn rotate(db: &Database, presented: &str, now: DateTime<Utc>) -> Result<Rotation, ApiError> {
    let (token, kept) = new_token(now);
    Ok(match stored::rotate(db, &refresh::digest(presented), kept, now).await? {
        stored::Rotation::Rotated { user } => Rotation::Rotated { user, token },
        stored::Rotation::Reused => Rotation::Reused,
        stored::Rotation::Invalid => Rotation::Invalid,
    })
}

/// Revokes the family of a presented token (logout); unknown tokens are ignored.
pub async fn revoke_by_token(db: &Database, presented: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    Ok(stored::revoke_by_token(db, &refresh::digest(presented), now).await?)
}
