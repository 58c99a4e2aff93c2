//! Fan-out: occurrences due now or within the look-ahead window become one delivery per device, claimed so that
//! scheduler processes share them. Those not yet due are staged: made, rendered and encrypted ahead, and sent
//! by whichever scheduler claims them at their time.

use chrono::{DateTime, Duration, Utc};
use entity::{device, occurrence};
use std::collections::{HashMap, HashSet};
use store::deliveries;
use uuid::Uuid;

use super::{Job, TickContext, TickOutcome, inflamed_users, jobs};
use domain::care::Scope;
use domain::reminders::{DeliveryStatus, OccurrenceKind, OccurrenceState};
use store::planning;

/// Turns due occurrences into deliveries, one per device of their owner, and plans each routine's next one. The
/// deliveries wait to be claimed.
pub async fn fan_out(ctx: &TickContext, now: DateTime<Utc>, out: &mut TickOutcome) -> anyhow::Result<()> {
    fan_out_with(ctx, now, out, None).await.map(|_| ())
}

/// [`fan_out`], with the deliveries created already leased to this process, returned ready to send: each is
/// spared a claim of its own, and on SQLite the wait for the one writer behind the next fan-out batch. Like a
/// claimed delivery, one this process dies before recording is taken again once its lease ends.
pub(super) async fn fan_out_leased(
    ctx: &TickContext,
    now: DateTime<Utc>,
    out: &mut TickOutcome,
) -> anyhow::Result<Vec<Job>> {
    let lease_ends = std::time::Instant::now() + std::time::Duration::from_secs(ctx.push.lease_s);
    fan_out_with(ctx, now, out, Some(lease_ends)).await
}

