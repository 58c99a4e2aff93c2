//! A user's records (massage and pump sessions, symptom checks, routines): offline-first create-or-replace by
//! client id, optimistic concurrency by version, tombstones, and a per-user change sequence for delta sync.
//! Each kind has its typed table ([`tables`]); writes commit through the write lanes ([`crate::writes`]).

use crate::db::WriteTxn;
use chrono::{DateTime, SubsecRound, Utc};
use domain::{RecordBody, RecordKind};
use entity::user;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

use crate::StoreError;
use crate::writes::{NewRecord, Step, Writes};
use tables::{FromRecord, on_table};

mod reads;
pub(crate) mod tables;

pub use reads::{ListQuery, all_live, changes_since, count_live, erase_all_of, list, load, load_read};

/// The kinds of record, by the name the API has long used for them.
pub type Collection = RecordKind;

/// A record of any kind, or its tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Client-generated (PUT) or server-generated (POST); unique within its kind.
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: RecordKind,
    /// When it happened (sessions, checks) or was created (routines): its place in lists.
    pub sort_at: DateTime<Utc>,
    /// Starts at 1, +1 on every change: the ETag.
    pub version: i64,
    /// The owner's change number at its last change: the sync cursor.
    pub change_seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Its fields; `None` once deleted.
    pub body: Option<RecordBody>,
}

impl Record {
    /// A record `id` of `user_id`, new at `now` with change number `seq`.
    pub fn new(id: Uuid, user_id: Uuid, body: RecordBody, seq: i64, now: DateTime<Utc>) -> Self {
        Self {
            id,
            user_id,
            kind: body.kind(),
            sort_at: tables::listed_at(&body, now),
            version: 1,
            change_seq: seq,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            body: Some(body),
        }
    }
}

/// An `If-Match` precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: the record must exist.
    Any,
    /// The record's current version must be one of these.
    Versions(Vec<i64>),
}

fn check_precondition(if_match: &Option<IfMatch>, live: Option<&Record>) -> Result<(), StoreError> {
    let ok = match (if_match, live) {
        (None, _) => true,
        (Some(IfMatch::Any), found) => found.is_some(),
        (Some(IfMatch::Versions(v)), Some(found)) => v.contains(&found.version),
        (Some(IfMatch::Versions(_)), None) => false,
    };
    if ok { Ok(()) } else { Err(StoreError::PreconditionFailed) }
}

/// Takes the owner's next change number; on PostgreSQL this also locks the owner's row, so the owner's writes
/// commit in the order of their numbers and a sync never skips a number that commits late.
async fn next_seq(db: &impl ConnectionTrait, user_id: Uuid) -> Result<i64, StoreError> {
    take_seqs(db, user_id, 1).await?.ok_or(StoreError::NotFound)
}

/// Takes the owner's next `count` change numbers (as [`next_seq`] takes one) and gives the last of them;
/// `None` when there is no such account.
pub(crate) async fn take_seqs(db: &impl ConnectionTrait, user_id: Uuid, count: i32) -> Result<Option<i64>, DbErr> {
    let updated = user::Entity::update_many()
        .col_expr(user::Column::ChangeSeq, Expr::col(user::Column::ChangeSeq).add(count))
        .filter(user::Column::Id.eq(user_id))
        .exec_with_returning(db)
        .await?;
    Ok(updated.first().map(|u| u.change_seq))
}

/// The record `id` of `kind`, whoever owns it, deleted or not.
async fn find_any(db: &impl ConnectionTrait, kind: RecordKind, id: Uuid) -> Result<Option<Record>, DbErr> {
    on_table!(kind, t => Ok(t::Entity::find_by_id(id).one(db).await?.map(Record::from)))
}

/// A record of the user's of `kind` that is not deleted.
pub async fn find_live(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    kind: RecordKind,
    id: Uuid,
) -> Result<Option<Record>, StoreError> {
    Ok(find_any(db, kind, id).await?.filter(|r| r.user_id == user_id && r.deleted_at.is_none()))
}

