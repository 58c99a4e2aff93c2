//! `Scheduler`: the tokio-cron-scheduler jobs, built from settings, started and shut down explicitly.

use chrono::Utc;
use platform::Settings;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use store::Database;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::tick;
use store::housekeeping;

/// When the claim tick last completed, to tell a live scheduler from a stuck one.
#[derive(Debug)]
pub struct TickHealth {
    last_completed_ms: AtomicI64,
    stale_after: Duration,
}

impl TickHealth {
    /// A health record that counts as fresh from now on.
    pub fn new(stale_after: Duration) -> Self {
        Self { last_completed_ms: AtomicI64::new(Utc::now().timestamp_millis()), stale_after }
    }

    /// Records a completed tick.
    pub fn record(&self) {
        self.last_completed_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// Whether a tick completed within the staleness limit.
    pub fn is_fresh(&self) -> bool {
        let age_ms = Utc::now().timestamp_millis() - self.last_completed_ms.load(Ordering::Relaxed);
        age_ms <= self.stale_after.as_millis() as i64
    }
}

/// The scheduler's cron jobs.
pub struct Scheduler {
    jobs: JobScheduler,
    health: Arc<TickHealth>,
    context: Arc<tick::TickContext>,
    on_time: Option<crate::on_time::OnTime>,
}

/// Housekeeping runs once an hour, at minute 17.
const HOUSEKEEPING_CRON: &str = "0 17 * * * *";

impl Scheduler {
    /// Builds the jobs, reporting into `metrics`; an invalid `MILKFLOW_SCHEDULER_TICK` is an error naming that key.
    pub async fn build(
        settings: &Settings,
        db: Database,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> anyhow::Result<Self> {
        let jobs = JobScheduler::new().await?;
        let health = Arc::new(TickHealth::new(Duration::from_secs(settings.scheduler_stale_after_s)));
        // Ticks never overlap: a tick that finds the previous one still running skips.
        let running = Arc::new(Mutex::new(()));
        let context = Arc::new(tick::TickContext::build(settings, db.clone()).await?.with_metrics(metrics));
        let tick_health = health.clone();
        let mailing = context.clone();
        let on_time = context.clone();
        let claim = Job::new_async(settings.scheduler_tick.as_str(), move |_, _| {
            let (context, health, running) = (context.clone(), tick_health.clone(), running.clone());
            Box::pin(async move {
                let Ok(_guard) = running.try_lock() else {
                    tracing::debug!("previous claim tick still running; skipped");
                    return;
                };
                match tick::drain(&context, || health.record()).await {
                    Ok(outcome) => {
                        context.metrics.ticks.with_label_values(&["ok"]).inc();
                        if outcome != tick::TickOutcome::default() {
                            outcome.log("claim tick");
                        }
                    }
                    Err(e) => {
                        context.metrics.ticks.with_label_values(&["error"]).inc();
                        tracing::error!(error = format!("{e:#}"), "claim tick failed");
                    }
                }
            })
        })
        .map_err(|e| anyhow::anyhow!("invalid setting MILKFLOW_SCHEDULER_TICK: {e}"))?;
        jobs.add(claim).await?;
        // Emails go in a job of their own, so a slow SMTP server never holds reminders back.
        let sending = Arc::new(Mutex::new(()));
        let emails = Job::new_async(settings.scheduler_tick.as_str(), move |_, _| {
            let (context, sending) = (mailing.clone(), sending.clone());
            Box::pin(async move {
                let Ok(_guard) = sending.try_lock() else { return };
                match tick::send_due_emails(&context).await {
                    Ok(out) if out != tick::EmailOutcome::default() => {
                        tracing::info!(sent = out.sent, retried = out.retried, failed = out.failed, "emails sent");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = format!("{e:#}"), "email tick failed"),
                }
            })
        })?;
        jobs.add(emails).await?;
        let housekeeping = Job::new_async(HOUSEKEEPING_CRON, move |_, _| {
            let db = db.clone();
            Box::pin(async move {
                if let Err(e) = housekeeping::run_once(&db, Utc::now()).await {
                    tracing::error!(error = format!("{e:#}"), "housekeeping failed");
                }
            })
        })?;
        jobs.add(housekeeping).await?;
        Ok(Self { jobs, health, context: on_time, on_time: None })
    }

    /// Starts the jobs.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        self.jobs.start().await?;
        self.on_time = Some(crate::on_time::OnTime::start(self.context.clone(), self.health.clone()));
        tracing::info!("scheduler started");
        Ok(())
    }

    /// Stops the jobs.
    pub async fn shutdown(&mut self) -> anyhow::Result<()> {
        self.jobs.shutdown().await?;
        if let Some(on_time) = self.on_time.take() {
            on_time.stop().await;
        }
        tracing::info!("scheduler stopped");
        Ok(())
    }

    /// The claim tick's health.
    pub fn health(&self) -> Arc<TickHealth> {
        self.health.clone()
    }
}

/// The `milkflow-scheduler` process: migrate, connect, start the jobs, serve health until SIGTERM or ctrl-c.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    store::db::migrate(&settings.database_url, settings.database_kind).await?;
    let db =
        store::db::connect(&settings.database_url, settings.database_kind, settings.database_max_connections).await?;
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let mut scheduler = Scheduler::build(&settings, db.clone(), metrics.clone()).await?;
    scheduler.start().await?;
    let listener = std::net::TcpListener::bind(settings.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on MILKFLOW_LISTEN={}: {e}", settings.listen))?;
    tracing::info!(address = %listener.local_addr()?, database = ?settings.database_kind, "milkflow-scheduler listening");
    let served = crate::health::serve(listener, db.clone(), scheduler.health(), metrics)?.await;
    scheduler.shutdown().await?;
    db.close().await?;
    tracing::info!("milkflow-scheduler stopped");
    Ok(served?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_health_turns_stale() {
        let h = TickHealth::new(Duration::from_millis(0));
        h.last_completed_ms.store(Utc::now().timestamp_millis() - 50, Ordering::Relaxed);
        assert!(!h.is_fresh());
        let h = TickHealth::new(Duration::from_secs(10));
        assert!(h.is_fresh());
    }
}
