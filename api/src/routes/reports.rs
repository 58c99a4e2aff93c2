//! `GET /v1/report` and `GET /v1/clients/{client_id}/report`: the one-page consultation report as HTML, its
//! charts drawn on the server as SVG.

use actix_web::{HttpResponse, web};
use chrono::{Duration, NaiveDate, NaiveTime, Utc};
use domain::care::Scope;
use domain::{RecordBody, RecordKind, TimeZoneName};
use entity::user;
use std::collections::HashMap;
use store::care::Reader;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::http::params::record_id;
use crate::services::care;
use crate::startup::AppState;

/// Registers the report routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/report").route(web::get().to(own_report)))
        .service(web::resource("/v1/clients/{client_id}/report").route(web::get().to(client_report)));
}

/// The longest span of a report, in days.
pub const MAX_DAYS: i64 = 92;

/// The owner's report from `from` to `to` (local dates, inclusive; default the last 14 days), with `logs` reading
/// the entries and `advisories` the advisories (each read checks its own grant for a member).
async fn report(
    state: &AppState,
    owner: &user::Model,
    logs: Reader,
    advisories: Reader,
    params: &HashMap<String, String>,
) -> Result<String, ApiError> {
    let tz = TimeZoneName::parse(&owner.timezone).unwrap_or_default();
    let now = Utc::now();
    let (from, to) = crate::routes::stats::local_span(params, tz, 14, MAX_DAYS)?;
    let midnight = |d: NaiveDate| domain::recurrence::resolve(tz.tz(), d.and_time(NaiveTime::MIN));
    let (start, end) = (midnight(from), midnight(to + Duration::days(1)));
    let mut entries = report::Entries::default();
    for kind in [RecordKind::PumpSessions, RecordKind::MassageSessions, RecordKind::SymptomChecks] {
        for record in store::records::load_read(&state.db, logs, kind, start, end).await? {
            match record.body {
                Some(RecordBody::Pump(p)) => entries.pumps.push(p),
                Some(RecordBody::Massage(m)) => entries.massages.push(m),
                Some(RecordBody::Symptom(c)) => entries.checks.push(c),
                _ => {}
            }
        }
    }
    let active = store::advice::active_for(&state.db, advisories, now).await?.unwrap_or_default();
    let input = report::ReportInput {
        name: owner.display_name.clone().unwrap_or_else(|| owner.email.clone()),
        timezone: tz.tz(),
        from,
        to,
        entries,
        advisories: active,
        generated_at: now,
    };
    report::render(&input).map_err(|e| anyhow::anyhow!("rendering a report: {e}").into())
}

fn html(page: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        // Nothing to run and nothing to fetch: the page is its styles and its inline SVG.
        .insert_header(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"))
        .body(page)
}

/// The user's report for a consultation: one printable page with the figures of the span and five charts
/// (volume per breast per day, pump sessions with and without massage, the massage effect, the symptom
/// timeline, tender spots by quadrant) and the active advisories.
#[utoipa::path(get, path = "/v1/report", tag = "insights", security(("bearer" = [])),
    params(("from" = Option<NaiveDate>, Query, description = "First local date (default 13 days before `to`)"),
        ("to" = Option<NaiveDate>, Query, description = "Last local date (default today); at most 92 days in all")),
    responses((status = 200, description = "An HTML page", content_type = "text/html"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn own_report(
    state: web::Data<AppState>,
    auth: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let owner = auth.fresh(&state.db).await?;
    let me = Reader::Owner(owner.id);
    Ok(html(report(&state, &owner, me, me, &params).await?))
}

/// A client's report (needs `stats:read` and `logs:read`; the advisories with `advisories:read`).
#[utoipa::path(get, path = "/v1/clients/{client_id}/report", tag = "care-team", security(("bearer" = [])),
    params(("client_id" = uuid::Uuid, Path), ("from" = Option<NaiveDate>, Query), ("to" = Option<NaiveDate>, Query)),
    responses((status = 200, description = "An HTML page", content_type = "text/html"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn client_report(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let (client, now) = (record_id(&path)?, Utc::now());
    let (stats, owner) = care::client(&state.db, auth.user.id, client, Scope::StatsRead, now).await?;
    let (logs, _) = care::client(&state.db, auth.user.id, client, Scope::LogsRead, now).await?;
    let advisories = Reader::Member { owner: client, member: auth.user.id, scope: Scope::AdvisoriesRead, now };
    let page = report(&state, &owner, logs, advisories, &params).await?;
    care::log_read(&state.db, stats, "report", now).await?;
    Ok(html(page))
}
