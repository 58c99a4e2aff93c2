//! The claim tick: turns due occurrences into deliveries (one per device), then sends due deliveries.
//!
//! Both steps claim rows so that any number of scheduler processes share the work: occurrences inside one
//! transaction with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has one writer), deliveries with a lease,
//! so a process killed mid-send loses nothing: its leased deliveries are taken again once the lease ends.

use chrono::{DateTime, Duration, Utc};
use domain::FailureReason;
use entity::{delivery, device, occurrence, record, user};
use platform::{Database, PushSettings};
use rand::Rng;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::planning::{self, state};
use push::webpush::{Subscription, WebPush, topic_for};
use push::{SendOutcome, payload};

/// Delivery states.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const RETRYING: &str = "retrying";
    pub const DELIVERED: &str = "delivered";
    pub const FAILED: &str = "failed";
    pub const PRUNED: &str = "pruned";
    pub const EXPIRED: &str = "expired";
}

/// What a tick needs.
#[derive(Clone)]
pub struct TickContext {
    pub db: Database,
    pub push: PushSettings,
    pub web: WebPush,
    /// FCM, when a service account is configured.
    pub fcm: Option<std::sync::Arc<push::fcm::Fcm>>,
    /// APNs, when a key is configured.
    pub apns: Option<std::sync::Arc<push::apns::Apns>>,
    /// Names this process in leases.
    pub instance: String,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl TickContext {
    /// Whether a send started now would end, answered or timed out, before a lease ending at `lease_ends`.
    fn send_ends_inside(&self, lease_ends: std::time::Instant) -> bool {
        std::time::Instant::now() + std::time::Duration::from_secs(self.push.timeout_s) < lease_ends
    }

    /// A context from settings: loads (or creates) the VAPID keys.
    pub async fn build(settings: &platform::Settings, db: Database) -> anyhow::Result<Self> {
        let keys = std::sync::Arc::new(push::vapid::VapidKeys::load(settings, &db).await?);
        let timeout = std::time::Duration::from_secs(settings.push.timeout_s);
        let web = WebPush::new(keys, timeout, settings.push.allow_insecure);
        let fcm = match &settings.push.fcm_service_account_file {
            Some(path) => {
                let json = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("invalid setting MILKFLOW_FCM_SERVICE_ACCOUNT_FILE: {path}: {e}"))?;
                let fcm = push::fcm::Fcm::new(&json, &settings.push.fcm_base_url, timeout)
                    .map_err(|e| anyhow::anyhow!("invalid setting MILKFLOW_FCM_SERVICE_ACCOUNT_FILE: {e}"))?;
                Some(std::sync::Arc::new(fcm))
            }
            None => None,
        };
        let apns = match &settings.push.apns {
            Some(a) => {
                let key_pem = std::fs::read_to_string(&a.key_file)
                    .map_err(|e| anyhow::anyhow!("invalid setting MILKFLOW_APNS_KEY_FILE: {}: {e}", a.key_file))?;
                let config = push::apns::ApnsConfig {
                    key_pem,
                    key_id: a.key_id.clone(),
                    team_id: a.team_id.clone(),
                    topic: a.topic.clone(),
                    base_url: settings.push.apns_base_url.clone(),
                };
                let apns = push::apns::Apns::new(config, timeout)
                    .map_err(|e| anyhow::anyhow!("invalid setting MILKFLOW_APNS_KEY_FILE: {e}"))?;
                Some(std::sync::Arc::new(apns))
            }
            None => None,
        };
        let instance = format!("{}-{}", std::process::id(), &Uuid::new_v4().simple().to_string()[..8]);
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
        Ok(Self { db, push: settings.push.clone(), web, fcm, apns, instance, metrics })
    }

    /// The same context reporting into `metrics` (one registry per process).
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }
}

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickOutcome {
    /// Due occurrences claimed by this tick.
    pub claimed: usize,
    /// Of those, due too long ago (past the grace period): marked missed, not sent.
    pub missed: usize,
    /// Deliveries this process leased to send.
    pub leased: usize,
    /// Deliveries attempted.
    pub attempted: usize,
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
    pub pruned: usize,
    pub expired: usize,
}

impl TickOutcome {
    /// Logs the counts at info level, as `what`.
    pub fn log(&self, what: &str) {
        tracing::info!(
            claimed = self.claimed,
            missed = self.missed,
            leased = self.leased,
            attempted = self.attempted,
            delivered = self.delivered,
            retried = self.retried,
            failed = self.failed,
            pruned = self.pruned,
            expired = self.expired,
            "{what}"
        );
    }

