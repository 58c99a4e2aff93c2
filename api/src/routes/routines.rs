//! `GET /v1/routines/{id}/upcoming`: the next fire instants of a routine, from the shared recurrence.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::TimeZoneName;
use serde::Serialize;
use std::collections::HashMap;
use store::planning;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::http::params::{instant_param, record_id};
use crate::startup::AppState;
use store::records::{self, Collection};

/// One planned firing.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpcomingFire {
    /// The instant, UTC.
    pub at: DateTime<Utc>,
    /// The same instant on the user's wall clock, with its offset.
    #[schema(example = "2027-03-28T03:00:00+02:00")]
    pub local: String,
}

/// The next fire instants.
#[derive(Debug, Serialize, ToSchema)]
pub struct Upcoming {
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
    pub fires: Vec<UpcomingFire>,
}

/// The next `count` (1-100, default 10) fire instants after `from` (default now), in UTC and the user's local time.
#[utoipa::path(get, path = "/v1/routines/{id}/upcoming", tag = "routines", security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The routine"),
        ("count" = Option<u32>, Query, description = "How many, 1-100 (default 10)"),
        ("from" = Option<DateTime<Utc>>, Query, description = "Fires strictly after this instant (default now)"),
    ),
    responses(
        (status = 200, body = Upcoming),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upcoming(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let mut v = domain::Violations::new();
    let count = match params.get("count") {
        None => 10,
        Some(raw) => v
            .check(
                "count",
                raw.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or("must be a whole number from 1 to 100".into()),
            )
            .unwrap_or(10),
    };
    let from = instant_param(&params, "from", &mut v).unwrap_or_else(Utc::now);
    v.finish().map_err(ApiError::Validation)?;
    let row = records::find_live(&state.db, auth.user.id, Collection::Routines, id).await?.ok_or(ApiError::NotFound)?;
    let Some(domain::RecordBody::Routine(routine)) = row.body else { return Err(ApiError::NotFound) };
    // The user's zone and quiet hours as they stand now: the preview must match what the scheduler plans.
    let me = auth.fresh(&state.db).await?;
    let tz = TimeZoneName::parse(&me.timezone).unwrap_or_default();
    let last = planning::last_session(&state.db, auth.user.id, planning::session_kind(routine.kind)).await?;
    let fires = routine
        .recurrence(tz.tz(), planning::quiet_hours(&me))
        .upcoming(from, count, last)
        .into_iter()
        .map(|at| UpcomingFire { at, local: at.with_timezone(&tz.tz()).to_rfc3339() })
        .collect();
    Ok(HttpResponse::Ok().json(Upcoming { timezone: tz.name().to_owned(), fires }))
}
