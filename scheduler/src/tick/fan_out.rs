//! Fan-out: due occurrences become one delivery per device, claimed so that scheduler processes share them.

use chrono::{DateTime, Duration, Utc};
use entity::{device, occurrence};
use std::collections::{HashMap, HashSet};
use store::deliveries;
use uuid::Uuid;

use super::{Job, TickContext, TickOutcome, inflamed_users, jobs};
use domain::care::Scope;
use domain::reminders::{OccurrenceKind, OccurrenceState};
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
    let txn = store::db::begin_write(&ctx.db).await?;
    let due = deliveries::due_occurrences(&txn, now, ctx.push.batch).await?;
    ctx.metrics.claim_batch.observe(due.len() as f64);
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let user_ids: HashSet<Uuid> = due.iter().map(|o| o.user_id).collect();
    let active = deliveries::active_accounts(&txn, &user_ids).await?;
    // Members with `reminders:receive` get the owner's routine reminders too, outside their own quiet hours.
    let helpers = store::care::grants::members_with(&txn, &user_ids, Scope::RemindersReceive, now).await?;
    let helpers: HashMap<Uuid, Vec<Uuid>> = helpers
        .into_iter()
        .map(|(owner, members)| (owner, members.iter().filter(|m| !in_quiet_hours(m, now)).map(|m| m.id).collect()))
        .collect();
    let device_owners: HashSet<Uuid> = user_ids.iter().chain(helpers.values().flatten()).copied().collect();
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
        let new_state = if !active.contains(&occ.user_id) {
            OccurrenceState::Cancelled
        } else if now - occ.due_at > grace {
            OccurrenceState::Missed
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
        if new_state == OccurrenceState::Sent {
            let wanted = |d: &device::Model| match occ.broadcast_id.and_then(|b| locale_filters.get(&b)) {
                Some(locales) => domain::delivery::locale_matches(&d.locale, locales),
                None => true,
            };
            for d in devices.get(&occ.user_id).into_iter().flatten().filter(|d| wanted(d)) {
                rows.push(deliveries::new_delivery(occ, d, now, ttl, lease));
            }
            let receivers = if occ.routine_id.is_some() { helpers.get(&occ.user_id) } else { None };
            for d in receivers.into_iter().flatten().filter_map(|m| devices.get(m)).flatten() {
                rows.push(deliveries::new_delivery(occ, d, now, ttl, lease));
            }
        }
    }
    deliveries::set_states(&txn, by_state, now).await?;
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
    let Some(lease_ends) = lease_ends.filter(|_| !created.is_empty()) else { return Ok(Vec::new()) };
    let occurrences: HashMap<Uuid, occurrence::Model> = due.into_iter().map(|o| (o.id, o)).collect();
    let inflamed = inflamed_users(ctx, &created, &occurrences, now).await?;
    let devices: HashMap<Uuid, device::Model> = devices.into_values().flatten().map(|d| (d.id, d)).collect();
    Ok(jobs(created, lease_ends, &devices, &occurrences, &inflamed, &broadcasts))
}

/// Whether `now` falls in the account's quiet hours, on its own clock.
fn in_quiet_hours(account: &entity::user::Model, now: DateTime<Utc>) -> bool {
    let Some(quiet) = planning::quiet_hours(account) else { return false };
    let tz = domain::TimeZoneName::parse(&account.timezone).unwrap_or_default();
    quiet.contains(now.with_timezone(&tz.tz()).time())
}
