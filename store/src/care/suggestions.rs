//! Routines a member suggests (`routines:suggest`): kept pending until the owner accepts one (a routine is made
//! in the owner's account) or declines it.

use chrono::{DateTime, Utc};
use domain::care::SuggestionStatus;
use domain::routine::Routine;
use entity::routine_suggestion as suggestion;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::Reader;
use crate::{Database, StoreError};

/// Keeps `routine` suggested by the member of `reader` (signed `author_name`); `None` when the grant does not
/// allow it (checked by the query that reads the owner, in the transaction that inserts).
pub async fn suggest(
    db: &Database,
    reader: Reader,
    author_name: String,
    routine: &Routine,
    now: DateTime<Utc>,
) -> Result<Option<suggestion::Model>, StoreError> {
    let Reader::Member { member, .. } = reader else { return Ok(None) };
    let txn = crate::db::begin_write(db).await?;
    if super::grants::client_account(&txn, reader).await?.is_none() {
        return Ok(None);
    }
    let row = suggestion::ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(reader.owner()),
        member_id: Set(Some(member)),
        author_name: Set(author_name),
        routine: Set(serde_json::to_string(routine).map_err(anyhow::Error::from)?),
        routine_id: Set(Uuid::now_v7()),
        status: Set(SuggestionStatus::Pending),
        created_at: Set(now),
        decided_at: Set(None),
    };
    let id = row.id.clone().unwrap();
    suggestion::Entity::insert(row).exec_without_returning(&txn).await?;
    let stored = suggestion::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::NotFound)?;
    txn.commit().await?;
    Ok(Some(stored))
}

/// The owner's suggestions, newest first; only those of `status` when given.
pub async fn of_owner(
    db: &Database,
    owner: Uuid,
    status: Option<SuggestionStatus>,
) -> Result<Vec<suggestion::Model>, StoreError> {
    let mut q = suggestion::Entity::find().filter(suggestion::Column::OwnerId.eq(owner));
    if let Some(status) = status {
        q = q.filter(suggestion::Column::Status.eq(status));
    }
    Ok(q.order_by_desc(suggestion::Column::CreatedAt).order_by_desc(suggestion::Column::Id).all(db).await?)
}

/// The owner's suggestion `id`; `NotFound` for anyone else's.
pub async fn find(db: &Database, owner: Uuid, id: Uuid) -> Result<suggestion::Model, StoreError> {
    suggestion::Entity::find_by_id(id)
        .filter(suggestion::Column::OwnerId.eq(owner))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Settles the owner's pending suggestion `id` as `status`; 409 when it is settled already.
pub async fn decide(
    db: &Database,
    owner: Uuid,
    id: Uuid,
    status: SuggestionStatus,
    now: DateTime<Utc>,
) -> Result<suggestion::Model, StoreError> {
    let settled = suggestion::Entity::update_many()
        .col_expr(suggestion::Column::Status, Expr::value(status))
        .col_expr(suggestion::Column::DecidedAt, Expr::value(now))
        .filter(suggestion::Column::Id.eq(id))
        .filter(suggestion::Column::OwnerId.eq(owner))
        .filter(suggestion::Column::Status.eq(SuggestionStatus::Pending))
        .exec(db)
        .await?;
    let found = find(db, owner, id).await?;
    if settled.rows_affected == 0 && found.status != status {
        return Err(StoreError::Conflict(format!("this suggestion was {} already", found.status)));
    }
    Ok(found)
}
