//! The claim tick: runs every second (configurable) and hands due reminders to delivery.

use chrono::{DateTime, Utc};
use platform::Database;

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickOutcome {
    /// Due occurrences claimed by this tick.
    pub claimed: usize,
}

/// One claim tick at `now`.
///
/// Reminder occurrences do not exist yet, so nothing is claimed; the tick still checks that the database
/// answers, so a tick that completes means the scheduler can reach its work.
#[tracing::instrument(skip_all, fields(now = %now))]
pub async fn run_once(db: &Database, now: DateTime<Utc>) -> anyhow::Result<TickOutcome> {
    db.ping().await?;
    Ok(TickOutcome::default())
}
