//! Guides and tips: what users read (published only, by locale) and what staff write (every change audited in
//! its own transaction).

use chrono::{DateTime, Utc};
use entity::{guide, tip};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Database;
use crate::StoreError;
use crate::audit::{self, Actor};

/// Published guides in any of `locales`, by slug.
pub async fn published_guides(db: &Database, locales: &[String]) -> Result<Vec<guide::Model>, StoreError> {
    Ok(guide::Entity::find()
        .filter(guide::Column::Published.eq(true))
        .filter(guide::Column::Locale.is_in(locales.iter().map(String::as_str)))
        .order_by_asc(guide::Column::Slug)
        .all(db)
        .await?)
}

/// The published guide `slug` in `locale`.
pub async fn published_guide(db: &Database, slug: &str, locale: &str) -> Result<Option<guide::Model>, StoreError> {
    Ok(guide::Entity::find()
        .filter(guide::Column::Slug.eq(slug))
        .filter(guide::Column::Locale.eq(locale))
        .filter(guide::Column::Published.eq(true))
        .one(db)
        .await?)
}

/// Up to `limit` tips published by `now` in any of `locales`, newest first.
pub async fn published_tips(
    db: &Database,
    locales: &[String],
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<tip::Model>, StoreError> {
    Ok(tip::Entity::find()
        .filter(tip::Column::Published.eq(true))
        .filter(tip::Column::Locale.is_in(locales.iter().map(String::as_str)))
        .filter(Condition::any().add(tip::Column::PublishAt.is_null()).add(tip::Column::PublishAt.lte(now)))
        .order_by_desc(tip::Column::CreatedAt)
        .order_by_asc(tip::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Every guide, published or not, in `locale` if given; by slug, then locale.
pub async fn all_guides(db: &Database, locale: Option<&str>) -> Result<Vec<guide::Model>, StoreError> {
    let mut q = guide::Entity::find();
    if let Some(l) = locale {
        q = q.filter(guide::Column::Locale.eq(l));
    }
    Ok(q.order_by_asc(guide::Column::Slug).order_by_asc(guide::Column::Locale).all(db).await?)
}

/// Guide `id`, published or not.
pub async fn guide(db: &Database, id: Uuid) -> Result<guide::Model, StoreError> {
    guide::Entity::find_by_id(id).one(db).await?.ok_or(StoreError::NotFound)
}

/// Every tip, newest first.
pub async fn all_tips(db: &Database) -> Result<Vec<tip::Model>, StoreError> {
    Ok(tip::Entity::find().order_by_desc(tip::Column::CreatedAt).all(db).await?)
}

/// A change of content by staff: who, and what the audit log says of it.
pub struct Change<'a> {
    pub actor: &'a Actor,
    pub detail: Value,
    pub now: DateTime<Utc>,
}

/// What staff write of a guide (validated by the caller); `steps` and `sources` are JSON arrays.
#[derive(Debug, Clone)]
pub struct GuideFields {
    pub slug: String,
    pub locale: String,
    pub title: String,
    pub summary: String,
    pub steps: Value,
    pub sources: Value,
    pub published: bool,
    pub reviewed_at: Option<DateTime<Utc>>,
}

impl GuideFields {
    fn fill(self, row: &mut guide::ActiveModel, now: DateTime<Utc>) {
        row.slug = Set(self.slug);
        row.locale = Set(self.locale);
        row.title = Set(self.title);
        row.summary = Set(self.summary);
        row.steps = Set(self.steps.to_string());
        row.sources = Set(self.sources.to_string());
        row.published = Set(self.published);
        row.reviewed_at = Set(self.reviewed_at);
        row.updated_at = Set(now);
    }
}

/// What staff write of a tip (validated by the caller).
#[derive(Debug, Clone)]
pub struct TipFields {
    pub text: String,
    pub locale: String,
    pub published: bool,
    pub publish_at: Option<DateTime<Utc>>,
}

impl TipFields {
    fn fill(self, row: &mut tip::ActiveModel, now: DateTime<Utc>) {
        row.text = Set(self.text);
        row.locale = Set(self.locale);
        row.published = Set(self.published);
        row.publish_at = Set(self.publish_at);
        row.updated_at = Set(now);
    }
}

/// Inserts a guide; a slug is unique per locale (409 otherwise).
pub async fn create_guide(db: &Database, fields: GuideFields, change: Change<'_>) -> Result<guide::Model, StoreError> {
    let mut row = guide::ActiveModel { id: Set(Uuid::now_v7()), created_at: Set(change.now), ..Default::default() };
    fields.fill(&mut row, change.now);
    let txn = crate::db::begin_write(db).await?;
    let saved = row.insert(&txn).await.map_err(slug_taken)?;
    audit::record(&txn, change.actor, "guide.create", "guide", Some(saved.id.to_string()), change.detail, change.now)
        .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Changes guide `id` as `edit` makes it from the stored one, in one transaction.
pub async fn update_guide<E: From<StoreError>>(
    db: &Database,
    id: Uuid,
    edit: impl FnOnce(&guide::Model) -> Result<GuideFields, E>,
    change: Change<'_>,
) -> Result<guide::Model, E> {
    let txn = crate::db::begin_write(db).await.map_err(StoreError::from)?;
    let current =
        guide::Entity::find_by_id(id).one(&txn).await.map_err(StoreError::from)?.ok_or(StoreError::NotFound)?;
    let fields = edit(&current)?;
    let mut row: guide::ActiveModel = current.into();
    fields.fill(&mut row, change.now);
    let saved = row.update(&txn).await.map_err(slug_taken)?;
    audit::record(&txn, change.actor, "guide.update", "guide", Some(id.to_string()), change.detail, change.now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(saved)
}

/// Deletes guide `id`.
pub async fn delete_guide(db: &Database, id: Uuid, actor: &Actor, now: DateTime<Utc>) -> Result<(), StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let g = guide::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::NotFound)?;
    guide::Entity::delete_by_id(id).exec(&txn).await?;
    let detail = json!({"slug": g.slug, "locale": g.locale});
    audit::record(&txn, actor, "guide.delete", "guide", Some(id.to_string()), detail, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Inserts a tip.
pub async fn create_tip(db: &Database, fields: TipFields, change: Change<'_>) -> Result<tip::Model, StoreError> {
    let mut row = tip::ActiveModel { id: Set(Uuid::now_v7()), created_at: Set(change.now), ..Default::default() };
    fields.fill(&mut row, change.now);
    let txn = crate::db::begin_write(db).await?;
    let saved = row.insert(&txn).await?;
    audit::record(&txn, change.actor, "tip.create", "tip", Some(saved.id.to_string()), change.detail, change.now)
        .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Changes tip `id` as `edit` makes it from the stored one, in one transaction.
pub async fn update_tip<E: From<StoreError>>(
    db: &Database,
    id: Uuid,
    edit: impl FnOnce(&tip::Model) -> Result<TipFields, E>,
    change: Change<'_>,
) -> Result<tip::Model, E> {
    let txn = crate::db::begin_write(db).await.map_err(StoreError::from)?;
    let current = tip::Entity::find_by_id(id).one(&txn).await.map_err(StoreError::from)?.ok_or(StoreError::NotFound)?;
    let fields = edit(&current)?;
    let mut row: tip::ActiveModel = current.into();
    fields.fill(&mut row, change.now);
    let saved = row.update(&txn).await.map_err(StoreError::from)?;
    audit::record(&txn, change.actor, "tip.update", "tip", Some(id.to_string()), change.detail, change.now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(saved)
}

/// Deletes tip `id`.
pub async fn delete_tip(db: &Database, id: Uuid, actor: &Actor, now: DateTime<Utc>) -> Result<(), StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let deleted = tip::Entity::delete_by_id(id).exec(&txn).await?;
    if deleted.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    audit::record(&txn, actor, "tip.delete", "tip", Some(id.to_string()), json!({}), now).await?;
    txn.commit().await?;
    Ok(())
}

fn slug_taken(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            StoreError::Conflict("a guide with this slug exists in this locale".into())
        }
        _ => e.into(),
    }
}
