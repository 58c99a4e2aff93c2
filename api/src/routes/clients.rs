//! `/v1/clients/*`: what a care-team member sees of the owners who shared with them, read-only and in the
//! owner's own shapes. Each read is authorised against the grant in its own query; anything the grant does not
//! allow is 404, as for a record that does not exist. Every read is written to the owner's access log.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::TimeZoneName;
use domain::care::Scope;
use serde::Serialize;
use std::collections::HashMap;
use store::care::grants::Shared;
use store::records::Collection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::http::params::record_id;
use crate::http::views::{shows_oz, unit_of};
use crate::routes::records::{list_query, read_page};
use crate::routes::stats::{self, Advisories, DailyStats};
use crate::services::care;
use crate::startup::AppState;

/// The collections a member with `logs:read` may list.
pub const SHARED_LOGS: [Collection; 3] =
    [Collection::MassageSessions, Collection::PumpSessions, Collection::SymptomChecks];

/// Registers the client routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/clients").route(web::get().to(list_clients)));
    for collection in SHARED_LOGS {
        let path = format!("/v1/clients/{{client_id}}/{}", collection.path().trim_start_matches("/v1/"));
        cfg.service(web::resource(path).app_data(web::Data::new(collection)).route(web::get().to(client_records)));
    }
    cfg.service(web::resource("/v1/clients/{client_id}/stats/daily").route(web::get().to(client_daily)))
        .service(
            web::resource("/v1/clients/{client_id}/insights/massage-effect")
                .route(web::get().to(client_massage_effect)),
        )
        .service(web::resource("/v1/clients/{client_id}/advisories").route(web::get().to(client_advisories)));
}

/// An owner who shared with the signed-in member, and what the member may do.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    /// The owner's account id: `client_id` in the paths below.
    pub id: Uuid,
    #[schema(required = true)]
    pub display_name: Option<String>,
    pub email: String,
    /// The owner's time zone: days in the client's stats are the owner's days.
    pub timezone: String,
    pub role: String,
    pub scopes: Vec<String>,
    /// `null`: until the owner revokes it.
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
    pub since: DateTime<Utc>,
}

impl ClientView {
    pub fn new(shared: &Shared) -> Self {
        let (g, owner) = (&shared.grant.grant, &shared.other);
        Self {
            id: owner.id,
            display_name: owner.display_name.clone(),
            email: owner.email.clone(),
            timezone: owner.timezone.clone(),
            role: g.role.as_str().to_owned(),
            scopes: shared.grant.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            expires_at: g.expires_at,
            since: g.created_at,
        }
    }
}

/// The owners who shared with the signed-in account, with the scopes of each.
#[utoipa::path(get, path = "/v1/clients", tag = "care-team", security(("bearer" = [])),
    responses((status = 200, body = Vec<ClientView>)))]
pub async fn list_clients(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let clients = store::care::grants::clients(&state.db, auth.user.id, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(clients.iter().map(ClientView::new).collect::<Vec<_>>()))
}

/// A client's massage sessions, pump sessions or symptom checks (`logs:read`), newest first, with the paging and
/// filters of the owner's own lists; volumes in the member's unit.
pub async fn client_records(
    state: web::Data<AppState>,
    auth: AuthUser,
    collection: web::Data<Collection>,
    path: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let (reader, _) = care::client(&state.db, auth.user.id, record_id(&path)?, Scope::LogsRead, now).await?;
    let query = list_query(**collection, &params)?;
    let oz = shows_oz(**collection, unit_of(&auth));
    let body = read_page(&state, reader, **collection, &query, oz).await?;
    care::log_read(&state.db, reader, collection.path().trim_start_matches("/v1/"), now).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).content_type(mime::APPLICATION_JSON).body(body))
}

/// A client's stats per local day of the client's (`stats:read`), as `GET /v1/stats/daily` gives the owner.
#[utoipa::path(get, path = "/v1/clients/{client_id}/stats/daily", tag = "care-team", security(("bearer" = [])),
    params(("client_id" = Uuid, Path), ("from" = Option<chrono::NaiveDate>, Query), ("to" = Option<chrono::NaiveDate>, Query)),
    responses((status = 200, body = DailyStats), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn client_daily(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let (reader, owner) = care::client(&state.db, auth.user.id, record_id(&path)?, Scope::StatsRead, now).await?;
    let tz = TimeZoneName::parse(&owner.timezone).unwrap_or_default();
    let daily = stats::daily_of(&state, reader, tz, &params).await?;
    care::log_read(&state.db, reader, "stats/daily", now).await?;
    Ok(HttpResponse::Ok().json(daily))
}

/// A client's massage-effect insight (`stats:read`), as `GET /v1/insights/massage-effect` gives the owner.
#[utoipa::path(get, path = "/v1/clients/{client_id}/insights/massage-effect", tag = "care-team", security(("bearer" = [])),
    params(("client_id" = Uuid, Path), ("days" = Option<u32>, Query)),
    responses((status = 200, body = domain::insights::MassageEffect), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn client_massage_effect(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let (reader, _) = care::client(&state.db, auth.user.id, record_id(&path)?, Scope::StatsRead, now).await?;
    let effect = stats::massage_effect_of(&state, reader, &params).await?;
    care::log_read(&state.db, reader, "insights/massage-effect", now).await?;
    Ok(HttpResponse::Ok().json(effect))
}

/// A client's active advisories (`advisories:read`), as `GET /v1/advisories` gives the owner.
#[utoipa::path(get, path = "/v1/clients/{client_id}/advisories", tag = "care-team", security(("bearer" = [])),
    params(("client_id" = Uuid, Path)),
    responses((status = 200, body = Advisories), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn client_advisories(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let (reader, _) = care::client(&state.db, auth.user.id, record_id(&path)?, Scope::AdvisoriesRead, now).await?;
    let advisories = stats::advisories_of(&state, reader).await?.ok_or(ApiError::NotFound)?;
    care::log_read(&state.db, reader, "advisories", now).await?;
    Ok(HttpResponse::Ok().json(advisories))
}