/// Inserts `r` unless its id is in use; gives it as stored, or `None`.
pub(crate) async fn insert_if_new(db: &impl ConnectionTrait, r: &Record) -> Result<Option<Record>, DbErr> {
    on_table!(r.kind, t => {
        let if_new = OnConflict::column(t::Column::Id).do_nothing().to_owned();
        // (`exec_with_returning_many`: a conflict gives no rows, where the one-row form reports an error.)
        let inserted = t::Entity::insert(t::ActiveModel::from_record(r))
            .on_conflict(if_new)
            .exec_with_returning_many(db)
            .await?;
        Ok(inserted.into_iter().next().map(Record::from))
    })
}

/// Inserts stored records as they are (seeding a benchmark's database): each kind in chunks.
pub async fn insert_stored(db: &impl ConnectionTrait, rows: &[Record]) -> Result<(), DbErr> {
    for kind in RecordKind::ALL {
        let of_kind: Vec<&Record> = rows.iter().filter(|r| r.kind == kind).collect();
        for chunk in of_kind.chunks(crate::planning::IN_CHUNK) {
            on_table!(kind, t => {
                t::Entity::insert_many(chunk.iter().map(|r| t::ActiveModel::from_record(r))).exec(db).await?;
            });
        }
    }
    Ok(())
}

/// Writes every column of the stored record `r`.
async fn update(db: &impl ConnectionTrait, r: &Record) -> Result<Record, DbErr> {
    on_table!(r.kind, t => Ok(Record::from(t::ActiveModel::from_record(r).update(db).await?)))
}

/// Creates or replaces the record `id`; the same PUT twice changes nothing. Returns it and whether it was created.
/// The write shares its transaction with others waiting at the same time (see [`Writes`]).
#[tracing::instrument(skip_all, fields(kind = kind.name(), record.id = %id))]
pub async fn put(
    writes: &Writes,
    user_id: Uuid,
    kind: RecordKind,
    id: Uuid,
    body: &Value,
    if_match: Option<IfMatch>,
    now: DateTime<Utc>,
) -> Result<(Record, bool), StoreError> {
    let now = now.trunc_subsecs(3);
    let body = RecordBody::parse(kind, body, now).map_err(StoreError::Validation)?;
    check_guide(writes.db(), &body).await?;
    let new = Record::new(id, user_id, body, 0, now);
    let has_precondition = if_match.is_some();
    let work = replacing(Arc::new((new.clone(), if_match)));
    if has_precondition {
        return writes.run(user_id, work).await;
    }
    // Most PUTs bring a new entry from a phone: new entries waiting together are inserted together.
    writes.insert(NewRecord { record: new }, work).await
}

/// What a PUT decided in its transaction: the record and whether it was created.
type PutOutcome = Result<Step<(Record, bool)>, StoreError>;

/// The write of a PUT, as the lanes run it (perhaps more than once: see [`Writes`]).
fn replacing(
    put: Arc<(Record, Option<IfMatch>)>,
) -> impl for<'t> FnMut(&'t WriteTxn) -> BoxFuture<'t, PutOutcome> + Send + 'static {
    move |txn| {
        let put = put.clone();
        async move { replace(txn, &put.0, &put.1).await }.boxed()
    }
}

