//! The outbox of emails: queued in the caller's transaction, leased to one scheduler at a time, settled once.

use chrono::{DateTime, Utc};
use domain::email::{EmailStatus, EmailTemplate};
use entity::email;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

/// Queues `template` for `to` with `values`, in the caller's transaction: it is sent once that commits.
pub async fn queue(
    txn: &impl ConnectionTrait,
    user_id: Option<Uuid>,
    to: &str,
    template: EmailTemplate,
    values: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    let row = email::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        to_address: Set(to.to_owned()),
        template: Set(template),
        payload: Set(values.to_string()),
        status: Set(EmailStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(None),
        leased_by: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        sent_at: Set(None),
    };
    email::Entity::insert(row).exec_without_returning(txn).await?;
    Ok(id)
}

fn waiting() -> Condition {
    Condition::any()
        .add(email::Column::Status.eq(EmailStatus::Pending))
        .add(email::Column::Status.eq(EmailStatus::Retrying))
}

/// Leases up to `batch` emails due by `now` (waiting, their lease ended or never taken) to `instance` until
/// `lease_until`; gives them.
pub async fn claim(
    db: &crate::Database,
    now: DateTime<Utc>,
    batch: u64,
    lease_until: DateTime<Utc>,
    instance: &str,
) -> Result<Vec<email::Model>, DbErr> {
    let table = crate::lease::Leasable::<email::Entity> {
        id: email::Column::Id,
        next_attempt_at: email::Column::NextAttemptAt,
        lease_until: email::Column::LeaseUntil,
        leased_by: email::Column::LeasedBy,
        key: |e| e.id,
    };
    crate::lease::claim(db, table, waiting(), now, batch, lease_until, instance).await
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Tried again at the given time.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    Failed {
        error: String,
    },
}

/// Records how the attempt of `id` by `instance` ended; false when `instance` no longer held its lease (another
/// scheduler took it over), in which case nothing changes. A sent or failed email loses its payload.
pub async fn settle(
    db: &impl ConnectionTrait,
    id: Uuid,
    instance: &str,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut update = email::Entity::update_many()
        .col_expr(email::Column::Attempts, Expr::col(email::Column::Attempts).add(1))
        .col_expr(email::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(email::Column::LeasedBy, Expr::value(Option::<String>::None))
        .col_expr(email::Column::UpdatedAt, Expr::value(now));
    update = match outcome {
        Outcome::Sent => update
            .col_expr(email::Column::Status, Expr::value(EmailStatus::Sent.as_str()))
            .col_expr(email::Column::SentAt, Expr::value(now))
            .col_expr(email::Column::Payload, Expr::value("{}"))
            .col_expr(email::Column::LastError, Expr::value(Option::<String>::None)),
        Outcome::Retry { at, error } => update
            .col_expr(email::Column::Status, Expr::value(EmailStatus::Retrying.as_str()))
            .col_expr(email::Column::NextAttemptAt, Expr::value(at))
            .col_expr(email::Column::LastError, Expr::value(error)),
        Outcome::Failed { error } => update
            .col_expr(email::Column::Status, Expr::value(EmailStatus::Failed.as_str()))
            .col_expr(email::Column::Payload, Expr::value("{}"))
            .col_expr(email::Column::LastError, Expr::value(error)),
    };
    let done = update
        .filter(email::Column::Id.eq(id))
        .filter(email::Column::LeasedBy.eq(instance))
        .filter(waiting())
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}
