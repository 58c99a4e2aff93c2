//! Login sessions: refresh-token families with single-use rotation and reuse detection.

use chrono::{DateTime, Utc};
use entity::refresh_token;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::auth::refresh;
use crate::error::ApiError;
use platform::Database;

/// A new refresh token in `family` for `user`; returns the token to hand out.
pub async fn issue(
    db: &impl ConnectionTrait,
    user: Uuid,
    family: Uuid,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let (token, token_hash) = refresh::generate();
    let row = refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        family_id: Set(family),
        token_hash: Set(token_hash),
        created_at: Set(now),
        expires_at: Set(now + refresh::REFRESH_TOKEN_TTL),
        used_at: Set(None),
        revoked_at: Set(None),
    };
    refresh_token::Entity::insert(row).exec(db).await?;
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
    let txn = platform::db::begin_write(db).await?;
    let Some(found) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(refresh::digest(presented)))
        .one(&txn)
        .await?
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
    let token = issue(&txn, found.user_id, found.family_id, now).await?;
    txn.commit().await?;
    Ok(Rotation::Rotated { user: found.user_id, token })
}

/// Revokes the family of a presented token (logout); unknown tokens are ignored.
pub async fn revoke_by_token(db: &Database, presented: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let found = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(refresh::digest(presented)))
        .one(db)
        .await?;
    if let Some(found) = found {
        revoke_family(db, found.family_id, now).await?;
    }
    Ok(())
}

async fn revoke_family(db: &impl ConnectionTrait, family: Uuid, now: DateTime<Utc>) -> Result<(), ApiError> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
