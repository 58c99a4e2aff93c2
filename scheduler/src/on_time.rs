//! The on-time loop: claims and sends what falls due, the instant it falls due. It wakes at the next due instant
//! it knows of (a staged delivery's time, a retry, a lease's end) or just past the next whole second, whichever
//! comes first. Routines fire on whole minutes and their deliveries are staged ahead, so at the top of the hour
//! this only claims and posts. (The cron tick, which also stages, is looked at every 500 ms by its crate: up to
//! half a second late.)

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

use crate::service::TickHealth;
use crate::tick::{self, TickContext};

/// The running loop.
pub struct OnTime {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// Just after the instant: a due instant is never claimed before it.
const PAST_THE_INSTANT: Duration = Duration::from_millis(2);

/// The least wait between two wakes, where due instants crowd (each wake claims all that is due by then).
const LEAST_WAIT: Duration = Duration::from_millis(10);

impl OnTime {
    /// Starts the loop on `ctx`, recording progress into `health`.
    pub fn start(ctx: Arc<TickContext>, health: Arc<TickHealth>) -> Self {
        let stop = Arc::new(Notify::new());
        let stopping = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                let wait = next_wake(&ctx, Utc::now()).await;
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stopping.notified() => return,
                }
                match tick::send_due(&ctx, || health.record()).await {
                    Ok(out) if out.leased > 0 => out.log("deliveries sent on time"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = format!("{e:#}"), "sending due deliveries failed"),
                }
            }
        });
        Self { stop, task }
    }

    /// Stops the loop after the sends it has begun are recorded.
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

/// How long from `now` until the loop wakes: just past the next due instant, or the next whole second if that
/// comes first (or the database cannot tell).
async fn next_wake(ctx: &TickContext, now: DateTime<Utc>) -> Duration {
    let second = now + wait_until(now, None);
    let next = match store::deliveries::next_due_between(&ctx.db, now, second).await {
        Ok(next) => next,
        Err(e) => {
            tracing::warn!(error = %e, "looking up the next due delivery failed");
            None
        }
    };
    wait_until(now, next)
}

/// The wait from `now` until just past `next_due` or the next whole second, whichever comes first.
fn wait_until(now: DateTime<Utc>, next_due: Option<DateTime<Utc>>) -> Duration {
    let into = Duration::from_nanos(u64::from(now.timestamp_subsec_nanos()));
    let second = Duration::from_secs(1).saturating_sub(into) + PAST_THE_INSTANT;
    match next_due.and_then(|at| (at - now).to_std().ok()) {
        Some(until) => Ord::min(second, Ord::max(until + PAST_THE_INSTANT, LEAST_WAIT)),
        None => second,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn with_nothing_due_it_wakes_just_past_the_next_whole_second() {
        assert_eq!(wait_until(at("2026-12-06T07:00:00.250Z"), None), Duration::from_millis(752));
        assert_eq!(wait_until(at("2026-12-06T06:59:59.999Z"), None), Duration::from_millis(3));
        assert_eq!(wait_until(at("2026-12-06T07:00:00Z"), None), Duration::from_millis(1002));
    }

    #[test]
    fn it_wakes_just_past_a_due_instant_before_the_next_second() {
        let now = at("2026-12-06T07:00:00.250Z");
        assert_eq!(wait_until(now, Some(at("2026-12-06T07:00:00.600Z"))), Duration::from_millis(352));
        // Later than the next second: the second comes first.
        assert_eq!(wait_until(now, Some(at("2026-12-06T07:00:05Z"))), Duration::from_millis(752));
        // Crowded instants: no sooner than the least wait.
        assert_eq!(wait_until(now, Some(at("2026-12-06T07:00:00.251Z"))), LEAST_WAIT);
    }
}
