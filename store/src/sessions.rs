//! Login sessions: refresh-token families with single-use rotation and reuse detection. Tokens are kept only
//! as their hashes; the API makes and hashes them.

use chrono::{DateTime, Utc};
use entity::refresh_token;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::Database;
use crate::StoreError;

/// A refresh token to keep: its hash and when it expires.
pub struct NewToken {
    pub hash: String,
    pub expires_at: DateTime<Utc>,
}

/// Keeps a new refresh token of `user` in `family`.
pub async fn issue(
    db: &impl ConnectionTrait,
    user: Uuid,
    family: Uuid,
    token: NewToken,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        family_id: Set(family),
        token_hash: Set(token.hash),
        created_at: Set(now),
        expires_at: Set(token.expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
    };
    refresh_token::Entity::insert(row).exec(db).await?;
    Ok(())
}

/// What presenting a refresh token led to.
pub enum Rotation {
    /// The token was valid: its successor is kept, for this user.
    Rotated { user: Uuid },
    /// The token was already used or revoked: its whole family is now revoked.
    Reused,
    /// Unknown or expired.
    Invalid,
}

/// Uses the refresh token hashed as `presented` once: marks it used and keeps `successor` in the same family.
pub async fn rotate(
    db: &Database,
    presented: &str,
    successor: NewToken,
    now: DateTime<Utc>,
) -> Result<Rotation, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let Some(found) =
        refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(presented)).one(&txn).await?
    else {
        return Ok(Rotation::Invalid);
    };
    if found.used_at.is_some() || found.revoked_at.is_some() {
        revoke_family(&txn, found.family_id, now).await?;
        txn.commit().await?;
        tracing::warn!(user.id = %found.user_id, "refresh token reused; its family is revoked");
        return Ok(Rotation::Reused);
    }
    if found.expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    // The condition on used_at makes a concurrent second use of the same token see zero rows.
    let claimed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(found.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        revoke_family(&txn, found.family_id, now).await?;
        txn.commit().await?;
        return Ok(Rotation::Reused);
    }
    issue(&txn, found.user_id, found.family_id, successor, now).await?;
    txn.commit().await?;
    Ok(Rotation::Rotated { user: found.user_id })
}

/// Revokes the family of the token hashed as `presented` (logout); unknown tokens are ignored.
pub async fn revoke_by_token(db: &Database, presented: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let found = refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(presented)).one(db).await?;
    if let Some(found) = found {
        revoke_family(db, found.family_id, now).await?;
    }
    Ok(())
}

async fn revoke_family(db: &impl ConnectionTrait, family: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
