//! Her active advisories (red flags), shared by the API's `/v1/advisories` and the gentle wording of reminders.

use chrono::{DateTime, Duration, Utc};
use domain::TimeZoneName;
use domain::advisories::{self, Advisory, Entry, MassageSpots};
use domain::logs::{MassageSession, SymptomCheck};
use entity::{record, user};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;
use uuid::Uuid;

/// Their records of `collection` since `since`, oldest first, parsed as `T` (rows that do not parse are skipped).
async fn load<T: serde::de::DeserializeOwned>(
    db: &impl ConnectionTrait,
    user_ids: &[Uuid],
    collection: &str,
    since: DateTime<Utc>,
) -> Result<HashMap<Uuid, Vec<(Uuid, T)>>, DbErr> {
    let mut by_user: HashMap<Uuid, Vec<(Uuid, T)>> = HashMap::new();
    for ids in user_ids.chunks(crate::planning::IN_CHUNK) {
        let rows = record::Entity::find()
            .filter(record::Column::UserId.is_in(ids.iter().copied()))
            .filter(record::Column::Collection.eq(collection))
            .filter(record::Column::DeletedAt.is_null())
            .filter(record::Column::SortAt.gte(since))
            .order_by_asc(record::Column::SortAt)
            .all(db)
            .await?;
        for r in rows {
            if let Ok(item) = serde_json::from_str(&r.data) {
                by_user.entry(r.user_id).or_default().push((r.id, item));
            }
        }
    }
    Ok(by_user)
}

/// Her active advisories at `now`, from her symptom checks and massage logs of the last days.
pub async fn active(
    db: &impl ConnectionTrait,
    owner: &user::Model,
    now: DateTime<Utc>,
) -> Result<Vec<Advisory>, DbErr> {
    Ok(active_many(db, std::slice::from_ref(owner), now).await?.remove(&owner.id).unwrap_or_default())
}

/// [`active`] for many owners in two queries (the claim tick words a whole batch of reminders).
pub async fn active_many(
    db: &impl ConnectionTrait,
    owners: &[user::Model],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, Vec<Advisory>>, DbErr> {
    let since = now - Duration::days(advisories::LUMP_WINDOW_DAYS);
    let ids: Vec<Uuid> = owners.iter().map(|o| o.id).collect();
    let mut checks = load::<SymptomCheck>(db, &ids, "symptom_checks", since).await?;
    let mut massages = load::<MassageSession>(db, &ids, "massage_sessions", since).await?;
    let mut out = HashMap::new();
    for owner in owners {
        let checks: Vec<Entry<SymptomCheck>> = checks
            .remove(&owner.id)
            .unwrap_or_default()
            .into_iter()
            .map(|(id, item)| Entry { id: id.to_string(), item })
            .collect();
        let massages: Vec<Entry<MassageSpots>> = massages
            .remove(&owner.id)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, m)| !m.spots.is_empty())
            .map(|(id, m)| Entry { id: id.to_string(), item: MassageSpots { at: m.started_at, spots: m.spots } })
            .collect();
        let tz = TimeZoneName::parse(&owner.timezone).unwrap_or_default();
        out.insert(owner.id, advisories::evaluate(tz.tz(), now, &checks, &massages));
    }
    Ok(out)
}
