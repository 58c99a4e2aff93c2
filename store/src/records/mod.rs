//! Her records (massage and pump sessions, symptom checks, routines): offline-first create-or-replace by
//! client id, optimistic concurrency by version, tombstones, and a per-user change sequence for delta sync.

use chrono::{DateTime, SubsecRound, Utc};
use entity::{record, user};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;
use crate::writes::{NewRecord, Step, Writes};
use futures_util::FutureExt;
use platform::db::WriteTxn;
use std::sync::Arc;

mod collection;
mod reads;

pub use collection::{Collection, Parsed};
pub use reads::{ListQuery, Listed, changes_since, list, load};

/// An `If-Match` precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: the record must exist.
    Any,
    /// The record's current version must be one of these.
    Versions(Vec<i64>),
}

fn check_precondition(if_match: &Option<IfMatch>, live: Option<&record::Model>) -> Result<(), StoreError> {
    let ok = match (if_match, live) {
        (None, _) => true,
        (Some(IfMatch::Any), found) => found.is_some(),
        (Some(IfMatch::Versions(v)), Some(found)) => v.contains(&found.version),
        (Some(IfMatch::Versions(_)), None) => false,
    };
    if ok { Ok(()) } else { Err(StoreError::PreconditionFailed) }
}

/// Takes the owner's next change number; on PostgreSQL this also locks her row, so her writes commit in
/// the order of their numbers and a sync never skips a number that commits late.
async fn next_seq(db: &impl ConnectionTrait, user_id: Uuid) -> Result<i64, StoreError> {
    take_seqs(db, user_id, 1).await?.ok_or(StoreError::NotFound)
}

/// Takes the owner's next `count` change numbers (as [`next_seq`] takes one) and gives the last of them;
/// `None` when she has no account.
pub(crate) async fn take_seqs(db: &impl ConnectionTrait, user_id: Uuid, count: i32) -> Result<Option<i64>, DbErr> {
    let updated = user::Entity::update_many()
        .col_expr(user::Column::ChangeSeq, Expr::col(user::Column::ChangeSeq).add(count))
        .filter(user::Column::Id.eq(user_id))
        .exec_with_returning(db)
        .await?;
    Ok(updated.first().map(|u| u.change_seq))
}

/// A record of hers in `collection` that is not deleted.
pub async fn find_live(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    collection: Collection,
    id: Uuid,
) -> Result<Option<record::Model>, StoreError> {
    Ok(record::Entity::find_by_id(id)
        .filter(record::Column::UserId.eq(user_id))
        .filter(record::Column::Collection.eq(collection.name()))
        .filter(record::Column::DeletedAt.is_null())
        .one(db)
        .await?)
}

/// Creates or replaces the record `id`; the same PUT twice changes nothing. Returns it and whether it was created.
/// The write shares its transaction with others waiting at the same time (see [`Writes`]).
#[tracing::instrument(skip_all, fields(collection = collection.name(), record.id = %id))]
pub async fn put(
    writes: &Writes,
    user_id: Uuid,
    collection: Collection,
    id: Uuid,
    body: &Value,
    if_match: Option<IfMatch>,
    now: DateTime<Utc>,
) -> Result<(record::Model, bool), StoreError> {
    let now = now.trunc_subsecs(3);
    let parsed = collection.parse(body, now).map_err(StoreError::Validation)?;
    check_guide(writes.db(), &parsed).await?;
    let put = Arc::new(Put { user_id, collection, id, data: parsed.data.to_string(), parsed, if_match, now });
    if put.if_match.is_some() {
        return writes.run(user_id, move |txn| put.clone().run(txn).boxed()).await;
    }
    // Most PUTs bring a new entry from her phone: new entries waiting together are inserted together.
    let row = new_row(id, user_id, collection, &put.parsed, put.data.clone(), 0, now);
    writes.insert(NewRecord { user_id, row }, move |txn| put.clone().run(txn).boxed()).await
}

/// A validated PUT, ready to run (perhaps more than once: see [`Writes`]).
struct Put {
    user_id: Uuid,
    collection: Collection,
    id: Uuid,
    parsed: Parsed,
    data: String,
    if_match: Option<IfMatch>,
    now: DateTime<Utc>,
}

impl Put {
    async fn run(self: Arc<Self>, txn: &WriteTxn) -> Result<Step<(record::Model, bool)>, StoreError> {
        let Self { user_id, collection, id, ref parsed, ref data, ref if_match, now } = *self;
        let seq = next_seq(txn, user_id).await?;
        if if_match.is_none() {
            // Most PUTs bring a new entry from her phone, so insert it straight away; an id already in use
            // inserts nothing and goes on below, to be compared, checked for its owner and replaced. (One
            // statement fewer than looking first, while this process's other writers wait.)
            let row = new_row(id, user_id, collection, parsed, data.clone(), seq, now);
            let if_new = OnConflict::column(record::Column::Id).do_nothing().to_owned();
            // (`exec_with_returning_many`: a conflict gives no rows, where the one-row form reports an error.)
            let inserted = record::Entity::insert(row).on_conflict(if_new).exec_with_returning_many(txn).await?;
            if let Some(row) = inserted.into_iter().next() {
                crate::planning::after_change(txn, &row, now).await?;
                return Ok(Step::Commit((row, true)));
            }
        }
        let existing = record::Entity::find_by_id(id).one(txn).await?;
        if let Some(e) = &existing
            && (e.user_id != user_id || e.collection != collection.name())
        {
            return Err(StoreError::Conflict("this id is already used by another record".into()));
        }
        let live = existing.as_ref().filter(|e| e.deleted_at.is_none());
        check_precondition(if_match, live)?;
        if let Some(same) = live.filter(|e| &e.data == data) {
            // A retried PUT: nothing changes, so no version or change number is spent.
            return Ok(Step::Rollback((same.clone(), false)));
        }
        let created = live.is_none();
        let row = match existing {
            Some(e) => {
                let (version, created_at) = (e.version + 1, if e.deleted_at.is_some() { now } else { e.created_at });
                let mut row: record::ActiveModel = e.into();
                row.version = Set(version);
                row.created_at = Set(created_at);
                row.deleted_at = Set(None);
                fill(&mut row, parsed, data.clone(), seq, now, created_at);
                row.update(txn).await?
            }
            None => new_row(id, user_id, collection, parsed, data.clone(), seq, now).insert(txn).await?,
        };
        crate::planning::after_change(txn, &row, now).await?;
        Ok(Step::Commit((row, created)))
    }
}

