//! Staging: the scheduler hands occurrences due within its look-ahead window to deliveries ahead of time
//! (`staged`, their bodies made), so that at the due second it only claims and posts. What an account changes
//! before then takes them back ([`unstage`]): the occurrences are planned again and staged afresh.
//!
//! On PostgreSQL the two sides meet at the account's row. [`unstage`] locks it first in the writer's
//! transaction; the fan-out takes a shared lock on each account it stages for and skips (for this batch)
//! the accounts a writer holds ([`lock_for_staging`]). So a staging never reads an account a writer is
//! changing, and a writer never waits on a fan-out that waits on it. SQLite has one writer at a time.

use chrono::{DateTime, Utc};
use domain::care::Scope;
use domain::reminders::{DeliveryStatus, OccurrenceState};
use entity::{delivery, occurrence, user};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::planning::IN_CHUNK;

/// Takes back what is staged and not yet claimed for `account`: its own occurrences, those of owners who let it
/// receive their reminders, and any with a delivery to its devices. Their staged deliveries are removed and
/// they are planned again. Call it first in the transaction that changes the account (it locks the account's
/// row). An occurrence a scheduler has begun to send is left alone: its time has come. Gives how many were
/// taken back.
pub async fn unstage(txn: &impl ConnectionTrait, account: Uuid, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let backend = txn.get_database_backend();
    let (a, scope) = match backend {
        DbBackend::Postgres => ("$1::uuid", "$2::text"),
        _ => ("?1", "?2"),
    };
    let values = || vec![account.into(), Scope::RemindersReceive.as_str().into()];
    if backend == DbBackend::Postgres {
        let lock = format!("SELECT 1 FROM users WHERE id = {a} FOR UPDATE");
        txn.execute_raw(Statement::from_sql_and_values(backend, lock, vec![account.into()])).await?;
    }
    let sql = format!(
        "SELECT o.id FROM occurrences o WHERE o.state = 'staged' \
         AND (o.user_id = {a} \
           OR o.user_id IN (SELECT g.owner_id FROM care_grants g JOIN care_grant_scopes s ON s.grant_id = g.id \
                            WHERE g.member_id = {a} AND s.scope = {scope}) \
           OR o.id IN (SELECT d.occurrence_id FROM deliveries d WHERE d.user_id = {a} AND d.status = 'staged')) \
         AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.occurrence_id = o.id \
                         AND (x.status <> 'staged' OR x.leased_by IS NOT NULL))"
    );
    let rows = txn.query_all_raw(Statement::from_sql_and_values(backend, sql, values())).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.try_get_by_index(0)).collect::<Result<_, _>>()?;
    take_back(txn, &ids, now).await?;
    if !ids.is_empty() {
        tracing::info!(account = %account, occurrences = ids.len(), "staged reminders taken back");
    }
    Ok(ids.len())
}

/// Removes the staged, unclaimed deliveries of occurrences `ids` and plans again those left with none.
async fn take_back(txn: &impl ConnectionTrait, ids: &[Uuid], now: DateTime<Utc>) -> Result<(), DbErr> {
    for ids in ids.chunks(IN_CHUNK) {
        delivery::Entity::delete_many()
            .filter(delivery::Column::OccurrenceId.is_in(ids.iter().copied()))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Staged))
            .filter(delivery::Column::LeasedBy.is_null())
            .exec(txn)
            .await?;
        // One a scheduler claimed meanwhile (PostgreSQL) keeps a delivery: it is on its way, and stays staged.
        occurrence::Entity::update_many()
            .col_expr(occurrence::Column::State, Expr::value(OccurrenceState::Planned))
            .col_expr(occurrence::Column::UpdatedAt, Expr::value(now))
            .filter(occurrence::Column::Id.is_in(ids.iter().copied()))
            .filter(occurrence::Column::State.eq(OccurrenceState::Staged))
            .filter(Expr::cust("NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.occurrence_id = occurrences.id)"))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// The statuses of those of `ids` that no writer holds, each now held shared by `txn` until it ends
/// (PostgreSQL; on SQLite, every one of them): the accounts a staging may read.
pub async fn lock_for_staging(
    txn: &impl ConnectionTrait,
    ids: &HashSet<Uuid>,
) -> Result<HashMap<Uuid, domain::UserStatus>, DbErr> {
    let mut held = HashMap::new();
    for ids in ids.iter().copied().collect::<Vec<_>>().chunks(IN_CHUNK) {
        let rows: Vec<(Uuid, domain::UserStatus)> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::Status)
            .filter(user::Column::Id.is_in(ids.iter().copied()))
            .lock_with_behavior(LockType::Share, LockBehavior::SkipLocked)
            .into_tuple()
            .all(txn)
            .await?;
        held.extend(rows);
    }
    Ok(held)
}
