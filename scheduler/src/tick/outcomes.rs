//! Recording what each send ended as: delivered, retried with backoff, failed, pruned or expired.

use chrono::{DateTime, Duration, Utc};
use domain::FailureReason;
use entity::delivery;
use rand::Rng;
use store::db::WriteTxn;
use store::deliveries::{self, Settled};

use super::{Finished, TickContext, TickOutcome};
use domain::reminders::DeliveryStatus;
use push::SendOutcome;

/// Exponential backoff with jitter: about 5 s, 10 s, 20 s ... capped at 10 minutes.
pub fn backoff(attempt: i32) -> Duration {
    let base = 5.0 * 2f64.powi(attempt.clamp(1, 20) - 1);
    let jittered = base.min(600.0) * rand::rng().random_range(0.75..1.25);
    Duration::milliseconds((jittered * 1000.0) as i64)
}

/// Records finished sends in one transaction: the delivered ones of a chunk together, the rest one by one.
pub(super) async fn record_outcomes(
    ctx: &TickContext,
    now: DateTime<Utc>,
    results: Vec<Finished>,
    out: &mut TickOutcome,
) -> anyhow::Result<()> {
    let (delivered, others): (Vec<_>, Vec<_>) =
        results.into_iter().partition(|(_, outcome)| matches!(outcome, Some(SendOutcome::Delivered)));
    let delivered: Vec<delivery::Model> = delivered.into_iter().map(|(d, _)| d).collect();
    let txn = store::db::begin_background_write(&ctx.db).await?;
    // A PostgreSQL crash may forget the last moments of outcomes: those deliveries are sent again once their
    // lease ends (a duplicate, never a loss). A scheduler crash loses nothing: the server has them.
    deliveries::commit_without_waiting_for_the_disk(&txn).await?;
    record_delivered(ctx, &txn, now, &delivered, out).await?;
    let mut settled: Vec<_> = delivered.into_iter().map(|d| (d, DeliveryStatus::Delivered, false)).collect();
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
pub(super) async fn record_delivered(
    ctx: &TickContext,
    txn: &WriteTxn,
    now: DateTime<Utc>,
    delivered: &[delivery::Model],
    out: &mut TickOutcome,
) -> anyhow::Result<()> {
    if delivered.is_empty() {
        return Ok(());
    }
    out.attempted += delivered.len();
    out.delivered += delivered.len();
    deliveries::mark_delivered(txn, delivered, &ctx.instance, now).await?;
    Ok(())
}

/// Counts a settled delivery in the metrics.
pub(super) fn count(
    ctx: &TickContext,
    now: DateTime<Utc>,
    d: &delivery::Model,
    new_status: DeliveryStatus,
    gone: bool,
) {
    let label = match new_status {
        DeliveryStatus::Retrying => "retried",
        other => other.as_str(),
    };
    ctx.metrics.deliveries.with_label_values(&[d.provider.as_str(), label]).inc();
    match new_status {
        DeliveryStatus::Delivered => {
            let late = (now - d.due_at).num_milliseconds().max(0) as f64 / 1000.0;
            ctx.metrics.lateness.with_label_values(&[d.provider.as_str()]).observe(late);
        }
        DeliveryStatus::Pruned if gone => ctx.metrics.devices_pruned.with_label_values(&[d.provider.as_str()]).inc(),
        _ => {}
    }
}

/// Records one send that was not accepted (or went stale unsent); returns the delivery's new status and
/// whether its device is gone. Accepted ones go through [`record_delivered`].
pub(super) async fn record_outcome(
    ctx: &TickContext,
    txn: &WriteTxn,
    now: DateTime<Utc>,
    d: &delivery::Model,
    outcome: Option<SendOutcome>,
    out: &mut TickOutcome,
) -> anyhow::Result<(DeliveryStatus, bool)> {
    let attempts = d.attempts + i32::from(outcome.is_some());
    let (new_status, next_attempt, last_status, last_error) = match &outcome {
        None => {
            out.expired += 1;
            (DeliveryStatus::Expired, d.next_attempt_at, d.last_status, Some(FailureReason::Expired))
        }
        Some(SendOutcome::Delivered) => {
            record_delivered(ctx, txn, now, std::slice::from_ref(d), out).await?;
            return Ok((DeliveryStatus::Delivered, false));
        }
        Some(SendOutcome::Gone { status: code, reason }) => {
            out.pruned += 1;
            tracing::info!(device.id = %d.device_id, %reason, "push target gone; device removed");
            deliveries::remove_gone_device(txn, d, now).await?;
            (DeliveryStatus::Pruned, d.next_attempt_at, Some(i32::from(*code)), Some(FailureReason::Gone))
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
                (DeliveryStatus::Failed, d.next_attempt_at, code, Some(why))
            } else if next >= d.expires_at {
                out.expired += 1;
                tracing::info!(delivery.id = %d.id, provider = %d.provider, %reason, "delivery stale before a retry");
                (DeliveryStatus::Expired, d.next_attempt_at, code, Some(FailureReason::Expired))
            } else {
                out.retried += 1;
                tracing::info!(delivery.id = %d.id, provider = %d.provider, %reason, "delivery will be retried");
                (DeliveryStatus::Retrying, next, code, Some(why))
            }
        }
        Some(failed @ SendOutcome::Failed { status: code, reason }) => {
            out.failed += 1;
            // The push service's own words go to this log only (cut short where they are read).
            tracing::warn!(delivery.id = %d.id, provider = %d.provider, reason = %reason, "delivery failed");
            (DeliveryStatus::Failed, d.next_attempt_at, code.map(i32::from), failed.failure_reason())
        }
    };
    if outcome.is_some() {
        out.attempted += 1;
    }
    let settled = Settled { status: new_status, attempts, next_attempt_at: next_attempt, last_status, last_error };
    deliveries::settle(txn, d, settled, &ctx.instance, now).await?;
    Ok((new_status, matches!(outcome, Some(SendOutcome::Gone { .. }))))
}
