//! Routine suggestions: a member with `routines:suggest` suggests a routine; the owner sees the pending ones
//! and accepts (a routine is made in the owner's account, planned on the owner's clock) or declines each.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::care::{Scope, SuggestionStatus};
use domain::routine::Routine;
use entity::routine_suggestion;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use store::care::Reader;
use store::care::suggestions;
use store::records::{self, Collection};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::http::params::record_id;
use crate::http::views::view;
use crate::startup::AppState;

/// Registers the routine-suggestion routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/clients/{client_id}/routine-suggestions").route(web::post().to(suggest)))
        .service(web::resource("/v1/care-team/routine-suggestions").route(web::get().to(list_suggestions)))
        .service(web::resource("/v1/care-team/routine-suggestions/{id}/accept").route(web::post().to(accept)))
        .service(web::resource("/v1/care-team/routine-suggestions/{id}/decline").route(web::post().to(decline)));
}

/// Who suggested a routine.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestedBy {
    /// `null` once the member's account is erased.
    #[schema(required = true)]
    pub id: Option<Uuid>,
    /// Their name (or address) when they suggested it.
    pub name: String,
}

/// A routine a member suggested.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionView {
    pub id: Uuid,
    pub from: SuggestedBy,
    /// The routine, as `POST /v1/routines` takes it.
    #[schema(value_type = Object)]
    pub routine: Value,
    /// `pending`, `accepted` or `declined`.
    pub status: String,
    /// The routine made from it, once accepted.
    #[schema(required = true)]
    pub routine_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub decided_at: Option<DateTime<Utc>>,
}

impl From<routine_suggestion::Model> for SuggestionView {
    fn from(s: routine_suggestion::Model) -> Self {
        Self {
            id: s.id,
            from: SuggestedBy { id: s.member_id, name: s.author_name },
            routine: serde_json::from_str(&s.routine).unwrap_or(Value::Null),
            status: s.status.as_str().to_owned(),
            routine_id: (s.status == SuggestionStatus::Accepted).then_some(s.routine_id),
            created_at: s.created_at,
            decided_at: s.decided_at,
        }
    }
}

/// Suggests a routine to the client (`routines:suggest`); the body is a routine as `POST /v1/routines` takes it.
#[utoipa::path(post, path = "/v1/clients/{client_id}/routine-suggestions", operation_id = "suggest_routine", tag = "care-team", security(("bearer" = [])),
    params(("client_id" = Uuid, Path)), request_body(content = Object, description = "A routine, as `POST /v1/routines` takes it (`RoutineRequest`)"),
    responses((status = 201, body = SuggestionView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn suggest(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    body: JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let client = record_id(&path)?;
    let routine = Routine::parse(&body.0).map_err(ApiError::Validation)?;
    let member = auth.fresh(&state.db).await?;
    let name = member.display_name.clone().unwrap_or_else(|| member.email.clone());
    let reader = Reader::Member { owner: client, member: member.id, scope: Scope::RoutinesSuggest, now };
    let stored = suggestions::suggest(&state.db, reader, name, &routine, now).await?.ok_or(ApiError::NotFound)?;
    tracing::info!(user.id = %member.id, suggestion.id = %stored.id, "routine suggested");
    Ok(HttpResponse::Created().json(SuggestionView::from(stored)))
}

/// The routines the user's care team suggested, newest first; `status` narrows to `pending`, `accepted` or
/// `declined`.
#[utoipa::path(get, path = "/v1/care-team/routine-suggestions", tag = "care-team", security(("bearer" = [])),
    params(("status" = Option<String>, Query)),
    responses((status = 200, body = Vec<SuggestionView>), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list_suggestions(
    state: web::Data<AppState>,
    auth: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let status = match params.get("status") {
        None => None,
        Some(raw) => Some(
            SuggestionStatus::parse(raw)
                .ok_or_else(|| ApiError::field("status", "must be pending, accepted or declined"))?,
        ),
    };
    let found = suggestions::of_owner(&state.db, auth.user.id, status).await?;
    Ok(HttpResponse::Ok().json(found.into_iter().map(SuggestionView::from).collect::<Vec<_>>()))
}

/// A suggestion accepted, with the routine made from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub suggestion: SuggestionView,
    /// The new routine, as `GET /v1/routines/{id}` shows it.
    #[schema(value_type = Object)]
    pub routine: Value,
}

/// Accepts a suggestion: the routine is made in the user's account (reminders planned on the user's clock).
/// Accepting it again changes nothing.
#[utoipa::path(post, path = "/v1/care-team/routine-suggestions/{id}/accept", operation_id = "accept_suggestion", tag = "care-team", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Accepted), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It was declined", body = Problem, content_type = "application/problem+json")))]
pub async fn accept(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, now) = (record_id(&path)?, Utc::now());
    let found = suggestions::find(&state.db, auth.user.id, id).await?;
    if found.status == SuggestionStatus::Declined {
        return Err(ApiError::Conflict("this suggestion was declined already".into()));
    }
    // The routine's id was chosen with the suggestion, so accepting twice (or after a crash) makes one routine.
    let body: Value = serde_json::from_str(&found.routine).map_err(anyhow::Error::from)?;
    let (routine, _) =
        records::put(&state.writes, auth.user.id, Collection::Routines, found.routine_id, &body, None, now).await?;
    let settled = suggestions::decide(&state.db, auth.user.id, id, SuggestionStatus::Accepted, now).await?;
    tracing::info!(user.id = %auth.user.id, suggestion.id = %id, "routine suggestion accepted");
    let unit = crate::http::views::unit_of(&auth);
    Ok(HttpResponse::Ok().json(Accepted { suggestion: settled.into(), routine: view(&routine, unit) }))
}

/// Declines a suggestion.
#[utoipa::path(post, path = "/v1/care-team/routine-suggestions/{id}/decline", operation_id = "decline_suggestion", tag = "care-team", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SuggestionView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It was accepted", body = Problem, content_type = "application/problem+json")))]
pub async fn decline(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let settled = suggestions::decide(&state.db, auth.user.id, id, SuggestionStatus::Declined, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(SuggestionView::from(settled)))
}
