//! Housekeeping: removes what is no longer needed (expired refresh tokens, for now).

use chrono::{DateTime, Duration, Utc};
use entity::refresh_token;
use platform::Database;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

/// How long an expired refresh token is kept (reuse of a just-expired token is still recognised).
pub const EXPIRED_TOKEN_GRACE: Duration = Duration::days(1);

/// What one housekeeping run removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HousekeepingOutcome {
    pub refresh_tokens_removed: u64,
}

/// One housekeeping run at `now`.
#[tracing::instrument(skip_all, fields(now = %now))]
pub async fn run_once(db: &Database, now: DateTime<Utc>) -> anyhow::Result<HousekeepingOutcome> {
    let removed = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::ExpiresAt.lt(now - EXPIRED_TOKEN_GRACE))
        .exec(db)
        .await?;
    if removed.rows_affected > 0 {
        tracing::info!(refresh_tokens_removed = removed.rows_affected, "housekeeping removed expired refresh tokens");
    }
    Ok(HousekeepingOutcome { refresh_tokens_removed: removed.rows_affected })
}
