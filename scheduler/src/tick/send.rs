//! Sending: due deliveries are leased to this process, sent with bounded concurrency, and their outcomes recorded
//! a chunk at a time while later sends go on.

use chrono::{DateTime, Duration, Utc};
use domain::reminders::{Platform, ReminderTopic};
use entity::{delivery, device, occurrence};
use std::collections::{HashMap, HashSet};
use store::deliveries;
use uuid::Uuid;

use super::{TickContext, TickOutcome, record_outcomes};
use push::webpush::{Subscription, topic_for};
use push::{SendOutcome, payload};

/// Claims one batch of due deliveries with a lease, sends them and records each outcome.
pub async fn deliver(ctx: &TickContext, now: DateTime<Utc>, out: &mut TickOutcome) -> anyhow::Result<()> {
    let sent = pipeline(ctx, now, |sender| async move {
        let jobs = claim(ctx, now).await?;
        let leased = jobs.len();
        sender.start(jobs, now).await;
        Ok(TickOutcome { leased, ..TickOutcome::default() })
    })
    .await?;
    out.add(&sent);
    if sent.leased > 0 {
        sent.log("deliveries sent");
    }
    Ok(())
}

/// A leased delivery with what sending it needs.
pub(super) struct Job {
    delivery: delivery::Model,
    /// When this process's lease ends, by its own monotonic clock, counted from the claim as the stored lease is
    /// (a wall clock may step; this one does not).
    lease_ends: std::time::Instant,
    device: Option<device::Model>,
    occurrence: Option<occurrence::Model>,
    inflamed: bool,
    broadcast: Option<entity::broadcast::Model>,
}

/// A delivery after its send, with the push service's answer (none when it went stale unsent).
pub(super) type Finished = (delivery::Model, Option<SendOutcome>);

/// Leases one batch of due deliveries to this process and loads what sending them needs.
pub(super) async fn claim(ctx: &TickContext, now: DateTime<Utc>) -> anyhow::Result<Vec<Job>> {
    let lease_ends = std::time::Instant::now() + std::time::Duration::from_secs(ctx.push.lease_s);
    let lease_until = now + Duration::seconds(ctx.push.lease_s as i64);
    let claimed = deliveries::claim(&ctx.db, now, ctx.push.batch, lease_until, &ctx.instance).await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let devices = deliveries::devices(&ctx.db, &claimed.iter().map(|d| d.device_id).collect()).await?;
    let occurrences = deliveries::occurrences(&ctx.db, &claimed.iter().map(|d| d.occurrence_id).collect()).await?;
    let inflamed = inflamed_users(ctx, &claimed, &occurrences, now).await?;
    let broadcast_ids: HashSet<Uuid> = occurrences.values().filter_map(|o| o.broadcast_id).collect();
    let broadcasts = deliveries::broadcasts(&ctx.db, &broadcast_ids).await?;
    Ok(jobs(claimed, lease_ends, &devices, &occurrences, &inflamed, &broadcasts))
}

/// Leased deliveries with what sending each needs.
pub(super) fn jobs(
    leased: Vec<delivery::Model>,
    lease_ends: std::time::Instant,
    devices: &HashMap<Uuid, device::Model>,
    occurrences: &HashMap<Uuid, occurrence::Model>,
    inflamed: &HashSet<Uuid>,
    broadcasts: &HashMap<Uuid, entity::broadcast::Model>,
) -> Vec<Job> {
    leased
        .into_iter()
        .map(|d| {
            let occurrence = occurrences.get(&d.occurrence_id).cloned();
            Job {
                // A device that moved to another account since gets nothing of the old owner's.
                device: devices.get(&d.device_id).filter(|device| device.user_id == d.user_id).cloned(),
                inflamed: inflamed.contains(&d.user_id),
                broadcast: occurrence.as_ref().and_then(|o| o.broadcast_id).and_then(|b| broadcasts.get(&b)).cloned(),
                occurrence,
                delivery: d,
                lease_ends,
            }
        })
        .collect()
}

/// Starts sends: each its own task, so encryption and signing spread over every worker thread, and at most
/// [`SEND_CONCURRENCY`] in flight in this process however many batches feed it.
pub(super) struct Sender {
    ctx: std::sync::Arc<TickContext>,
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    finished: tokio::sync::mpsc::UnboundedSender<Finished>,
}

impl Sender {
    /// Starts every job's send, each once a slot is free; returns when the last one has started.
    pub(super) async fn start(&self, jobs: Vec<Job>, now: DateTime<Utc>) {
        for job in jobs {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return;
            };
            let (ctx, finished) = (self.ctx.clone(), self.finished.clone());
            tokio::spawn(async move {
                if !ctx.send_ends_inside(job.lease_ends) {
                    // Past its lease another scheduler may take this delivery and send it as well. Left unsent
                    // and unrecorded, it is claimed again once the lease ends: late, but once.
                    let provider = job.delivery.provider.as_str();
                    ctx.metrics.deliveries.with_label_values(&[provider, "lease_lapsed"]).inc();
                    tracing::warn!(
                        delivery.id = %job.delivery.id,
                        "a send waited for a slot until its lease no longer covered it; it is left to be claimed again \
                         (sends are falling behind: more scheduler processes or a longer MILKFLOW_SCHEDULER_LEASE_S)"
                    );
                    return;
                }
                let outcome = match (&job.device, &job.occurrence) {
                    _ if now >= job.delivery.expires_at => None,
                    (Some(device), Some(occ)) => {
                        Some(send(&ctx, device, occ, job.inflamed, job.broadcast.as_ref()).await)
                    }
                    _ => Some(SendOutcome::Gone { status: 0, reason: "the device was removed".into() }),
                };
                drop(slot);
                // Without a recorder the tick has failed: the delivery stays leased and is sent again once the
                // lease ends.
                let _ = finished.send((job.delivery, outcome));
            });
        }
    }
}