    fn add(&mut self, other: &TickOutcome) {
        self.claimed += other.claimed;
        self.missed += other.missed;
        self.leased += other.leased;
        self.attempted += other.attempted;
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.failed += other.failed;
        self.pruned += other.pruned;
        self.expired += other.expired;
    }
}

/// One tick at `now`: fan out one batch of due occurrences, send one batch of due deliveries, then measure
/// the backlog.
#[tracing::instrument(skip_all, fields(now = %now))]
pub async fn run_once(ctx: &TickContext, now: DateTime<Utc>) -> anyhow::Result<TickOutcome> {
    let out = step(ctx, now).await?;
    ctx.metrics.backlog.set(backlog(ctx, now).await? as i64);
    Ok(out)
}

async fn step(ctx: &TickContext, now: DateTime<Utc>) -> anyhow::Result<TickOutcome> {
    let mut out = TickOutcome::default();
    fan_out(ctx, now, &mut out).await?;
    deliver(ctx, now, &mut out).await?;
    Ok(out)
}

/// What the claim tick runs: fan-out and delivery batches at the current time for as long as they come back
/// full, the two side by side, so a morning burst drains at full speed rather than one batch a tick. The
/// fan-out's deliveries are leased to this process as they are created and sent without a claim
/// (`fan_out_leased`); claims take the rest (retries, leases that ended). Sends run while the next batches
/// are made and earlier outcomes are recorded; on SQLite these take turns for the one writer through
/// [`platform::db::begin_write`]. `progress` is called after every batch (the scheduler's liveness); the
/// backlog is measured once, at the end.
#[tracing::instrument(skip_all)]
pub async fn drain(ctx: &TickContext, progress: impl Fn()) -> anyhow::Result<TickOutcome> {
    let fanning = std::sync::atomic::AtomicBool::new(true);
    let (fanning, progress) = (&fanning, &progress);
    let total = pipeline(ctx, Utc::now(), |sender| async move {
        let sender = &sender;
        // The fan-out's deliveries, leased to this process as they are created, go straight to the sender; at
        // most [`FANNED_AHEAD`] batches wait for it, so none waits long into its lease.
        let (fanned, mut to_send) = tokio::sync::mpsc::channel::<(Vec<Job>, DateTime<Utc>)>(FANNED_AHEAD);
        let fan = async move {
            let mut total = TickOutcome::default();
            let result = loop {
                let mut out = TickOutcome::default();
                let now = Utc::now();
                let jobs = match fan_out_leased(ctx, now, &mut out).await {
                    Ok(jobs) => jobs,
                    Err(e) => break Err(e),
                };
                progress();
                out.leased += jobs.len();
                total.add(&out);
                if !jobs.is_empty() && fanned.send((jobs, now)).await.is_err() {
                    break Ok(total);
                }
                if !full_batch(ctx, out.claimed) {
                    break Ok(total);
                }
            };
            fanning.store(false, std::sync::atomic::Ordering::Release);
            result
        };
        let start_fanned = async {
            while let Some((jobs, now)) = to_send.recv().await {
                sender.start(jobs, now).await;
            }
        };
        let claimed = async {
            let mut total = TickOutcome::default();
            loop {
                let more_coming = fanning.load(std::sync::atomic::Ordering::Acquire);
                let now = Utc::now();
                let jobs = claim(ctx, now).await?;
                progress();
                let leased = jobs.len();
                total.leased += leased;
                sender.start(jobs, now).await;
                if !full_batch(ctx, leased) && !more_coming {
                    return anyhow::Ok(total);
                }
                if leased == 0 {
                    // Nothing waits to be claimed while the fan-out sends what it creates itself.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        };
        let (fanned, (), claimed) = tokio::join!(fan, start_fanned, claimed);
        let mut total = fanned?;
        total.add(&claimed?);
        anyhow::Ok(total)
    })
    .await?;
    ctx.metrics.backlog.set(backlog(ctx, Utc::now()).await? as i64);
    Ok(total)
}

/// Fan-out batches created and leased, waiting for send slots, before the fan-out waits too.
const FANNED_AHEAD: usize = 2;

/// Whether a batch came back full, so more may be waiting.
fn full_batch(ctx: &TickContext, n: usize) -> bool {
    n as u64 >= ctx.push.batch
}

/// Due occurrences and deliveries still waiting after a tick: a growing backlog means the schedulers fall behind.
async fn backlog(ctx: &TickContext, now: DateTime<Utc>) -> anyhow::Result<u64> {
    use sea_orm::PaginatorTrait;
    let occurrences = occurrence::Entity::find()
        .filter(occurrence::Column::State.eq(state::PLANNED))
        .filter(occurrence::Column::DueAt.lte(now))
        .count(&ctx.db)
        .await?;
    let deliveries = delivery::Entity::find()
        .filter(waiting())
        .filter(delivery::Column::NextAttemptAt.lte(now))
        .count(&ctx.db)
        .await?;
    Ok(occurrences + deliveries)
}

/// Turns due occurrences into deliveries, one per device of their owner, and plans each routine's next one. The
/// deliveries wait to be claimed.
pub async fn fan_out(ctx: &TickContext, now: DateTime<Utc>, out: &mut TickOutcome) -> anyhow::Result<()> {
    fan_out_with(ctx, now, out, None).await.map(|_| ())
}

/// [`fan_out`], with the deliveries created already leased to this process, returned ready to send: each is
/// spared a claim of its own, and on SQLite the wait for the one writer behind the next fan-out batch. Like a
/// claimed delivery, one this process dies before recording is taken again once its lease ends.
async fn fan_out_leased(ctx: &TickContext, now: DateTime<Utc>, out: &mut TickOutcome) -> anyhow::Result<Vec<Job>> {
    let lease_ends = std::time::Instant::now() + std::time::Duration::from_secs(ctx.push.lease_s);
    fan_out_with(ctx, now, out, Some(lease_ends)).await
}

async fn fan_out_with(
    ctx: &TickContext,
    now: DateTime<Utc>,
    out: &mut TickOutcome,
    lease_ends: Option<std::time::Instant>,
) -> anyhow::Result<Vec<Job>> {
    let txn = platform::db::begin_write(&ctx.db).await?;
    let due = occurrence::Entity::find()
        .filter(occurrence::Column::State.eq(state::PLANNED))
        .filter(occurrence::Column::DueAt.lte(now))
        .order_by_asc(occurrence::Column::DueAt)
        .limit(ctx.push.batch)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    ctx.metrics.claim_batch.observe(due.len() as f64);
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let user_ids: HashSet<Uuid> = due.iter().map(|o| o.user_id).collect();
    let active: HashSet<Uuid> = user::Entity::find()
        .filter(user::Column::Id.is_in(user_ids.clone()))
        .filter(user::Column::Status.eq("active"))
        .all(&txn)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let mut devices: HashMap<Uuid, Vec<device::Model>> = HashMap::new();
    for d in device::Entity::find().filter(device::Column::UserId.is_in(user_ids)).all(&txn).await? {
        devices.entry(d.user_id).or_default().push(d);
    }
    let broadcast_ids: Vec<Uuid> = due.iter().filter(|o| is_broadcast(o)).map(|o| o.routine_id).collect();
    let broadcasts: HashMap<Uuid, entity::broadcast::Model> = entity::broadcast::Entity::find()
        .filter(entity::broadcast::Column::Id.is_in(broadcast_ids))
        .all(&txn)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
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
    let mut by_state: HashMap<&'static str, Vec<Uuid>> = HashMap::new();
    let mut rows = Vec::new();
    for occ in &due {
        let new_state = if !active.contains(&occ.user_id) {
            state::CANCELLED
        } else if now - occ.due_at > grace {
            state::MISSED
        } else {
            state::SENT
        };
        by_state.entry(new_state).or_default().push(occ.id);
        out.claimed += 1;
        if new_state == state::MISSED {
            out.missed += 1;
            ctx.metrics.missed.inc();
            tracing::info!(occurrence.id = %occ.id, late_s = (now - occ.due_at).num_seconds(), "occurrence missed (past the grace period)");
        }
        if new_state == state::SENT {
            let wanted = |d: &device::Model| match locale_filters.get(&occ.routine_id) {
                Some(locales) if is_broadcast(occ) => crate::locale_matches(&d.locale, locales),
                _ => true,
            };
            for d in devices.get(&occ.user_id).into_iter().flatten().filter(|d| wanted(d)) {
                rows.push(new_delivery(occ, d, now, ttl, lease));
            }
        }
    }
    for (new_state, ids) in by_state {
        for ids in ids.chunks(planning::IN_CHUNK) {
            occurrence::Entity::update_many()
                .col_expr(occurrence::Column::State, Expr::value(new_state))
                .col_expr(occurrence::Column::UpdatedAt, Expr::value(now))
                .filter(occurrence::Column::Id.is_in(ids.iter().copied()))
                .exec(&txn)
                .await?;
        }
    }
    let mut created = Vec::new();
    for chunk in planning::in_chunks(rows) {
        let insert = delivery::Entity::insert_many(chunk)
            .on_conflict_do_nothing_on([delivery::Column::OccurrenceId, delivery::Column::DeviceId]);
        if lease.is_some() {
            // Only the rows this statement inserted are this process's to send.
            if let sea_orm::TryInsertResult::Inserted(rows) = insert.exec_with_returning_many(&txn).await? {
                created.extend(rows);
            }
        } else {
            insert.exec(&txn).await?;
        }
    }
    // Each routine's next occurrence comes strictly after the slot that fired (or now, when it fired late).
    let fired: HashMap<Uuid, DateTime<Utc>> =
        due.iter().filter(|o| o.kind == "routine").map(|o| (o.routine_id, now.max(o.due_at))).collect();
    let mut routines = Vec::new();
    for ids in fired.keys().copied().collect::<Vec<_>>().chunks(planning::IN_CHUNK) {
        routines.extend(record::Entity::find().filter(record::Column::Id.is_in(ids.iter().copied())).all(&txn).await?);
    }
    planning::replan_many(&txn, &routines, |r| fired.get(&r.id).copied().unwrap_or(now), now).await?;
    txn.commit().await?;
    let Some(lease_ends) = lease_ends.filter(|_| !created.is_empty()) else { return Ok(Vec::new()) };
    let occurrences: HashMap<Uuid, occurrence::Model> = due.into_iter().map(|o| (o.id, o)).collect();
    let inflamed = inflamed_users(ctx, &created, &occurrences, now).await?;
    let devices: HashMap<Uuid, device::Model> = devices.into_values().flatten().map(|d| (d.id, d)).collect();
    Ok(jobs(created, lease_ends, &devices, &occurrences, &inflamed, &broadcasts))
}

fn new_delivery(
    occ: &occurrence::Model,
    d: &device::Model,
    now: DateTime<Utc>,
    ttl: Duration,
    lease: Option<(DateTime<Utc>, &str)>,
) -> delivery::ActiveModel {
    delivery::ActiveModel {
        id: Set(Uuid::now_v7()),
        occurrence_id: Set(occ.id),
        device_id: Set(d.id),
        user_id: Set(occ.user_id),
        provider: Set(d.platform.clone()),
        status: Set(status::PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(lease.map(|(until, _)| until)),
        leased_by: Set(lease.map(|(_, by)| by.to_owned())),
        due_at: Set(occ.due_at),
        expires_at: Set(occ.due_at.max(now) + ttl),
        sent_at: Set(None),
        last_status: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Deliveries waiting to be sent, written literally so the claim uses the partial index `idx_deliveries_claim`
/// (neither database matches a partial index against bound parameters).
fn waiting() -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(migration::DELIVERY_WAITING)
}

/// Exponential backoff with jitter: about 5 s, 10 s, 20 s ... capped at 10 minutes.
pub fn backoff(attempt: i32) -> Duration {
    let base = 5.0 * 2f64.powi(attempt.clamp(1, 20) - 1);
    let jittered = base.min(600.0) * rand::rng().random_range(0.75..1.25);
    Duration::milliseconds((jittered * 1000.0) as i64)
}

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
struct Job {
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
type Finished = (delivery::Model, Option<SendOutcome>);

/// Leases one batch of due deliveries to this process and loads what sending them needs.
async fn claim(ctx: &TickContext, now: DateTime<Utc>) -> anyhow::Result<Vec<Job>> {
    let lease_ends = std::time::Instant::now() + std::time::Duration::from_secs(ctx.push.lease_s);
    let txn = platform::db::begin_write(&ctx.db).await?;
    let claimable = Condition::all()
        .add(waiting())
        .add(delivery::Column::NextAttemptAt.lte(now))
        .add(Condition::any().add(delivery::Column::LeaseUntil.is_null()).add(delivery::Column::LeaseUntil.lt(now)));
    let claimed = delivery::Entity::find()
        .filter(claimable)
        .order_by_asc(delivery::Column::NextAttemptAt)
        .limit(ctx.push.batch)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    if claimed.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = claimed.iter().map(|d| d.id).collect();
    delivery::Entity::update_many()
        .col_expr(delivery::Column::LeaseUntil, Expr::value(now + Duration::seconds(ctx.push.lease_s as i64)))
        .col_expr(delivery::Column::LeasedBy, Expr::value(ctx.instance.clone()))
        .filter(delivery::Column::Id.is_in(ids))
        .exec(&txn)
        .await?;
    txn.commit().await?;

    let device_ids: HashSet<Uuid> = claimed.iter().map(|d| d.device_id).collect();
    let devices: HashMap<Uuid, device::Model> = device::Entity::find()
        .filter(device::Column::Id.is_in(device_ids))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect();
    let occurrence_ids: HashSet<Uuid> = claimed.iter().map(|d| d.occurrence_id).collect();
    let occurrences: HashMap<Uuid, occurrence::Model> = occurrence::Entity::find()
        .filter(occurrence::Column::Id.is_in(occurrence_ids))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let inflamed = inflamed_users(ctx, &claimed, &occurrences, now).await?;
    let broadcast_ids: Vec<Uuid> = occurrences.values().filter(|o| is_broadcast(o)).map(|o| o.routine_id).collect();
    let broadcasts: HashMap<Uuid, entity::broadcast::Model> = entity::broadcast::Entity::find()
        .filter(entity::broadcast::Column::Id.is_in(broadcast_ids))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    Ok(jobs(claimed, lease_ends, &devices, &occurrences, &inflamed, &broadcasts))
}

/// A staff broadcast or a re-reminder of one: it says the broadcast's own title and body.
fn is_broadcast(o: &occurrence::Model) -> bool {
    o.routine_kind == "broadcast"
}

/// Leased deliveries with what sending each needs.
fn jobs(
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
                broadcast: occurrence.as_ref().and_then(|o| broadcasts.get(&o.routine_id)).cloned(),
                occurrence,
                delivery: d,
                lease_ends,
            }
        })
        .collect()
}

/// Starts sends: each its own task, so encryption and signing spread over every worker thread, and at most
/// [`SEND_CONCURRENCY`] in flight in this process however many batches feed it.
struct Sender {
    ctx: std::sync::Arc<TickContext>,
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    finished: tokio::sync::mpsc::UnboundedSender<Finished>,
}

impl Sender {
    /// Starts every job's send, each once a slot is free; returns when the last one has started.
    async fn start(&self, jobs: Vec<Job>, now: DateTime<Utc>) {
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
async fn pipeline<F, Fut>(ctx: &TickContext, now: DateTime<Utc>, feed: F) -> anyhow::Result<TickOutcome>
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

async fn inflamed_users(
    ctx: &TickContext,
    claimed: &[delivery::Model],
    occurrences: &HashMap<Uuid, occurrence::Model>,
    now: DateTime<Utc>,
) -> anyhow::Result<HashSet<Uuid>> {
    let pump_users: HashSet<Uuid> = claimed
        .iter()
        .filter(|d| occurrences.get(&d.occurrence_id).is_some_and(|o| !is_broadcast(o) && o.routine_kind != "massage"))
        .map(|d| d.user_id)
        .collect();
    let owners = user::Entity::find().filter(user::Column::Id.is_in(pump_users)).all(&ctx.db).await?;
    let inflamed = crate::advice::active_many(&ctx.db, &owners, now)
        .await?
        .into_iter()
        .filter(|(_, advisories)| domain::advisories::inflammation_active(advisories))
        .map(|(id, _)| id)
        .collect();
    Ok(inflamed)
}

async fn send(
    ctx: &TickContext,
    device: &device::Model,
    occ: &occurrence::Model,
    inflamed: bool,
    broadcast: Option<&entity::broadcast::Model>,
) -> SendOutcome {
    let reminder = match broadcast {
        Some(b) => payload::broadcast(b.id, occ.id, &b.title, &b.body),
        None => payload::reminder(&occ.routine_kind, occ.routine_id, occ.id, &device.locale, inflamed),
    };
    let body = match serde_json::to_vec(&reminder) {
        Ok(b) => b,
        Err(e) => return SendOutcome::Failed { status: None, reason: format!("payload: {e}") },
    };
    let ttl = std::time::Duration::from_secs(ctx.push.ttl_s);
    let collapse = topic_for(occ.routine_id);
    match device.platform.as_str() {
        "fcm" => match &ctx.fcm {
            Some(fcm) => fcm.send(&device.target, &reminder, ttl, &collapse).await,
            None => SendOutcome::Failed { status: None, reason: "FCM is not configured on this server".into() },
        },
        "apns" => match &ctx.apns {
            Some(apns) => apns.send(&device.target, &reminder, ttl, &collapse).await,
            None => SendOutcome::Failed { status: None, reason: "APNs is not configured on this server".into() },
        },
        "web" => {
            let (Some(p256dh), Some(auth)) = (device.p256dh.as_deref(), device.auth.as_deref()) else {
                return SendOutcome::Failed { status: None, reason: "web device without keys".into() };
            };
            let sub = Subscription { endpoint: &device.target, p256dh, auth };
            let ttl = std::time::Duration::from_secs(ctx.push.ttl_s);
            ctx.web.send(&sub, &body, ttl, Some(&topic_for(occ.routine_id))).await
        }
        other => {
            SendOutcome::Failed { status: None, reason: format!("{other} delivery is not configured on this server") }
        }
    }
}

/// Records finished sends in one transaction: the delivered ones of a chunk together, the rest one by one.
async fn record_outcomes(
    ctx: &TickContext,
    now: DateTime<Utc>,
    results: Vec<Finished>,
    out: &mut TickOutcome,
) -> anyhow::Result<()> {
    let (delivered, others): (Vec<_>, Vec<_>) =
        results.into_iter().partition(|(_, outcome)| matches!(outcome, Some(SendOutcome::Delivered)));
    let delivered: Vec<delivery::Model> = delivered.into_iter().map(|(d, _)| d).collect();
    let txn = platform::db::begin_write(&ctx.db).await?;
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // A PostgreSQL crash may forget the last moments of outcomes: those deliveries are sent again once
        // their lease ends (a duplicate, never a loss). A scheduler crash loses nothing: the server has them.
        txn.execute_unprepared("SET LOCAL synchronous_commit = off").await?;
    }
    record_delivered(ctx, &txn, now, &delivered, out).await?;
    let mut settled: Vec<_> = delivered.into_iter().map(|d| (d, status::DELIVERED, false)).collect();
    for (d, outcome) in others {
        let (new_status, gone) = record_outcome(ctx, &txn, now, &d, outcome, out).await?;
        settled.push((d, new_status, gone));
    }
    txn.commit().await?;
    for (d, new_status, gone) in settled {
        count(ctx, now, &d, new_status, gone);
    }
    Ok(())
}

/// Records deliveries the push service accepted: two statements.
async fn record_delivered(
    ctx: &TickContext,
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    delivered: &[delivery::Model],
    out: &mut TickOutcome,
) -> anyhow::Result<()> {
    if delivered.is_empty() {
        return Ok(());
    }
    out.attempted += delivered.len();
    out.delivered += delivered.len();
    let device_ids: HashSet<Uuid> = delivered.iter().map(|d| d.device_id).collect();
    device::Entity::update_many()
        .col_expr(device::Column::LastSuccessAt, Expr::value(now))
        .filter(device::Column::Id.is_in(device_ids))
        .exec(txn)
        .await?;
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(status::DELIVERED))
        .col_expr(
            delivery::Column::Attempts,
            sea_orm::sea_query::ExprTrait::add(Expr::col(delivery::Column::Attempts), 1),
        )
        .col_expr(delivery::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(delivery::Column::LastStatus, Expr::value(Some(201)))
        .col_expr(delivery::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(delivery::Column::SentAt, Expr::value(Some(now)))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        .filter(delivery::Column::Id.is_in(delivered.iter().map(|d| d.id)))
        .filter(delivery::Column::LeasedBy.eq(ctx.instance.clone()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Counts a settled delivery in the metrics.
fn count(ctx: &TickContext, now: DateTime<Utc>, d: &delivery::Model, new_status: &str, gone: bool) {
    let label = match new_status {
        status::RETRYING => "retried",
        other => other,
    };
    ctx.metrics.deliveries.with_label_values(&[d.provider.as_str(), label]).inc();
    match new_status {
        status::DELIVERED => {
            let late = (now - d.due_at).num_milliseconds().max(0) as f64 / 1000.0;
            ctx.metrics.lateness.with_label_values(&[d.provider.as_str()]).observe(late);
        }
        status::PRUNED if gone => ctx.metrics.devices_pruned.with_label_values(&[d.provider.as_str()]).inc(),
        _ => {}
    }
}

/// Records one send that was not accepted (or went stale unsent); returns the delivery's new status and
/// whether its device is gone. Accepted ones go through [`record_delivered`].
async fn record_outcome(
    ctx: &TickContext,
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    d: &delivery::Model,
    outcome: Option<SendOutcome>,
    out: &mut TickOutcome,
) -> anyhow::Result<(&'static str, bool)> {
    let attempts = d.attempts + i32::from(outcome.is_some());
    let (new_status, next_attempt, last_status, last_error) = match &outcome {
        None => {
            out.expired += 1;
            (status::EXPIRED, d.next_attempt_at, d.last_status, Some(FailureReason::Expired))
        }
        Some(SendOutcome::Delivered) => {
            record_delivered(ctx, txn, now, std::slice::from_ref(d), out).await?;
            return Ok((status::DELIVERED, false));
        }
        Some(SendOutcome::Gone { status: code, reason }) => {
            out.pruned += 1;
            tracing::info!(device.id = %d.device_id, %reason, "push target gone; device removed");
            // Only her device: one that moved to another account since is the new owner's now.
            device::Entity::delete_many()
                .filter(device::Column::Id.eq(d.device_id))
                .filter(device::Column::UserId.eq(d.user_id))
                .exec(txn)
                .await?;
            delivery::Entity::update_many()
                .col_expr(delivery::Column::Status, Expr::value(status::PRUNED))
                .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
                .filter(delivery::Column::DeviceId.eq(d.device_id))
                .filter(delivery::Column::UserId.eq(d.user_id))
                .filter(delivery::Column::Status.is_in([status::PENDING, status::RETRYING]))
                .filter(delivery::Column::Id.ne(d.id))
                .exec(txn)
                .await?;
            (status::PRUNED, d.next_attempt_at, Some(i32::from(*code)), Some(FailureReason::Gone))
        }
        Some(SendOutcome::Retry { status: code, after, reason }) => {
            let wait =
                backoff(attempts).max(after.and_then(|a| Duration::from_std(a).ok()).unwrap_or(Duration::zero()));
            let next = now + wait;
            let why = FailureReason::from_status(*code);
            let code = code.map(i32::from);
            if attempts >= ctx.push.max_attempts as i32 {
                out.failed += 1;
                tracing::warn!(delivery.id = %d.id, provider = %d.provider, attempts, %reason, "delivery given up");
                (status::FAILED, d.next_attempt_at, code, Some(why))
            } else if next >= d.expires_at {
                out.expired += 1;
                tracing::info!(delivery.id = %d.id, provider = %d.provider, %reason, "delivery stale before a retry");
                (status::EXPIRED, d.next_attempt_at, code, Some(FailureReason::Expired))
            } else {
                out.retried += 1;
                tracing::info!(delivery.id = %d.id, provider = %d.provider, %reason, "delivery will be retried");
                (status::RETRYING, next, code, Some(why))
            }
        }
        Some(failed @ SendOutcome::Failed { status: code, reason }) => {
            out.failed += 1;
            // The push service's own words go to this log only (cut short where they are read).
            tracing::warn!(delivery.id = %d.id, provider = %d.provider, reason = %reason, "delivery failed");
            (status::FAILED, d.next_attempt_at, code.map(i32::from), failed.failure_reason())
        }
    };
    if outcome.is_some() {
        out.attempted += 1;
    }
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(new_status))
        .col_expr(delivery::Column::Attempts, Expr::value(attempts))
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(next_attempt))
        .col_expr(delivery::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(delivery::Column::LastStatus, Expr::value(last_status))
        .col_expr(delivery::Column::LastError, Expr::value(last_error.map(FailureReason::as_str)))
        .col_expr(delivery::Column::SentAt, Expr::value(d.sent_at))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        .filter(delivery::Column::Id.eq(d.id))
        .filter(delivery::Column::LeasedBy.eq(ctx.instance.clone()))
        .exec(txn)
        .await?;
    Ok((new_status, matches!(outcome, Some(SendOutcome::Gone { .. }))))
}
