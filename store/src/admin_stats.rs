//! Figures for staff: deliveries due and emails queued in a span (to be grouped by day and provider) and
//! account counts.

use chrono::{DateTime, Utc};
use domain::UserStatus;
use domain::email::EmailStatus;
use domain::reminders::{DeliveryStatus, Platform};
use entity::{delivery, email, refresh_token, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::StoreError;

/// What delivery statistics read of one delivery.
#[derive(Debug, FromQueryResult)]
pub struct DeliveryRow {
    pub due_at: DateTime<Utc>,
    pub provider: Platform,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Every delivery due in `[from, to)`, only the columns statistics read.
pub async fn deliveries_due(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DeliveryRow>, StoreError> {
    Ok(delivery::Entity::find()
        .select_only()
        .columns([
            delivery::Column::DueAt,
            delivery::Column::Provider,
            delivery::Column::Status,
            delivery::Column::Attempts,
            delivery::Column::SentAt,
            delivery::Column::LastError,
        ])
        .filter(delivery::Column::DueAt.gte(from))
        .filter(delivery::Column::DueAt.lt(to))
        .into_model::<DeliveryRow>()
        .all(db)
        .await?)
}

/// What delivery statistics read of one email.
#[derive(Debug, FromQueryResult)]
pub struct EmailRow {
    pub created_at: DateTime<Utc>,
    pub status: EmailStatus,
    pub attempts: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Every email queued in `[from, to)`, only the columns statistics read.
pub async fn emails_queued(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<EmailRow>, StoreError> {
    Ok(email::Entity::find()
        .select_only()
        .columns([
            email::Column::CreatedAt,
            email::Column::Status,
            email::Column::Attempts,
            email::Column::SentAt,
            email::Column::LastError,
        ])
        .filter(email::Column::CreatedAt.gte(from))
        .filter(email::Column::CreatedAt.lt(to))
        .into_model::<EmailRow>()
        .all(db)
        .await?)
}

/// How many accounts there are, and how many of them are disabled.
pub async fn account_counts(db: &impl ConnectionTrait) -> Result<(u64, u64), StoreError> {
    let all = user::Entity::find().count(db).await?;
    let disabled = user::Entity::find().filter(user::Column::Status.eq(UserStatus::Disabled)).count(db).await?;
    Ok((all, disabled))
}

/// How many accounts wrote a record or signed in since `since`.
pub async fn active_since(db: &impl ConnectionTrait, since: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut active = crate::stats::writers_since(db, since).await?;
    let sign_ins: Vec<Uuid> = refresh_token::Entity::find()
        .select_only()
        .column(refresh_token::Column::UserId)
        .distinct()
        .filter(refresh_token::Column::CreatedAt.gte(since))
        .into_tuple()
        .all(db)
        .await?;
    active.extend(sign_ins);
    Ok(active.len() as u64)
}