/// A record `id` of hers, new at `now`.
fn new_row(
    id: Uuid,
    user_id: Uuid,
    collection: Collection,
    parsed: &Parsed,
    data: String,
    seq: i64,
    now: DateTime<Utc>,
) -> record::ActiveModel {
    let mut row = record::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        collection: Set(collection.name().to_owned()),
        version: Set(1),
        created_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    };
    fill(&mut row, parsed, data, seq, now, now);
    row
}

/// A massage session may name only a guide that exists.
async fn check_guide(db: &impl ConnectionTrait, parsed: &Parsed) -> Result<(), StoreError> {
    let Some(slug) = parsed.data.get("guide").and_then(Value::as_str) else { return Ok(()) };
    let found = entity::guide::Entity::find()
        .filter(entity::guide::Column::Slug.eq(slug))
        .filter(entity::guide::Column::Published.eq(true))
        .one(db)
        .await?;
    if found.is_none() {
        return Err(StoreError::field("guide", "is not the slug of a published guide"));
    }
    Ok(())
}

fn fill(
    row: &mut record::ActiveModel,
    parsed: &Parsed,
    data: String,
    seq: i64,
    now: DateTime<Utc>,
    created: DateTime<Utc>,
) {
    row.sort_at = Set(parsed.sort_at.unwrap_or(created));
    row.side = Set(parsed.side.clone());
    row.pump_type = Set(parsed.pump_type.clone());
    row.data = Set(data);
    row.change_seq = Set(seq);
    row.updated_at = Set(now);
}

/// Applies a JSON merge patch (RFC 7396) to a record and validates the result as a whole.
#[tracing::instrument(skip_all, fields(collection = collection.name(), record.id = %id))]
pub async fn patch(
    writes: &Writes,
    user_id: Uuid,
    collection: Collection,
    id: Uuid,
    patch: &Value,
    if_match: Option<IfMatch>,
    now: DateTime<Utc>,
) -> Result<record::Model, StoreError> {
    if !patch.is_object() {
        return Err(StoreError::field("body", "must be a JSON object"));
    }
    let now = now.trunc_subsecs(3);
    let change = Arc::new((patch.clone(), if_match));
    writes
        .run(user_id, move |txn| {
            let change = change.clone();
            async move {
                let (patch, if_match) = &*change;
                let seq = next_seq(txn, user_id).await?;
                let existing = find_live(txn, user_id, collection, id).await?.ok_or(StoreError::NotFound)?;
                check_precondition(if_match, Some(&existing))?;
                let mut merged: Value = serde_json::from_str(&existing.data).map_err(anyhow::Error::from)?;
                merge_patch(&mut merged, patch);
                let parsed = collection.parse(&merged, now).map_err(StoreError::Validation)?;
                check_guide(txn, &parsed).await?;
                let data = parsed.data.to_string();
                if data == existing.data {
                    // Nothing changes, so no version or change number is spent.
                    return Ok(Step::Rollback(existing));
                }
                let (version, created_at) = (existing.version + 1, existing.created_at);
                let mut row: record::ActiveModel = existing.into();
                row.version = Set(version);
                fill(&mut row, &parsed, data, seq, now, created_at);
                let row = row.update(txn).await?;
                crate::planning::after_change(txn, &row, now).await?;
                Ok(Step::Commit(row))
            }
            .boxed()
        })
        .await
}

/// RFC 7396: objects merge recursively, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(map) = target {
        for (k, v) in patch {
            if v.is_null() {
                map.remove(k);
            } else {
                merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Deletes a record, leaving a tombstone (id, collection, version) for sync; her data in it is dropped.
#[tracing::instrument(skip_all, fields(collection = collection.name(), record.id = %id))]
pub async fn delete(
    writes: &Writes,
    user_id: Uuid,
    collection: Collection,
    id: Uuid,
    if_match: Option<IfMatch>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = now.trunc_subsecs(3);
    writes
        .run(user_id, move |txn| {
            let if_match = if_match.clone();
            async move {
                let seq = next_seq(txn, user_id).await?;
                let existing = find_live(txn, user_id, collection, id).await?.ok_or(StoreError::NotFound)?;
                check_precondition(&if_match, Some(&existing))?;
                let version = existing.version + 1;
                let mut row: record::ActiveModel = existing.into();
                row.version = Set(version);
                row.data = Set("{}".into());
                row.side = Set(None);
                row.pump_type = Set(None);
                row.change_seq = Set(seq);
                row.updated_at = Set(now);
                row.deleted_at = Set(Some(now));
                let row = row.update(txn).await?;
                crate::planning::after_change(txn, &row, now).await?;
                Ok(Step::Commit(()))
            }
            .boxed()
        })
        .await
}

#[cfg(test)]
mod tests;
