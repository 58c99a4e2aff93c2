//! Grants as the owner and the member see them: who has access, with what scopes, until when; changes and
//! revocation by the owner.

use chrono::{DateTime, Utc};
use domain::care::Scope;
use entity::{care_grant, care_grant_scope, user};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::{Database, StoreError};

/// A grant with its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grant: care_grant::Model,
    pub scopes: Vec<Scope>,
}

/// A grant and the other account of it (the member for the owner, the owner for the member).
#[derive(Debug, Clone)]
pub struct Shared {
    pub grant: Grant,
    pub other: user::Model,
}

fn live(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(care_grant::Column::RevokedAt.is_null())
        .add(Condition::any().add(care_grant::Column::ExpiresAt.is_null()).add(care_grant::Column::ExpiresAt.gt(now)))
}

/// The scopes of `grants`, sorted.
async fn with_scopes(db: &impl ConnectionTrait, grants: Vec<care_grant::Model>) -> Result<Vec<Grant>, StoreError> {
    let ids: Vec<Uuid> = grants.iter().map(|g| g.id).collect();
    let mut scopes: HashMap<Uuid, Vec<Scope>> = HashMap::new();
    for ids in ids.chunks(crate::planning::IN_CHUNK) {
        let rows = care_grant_scope::Entity::find()
            .filter(care_grant_scope::Column::GrantId.is_in(ids.iter().copied()))
            .all(db)
            .await?;
        for row in rows {
            scopes.entry(row.grant_id).or_default().push(row.scope);
        }
    }
    Ok(grants
        .into_iter()
        .map(|grant| {
            let mut scopes = scopes.remove(&grant.id).unwrap_or_default();
            scopes.sort_by_key(|s| s.as_str());
            Grant { grant, scopes }
        })
        .collect())
}

/// Which side of grants an account is on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Owner,
    Member,
}

/// Live grants where `account` is on `side`, oldest first, each with the other account.
async fn shared(db: &Database, side: Side, account: Uuid, now: DateTime<Utc>) -> Result<Vec<Shared>, StoreError> {
    let owner_side = side == Side::Owner;
    let column = if owner_side { care_grant::Column::OwnerId } else { care_grant::Column::MemberId };
    let grants = care_grant::Entity::find()
        .filter(column.eq(account))
        .filter(live(now))
        .order_by_asc(care_grant::Column::CreatedAt)
        .all(db)
        .await?;
    let others: HashSet<Uuid> = grants.iter().map(|g| if owner_side { g.member_id } else { g.owner_id }).collect();
    let mut accounts = crate::rows_by_id::<user::Entity>(db, &others, user::Column::Id, |u| u.id).await?;
    Ok(with_scopes(db, grants)
        .await?
        .into_iter()
        .filter_map(|grant| {
            let other = if owner_side { grant.grant.member_id } else { grant.grant.owner_id };
            Some(Shared { other: accounts.remove(&other)?, grant })
        })
        .collect())
}

/// Who has access to `owner`'s data now.
pub async fn members(db: &Database, owner: Uuid, now: DateTime<Utc>) -> Result<Vec<Shared>, StoreError> {
    shared(db, Side::Owner, owner, now).await
}

/// Whose data `member` has access to now.
pub async fn clients(db: &Database, member: Uuid, now: DateTime<Utc>) -> Result<Vec<Shared>, StoreError> {
    shared(db, Side::Member, member, now).await
}

/// Every grant `account` is part of, either side, live or not (staff's view of an account).
pub async fn of_account(db: &impl ConnectionTrait, account: Uuid) -> Result<Vec<Grant>, StoreError> {
    let grants = care_grant::Entity::find()
        .filter(
            Condition::any().add(care_grant::Column::OwnerId.eq(account)).add(care_grant::Column::MemberId.eq(account)),
        )
        .order_by_asc(care_grant::Column::CreatedAt)
        .all(db)
        .await?;
    with_scopes(db, grants).await
}

