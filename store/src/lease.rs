//! Leasing rows to one scheduler process at a time (deliveries, emails): the rows due and not leased, or whose
//! lease ended, are taken in one transaction and leased until a given time.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// The columns a leasable table has.
pub(crate) struct Leasable<E: EntityTrait> {
    pub id: E::Column,
    pub next_attempt_at: E::Column,
    pub lease_until: E::Column,
    pub leased_by: E::Column,
    /// The id of a row.
    pub key: fn(&E::Model) -> uuid::Uuid,
}

/// Leases up to `batch` rows of `E` that are `waiting` and due by `now` (never leased, or their lease ended) to
/// `instance` until `lease_until`, oldest due first; gives them (as they were before the lease). A leased row's
/// next attempt is the lease's end. On PostgreSQL rows another process is taking
/// are skipped.
pub(crate) async fn claim<E: EntityTrait>(
    db: &crate::Database,
    table: Leasable<E>,
    waiting: Condition,
    now: DateTime<Utc>,
    batch: u64,
    lease_until: DateTime<Utc>,
    instance: &str,
) -> Result<Vec<E::Model>, DbErr> {
    let txn = crate::db::begin_background_write(db).await?;
    let claimable = Condition::all()
        .add(waiting)
        .add(table.next_attempt_at.lte(now))
        .add(Condition::any().add(table.lease_until.is_null()).add(table.lease_until.lt(now)));
    let claimed = E::find()
        .filter(claimable)
        .order_by_asc(table.next_attempt_at)
        .limit(batch)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    // Two statements, not `UPDATE ... WHERE id IN (SELECT ... SKIP LOCKED LIMIT n)`: PostgreSQL ran that one for
    // minutes over a 100,000-row burst with four claimers. The next attempt, should this lease be lost, is when
    // it ends: a leased row leaves the front of the claim index's order, so the next claim does not step over
    // every row in flight.
    if !claimed.is_empty() {
        E::update_many()
            .col_expr(table.next_attempt_at, Expr::value(lease_until))
            .col_expr(table.lease_until, Expr::value(lease_until))
            .col_expr(table.leased_by, Expr::value(instance.to_owned()))
            .filter(table.id.is_in(claimed.iter().map(table.key)))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(claimed)
}
