//! Notes a member writes for the owner: a record of the owner's (kind `care_notes`), written only through a
//! live grant with `notes:write`, checked by the statement that takes the owner's change number.

use chrono::{DateTime, SubsecRound, Utc};
use domain::{RecordBody, RecordKind};
use entity::user;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::Reader;
use crate::records::Record;
use crate::{Database, StoreError};

/// Writes the note `body` (text and author) to the owner `reader` reads; `None` when the grant does not allow
/// it. 422 for a bad note, before anything is written.
pub async fn write(
    db: &Database,
    reader: Reader,
    body: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Option<Record>, StoreError> {
    let now = now.trunc_subsecs(3);
    let body = RecordBody::parse(RecordKind::CareNotes, body, now).map_err(StoreError::Validation)?;
    let txn = crate::db::begin_write(db).await?;
    let mut take = user::Entity::update_many()
        .col_expr(user::Column::ChangeSeq, Expr::col(user::Column::ChangeSeq).add(1))
        .filter(user::Column::Id.eq(reader.owner()));
    if let Some(grant) = reader.grant_condition() {
        take = take.filter(grant);
    }
    let Some(owner) = take.exec_with_returning(&txn).await?.into_iter().next() else { return Ok(None) };
    let note = Record::new(Uuid::now_v7(), owner.id, body, owner.change_seq, now);
    let stored =
        crate::records::insert_if_new(&txn, &note).await?.ok_or(StoreError::Conflict("the id was taken".into()))?;
    txn.commit().await?;
    Ok(Some(stored))
}