pub(super) async fn fan_out_with(
    ctx: &TickContext,
    now: DateTime<Utc>,
    out: &mut TickOutcome,
    lease_ends: Option<std::time::Instant>,
) -> anyhow::Result<Vec<Job>> {
    let txn = store::db::begin_background_write(&ctx.db).await?;
    let horizon = now + Duration::seconds(ctx.push.lookahead_s as i64);
    let due = deliveries::due_occurrences(&txn, horizon, ctx.push.batch).await?;
    ctx.metrics.claim_batch.observe(due.len() as f64);
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let user_ids: HashSet<Uuid> = due.iter().map(|o| o.user_id).collect();
    // Members with `reminders:receive` get the owner's routine reminders too, outside their own quiet hours.
    let helpers = store::care::grants::members_with(&txn, &user_ids, Scope::RemindersReceive, now).await?;
    let involved: HashSet<Uuid> = user_ids.iter().copied().chain(helpers.values().flatten().map(|m| m.id)).collect();
    // Accounts a writer is changing right now are left for the next batch (see `store::staging`).
    let held = store::staging::lock_for_staging(&txn, &involved).await?;
    let ready = |occ: &occurrence::Model| {
        held.contains_key(&occ.user_id)
            && helpers.get(&occ.user_id).into_iter().flatten().all(|m| held.contains_key(&m.id))
    };
    let (due, waiting): (Vec<_>, Vec<_>) = due.into_iter().partition(|o| ready(o));
    out.deferred += waiting.len();
    let device_owners: HashSet<Uuid> = held.keys().copied().collect();
    let devices = deliveries::devices_of(&txn, &device_owners).await?;
    let broadcast_ids: HashSet<Uuid> = due.iter().filter_map(|o| o.broadcast_id).collect();
    let broadcasts = deliveries::broadcasts(&txn, &broadcast_ids).await?;
    let locale_filters: HashMap<Uuid, Vec<String>> = broadcasts
        .values()
        .filter_map(|b| {
            let audience: serde_json::Value = serde_json::from_str(&b.audience).ok()?;
            let locales =
                audience["locales"].as_array()?.iter().filter_map(|l| l.as_str().map(str::to_lowercase)).collect();
            Some((b.id, locales))
        })
        .collect();
    let grace = Duration::seconds(ctx.push.grace_s as i64);
    let lease = lease_ends.map(|_| (now + Duration::seconds(ctx.push.lease_s as i64), ctx.instance.as_str()));
    let ttl = Duration::seconds(ctx.push.ttl_s as i64);
    let mut by_state: HashMap<OccurrenceState, Vec<Uuid>> = HashMap::new();
    let mut rows = Vec::new();
    for occ in &due {
        let staged = occ.due_at > now;
        let new_state = if held.get(&occ.user_id) != Some(&domain::UserStatus::Active) {
            OccurrenceState::Cancelled
        } else if now - occ.due_at > grace {
            OccurrenceState::Missed
        } else if staged {
            OccurrenceState::Staged
        } else {
            OccurrenceState::Sent
        };
        by_state.entry(new_state).or_default().push(occ.id);
        out.claimed += 1;
        if new_state == OccurrenceState::Missed {
            out.missed += 1;
            ctx.metrics.missed.inc();
            tracing::info!(occurrence.id = %occ.id, late_s = (now - occ.due_at).num_seconds(), "occurrence missed (past the grace period)");
        }
        if matches!(new_state, OccurrenceState::Sent | OccurrenceState::Staged) {
            out.staged += usize::from(staged);
            let wanted = |d: &device::Model| match occ.broadcast_id.and_then(|b| locale_filters.get(&b)) {
                Some(locales) => domain::delivery::locale_matches(&d.locale, locales),
                None => true,
            };
            let lease = if staged { None } else { lease };
            for d in devices.get(&occ.user_id).into_iter().flatten().filter(|d| wanted(d)) {
                rows.push(deliveries::new_delivery(occ, d, now, ttl, lease));
            }
            let receivers = match (occ.routine_id, helpers.get(&occ.user_id)) {
                (Some(_), Some(members)) => members.iter().filter(|m| !in_quiet_hours(m, occ.due_at)).collect(),
                _ => Vec::new(),
            };
            for d in receivers.into_iter().filter_map(|m| devices.get(&m.id)).flatten() {
                rows.push(deliveries::new_delivery(occ, d, now, ttl, lease));
            }
        }
    }
    deliveries::set_states(&txn, by_state, now).await?;
    let occurrences: HashMap<Uuid, occurrence::Model> = due.iter().map(|o| (o.id, o.clone())).collect();
    let devices: HashMap<Uuid, device::Model> = devices.into_values().flatten().map(|d| (d.id, d)).collect();
    let rows = super::prepare::bodies(ctx, rows, &devices, &occurrences, &broadcasts, now).await?;
    // Only the rows this statement inserted are this process's to send.
    let created = deliveries::insert(&txn, rows, lease.is_some()).await?;
    // Each routine's next occurrence comes strictly after the slot that fired (or now, when it fired late).
    let fired: HashMap<Uuid, DateTime<Utc>> = due
        .iter()
        .filter(|o| o.kind == OccurrenceKind::Routine)
        .filter_map(|o| Some((o.routine_id?, now.max(o.due_at))))
        .collect();
    let routines = planning::routines_by_id(&txn, &fired.keys().copied().collect::<Vec<_>>()).await?;
    planning::replan_many(&txn, &routines, |r| fired.get(&r.id).copied().unwrap_or(now), now).await?;
    txn.commit().await?;
    // Staged deliveries wait for their time, to be claimed then; the rest go now.
    let created: Vec<_> = created.into_iter().filter(|d| d.status != DeliveryStatus::Staged).collect();
    let Some(lease_ends) = lease_ends.filter(|_| !created.is_empty()) else { return Ok(Vec::new()) };
    let inflamed = inflamed_users(ctx, &created, &occurrences, now).await?;
    Ok(jobs(created, lease_ends, &devices, &occurrences, &inflamed, &broadcasts))
}

/// Whether `at` falls in the account's quiet hours, on its own clock.
fn in_quiet_hours(account: &entity::user::Model, at: DateTime<Utc>) -> bool {
    let Some(quiet) = planning::quiet_hours(account) else { return false };
    let tz = domain::TimeZoneName::parse(&account.timezone).unwrap_or_default();
    quiet.contains(at.with_timezone(&tz.tz()).time())
}
