//! The access log: every read a care-team member made of an owner's data, for the owner to see.

use chrono::{DateTime, Utc};
use entity::{care_access, care_grant, user};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashSet;
use uuid::Uuid;

use crate::{Database, StoreError};

/// Notes that `member` read `resource` of `owner`'s through their latest grant.
pub async fn record(
    db: &Database,
    owner: Uuid,
    member: Uuid,
    resource: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let grant = care_grant::Entity::find()
        .filter(care_grant::Column::OwnerId.eq(owner))
        .filter(care_grant::Column::MemberId.eq(member))
        .order_by_desc(care_grant::Column::CreatedAt)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    let row = care_access::ActiveModel {
        id: Set(Uuid::now_v7()),
        grant_id: Set(grant.id),
        owner_id: Set(owner),
        member_id: Set(member),
        resource: Set(resource.to_owned()),
        at: Set(now),
    };
    care_access::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

/// A read of the owner's data and the member who made it (`None` once that account is erased).
pub type Read = (care_access::Model, Option<user::Model>);

/// Up to `limit` reads of `owner`'s data, newest first, after the cursor `(at, id)`; and whether more follow.
pub async fn page(
    db: &Database,
    owner: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<(Vec<Read>, bool), StoreError> {
    let mut q = care_access::Entity::find().filter(care_access::Column::OwnerId.eq(owner));
    if let Some((at, id)) = after {
        q = q.filter(
            Condition::any()
                .add(care_access::Column::At.lt(at))
                .add(Condition::all().add(care_access::Column::At.eq(at)).add(care_access::Column::Id.lt(id))),
        );
    }
    let mut rows = q
        .order_by_desc(care_access::Column::At)
        .order_by_desc(care_access::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let ids: HashSet<Uuid> = rows.iter().map(|r| r.member_id).collect();
    let members = crate::rows_by_id::<user::Entity>(db, &ids, user::Column::Id, |u| u.id).await?;
    Ok((rows.into_iter().map(|r| (members.get(&r.member_id).cloned(), r)).map(|(m, r)| (r, m)).collect(), more))
}

/// Every read of `owner`'s data, oldest first (the owner's export).
pub async fn all_of(db: &Database, owner: Uuid) -> Result<Vec<care_access::Model>, StoreError> {
    Ok(care_access::Entity::find()
        .filter(care_access::Column::OwnerId.eq(owner))
        .order_by_asc(care_access::Column::At)
        .order_by_asc(care_access::Column::Id)
        .all(db)
        .await?)
}
