//! Reading records: pages of a list, changes since a sync cursor, and whole histories for reports.

use chrono::{DateTime, Utc};
use entity::record;
use sea_orm::{ColumnTrait, Condition, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::Collection;
use crate::StoreError;
use platform::Database;

/// A listing request, already validated.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct ListQuery {
    pub limit: u64,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub side: Option<String>,
    pub pump_type: Option<String>,
}

/// A record as a list shows it: the columns its view needs, not those only writes and sync use (each column
/// of each row is copied and decoded on its own, so a page of 50 pays for every one of them).
#[derive(Debug, Clone, FromQueryResult)]
pub struct Listed {
    pub id: Uuid,
    pub sort_at: DateTime<Utc>,
    pub data: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Her live records of a collection, newest first; a page and whether more follow.
pub async fn list(
    db: &Database,
    user_id: Uuid,
    collection: Collection,
    q: &ListQuery,
) -> Result<(Vec<Listed>, bool), StoreError> {
    let mut select = record::Entity::find()
        .filter(record::Column::UserId.eq(user_id))
        .filter(record::Column::Collection.eq(collection.name()))
        .filter(record::Column::DeletedAt.is_null());
    if let Some(from) = q.from {
        select = select.filter(record::Column::SortAt.gte(from));
    }
    if let Some(to) = q.to {
        select = select.filter(record::Column::SortAt.lt(to));
    }
    if let Some(side) = &q.side {
        select = select.filter(record::Column::Side.eq(side.as_str()));
    }
    if let Some(pump_type) = &q.pump_type {
        select = select.filter(record::Column::PumpType.eq(pump_type.as_str()));
    }
    if let Some((at, id)) = q.after {
        select = select.filter(
            Condition::any()
                .add(record::Column::SortAt.lt(at))
                .add(Condition::all().add(record::Column::SortAt.eq(at)).add(record::Column::Id.lt(id))),
        );
    }
    let mut rows = select
        .select_only()
        .columns([
            record::Column::Id,
            record::Column::SortAt,
            record::Column::Data,
            record::Column::Version,
            record::Column::CreatedAt,
            record::Column::UpdatedAt,
        ])
        .order_by_desc(record::Column::SortAt)
        .order_by_desc(record::Column::Id)
        .limit(q.limit + 1)
        .into_model::<Listed>()
        .all(db)
        .await?;
    let more = rows.len() as u64 > q.limit;
    rows.truncate(q.limit as usize);
    Ok((rows, more))
}

/// Her changes (records and tombstones) after change number `since`, in order; a page and whether more follow.
pub async fn changes_since(
    db: &Database,
    user_id: Uuid,
    since: i64,
    limit: u64,
) -> Result<(Vec<record::Model>, bool), StoreError> {
    let mut rows = record::Entity::find()
        .filter(record::Column::UserId.eq(user_id))
        .filter(record::Column::ChangeSeq.gt(since))
        .order_by_asc(record::Column::ChangeSeq)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Her live records of a collection with `sort_at` in `[from, to)`, parsed as `T`, oldest first.
pub async fn load<T: serde::de::DeserializeOwned>(
    db: &Database,
    user_id: Uuid,
    collection: Collection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(Uuid, T)>, StoreError> {
    let rows = record::Entity::find()
        .filter(record::Column::UserId.eq(user_id))
        .filter(record::Column::Collection.eq(collection.name()))
        .filter(record::Column::DeletedAt.is_null())
        .filter(record::Column::SortAt.gte(from))
        .filter(record::Column::SortAt.lt(to))
        .order_by_asc(record::Column::SortAt)
        .all(db)
        .await?;
    rows.into_iter().map(|r| Ok((r.id, serde_json::from_str(&r.data).map_err(anyhow::Error::from)?))).collect()
}
