//! A user's active advisories (red flags), shared by the API's `/v1/advisories` and the gentle wording of reminders.

use chrono::{DateTime, Duration, Utc};
use domain::TimeZoneName;
use domain::advisories::{self, Advisory, Entry, MassageSpots};
use domain::logs::SymptomCheck;
use domain::{RecordBody, RecordKind};
use entity::user;
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::HashMap;

use crate::care::Reader;
use crate::records::{Record, load, load_read};
use uuid::Uuid;

/// The user's active advisories at `now`, from the user's symptom checks and massage logs of the last days.
pub async fn active(
    db: &impl ConnectionTrait,
    owner: &user::Model,
    now: DateTime<Utc>,
) -> Result<Vec<Advisory>, DbErr> {
    Ok(active_many(db, std::slice::from_ref(owner), now).await?.remove(&owner.id).unwrap_or_default())
}

/// The active advisories of the owner `reader` reads; `None` when a member's grant does not allow it (every
/// query checks the grant itself).
pub async fn active_for(
    db: &impl ConnectionTrait,
    reader: Reader,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Advisory>>, DbErr> {
    use sea_orm::{EntityTrait, QueryFilter};
    let mut owner = user::Entity::find_by_id(reader.owner());
    if let Some(grant) = reader.grant_condition() {
        owner = owner.filter(grant);
    }
    let Some(owner) = owner.one(db).await? else { return Ok(None) };
    let since = now - Duration::days(advisories::LUMP_WINDOW_DAYS);
    let far = now + Duration::days(1);
    let checks = load_read(db, reader, RecordKind::SymptomChecks, since, far).await?;
    let massages = load_read(db, reader, RecordKind::MassageSessions, since, far).await?;
    Ok(Some(evaluate(&owner, checks, massages, now)))
}

/// [`active`] for many owners in two queries (the claim tick words a whole batch of reminders).
pub async fn active_many(
    db: &impl ConnectionTrait,
    owners: &[user::Model],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, Vec<Advisory>>, DbErr> {
    let since = now - Duration::days(advisories::LUMP_WINDOW_DAYS);
    let ids: Vec<Uuid> = owners.iter().map(|o| o.id).collect();
    let far = now + Duration::days(1);
    let mut checks: HashMap<Uuid, Vec<Record>> = HashMap::new();
    let mut massages: HashMap<Uuid, Vec<Record>> = HashMap::new();
    for r in load(db, &ids, RecordKind::SymptomChecks, since, far).await? {
        checks.entry(r.user_id).or_default().push(r);
    }
    for r in load(db, &ids, RecordKind::MassageSessions, since, far).await? {
        massages.entry(r.user_id).or_default().push(r);
    }
    let mut out = HashMap::new();
    for owner in owners {
        let checks = checks.remove(&owner.id).unwrap_or_default();
        let massages = massages.remove(&owner.id).unwrap_or_default();
        out.insert(owner.id, evaluate(owner, checks, massages, now));
    }
    Ok(out)
}

/// The red-flag rules over one owner's symptom checks and massage sessions (records of other kinds are
/// ignored).
fn evaluate(owner: &user::Model, checks: Vec<Record>, massages: Vec<Record>, now: DateTime<Utc>) -> Vec<Advisory> {
    let checks: Vec<Entry<SymptomCheck>> = checks
        .into_iter()
        .filter_map(|r| match r.body {
            Some(RecordBody::Symptom(item)) => Some(Entry { id: r.id.to_string(), item }),
            _ => None,
        })
        .collect();
    let massages: Vec<Entry<MassageSpots>> = massages
        .into_iter()
        .filter_map(|r| match r.body {
            Some(RecordBody::Massage(m)) if !m.spots.is_empty() => {
                Some(Entry { id: r.id.to_string(), item: MassageSpots { at: m.started_at, spots: m.spots } })
            }
            _ => None,
        })
        .collect();
    let tz = TimeZoneName::parse(&owner.timezone).unwrap_or_default();
    advisories::evaluate(tz.tz(), now, &checks, &massages)
}
