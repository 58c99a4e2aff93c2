//! Emails in the outbox: leased in batches like deliveries, sent a few at a time, each outcome recorded.

use chrono::{DateTime, Duration, Utc};
use entity::email;
use futures_util::StreamExt;
use mail::{Email, SendError};
use store::outbox::{self, Outcome};

use super::{TickContext, backoff};

/// Emails leased per batch.
const BATCH: u64 = 50;
/// SMTP exchanges at once.
const CONCURRENCY: usize = 4;

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EmailOutcome {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// Sends due emails in batches while batches come back full.
pub async fn send_due(ctx: &TickContext) -> anyhow::Result<EmailOutcome> {
    let mut total = EmailOutcome::default();
    loop {
        let now = Utc::now();
        let lease_until = now + Duration::seconds(ctx.push.lease_s as i64);
        let batch = outbox::claim(&ctx.db, now, BATCH, lease_until, &ctx.instance).await?;
        let full = batch.len() as u64 == BATCH;
        let outcomes: Vec<_> =
            futures_util::stream::iter(batch).map(|e| attempt(ctx, e)).buffer_unordered(CONCURRENCY).collect().await;
        for (e, outcome) in outcomes {
            let label = match &outcome {
                Outcome::Sent => "sent",
                Outcome::Retry { .. } => "retried",
                Outcome::Failed { .. } => "failed",
            };
            match &outcome {
                Outcome::Sent => total.sent += 1,
                Outcome::Retry { error, .. } => {
                    total.retried += 1;
                    tracing::warn!(email.id = %e.id, template = %e.template, attempts = e.attempts + 1, error, "email refused for now; retried later");
                }
                Outcome::Failed { error } => {
                    total.failed += 1;
                    tracing::error!(email.id = %e.id, template = %e.template, attempts = e.attempts + 1, error, "email failed");
                }
            }
            if outbox::settle(&ctx.db, e.id, &ctx.instance, outcome, Utc::now()).await? {
                ctx.metrics.emails.with_label_values(&[e.template.as_str(), label]).inc();
            } else {
                tracing::warn!(email.id = %e.id, "email's lease passed to another scheduler before its outcome was recorded");
            }
        }
        if !full {
            return Ok(total);
        }
    }
}

/// Renders and sends one email; what the outbox should record of it.
async fn attempt(ctx: &TickContext, e: email::Model) -> (email::Model, Outcome) {
    let values: serde_json::Value = serde_json::from_str(&e.payload).unwrap_or_default();
    let sent = match Email::render(e.template, &e.to_address, &values) {
        Ok(rendered) => ctx.mailer.send(&rendered, &e.id.to_string()).await,
        Err(err) => Err(SendError { retryable: false, reason: err.to_string() }),
    };
    let outcome = decide(sent, e.attempts + 1, ctx.push.max_attempts, Utc::now());
    (e, outcome)
}

/// What an attempt numbered `attempt` (from 1) that ended as `sent` leads to.
fn decide(sent: Result<(), SendError>, attempt: i32, max_attempts: u32, now: DateTime<Utc>) -> Outcome {
    match sent {
        Ok(()) => Outcome::Sent,
        Err(e) if e.retryable && attempt < max_attempts as i32 => {
            Outcome::Retry { at: now + backoff(attempt), error: e.reason }
        }
        Err(e) if e.retryable => Outcome::Failed { error: format!("{} (after {attempt} attempts)", e.reason) },
        Err(e) => Outcome::Failed { error: e.reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_for_now_are_retried_until_the_last_attempt_and_refusals_for_good_fail_at_once() {
        let now = Utc::now();
        let later = |retryable| Err(SendError { retryable, reason: "SMTP 451".into() });
        assert!(matches!(decide(later(true), 1, 3, now), Outcome::Retry { at, .. } if at > now));
        assert!(matches!(decide(later(true), 3, 3, now), Outcome::Failed { error } if error.contains("after 3")));
        assert_eq!(decide(later(false), 1, 3, now), Outcome::Failed { error: "SMTP 451".into() });
        assert_eq!(decide(Ok(()), 1, 3, now), Outcome::Sent);
    }
}
