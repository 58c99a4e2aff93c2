//! The on-time loop: claims and sends what falls due at each whole second, the instant it falls due. Routines
//! fire on whole minutes and their deliveries are staged ahead, so at the top of the hour this only claims and
//! posts. (The cron tick, which also stages, is looked at every 500 ms by its crate: up to half a second late.)

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

/// Just after the second turns: a due instant is never claimed before it.
const PAST_THE_SECOND: Duration = Duration::from_millis(2);

impl OnTime {
    /// Starts the loop on `ctx`, recording progress into `health`.
    pub fn start(ctx: Arc<TickContext>, health: Arc<TickHealth>) -> Self {
        let stop = Arc::new(Notify::new());
        let stopping = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(until_next_second(Utc::now())) => {}
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

/// How long from `now` until just past the next whole second.
fn until_next_second(now: DateTime<Utc>) -> Duration {
    let into = Duration::from_nanos(u64::from(now.timestamp_subsec_nanos()));
    Duration::from_secs(1).saturating_sub(into) + PAST_THE_SECOND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_wakes_just_past_the_next_whole_second() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(until_next_second(at("2026-12-06T07:00:00.250Z")), Duration::from_millis(752));
        assert_eq!(until_next_second(at("2026-12-06T06:59:59.999Z")), Duration::from_millis(3));
        assert_eq!(until_next_second(at("2026-12-06T07:00:00Z")), Duration::from_millis(1002));
    }
}
