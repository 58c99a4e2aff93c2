//! Accounts as staff manage them: a filtered page, one account with counts, and the changes of status and
//! role (each audited in its own transaction; the last active admin is kept).

use chrono::{DateTime, Utc};
use domain::reminders::OccurrenceState;
use domain::{Role, UserStatus};
use entity::{device, occurrence, refresh_token, user};
use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use crate::Database;
use crate::StoreError;
use crate::accounts::{erase_in, keep_an_active_admin};
use crate::audit::{self, Actor};

/// Which accounts a page shows.
#[derive(Default)]
pub struct Filter {
    /// The start of the email address (matched literally, lower case).
    pub email_prefix: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub status: Option<UserStatus>,
    /// Continue after this account (its creation time and id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

/// Up to `limit` accounts matching `filter`, newest first, and whether more follow.
pub async fn page(db: &Database, filter: Filter, limit: u64) -> Result<(Vec<user::Model>, bool), StoreError> {
    let mut q = user::Entity::find();
    if let Some(prefix) = filter.email_prefix {
        q = q.filter(user::Column::Email.like(LikeExpr::new(crate::like_prefix(&prefix)).escape('\\')));
    }
    if let Some(from) = filter.created_from {
        q = q.filter(user::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        q = q.filter(user::Column::CreatedAt.lt(to));
    }
    if let Some(status) = filter.status {
        q = q.filter(user::Column::Status.eq(status));
    }
    if let Some((at, id)) = filter.after {
        q = q.filter(
            Condition::any()
                .add(user::Column::CreatedAt.lt(at))
                .add(Condition::all().add(user::Column::CreatedAt.eq(at)).add(user::Column::Id.lt(id))),
        );
    }
    let mut rows =
        q.order_by_desc(user::Column::CreatedAt).order_by_desc(user::Column::Id).limit(limit + 1).all(db).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Account `id`.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<user::Model, StoreError> {
    user::Entity::find_by_id(id).one(db).await?.ok_or(StoreError::NotFound)
}

/// How many devices account `id` has.
pub async fn device_count(db: &Database, id: Uuid) -> Result<u64, StoreError> {
    Ok(device::Entity::find().filter(device::Column::UserId.eq(id)).count(db).await?)
}

/// Disables account `id`: its sessions are revoked and its planned reminders cancelled.
pub async fn disable(db: &Database, id: Uuid, actor: &Actor, now: DateTime<Utc>) -> Result<user::Model, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    find(&txn, id).await?;
    keep_an_active_admin(&txn, id, "disabled").await?;
    set(&txn, id, [(user::Column::Status, Expr::value(UserStatus::Disabled))], now).await?;
    crate::staging::unstage(&txn, id, now).await?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::UserId.eq(id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    occurrence::Entity::update_many()
        .col_expr(occurrence::Column::State, Expr::value(OccurrenceState::Cancelled))
        .filter(occurrence::Column::UserId.eq(id))
        .filter(occurrence::Column::State.eq(OccurrenceState::Planned))
        .exec(&txn)
        .await?;
    audit::record(&txn, actor, "user.disable", "user", Some(id.to_string()), json!({}), now).await?;
    let u = find(&txn, id).await?;
    txn.commit().await?;
    Ok(u)
}

/// Enables account `id` again, its login lock lifted; its routines are planned afresh.
pub async fn enable(db: &Database, id: Uuid, actor: &Actor, now: DateTime<Utc>) -> Result<user::Model, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    find(&txn, id).await?;
    let active = Expr::value(UserStatus::Active);
    let unlocked = Expr::value(Option::<DateTime<Utc>>::None);
    set(&txn, id, [(user::Column::Status, active), (user::Column::LockedUntil, unlocked)], now).await?;
    crate::planning::replan_all(&txn, id, now).await?;
    audit::record(&txn, actor, "user.enable", "user", Some(id.to_string()), json!({}), now).await?;
    let u = find(&txn, id).await?;
    txn.commit().await?;
    Ok(u)
}

/// Erases account `id` and everything it owns.
pub async fn erase(db: &Database, id: Uuid, actor: &Actor, now: DateTime<Utc>) -> Result<(), StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let target = find(&txn, id).await?;
    keep_an_active_admin(&txn, id, "deleted").await?;
    erase_in(&txn, id).await?;
    audit::record(&txn, actor, "user.delete", "user", Some(id.to_string()), json!({"role": target.role}), now).await?;
    txn.commit().await?;
    Ok(())
}

/// Gives account `id` the role `role`.
pub async fn set_role(
    db: &Database,
    id: Uuid,
    role: Role,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<user::Model, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let target = find(&txn, id).await?;
    if role == Role::User {
        keep_an_active_admin(&txn, id, "demoted").await?;
    }
    set(&txn, id, [(user::Column::Role, Expr::value(role))], now).await?;
    let detail = json!({"from": target.role, "to": role.as_str()});
    audit::record(&txn, actor, "user.role", "user", Some(id.to_string()), detail, now).await?;
    let u = find(&txn, id).await?;
    txn.commit().await?;
    Ok(u)
}

/// Sets columns of account `id` (and its update time) in one statement.
async fn set<const N: usize>(
    txn: &impl ConnectionTrait,
    id: Uuid,
    columns: [(user::Column, sea_orm::sea_query::SimpleExpr); N],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut update = user::Entity::update_many();
    for (column, value) in columns {
        update = update.col_expr(column, value);
    }
    update.col_expr(user::Column::UpdatedAt, Expr::value(now)).filter(user::Column::Id.eq(id)).exec(txn).await?;
    Ok(())
}
