//! Invitations to a care team: made by the owner with a code (kept hashed), accepted once by a member.

use chrono::{DateTime, Utc};
use domain::care::{CareRole, Scope};
use entity::{care_grant, care_grant_scope, care_invitation};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use super::grants::{self, Grant};
use crate::{Database, StoreError};

/// Invitations an owner may have waiting at once.
pub const MAX_PENDING: u64 = 20;

/// An invitation about to be made; its code is the caller's, only its hash is kept.
pub struct NewInvitation {
    pub owner_id: Uuid,
    pub role: CareRole,
    pub scopes: Vec<Scope>,
    pub note: Option<String>,
    pub grant_expires_at: Option<DateTime<Utc>>,
    pub code_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// Keeps a new invitation; 409 when the owner has [`MAX_PENDING`] waiting already.
pub async fn create(
    db: &Database,
    new: NewInvitation,
    now: DateTime<Utc>,
) -> Result<care_invitation::Model, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let pending = care_invitation::Entity::find()
        .filter(care_invitation::Column::OwnerId.eq(new.owner_id))
        .filter(care_invitation::Column::AcceptedAt.is_null())
        .filter(care_invitation::Column::ExpiresAt.gt(now))
        .count(&txn)
        .await?;
    if pending >= MAX_PENDING {
        return Err(StoreError::Conflict(format!("at most {MAX_PENDING} invitations may wait at once")));
    }
    let scopes: Vec<&str> = new.scopes.iter().map(|s| s.as_str()).collect();
    let row = care_invitation::ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(new.owner_id),
        role: Set(new.role),
        scopes: Set(scopes.join(" ")),
        note: Set(new.note),
        grant_expires_at: Set(new.grant_expires_at),
        code_hash: Set(new.code_hash),
        expires_at: Set(new.expires_at),
        accepted_at: Set(None),
        accepted_by: Set(None),
        created_at: Set(now),
    };
    let id = row.id.clone().unwrap();
    care_invitation::Entity::insert(row).exec_without_returning(&txn).await?;
    let stored = care_invitation::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::NotFound)?;
    txn.commit().await?;
    Ok(stored)
}

/// What accepting a code led to.
pub enum Acceptance {
    /// A new grant; an earlier live grant between the same two accounts ends.
    Granted(Grant),
    /// No waiting invitation has this code (unknown, used or expired).
    Unknown,
    /// The code is the accepting account's own invitation.
    Own,
}

/// Accepts the waiting invitation whose code hashes to `code_hash` for `member_id`, in one transaction.
pub async fn accept(
    db: &Database,
    code_hash: &str,
    member_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Acceptance, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let found = care_invitation::Entity::find()
        .filter(care_invitation::Column::CodeHash.eq(code_hash))
        .filter(care_invitation::Column::AcceptedAt.is_null())
        .filter(care_invitation::Column::ExpiresAt.gt(now))
        .one(&txn)
        .await?;
    let Some(invitation) = found else { return Ok(Acceptance::Unknown) };
    if invitation.owner_id == member_id {
        return Ok(Acceptance::Own);
    }
    // The new member may receive the owner's reminders.
    crate::staging::unstage(&txn, invitation.owner_id, now).await?;
    let taken = care_invitation::Entity::update_many()
        .col_expr(care_invitation::Column::AcceptedAt, Expr::value(now))
        .col_expr(care_invitation::Column::AcceptedBy, Expr::value(member_id))
        .filter(care_invitation::Column::Id.eq(invitation.id))
        .filter(care_invitation::Column::AcceptedAt.is_null())
        .exec(&txn)
        .await?;
    if taken.rows_affected != 1 {
        return Ok(Acceptance::Unknown);
    }
    grants::end_between(&txn, invitation.owner_id, member_id, now).await?;
    let scopes: Vec<Scope> = invitation.scopes.split_whitespace().filter_map(Scope::parse).collect();
    let grant = care_grant::ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(invitation.owner_id),
        member_id: Set(member_id),
        role: Set(invitation.role),
        note: Set(invitation.note),
        expires_at: Set(invitation.grant_expires_at),
        created_at: Set(now),
        updated_at: Set(now),
        revoked_at: Set(None),
    };
    let id = grant.id.clone().unwrap();
    care_grant::Entity::insert(grant).exec_without_returning(&txn).await?;
    let rows = scopes.iter().map(|s| care_grant_scope::ActiveModel { grant_id: Set(id), scope: Set(*s) });
    care_grant_scope::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    let grant = care_grant::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::NotFound)?;
    super::alerts::evaluate_again(&txn, invitation.owner_id).await?;
    txn.commit().await?;
    Ok(Acceptance::Granted(Grant { grant, scopes }))
}
