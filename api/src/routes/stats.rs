//! The user's numbers and red flags: `/v1/stats/daily`, `/v1/insights/massage-effect`, `/v1/advisories`.

use actix_web::{HttpResponse, web};
use chrono::{Duration, NaiveDate, NaiveTime, Utc};
use domain::TimeZoneName;
use domain::advisories::Advisory;
use domain::insights::{self, DayStats, MassageEffect};
use domain::recurrence::resolve;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::startup::AppState;
use store::care::Reader;

/// Registers the stats, insights and advisories routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/stats/daily").route(web::get().to(daily)))
        .service(web::resource("/v1/insights/massage-effect").route(web::get().to(massage_effect)))
        .service(web::resource("/v1/advisories").route(web::get().to(list_advisories)));
}

/// The longest range of days one request may ask for.
pub const MAX_DAYS: i64 = 366;

/// Days of the user's stats.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyStats {
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
    pub days: Vec<DayStats>,
}

/// The user's active advisories.
#[derive(Debug, Serialize, ToSchema)]
pub struct Advisories {
    pub advisories: Vec<Advisory>,
    /// Always shown with advisories: the app is a companion, not a diagnosis.
    #[schema(example = "milkflow does not diagnose. These notes follow published lactation guidance.")]
    pub disclaimer: &'static str,
}

fn zone(auth: &AuthUser) -> TimeZoneName {
    TimeZoneName::parse(&auth.user.timezone).unwrap_or_default()
}

/// A local date: `YYYY-MM-DD`, or an RFC 3339 instant taken on the user's clock.
fn date_param(
    params: &HashMap<String, String>,
    name: &str,
    tz: TimeZoneName,
    v: &mut domain::Violations,
) -> Option<NaiveDate> {
    let raw = params.get(name)?;
    let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .or_else(|| chrono::DateTime::parse_from_rfc3339(raw).ok().map(|t| t.with_timezone(&tz.tz()).date_naive()));
    v.check(name, parsed.ok_or_else(|| "must be a date written YYYY-MM-DD".to_owned()))
}

/// The local dates `from` and `to` (inclusive) of a request on the clock `tz`: by default the `days` up to today,
/// at most `max_days`; 422 naming the field otherwise.
pub fn local_span(
    params: &HashMap<String, String>,
    tz: TimeZoneName,
    days: i64,
    max_days: i64,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let mut v = domain::Violations::new();
    let to = date_param(params, "to", tz, &mut v).unwrap_or_else(|| Utc::now().with_timezone(&tz.tz()).date_naive());
    let from = date_param(params, "from", tz, &mut v).unwrap_or(to - Duration::days(days - 1));
    if to < from {
        v.push("to", "must not be before from");
    } else if (to - from).num_days() >= max_days {
        v.push("from", format!("the range may cover at most {max_days} days"));
    }
    v.finish().map_err(ApiError::Validation)?;
    Ok((from, to))
}

/// Per local day from `from` to `to` (inclusive, the user's dates; default the last 7 days): pump sessions, volumes,
/// massage sessions and the average volume per pump session.
#[utoipa::path(get, path = "/v1/stats/daily", tag = "insights", security(("bearer" = [])),
    params(
        ("from" = Option<NaiveDate>, Query, description = "First local date, YYYY-MM-DD (default 6 days before `to`)"),
        ("to" = Option<NaiveDate>, Query, description = "Last local date, YYYY-MM-DD (default today)"),
    ),
    responses((status = 200, body = DailyStats), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn daily(
    state: web::Data<AppState>,
    auth: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(daily_of(&state, Reader::Owner(auth.user.id), zone(&auth), &params).await?))
}

/// The daily stats of the owner `reader` reads, on the owner's clock `tz`.
pub async fn daily_of(
    state: &AppState,
    reader: Reader,
    tz: TimeZoneName,
    params: &HashMap<String, String>,
) -> Result<DailyStats, ApiError> {
    let (from, to) = local_span(params, tz, 7, MAX_DAYS)?;
    let local_midnight = |d: NaiveDate| resolve(tz.tz(), d.and_time(NaiveTime::MIN));
    let bounds: Vec<_> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|d| (d, local_midnight(d), local_midnight(d + Duration::days(1))))
        .collect();
    let totals = store::stats::daily_totals(&state.db, reader, &bounds).await?;
    let days = insights::daily_from_totals(from, to, &totals);
    Ok(DailyStats { timezone: tz.name().to_owned(), days })
}

/// The user's average volume per pump session with massage (before or during) against without, over the last `days`
/// (1-365, default 30); `insufficient_data` when either group has fewer than 5 sessions.
#[utoipa::path(get, path = "/v1/insights/massage-effect", tag = "insights", security(("bearer" = [])),
    params(("days" = Option<u32>, Query, description = "1-365, default 30")),
    responses((status = 200, body = MassageEffect), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn massage_effect(
    state: web::Data<AppState>,
    auth: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(massage_effect_of(&state, Reader::Owner(auth.user.id), &params).await?))
}

/// The massage-effect insight of the owner `reader` reads.
pub async fn massage_effect_of(
    state: &AppState,
    reader: Reader,
    params: &HashMap<String, String>,
) -> Result<MassageEffect, ApiError> {
    let days = match params.get("days") {
        None => 30,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=365).contains(d))
            .ok_or_else(|| ApiError::field("days", "must be a whole number from 1 to 365"))?,
    };
    let now = Utc::now();
    let since = now - Duration::days(i64::from(days));
    let (with, without) =
        store::stats::massage_effect_totals(&state.db, reader, since, now + Duration::minutes(5)).await?;
    Ok(insights::massage_effect_from(days, with, without))
}

/// Active advisories from the user's recent symptom checks and massage logs, by the red-flag rules: each names its
/// rule, says to contact a lactation consultant or clinician, lists the entries behind it and cites its source.
#[utoipa::path(get, path = "/v1/advisories", tag = "insights", security(("bearer" = [])),
    responses((status = 200, body = Advisories)))]
pub async fn list_advisories(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let advisories = advisories_of(&state, Reader::Owner(auth.user.id)).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(advisories))
}

/// The active advisories of the owner `reader` reads; `None` when the reader may not read them.
pub async fn advisories_of(state: &AppState, reader: Reader) -> Result<Option<Advisories>, ApiError> {
    // The same evaluation keeps the scheduler's reminders gentle.
    let found = store::advice::active_for(&state.db, reader, Utc::now()).await?;
    Ok(found.map(|advisories| Advisories { advisories, disclaimer: DISCLAIMER }))
}

const DISCLAIMER: &str = "milkflow does not diagnose. These notes follow published lactation guidance; when in \
    doubt, contact your lactation consultant or clinician.";