/// A PUT in `txn`: `new` inserted when its id is free, else compared, checked for its owner and replaced.
async fn replace(txn: &WriteTxn, new: &Record, if_match: &Option<IfMatch>) -> Result<Step<(Record, bool)>, StoreError> {
    let (user_id, now) = (new.user_id, new.updated_at);
    let seq = next_seq(txn, user_id).await?;
    let new = Record { change_seq: seq, ..new.clone() };
    if tables::ids_in_use(txn, &[new.id], Some(new.kind)).await? {
        return Err(StoreError::Conflict("this id is already used by another record".into()));
    }
    if if_match.is_none() {
        // Insert straight away: one statement fewer than looking first, while the lane's other writes wait.
        if let Some(row) = insert_if_new(txn, &new).await? {
            crate::planning::after_change(txn, &row, now).await?;
            return Ok(Step::Commit((row, true)));
        }
    }
    let existing = find_any(txn, new.kind, new.id).await?;
    if existing.as_ref().is_some_and(|e| e.user_id != user_id) {
        return Err(StoreError::Conflict("this id is already used by another record".into()));
    }
    let live = existing.as_ref().filter(|e| e.deleted_at.is_none());
    check_precondition(if_match, live)?;
    if let Some(same) = live.filter(|e| e.body == new.body) {
        // A retried PUT: nothing changes, so no version or change number is spent.
        return Ok(Step::Rollback((same.clone(), false)));
    }
    let created = live.is_none();
    let row = match existing {
        Some(e) => {
            let created_at = if e.deleted_at.is_some() { now } else { e.created_at };
            let body = new.body.clone().expect("a PUT has a body");
            let sort_at = tables::listed_at(&body, created_at);
            let row = Record { version: e.version + 1, created_at, sort_at, deleted_at: None, ..new };
            update(txn, &Record { body: Some(body), ..row }).await?
        }
        None => insert_if_new(txn, &new).await?.ok_or_else(|| StoreError::Conflict("the id was taken".into()))?,
    };
    crate::planning::after_change(txn, &row, now).await?;
    Ok(Step::Commit((row, created)))
}

/// A massage session may name only a guide that exists.
async fn check_guide(db: &impl ConnectionTrait, body: &RecordBody) -> Result<(), StoreError> {
    let Some(slug) = body.guide() else { return Ok(()) };
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

/// Applies a JSON merge patch (RFC 7396) to a record and validates the result as a whole.
#[tracing::instrument(skip_all, fields(kind = kind.name(), record.id = %id))]
pub async fn patch(
    writes: &Writes,
    user_id: Uuid,
    kind: RecordKind,
    id: Uuid,
    patch: &Value,
    if_match: Option<IfMatch>,
    now: DateTime<Utc>,
) -> Result<Record, StoreError> {
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
                let existing = find_live(txn, user_id, kind, id).await?.ok_or(StoreError::NotFound)?;
                check_precondition(if_match, Some(&existing))?;
                let mut merged = serde_json::to_value(&existing.body).map_err(anyhow::Error::from)?;
                merge_patch(&mut merged, patch);
                let body = RecordBody::parse(kind, &merged, now).map_err(StoreError::Validation)?;
                check_guide(txn, &body).await?;
                if existing.body.as_ref() == Some(&body) {
                    // Nothing changes, so no version or change number is spent.
                    return Ok(Step::Rollback(existing));
                }
                let sort_at = tables::listed_at(&body, existing.created_at);
                let row = Record {
                    version: existing.version + 1,
                    change_seq: seq,
                    updated_at: now,
                    sort_at,
                    body: Some(body),
                    ..existing
                };
                let row = update(txn, &row).await?;
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

/// Deletes a record, leaving a tombstone (id, kind, version, time) for sync; the user's fields are dropped.
#[tracing::instrument(skip_all, fields(kind = kind.name(), record.id = %id))]
pub async fn delete(
    writes: &Writes,
    user_id: Uuid,
    kind: RecordKind,
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
                let existing = find_live(txn, user_id, kind, id).await?.ok_or(StoreError::NotFound)?;
                check_precondition(&if_match, Some(&existing))?;
                let tombstone = Record {
                    version: existing.version + 1,
                    change_seq: seq,
                    updated_at: now,
                    deleted_at: Some(now),
                    body: None,
                    ..existing
                };
                let row = update(txn, &tombstone).await?;
                crate::planning::after_change(txn, &row, now).await?;
                Ok(Step::Commit(()))
            }
            .boxed()
        })
        .await
}

#[cfg(test)]
mod tests;
