//! Care alerts: when a red flag becomes active for an owner, each member with `advisories:notify` gets one
//! reminder (an occurrence of the member's, kind `care_alert`) that names no symptom, once per advisory (those
//! that become active together make one alert).
//! Only owners whose records changed since their last evaluation are evaluated again.

use chrono::{DateTime, Utc};
use domain::TimeZoneName;
use domain::advisories::Advisory;
use domain::care::Scope;
use domain::recurrence::defer_past_quiet;
use domain::reminders::{OccurrenceKind, OccurrenceState, ReminderTopic};
use entity::{care_alert, care_alert_cursor as cursor, occurrence, user};
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use sea_orm::sea_query::OnConflict;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::{Database, StoreError};

/// An advisory's identity: its rule and the first entry behind it (a new episode has another first entry).
fn key(advisory: &Advisory) -> String {
    let first = advisory.triggered_by.iter().min_by_key(|t| t.at).map_or("", |t| t.id.as_str());
    format!("{}:{first}", advisory.rule)
}

/// Plans a care alert for each member with `advisories:notify` of each owner with an advisory the member was
/// not yet told of, due now or past the member's quiet hours; the number planned. One transaction.
pub async fn plan(db: &Database, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let owners: HashSet<Uuid> = super::grants::owners_granting(&txn, Scope::AdvisoriesNotify, now).await?;
    if owners.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    let accounts = crate::rows_by_id::<user::Entity>(&txn, &owners, user::Column::Id, |u| u.id).await?;
    let seen: HashMap<Uuid, i64> =
        crate::rows_by_id::<cursor::Entity>(&txn, &owners, cursor::Column::OwnerId, |c| c.owner_id)
            .await?
            .into_iter()
            .map(|(id, c)| (id, c.change_seq))
            .collect();
    let changed: Vec<user::Model> = accounts
        .into_values()
        .filter(|u| u.status == domain::UserStatus::Active && seen.get(&u.id) != Some(&u.change_seq))
        .collect();
    if changed.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    let ids: HashSet<Uuid> = changed.iter().map(|u| u.id).collect();
    let members = super::grants::members_with(&txn, &ids, Scope::AdvisoriesNotify, now).await?;
    let advisories = crate::advice::active_many(&txn, &changed, now).await?;
    let mut planned = 0;
    for (owner, active) in advisories {
        for member in members.get(&owner).into_iter().flatten() {
            // Every advisory is told once; those that become active together make one alert.
            let mut new = 0;
            for advisory in &active {
                let told = care_alert::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    owner_id: Set(owner),
                    member_id: Set(member.id),
                    advisory_key: Set(key(advisory)),
                    created_at: Set(now),
                };
                let once = OnConflict::columns([
                    care_alert::Column::OwnerId,
                    care_alert::Column::MemberId,
                    care_alert::Column::AdvisoryKey,
                ])
                .do_nothing()
                .to_owned();
                new += care_alert::Entity::insert(told).on_conflict(once).exec_without_returning(&txn).await?;
            }
            if new > 0 {
                occurrence::Entity::insert(alert_for(member, owner, now)).exec_without_returning(&txn).await?;
                planned += 1;
            }
        }
    }
    for owner in &changed {
        let row = cursor::ActiveModel { owner_id: Set(owner.id), change_seq: Set(owner.change_seq) };
        let upsert = OnConflict::column(cursor::Column::OwnerId).update_column(cursor::Column::ChangeSeq).to_owned();
        cursor::Entity::insert(row).on_conflict(upsert).exec_without_returning(&txn).await?;
    }
    txn.commit().await?;
    Ok(planned)
}

/// Makes the next [`plan`] evaluate `owner` even if nothing of the owner's changed (a member joined, or a
/// grant changed its scopes).
pub(crate) async fn evaluate_again(txn: &impl sea_orm::ConnectionTrait, owner: Uuid) -> Result<(), sea_orm::DbErr> {
    cursor::Entity::delete_by_id(owner).exec(txn).await?;
    Ok(())
}

/// A care alert to `member` about `client`, due now or once the member's quiet hours end.
fn alert_for(member: &user::Model, client: Uuid, now: DateTime<Utc>) -> occurrence::ActiveModel {
    let tz = TimeZoneName::parse(&member.timezone).unwrap_or_default();
    occurrence::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(member.id),
        routine_id: Set(None),
        broadcast_id: Set(None),
        client_id: Set(Some(client)),
        kind: Set(OccurrenceKind::CareAlert),
        routine_kind: Set(ReminderTopic::CareAlert),
        due_at: Set(defer_past_quiet(tz.tz(), crate::planning::quiet_hours(member), now)),
        state: Set(OccurrenceState::Planned),
        created_at: Set(now),
        updated_at: Set(now),
        snoozed_from: Set(None),
    }
}
