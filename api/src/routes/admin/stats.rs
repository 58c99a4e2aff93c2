//! `/admin/v1/stats/*`: delivery health per provider per day, and usage.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use domain::email::EmailStatus;
use domain::reminders::DeliveryStatus;
use serde::Serialize;
use std::collections::BTreeMap;
use store::admin_stats;
use utoipa::ToSchema;

use crate::auth::AdminUser;
use crate::error::{ApiError, Problem};
use crate::http::params::instant_param;
use crate::startup::AppState;

/// Registers the statistics routes (inside the admin scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/stats/deliveries").route(web::get().to(delivery_stats)))
        .service(web::resource("/stats/usage").route(web::get().to(usage_stats)));
}

/// Deliveries of one provider on one day (UTC, by due time); emails count as the provider `email` (by the
/// day they were queued).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDay {
    pub date: NaiveDate,
    /// `web`, `fcm`, `apns` or `email`.
    pub provider: String,
    /// Accepted by the provider (for email: by the SMTP server, or written to the mail directory).
    pub delivered: u64,
    /// Failed or gone stale.
    pub failed: u64,
    /// How many failed for each last reason given.
    pub failure_reasons: BTreeMap<String, u64>,
    /// Deliveries that found their device gone (the device was removed).
    pub devices_pruned: u64,
    /// Attempts beyond the first.
    pub retries: u64,
    /// Seconds from due time (for email: queueing) to acceptance by the provider, over delivered messages.
    pub lateness_p50_s: Option<f64>,
    pub lateness_p95_s: Option<f64>,
    pub lateness_p99_s: Option<f64>,
}

/// One message's outcome, as a day's figures count it.
enum Outcome {
    Delivered { late_s: Option<f64> },
    Failed { reason: Option<String> },
    Pruned,
    Waiting,
}

/// Reasons longer than this are cut, so one day's figures stay small.
const REASON_CHARS: usize = 200;

impl DeliveryDay {
    fn new(date: NaiveDate, provider: String) -> Self {
        Self {
            date,
            provider,
            delivered: 0,
            failed: 0,
            failure_reasons: BTreeMap::new(),
            devices_pruned: 0,
            retries: 0,
            lateness_p50_s: None,
            lateness_p95_s: None,
            lateness_p99_s: None,
        }
    }

    fn count(&mut self, late: &mut Vec<f64>, attempts: i32, outcome: Outcome) {
        self.retries += (attempts.max(1) - 1) as u64;
        match outcome {
            Outcome::Delivered { late_s } => {
                self.delivered += 1;
                late.extend(late_s);
            }
            Outcome::Failed { reason } => {
                self.failed += 1;
                let reason: String = reason.as_deref().unwrap_or("unknown").chars().take(REASON_CHARS).collect();
                *self.failure_reasons.entry(reason).or_default() += 1;
            }
            Outcome::Pruned => self.devices_pruned += 1,
            Outcome::Waiting => {}
        }
    }
}

fn seconds(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Option<f64> {
    to.map(|to| (to - from).num_milliseconds().max(0) as f64 / 1000.0)
}

/// Usage of milkflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub users: u64,
    pub disabled_users: u64,
    /// Users who signed in or changed an entry in the last 7 and 30 days.
    pub active_users_7d: u64,
    pub active_users_30d: u64,
    /// Massage and pump sessions and symptom checks logged per day (UTC), the last 30 days.
    pub sessions_per_day: BTreeMap<NaiveDate, u64>,
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some((sorted[rank.min(sorted.len()) - 1] * 1000.0).round() / 1000.0)
}

/// Per provider (and for email) per day in `[from, to)` (default the last 7 days, at most 92): delivered,
/// failed with their reasons, pruned, retries and p50/p95/p99 lateness.
#[utoipa::path(get, path = "/admin/v1/stats/deliveries", operation_id = "admin_delivery_stats", tag = "admin", security(("bearer" = [])),
    params(("from" = Option<chrono::DateTime<Utc>>, Query), ("to" = Option<chrono::DateTime<Utc>>, Query)),
    responses((status = 200, body = Vec<DeliveryDay>), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn delivery_stats(
    state: web::Data<AppState>,
    _admin: AdminUser,
    params: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let mut v = domain::Violations::new();
    let from = instant_param(&params, "from", &mut v).unwrap_or(now - Duration::days(7));
    let to = instant_param(&params, "to", &mut v).unwrap_or(now + Duration::days(1));
    if to <= from || to - from > Duration::days(92) {
        v.push("to", "must be after from, at most 92 days later");
    }
    v.finish().map_err(ApiError::Validation)?;
    let mut days: BTreeMap<(NaiveDate, String), (DeliveryDay, Vec<f64>)> = BTreeMap::new();
    let mut count = |at: DateTime<Utc>, provider: &str, attempts: i32, outcome: Outcome| {
        let key = (at.date_naive(), provider.to_owned());
        let (day, late) = days.entry(key.clone()).or_insert_with(|| (DeliveryDay::new(key.0, key.1), Vec::new()));
        day.count(late, attempts, outcome);
    };
    for d in admin_stats::deliveries_due(&state.db, from, to).await? {
        let outcome = match d.status {
            DeliveryStatus::Delivered => Outcome::Delivered { late_s: seconds(d.due_at, d.sent_at) },
            DeliveryStatus::Failed | DeliveryStatus::Expired => Outcome::Failed { reason: d.last_error },
            DeliveryStatus::Pruned => Outcome::Pruned,
            DeliveryStatus::Pending | DeliveryStatus::Retrying | DeliveryStatus::Staged => Outcome::Waiting,
        };
        count(d.due_at, d.provider.as_str(), d.attempts, outcome);
    }
    for e in admin_stats::emails_queued(&state.db, from, to).await? {
        let outcome = match e.status {
            EmailStatus::Sent => Outcome::Delivered { late_s: seconds(e.created_at, e.sent_at) },
            EmailStatus::Failed => Outcome::Failed { reason: e.last_error },
            EmailStatus::Pending | EmailStatus::Retrying => Outcome::Waiting,
        };
        count(e.created_at, "email", e.attempts, outcome);
    }
    let out: Vec<DeliveryDay> = days
        .into_values()
        .map(|(mut day, mut late)| {
            late.sort_by(f64::total_cmp);
            day.lateness_p50_s = percentile(&late, 50.0);
            day.lateness_p95_s = percentile(&late, 95.0);
            day.lateness_p99_s = percentile(&late, 99.0);
            day
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

/// Users, active users in 7 and 30 days, sessions logged per day.
#[utoipa::path(get, path = "/admin/v1/stats/usage", operation_id = "admin_usage_stats", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Usage)))]
pub async fn usage_stats(state: web::Data<AppState>, _admin: AdminUser) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let db = &state.db;
    let (users, disabled_users) = admin_stats::account_counts(db).await?;
    let active_users_7d = admin_stats::active_since(db, now - Duration::days(7)).await?;
    let active_users_30d = admin_stats::active_since(db, now - Duration::days(30)).await?;
    let sessions_per_day = store::stats::sessions_created_per_day(db, now - Duration::days(30)).await?;
    Ok(HttpResponse::Ok().json(Usage { users, disabled_users, active_users_7d, active_users_30d, sessions_per_day }))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 95.0), Some(95.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
