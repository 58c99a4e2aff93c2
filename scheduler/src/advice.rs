//! Her active advisories (red flags), shared by the API's `/v1/advisories` and the gentle wording of reminders.

use chrono::{DateTime, Duration, Utc};
use domain::TimeZoneName;
use domain::advisories::{self, Advisory, Entry, MassageSpots};
use domain::logs::{MassageSession, SymptomCheck};
use entity::{record, user};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

async fn load<T: serde::de::DeserializeOwned>(
    db: &impl ConnectionTrait,
    user_id: uuid::Uuid,
    collection: &str,
    since: DateTime<Utc>,
) -> Result<Vec<(uuid::Uuid, T)>, DbErr> {
    let rows = record::Entity::find()
        .filter(record::Column::UserId.eq(user_id))
        .filter(record::Column::Collection.eq(collection))
        .filter(record::Column::DeletedAt.is_null())
        .filter(record::Column::SortAt.gte(since))
        .order_by_asc(record::Column::SortAt)
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(|r| serde_json::from_str(&r.data).ok().map(|t| (r.id, t))).collect())
}

/// Her active advisories at `now`, from her symptom checks and massage logs of the last days.
pub async fn active(
    db: &impl ConnectionTrait,
    owner: &user::Model,
    now: DateTime<Utc>,
) -> Result<Vec<Advisory>, DbErr> {
    let since = now - Duration::days(advisories::LUMP_WINDOW_DAYS);
    let checks: Vec<Entry<SymptomCheck>> = load(db, owner.id, "symptom_checks", since)
        .await?
        .into_iter()
        .map(|(id, item)| Entry { id: id.to_string(), item })
        .collect();
    let massages: Vec<Entry<MassageSpots>> = load::<MassageSession>(db, owner.id, "massage_sessions", since)
        .await?
        .into_iter()
        .filter(|(_, m)| !m.spots.is_empty())
        .map(|(id, m)| Entry { id: id.to_string(), item: MassageSpots { at: m.started_at, spots: m.spots } })
        .collect();
    let tz = TimeZoneName::parse(&owner.timezone).unwrap_or_default();
    Ok(advisories::evaluate(tz.tz(), now, &checks, &massages))
}
