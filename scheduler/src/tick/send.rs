//! Sending: due deliveries are leased to this process, sent with bounded concurrency, and their outcomes recorded
//! a chunk at a time while later sends go on.

use chrono::{DateTime, Duration, Utc};
use domain::reminders::Platform;
use entity::{delivery, device, occurrence};
use std::collections::{HashMap, HashSet};
use store::deliveries;
use uuid::Uuid;

use super::gates::PAUSE_WITHOUT_RETRY_AFTER;
use super::prepare::{may_be_gentle, render, topic};
use super::{TickContext, TickOutcome, record_outcomes};
use push::SendOutcome;
use push::webpush::Subscription;

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

/// Starts sends: each its own task, so encryption and signing spread over every worker thread; at most
/// `MILKFLOW_PUSH_MAX_IN_FLIGHT` in flight to one push service (`gates`), and at most [`SEND_CONCURRENCY`]
/// times as many started and waiting in this process however many batches feed it.
pub(super) struct Sender {
    ctx: std::sync::Arc<TickContext>,
    started: std::sync::Arc<tokio::sync::Semaphore>,
    finished: tokio::sync::mpsc::UnboundedSender<Finished>,
}

impl Sender {
    /// Starts every job's send, each once a slot is free; returns when the last one has started.
    pub(super) async fn start(&self, jobs: Vec<Job>, now: DateTime<Utc>) {
        for job in jobs {
            let Ok(started) = self.started.clone().acquire_owned().await else {
                return;
            };
            let (ctx, finished) = (self.ctx.clone(), self.finished.clone());
            let gate = self.ctx.gates.of(job.device.as_ref());
            tokio::spawn(async move {
                let _started = started;
                // Taken before the pause is looked at: a send that waited behind a 429 sees it.
                let Ok(slot) = gate.slots.clone().acquire_owned().await else { return };
                if let Some(left) = gate.paused_for(now) {
                    // The service asked to be left alone: this one waits its turn, the other services' go on.
                    let outcome = SendOutcome::Retry {
                        status: Some(429),
                        after: Some(left),
                        reason: "held back: the push service asked to slow down".into(),
                    };
                    let _ = finished.send((job.delivery, Some(outcome)));
                    return;
                }
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
                        Some(send(&ctx, &job.delivery, device, occ, job.inflamed, job.broadcast.as_ref()).await)
                    }
                    _ => Some(SendOutcome::Gone { status: 0, reason: "the device was removed".into() }),
                };
                drop(slot);
                if let Some(SendOutcome::Retry { status: Some(429), after, .. }) = &outcome {
                    gate.pause(now, after.unwrap_or(PAUSE_WITHOUT_RETRY_AFTER));
                }
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
        started: std::sync::Arc::new(tokio::sync::Semaphore::new(SEND_CONCURRENCY.max(4 * ctx.push.max_in_flight))),
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

/// How many sends one process has started at least (in flight, or waiting for their service's gate).
pub const SEND_CONCURRENCY: usize = 64;

/// At most this many finished sends are recorded together: on SQLite a request waiting to write may wait for
/// one such transaction (`store::db::begin_background_write`), so it is kept short. (1,024 sent no faster.)
const RECORD_CHUNK: usize = 256;

pub(super) async fn inflamed_users(
    ctx: &TickContext,
    claimed: &[delivery::Model],
    occurrences: &HashMap<Uuid, occurrence::Model>,
    now: DateTime<Utc>,
) -> anyhow::Result<HashSet<Uuid>> {
    let pump_users: HashSet<Uuid> = claimed
        .iter()
        .filter(|d| d.payload.is_none())
        .filter(|d| occurrences.get(&d.occurrence_id).is_some_and(may_be_gentle))
        .map(|d| d.user_id)
        .collect();
    inflamed_owners(ctx, &pump_users, now).await
}

/// Which of `owners` have an active advisory that makes a pump reminder gentle.
pub(super) async fn inflamed_owners(
    ctx: &TickContext,
    owners: &HashSet<Uuid>,
    now: DateTime<Utc>,
) -> anyhow::Result<HashSet<Uuid>> {
    if owners.is_empty() {
        return Ok(HashSet::new());
    }
    let owners = deliveries::accounts(&ctx.db, owners).await?;
    let inflamed = store::advice::active_many(&ctx.db, &owners, now)
        .await?
        .into_iter()
        .filter(|(_, advisories)| domain::advisories::inflammation_active(advisories))
        .map(|(id, _)| id)
        .collect();
    Ok(inflamed)
}

/// Sends `d` to `device`: the body made ahead when there is one, else the reminder rendered now.
pub(super) async fn send(
    ctx: &TickContext,
    d: &delivery::Model,
    device: &device::Model,
    occ: &occurrence::Model,
    inflamed: bool,
    broadcast: Option<&entity::broadcast::Model>,
) -> SendOutcome {
    let ttl = std::time::Duration::from_secs(ctx.push.ttl_s);
    if let (Platform::Web, Some(encrypted)) = (device.platform, &d.payload) {
        // Made ahead: only posted now.
        return ctx.web.post(&device.target, encrypted.clone(), ttl, Some(&topic(occ))).await;
    }
    let (reminder, collapse) = match render(device, occ, inflamed, broadcast) {
        Ok(rendered) => rendered,
        Err(outcome) => return outcome,
    };
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
            let body = match serde_json::to_vec(&reminder) {
                Ok(b) => b,
                Err(e) => return SendOutcome::Failed { status: None, reason: format!("payload: {e}") },
            };
            let sub = Subscription { endpoint: &device.target, p256dh, auth };
            ctx.web.send(&sub, &body, ttl, Some(&collapse)).await
        }
    }
}
