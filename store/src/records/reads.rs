//! Reading records: pages of a list, changes since a sync cursor, and spans of time for reports.

use chrono::{DateTime, Utc};
use domain::RecordKind;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::Record;
use super::tables::{Table, on_table};
use crate::StoreError;
use crate::care::Reader;

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

/// The live records of `kind` of the owner `reader` reads, newest first; a page and whether more follow. A
/// member's read finds nothing unless a live grant allows it (checked in the same query).
pub async fn list(
    db: &impl ConnectionTrait,
    reader: Reader,
    kind: RecordKind,
    q: &ListQuery,
) -> Result<(Vec<Record>, bool), StoreError> {
    let mut rows: Vec<Record> = on_table!(kind, t => {
        let at = <t::Entity as Table>::LISTED_BY;
        let mut select = t::Entity::find()
            .filter(t::Column::UserId.eq(reader.owner()))
            .filter(t::Column::DeletedAt.is_null());
        if let Some(grant) = reader.grant_condition() {
            select = select.filter(grant);
        }
        if let Some(from) = q.from {
            select = select.filter(at.gte(from));
        }
        if let Some(to) = q.to {
            select = select.filter(at.lt(to));
        }
        if let Some((after, id)) = q.after {
            select = select.filter(
                Condition::any()
                    .add(at.lt(after))
                    .add(Condition::all().add(at.eq(after)).add(t::Column::Id.lt(id))),
            );
        }
        select = filter_choices(select, kind, q);
        select
            .order_by_desc(at)
            .order_by_desc(t::Column::Id)
            .limit(q.limit + 1)
            .all(db)
            .await?
            .into_iter()
            .map(Record::from)
            .collect()
    });
    let more = rows.len() as u64 > q.limit;
    rows.truncate(q.limit as usize);
    Ok((rows, more))
}

/// The side and pump-type filters, on the kinds that have them (the API refuses them on the others).
fn filter_choices<E: EntityTrait>(
    mut select: sea_orm::Select<E>,
    kind: RecordKind,
    q: &ListQuery,
) -> sea_orm::Select<E> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let has_side = matches!(kind, RecordKind::MassageSessions | RecordKind::PumpSessions);
    if let Some(side) = q.side.as_deref().filter(|_| has_side) {
        select = select.filter(Expr::col("side").eq(side));
    }
    if let Some(pump_type) = q.pump_type.as_deref().filter(|_| kind == RecordKind::PumpSessions) {
        select = select.filter(Expr::col("pump_type").eq(pump_type));
    }
    select
}

/// The user's changes (records and tombstones of every kind) after change number `since`, in order; a page and
/// whether more follow. Each table gives its first `limit + 1` changes by its sync index, and the page is the
/// first of them all: every change of the page is among those.
pub async fn changes_since(
    db: &crate::Database,
    user_id: Uuid,
    since: i64,
    limit: u64,
) -> Result<(Vec<Record>, bool), StoreError> {
    use sea_orm::{AccessMode, DbBackend, IsolationLevel, TransactionTrait};
    // One snapshot for every table: a write committing between two tables' reads must not let the cursor
    // pass a change of the table read first (PostgreSQL needs REPEATABLE READ for that; SQLite's read
    // transaction is one snapshot).
    let isolation = (db.get_database_backend() == DbBackend::Postgres).then_some(IsolationLevel::RepeatableRead);
    let txn = db.begin_with_config(isolation, Some(AccessMode::ReadOnly)).await?;
    let db = &txn;
    let mut rows = Vec::new();
    for kind in RecordKind::ALL {
        on_table!(kind, t => {
            let found = t::Entity::find()
                .filter(t::Column::UserId.eq(user_id))
                .filter(t::Column::ChangeSeq.gt(since))
                .order_by_asc(t::Column::ChangeSeq)
                .limit(limit + 1)
                .all(db)
                .await?;
            rows.extend(found.into_iter().map(Record::from));
        });
    }
    txn.commit().await?;
    rows.sort_unstable_by_key(|r| r.change_seq);
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// The live records of `kind` of the owner `reader` reads that happened in `[from, to)`, oldest first; a
/// member's read finds nothing unless a live grant allows it (checked in the same query).
pub async fn load_read(
    db: &impl ConnectionTrait,
    reader: Reader,
    kind: RecordKind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Record>, sea_orm::DbErr> {
    Ok(on_table!(kind, t => {
        let at = <t::Entity as Table>::LISTED_BY;
        let mut select = t::Entity::find()
            .filter(t::Column::UserId.eq(reader.owner()))
            .filter(t::Column::DeletedAt.is_null())
            .filter(at.gte(from))
            .filter(at.lt(to));
        if let Some(grant) = reader.grant_condition() {
            select = select.filter(grant);
        }
        select.order_by_asc(at).all(db).await?.into_iter().map(Record::from).collect()
    }))
}

/// The live records of `kind` of the users `user_ids` that happened in `[from, to)`, oldest first.
pub async fn load(
    db: &impl ConnectionTrait,
    user_ids: &[Uuid],
    kind: RecordKind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Record>, sea_orm::DbErr> {
    let mut rows = Vec::new();
    for ids in user_ids.chunks(crate::planning::IN_CHUNK) {
        on_table!(kind, t => {
            let at = <t::Entity as Table>::LISTED_BY;
            let found = t::Entity::find()
                .filter(t::Column::UserId.is_in(ids.iter().copied()))
                .filter(t::Column::DeletedAt.is_null())
                .filter(at.gte(from))
                .filter(at.lt(to))
                .order_by_asc(at)
                .all(db)
                .await?;
            rows.extend(found.into_iter().map(Record::from));
        });
    }
    Ok(rows)
}

/// Every live record of the user, each kind oldest first (exports).
pub async fn all_live(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<Record>, sea_orm::DbErr> {
    let mut rows = Vec::new();
    for kind in RecordKind::ALL {
        on_table!(kind, t => {
            let found = t::Entity::find()
                .filter(t::Column::UserId.eq(user_id))
                .filter(t::Column::DeletedAt.is_null())
                .order_by_asc(<t::Entity as Table>::LISTED_BY)
                .order_by_asc(t::Column::Id)
                .all(db)
                .await?;
            rows.extend(found.into_iter().map(Record::from));
        });
    }
    Ok(rows)
}

/// How many live records of `kinds` the user has.
pub async fn count_live(db: &impl ConnectionTrait, user_id: Uuid, kinds: &[RecordKind]) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::PaginatorTrait;
    let mut count = 0;
    for kind in kinds {
        count += on_table!(*kind, t => {
            t::Entity::find()
                .filter(t::Column::UserId.eq(user_id))
                .filter(t::Column::DeletedAt.is_null())
                .count(db)
                .await?
        });
    }
    Ok(count)
}

/// Erases every record and tombstone of the user (the account is being deleted).
pub async fn erase_all_of(db: &impl ConnectionTrait, user_id: Uuid) -> Result<(), sea_orm::DbErr> {
    for kind in RecordKind::ALL {
        on_table!(kind, t => {
            t::Entity::delete_many().filter(t::Column::UserId.eq(user_id)).exec(db).await?;
        });
    }
    Ok(())
}
