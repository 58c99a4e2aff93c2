//! Login-limit counters and locks kept in the database (when no Redis is configured): each a key with a count
//! and the end of its window, in Unix milliseconds.

use entity::auth_limit;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, OnConflict};
use sea_orm::{ActiveValue::Set, DbErr, EntityTrait, QueryFilter};

use crate::Database;

/// Counts one more in `key`'s window (a window that has ended starts again at 1 for `window_ms`), in one
/// statement; gives the count and when the window ends.
pub async fn hit(db: &Database, key: &str, window_ms: i64, now_ms: i64) -> Result<(i64, i64), DbErr> {
    use auth_limit::Column;
    let ended = Expr::col((auth_limit::Entity, Column::ExpiresMs)).lte(now_ms);
    let count = Expr::case(ended.clone(), 1).finally(Expr::col((auth_limit::Entity, Column::Count)).add(1));
    let expires = Expr::case(ended, now_ms + window_ms).finally(Expr::col((auth_limit::Entity, Column::ExpiresMs)));
    let row = auth_limit::ActiveModel { key: Set(key.to_owned()), count: Set(1), expires_ms: Set(now_ms + window_ms) };
    let on_conflict =
        OnConflict::column(Column::Key).value(Column::Count, count).value(Column::ExpiresMs, expires).to_owned();
    let stored = auth_limit::Entity::insert(row).on_conflict(on_conflict).exec_with_returning(db).await?;
    Ok((i64::from(stored.count), stored.expires_ms))
}

/// Whether `key` is set and its time has not ended.
pub async fn is_set(db: &Database, key: &str, now_ms: i64) -> Result<bool, DbErr> {
    Ok(auth_limit::Entity::find_by_id(key.to_owned()).one(db).await?.is_some_and(|row| row.expires_ms > now_ms))
}

/// Sets `key` until `expires_ms`.
pub async fn set(db: &Database, key: &str, expires_ms: i64) -> Result<(), DbErr> {
    use auth_limit::Column;
    let row = auth_limit::ActiveModel { key: Set(key.to_owned()), count: Set(1), expires_ms: Set(expires_ms) };
    let on_conflict = OnConflict::column(Column::Key).update_columns([Column::Count, Column::ExpiresMs]).to_owned();
    auth_limit::Entity::insert(row).on_conflict(on_conflict).exec_without_returning(db).await?;
    Ok(())
}

/// Removes `key`.
pub async fn remove(db: &Database, key: &str) -> Result<(), DbErr> {
    auth_limit::Entity::delete_by_id(key.to_owned()).exec(db).await?;
    Ok(())
}

/// Removes every key that starts with `prefix`.
pub async fn remove_prefix(db: &Database, prefix: &str) -> Result<(), DbErr> {
    let like = LikeExpr::new(crate::like_prefix(prefix)).escape('\\');
    auth_limit::Entity::delete_many().filter(Expr::col(auth_limit::Column::Key).like(like)).exec(db).await?;
    Ok(())
}
