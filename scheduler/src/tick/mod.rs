//! The claim tick: turns due occurrences into deliveries (one per device), then sends due deliveries.
//!
//! Both steps claim rows so that any number of scheduler processes share the work: occurrences inside one
//! transaction with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has one writer), deliveries with a lease,
//! so a process killed mid-send loses nothing: its leased deliveries are taken again once the lease ends.

use chrono::{DateTime, Utc};
use platform::PushSettings;
use store::Database;
use uuid::Uuid;

use push::webpush::WebPush;

mod emails;
mod fan_out;
mod gates;
mod outcomes;
mod prepare;
mod send;

pub use emails::{EmailOutcome, send_due as send_due_emails};
pub use fan_out::fan_out;
pub use outcomes::backoff;
pub use send::{SEND_CONCURRENCY, deliver};

use fan_out::fan_out_leased;
use outcomes::record_outcomes;
use send::{Finished, Job, Sender, claim, inflamed_users, jobs, pipeline};

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
    /// Sends the outbox's emails.
    pub mailer: mail::Mailer,
    /// Each push service's in-flight bound and 429 pause, for the life of the process.
    gates: std::sync::Arc<gates::Gates>,
}

impl TickContext {
    /// Whether a send started now would end, answered or timed out, before a lease ending at `lease_ends`.
    fn send_ends_inside(&self, lease_ends: std::time::Instant) -> bool {
        std::time::Instant::now() + std::time::Duration::from_secs(self.push.timeout_s) < lease_ends
    }

    /// A context from settings: loads (or creates) the VAPID keys.
    pub async fn build(settings: &platform::Settings, db: Database) -> anyhow::Result<Self> {
        let keys = std::sync::Arc::new(
            push::vapid::VapidKeys::load(settings, async |key: &str| {
                Ok(store::secrets::get_or_store(&db, push::vapid::SECRET_NAME, key).await?)
            })
            .await?,
        );
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
        let mailer = mail::Mailer::from_settings(&settings.mail).map_err(|e| anyhow::anyhow!("invalid setting {e}"))?;
        let gates = std::sync::Arc::new(gates::Gates::new(settings.push.max_in_flight));
        Ok(Self { db, push: settings.push.clone(), web, fcm, apns, instance, metrics, mailer, gates })
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
    /// Of those, not yet due: their deliveries staged (made ahead), to be sent at their time.
    pub staged: usize,
    /// Due occurrences left for the next batch: an account they need was being changed.
    pub deferred: usize,
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
            staged = self.staged,
            deferred = self.deferred,
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
        self.staged += other.staged;
        self.deferred += other.deferred;
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
    plan_care_alerts(ctx, now).await;
    fan_out(ctx, now, &mut out).await?;
    deliver(ctx, now, &mut out).await?;
    Ok(out)
}

/// Plans the care alerts of advisories that became active (`store::care::alerts`), sent like reminders. A
/// failure is logged and the tick goes on: reminders do not wait for alerts.
async fn plan_care_alerts(ctx: &TickContext, now: DateTime<Utc>) {
    match store::care::alerts::plan(&ctx.db, now).await {
        Ok(0) => {}
        Ok(planned) => tracing::info!(planned, "care alerts planned"),
        Err(e) => tracing::error!(error = %e, "planning care alerts failed"),
    }
}

/// What the claim tick runs: fan-out and delivery batches at the current time for as long as they come back
/// full, the two side by side, so a morning burst drains at full speed rather than one batch a tick. The
/// fan-out's deliveries are leased to this process as they are created and sent without a claim
/// (`fan_out_leased`); claims take the rest (retries, leases that ended). Sends run while the next batches
/// are made and earlier outcomes are recorded; on SQLite these take turns for the one writer through
/// [`store::db::begin_write`]. `progress` is called after every batch (the scheduler's liveness); the
/// backlog is measured once, at the end.
#[tracing::instrument(skip_all)]
pub async fn drain(ctx: &TickContext, progress: impl Fn()) -> anyhow::Result<TickOutcome> {
    plan_care_alerts(ctx, Utc::now()).await;
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
                let leased = claim_and_start(ctx, sender, progress).await?;
                total.leased += leased;
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

/// Claims and sends the deliveries due now (staged ones at their time, retries, leases that ended), batch after
/// batch while they come back full: what the on-time loop runs at each whole second. No fan-out: the claim tick
/// stages ahead, so at the due second this only claims and posts.
pub async fn send_due(ctx: &TickContext, progress: impl Fn()) -> anyhow::Result<TickOutcome> {
    let progress = &progress;
    pipeline(ctx, Utc::now(), |sender| async move {
        let mut total = TickOutcome::default();
        loop {
            let leased = claim_and_start(ctx, &sender, progress).await?;
            total.leased += leased;
            if !full_batch(ctx, leased) {
                return anyhow::Ok(total);
            }
        }
    })
    .await
}

/// Claims one batch of due deliveries and starts their sends; gives how many were claimed.
async fn claim_and_start(ctx: &TickContext, sender: &Sender, progress: &impl Fn()) -> anyhow::Result<usize> {
    let now = Utc::now();
    let jobs = claim(ctx, now).await?;
    progress();
    let leased = jobs.len();
    sender.start(jobs, now).await;
    Ok(leased)
}

/// Fan-out batches created and leased, waiting for send slots, before the fan-out waits too.
const FANNED_AHEAD: usize = 2;

/// Whether a batch came back full, so more may be waiting.
fn full_batch(ctx: &TickContext, n: usize) -> bool {
    n as u64 >= ctx.push.batch
}

/// Due occurrences and deliveries still waiting after a tick: a growing backlog means the schedulers fall behind.
async fn backlog(ctx: &TickContext, now: DateTime<Utc>) -> anyhow::Result<u64> {
    Ok(store::deliveries::backlog(&ctx.db, now).await?)
}
