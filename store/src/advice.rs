//! A user's active advisories (red flags), shared by the API's `/v1/advisories` and the gentle wording of reminders.

use chrono::{DateTime, Duration, Utc};
use domain::TimeZoneName;
use domain::advisories::{self, Advisory, Entry, MassageSpots};
use domain::logs::{MassageSession, SymptomCheck};
use domain::{RecordBody, RecordKind};
use entity::user;
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::HashMap;

use crate::records::load;
use uuid::Uuid;

/// The user's active advisories at `now`, from the user's symptom checks and massage logs of the last days.
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
    let far = now + Duration::days(1);
    let mut checks: HashMap<Uuid, Vec<(Uuid, SymptomCheck)>> = HashMap::new();
    let mut massages: HashMap<Uuid, Vec<(Uuid, MassageSession)>> = HashMap::new();
    for r in load(db, &ids, RecordKind::SymptomChecks, since, far).await? {
        if let Some(RecordBody::Symptom(c)) = r.body {
            checks.entry(r.user_id).or_default().push((r.id, c));
        }
    }
    for r in load(db, &ids, RecordKind::MassageSessions, since, far).await? {
        if let Some(RecordBody::Massage(m)) = r.body {
            massages.entry(r.user_id).or_default().push((r.id, m));
        }
    }
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