/// Runs `feed` with a [`Sender`] while a recorder writes the outcomes of finished sends a chunk at a time, so
/// sending never waits for the database; returns once every started send is recorded. A process killed
/// midway leaves at most the sends in flight and one chunk sent but unrecorded: those are sent again once
/// their lease ends, so a reminder is never lost.
pub(super) async fn pipeline<F, Fut>(ctx: &TickContext, now: DateTime<Utc>, feed: F) -> anyhow::Result<TickOutcome>
where
    F: FnOnce(Sender) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<TickOutcome>>,
{
    let (finished, mut done) = tokio::sync::mpsc::unbounded_channel::<Finished>();
    let sender = Sender {
        ctx: std::sync::Arc::new(ctx.clone()),
        slots: std::sync::Arc::new(tokio::sync::Semaphore::new(SEND_CONCURRENCY)),
        finished,
    };
    let record = async {
        let started = std::time::Instant::now();
        let mut out = TickOutcome::default();
        let mut chunk = Vec::with_capacity(RECORD_CHUNK);
        while done.recv_many(&mut chunk, RECORD_CHUNK).await > 0 {
            // Outcomes are timed when they are recorded: a Retry-After counts from the answer, not the claim.
            let at = now + Duration::from_std(started.elapsed()).unwrap_or_default();
            record_outcomes(ctx, at, std::mem::take(&mut chunk), &mut out).await?;
        }
        anyhow::Ok(out)
    };
    // The recorder ends when the feed has dropped its sender and every started send has finished.
    let (mut fed, recorded) = tokio::try_join!(feed(sender), record)?;
    fed.add(&recorded);
    Ok(fed)
}

/// How many pushes one process has in flight at once.
pub const SEND_CONCURRENCY: usize = 64;

/// At most this many finished sends are recorded together.
const RECORD_CHUNK: usize = 128;

pub(super) async fn inflamed_users(
    ctx: &TickContext,
    claimed: &[delivery::Model],
    occurrences: &HashMap<Uuid, occurrence::Model>,
    now: DateTime<Utc>,
) -> anyhow::Result<HashSet<Uuid>> {
    let pump_users: HashSet<Uuid> = claimed
        .iter()
        .filter(|d| {
            occurrences
                .get(&d.occurrence_id)
                .is_some_and(|o| o.routine_id.is_some() && o.routine_kind != ReminderTopic::Massage)
        })
        .map(|d| d.user_id)
        .collect();
    let owners = deliveries::accounts(&ctx.db, &pump_users).await?;
    let inflamed = store::advice::active_many(&ctx.db, &owners, now)
        .await?
        .into_iter()
        .filter(|(_, advisories)| domain::advisories::inflammation_active(advisories))
        .map(|(id, _)| id)
        .collect();
    Ok(inflamed)
}

pub(super) async fn send(
    ctx: &TickContext,
    device: &device::Model,
    occ: &occurrence::Model,
    inflamed: bool,
    broadcast: Option<&entity::broadcast::Model>,
) -> SendOutcome {
    let reminder = match (broadcast, occ.routine_id) {
        _ if let Some(client) = occ.client_id => payload::care_alert(client, occ.id, &device.locale),
        (Some(b), _) => payload::broadcast(b.id, occ.id, &b.title, &b.body),
        (None, Some(routine)) if device.user_id != occ.user_id => {
            payload::for_care_team(payload::reminder(occ.routine_kind.as_str(), routine, occ.id, &device.locale, false))
        }
        (None, Some(routine)) => {
            payload::reminder(occ.routine_kind.as_str(), routine, occ.id, &device.locale, inflamed)
        }
        (None, None) => return SendOutcome::Failed { status: None, reason: "its broadcast is gone".into() },
    };
    // One routine's (or broadcast's) reminders replace each other on the device.
    let collapse = topic_for(occ.routine_id.or(occ.broadcast_id).or(occ.client_id).unwrap_or(occ.id));
    let body = match serde_json::to_vec(&reminder) {
        Ok(b) => b,
        Err(e) => return SendOutcome::Failed { status: None, reason: format!("payload: {e}") },
    };
    let ttl = std::time::Duration::from_secs(ctx.push.ttl_s);
    match device.platform {
        Platform::Fcm => match &ctx.fcm {
            Some(fcm) => fcm.send(&device.target, &reminder, ttl, &collapse).await,
            None => SendOutcome::Failed { status: None, reason: "FCM is not configured on this server".into() },
        },
        Platform::Apns => match &ctx.apns {
            Some(apns) => apns.send(&device.target, &reminder, ttl, &collapse).await,
            None => SendOutcome::Failed { status: None, reason: "APNs is not configured on this server".into() },
        },
        Platform::Web => {
            let (Some(p256dh), Some(auth)) = (device.p256dh.as_deref(), device.auth.as_deref()) else {
                return SendOutcome::Failed { status: None, reason: "web device without keys".into() };
            };
            let sub = Subscription { endpoint: &device.target, p256dh, auth };
            let ttl = std::time::Duration::from_secs(ctx.push.ttl_s);
            ctx.web.send(&sub, &body, ttl, Some(&collapse)).await
        }
    }
}
