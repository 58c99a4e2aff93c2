//! What a delivery says and posts: the reminder rendered for its device, and for a staged Web Push delivery
//! the encrypted body, made ahead on every core so that its send only posts.

use chrono::{DateTime, Utc};
use domain::reminders::{DeliveryStatus, Platform};
use entity::{broadcast, delivery, device, occurrence};
use push::SendOutcome;
use push::payload::{self, Reminder};
use push::webpush::{Subscription, WebPush, topic_for};
use std::collections::HashMap;
use uuid::Uuid;

use super::TickContext;

/// The reminder `occ` gives `device`, and its [`topic`] (one routine's, broadcast's or client's reminders replace
/// each other). `inflamed`: the owner has an active advisory, which makes a pump reminder gentle.
pub(super) fn render(
    device: &device::Model,
    occ: &occurrence::Model,
    inflamed: bool,
    broadcast: Option<&broadcast::Model>,
) -> Result<(Reminder, String), SendOutcome> {
    let reminder = match (broadcast, occ.routine_id) {
        _ if let Some(client) = occ.client_id => payload::care_alert(client, occ.id, &device.locale),
        (Some(b), _) => payload::broadcast(b.id, occ.id, &b.title, &b.body),
        (None, Some(routine)) if device.user_id != occ.user_id => {
            payload::for_care_team(payload::reminder(occ.routine_kind.as_str(), routine, occ.id, &device.locale, false))
        }
        (None, Some(routine)) => {
            payload::reminder(occ.routine_kind.as_str(), routine, occ.id, &device.locale, inflamed)
        }
        (None, None) => return Err(SendOutcome::Failed { status: None, reason: "its broadcast is gone".into() }),
    };
    Ok((reminder, topic(occ)))
}

/// Whether an advisory can change what `occ` says: a routine's reminder to pump.
pub(super) fn may_be_gentle(occ: &occurrence::Model) -> bool {
    occ.routine_id.is_some() && occ.routine_kind != domain::reminders::ReminderTopic::Massage
}

/// The topic under which a push service replaces an undelivered earlier reminder of the same source.
pub(super) fn topic(occ: &occurrence::Model) -> String {
    topic_for(occ.routine_id.or(occ.broadcast_id).or(occ.client_id).unwrap_or(occ.id))
}

/// The encrypted Web Push body of `reminder` for `device`; `None` when its keys are unusable (its send then
/// fails with the reason).
fn encrypted(web: &WebPush, device: &device::Model, reminder: &Reminder) -> Option<Vec<u8>> {
    let (p256dh, auth) = (device.p256dh.as_deref()?, device.auth.as_deref()?);
    let body = serde_json::to_vec(reminder).ok()?;
    web.encrypt(&Subscription { endpoint: &device.target, p256dh, auth }, &body).ok()
}

/// How many encryptions one blocking task takes.
const ENCRYPT_CHUNK: usize = 128;

/// `rows` with the bodies of their staged Web Push deliveries made, spread over the blocking threads. (FCM and
/// APNs messages are plain JSON, made at the send; the providers' tokens are signed once and reused.)
pub(super) async fn bodies(
    ctx: &TickContext,
    rows: Vec<delivery::ActiveModel>,
    devices: &HashMap<Uuid, device::Model>,
    occurrences: &HashMap<Uuid, occurrence::Model>,
    broadcasts: &HashMap<Uuid, broadcast::Model>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<delivery::ActiveModel>> {
    let staged_web = |row: &delivery::ActiveModel| {
        row.status.as_ref() == &DeliveryStatus::Staged && row.provider.as_ref() == &Platform::Web
    };
    let owners: std::collections::HashSet<Uuid> = rows
        .iter()
        .filter(|r| staged_web(r))
        .filter_map(|r| occurrences.get(r.occurrence_id.as_ref()))
        .filter(|o| may_be_gentle(o))
        .map(|o| o.user_id)
        .collect();
    let inflamed = super::send::inflamed_owners(ctx, &owners, now).await?;
    let mut work = Vec::new();
    for (i, row) in rows.iter().enumerate().filter(|(_, r)| staged_web(r)) {
        let (Some(d), Some(o)) = (devices.get(row.device_id.as_ref()), occurrences.get(row.occurrence_id.as_ref()))
        else {
            continue;
        };
        let broadcast = o.broadcast_id.and_then(|b| broadcasts.get(&b));
        if let Ok((reminder, _)) = render(d, o, inflamed.contains(&o.user_id), broadcast) {
            work.push((i, d.clone(), reminder));
        }
    }
    let tasks: Vec<_> = work
        .chunks(ENCRYPT_CHUNK)
        .map(|chunk| {
            let (web, chunk) = (ctx.web.clone(), chunk.to_vec());
            tokio::task::spawn_blocking(move || {
                chunk.into_iter().map(|(i, d, r)| (i, encrypted(&web, &d, &r))).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut rows = rows;
    for task in tasks {
        for (i, body) in task.await? {
            store::deliveries::set_payload(&mut rows[i], body);
        }
    }
    Ok(rows)
}