/// A change of a grant by its owner; `None` leaves a field as it is, `Some(None)` clears `expires_at`.
#[derive(Debug, Default)]
pub struct GrantChange {
    pub scopes: Option<Vec<Scope>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

/// Changes `owner`'s live grant `id`; `NotFound` when it is not one.
pub async fn change(
    db: &Database,
    owner: Uuid,
    id: Uuid,
    change: GrantChange,
    now: DateTime<Utc>,
) -> Result<Grant, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    // The member may gain or lose the owner's reminders.
    crate::staging::unstage(&txn, owner, now).await?;
    let found = care_grant::Entity::find_by_id(id)
        .filter(care_grant::Column::OwnerId.eq(owner))
        .filter(live(now))
        .one(&txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut row: care_grant::ActiveModel = found.into();
    if let Some(expires_at) = change.expires_at {
        row.expires_at = Set(expires_at);
    }
    row.updated_at = Set(now);
    let updated = sea_orm::ActiveModelTrait::update(row, &txn).await?;
    if let Some(scopes) = change.scopes {
        care_grant_scope::Entity::delete_many().filter(care_grant_scope::Column::GrantId.eq(id)).exec(&txn).await?;
        let rows = scopes.iter().map(|s| care_grant_scope::ActiveModel { grant_id: Set(id), scope: Set(*s) });
        care_grant_scope::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    let grant = with_scopes(&txn, vec![updated]).await?.remove(0);
    super::alerts::evaluate_again(&txn, owner).await?;
    txn.commit().await?;
    Ok(grant)
}

/// Revokes `owner`'s live grant `id`; `NotFound` when it is not one.
pub async fn revoke(db: &Database, owner: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    let txn = crate::db::begin_write(db).await?;
    crate::staging::unstage(&txn, owner, now).await?;
    let revoked = care_grant::Entity::update_many()
        .col_expr(care_grant::Column::RevokedAt, Expr::value(now))
        .col_expr(care_grant::Column::UpdatedAt, Expr::value(now))
        .filter(care_grant::Column::Id.eq(id))
        .filter(care_grant::Column::OwnerId.eq(owner))
        .filter(live(now))
        .exec(&txn)
        .await?;
    if revoked.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    txn.commit().await?;
    Ok(())
}

/// Ends every live grant from `owner` to `member` (a new one replaces them).
pub(crate) async fn end_between(
    txn: &impl ConnectionTrait,
    owner: Uuid,
    member: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    care_grant::Entity::update_many()
        .col_expr(care_grant::Column::RevokedAt, Expr::value(now))
        .filter(care_grant::Column::OwnerId.eq(owner))
        .filter(care_grant::Column::MemberId.eq(member))
        .filter(care_grant::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// The account of the owner a member's `reader` reads, when a live grant allows its scope (checked in the same
/// query); `None` otherwise, and for an owner's own reader of an account that is not active.
pub async fn client_account(
    db: &impl ConnectionTrait,
    reader: super::Reader,
) -> Result<Option<user::Model>, StoreError> {
    let mut q = user::Entity::find_by_id(reader.owner()).filter(user::Column::Status.eq(domain::UserStatus::Active));
    if let Some(grant) = reader.grant_condition() {
        q = q.filter(grant);
    }
    Ok(q.one(db).await?)
}

/// For each of `owners`, the active members who hold a live grant with `scope` from them now.
pub async fn members_with(
    db: &impl ConnectionTrait,
    owners: &HashSet<Uuid>,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, Vec<user::Model>>, StoreError> {
    let mut pairs: Vec<(Uuid, Uuid)> = Vec::new();
    for ids in owners.iter().copied().collect::<Vec<_>>().chunks(crate::planning::IN_CHUNK) {
        let grants = care_grant::Entity::find()
            .filter(care_grant::Column::OwnerId.is_in(ids.iter().copied()))
            .filter(live(now))
            .all(db)
            .await?;
        for g in with_scopes(db, grants).await? {
            if g.scopes.contains(&scope) {
                pairs.push((g.grant.owner_id, g.grant.member_id));
            }
        }
    }
    let member_ids: HashSet<Uuid> = pairs.iter().map(|(_, m)| *m).collect();
    let members = crate::rows_by_id::<user::Entity>(db, &member_ids, user::Column::Id, |u| u.id).await?;
    let mut out: HashMap<Uuid, Vec<user::Model>> = HashMap::new();
    for (owner, member) in pairs {
        if let Some(m) = members.get(&member).filter(|m| m.status == domain::UserStatus::Active) {
            out.entry(owner).or_default().push(m.clone());
        }
    }
    Ok(out)
}

/// The owners who hold a live grant with `scope` to anyone now.
pub async fn owners_granting(
    db: &impl ConnectionTrait,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<HashSet<Uuid>, StoreError> {
    use sea_orm::QuerySelect;
    let with_scope = sea_orm::sea_query::Query::select()
        .column(care_grant_scope::Column::GrantId)
        .from(care_grant_scope::Entity)
        .and_where(care_grant_scope::Column::Scope.eq(scope))
        .to_owned();
    let owners: Vec<Uuid> = care_grant::Entity::find()
        .select_only()
        .column(care_grant::Column::OwnerId)
        .distinct()
        .filter(care_grant::Column::Id.in_subquery(with_scope))
        .filter(live(now))
        .into_tuple()
        .all(db)
        .await?;
    Ok(owners.into_iter().collect())
}
