//! Care notes: a member with `notes:write` writes one (`POST /v1/clients/{client_id}/notes`); the owner reads
//! them at `/v1/care-team/notes` (and through `/v1/sync`, like every record of the owner's) and may delete one.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use domain::care::Scope;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use store::care::Reader;
use store::records::{self, Collection};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::http::conditional::if_match;
use crate::http::params::record_id;
use crate::http::views::view;
use crate::routes::records::{list_query, read_page};
use crate::startup::AppState;

/// Registers the care-note routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/clients/{client_id}/notes").route(web::post().to(write_note)))
        .service(web::resource("/v1/care-team/notes").route(web::get().to(list_notes)))
        .service(web::resource("/v1/care-team/notes/{id}").route(web::delete().to(delete_note)));
}

/// A note for the client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// 1 to 4,000 characters.
    #[schema(example = "Try the laid-back position before the 6 a.m. pump.")]
    pub text: String,
}

/// Writes a note the client reads among the client's records (`notes:write`); signed with the member's name.
#[utoipa::path(post, path = "/v1/clients/{client_id}/notes", tag = "care-team", security(("bearer" = [])),
    params(("client_id" = uuid::Uuid, Path)), request_body = NoteRequest,
    responses((status = 201, body = domain::care::CareNote), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn write_note(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    body: JsonBody<NoteRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let client = record_id(&path)?;
    let member = auth.fresh(&state.db).await?;
    let author_name = member.display_name.clone().unwrap_or_else(|| member.email.clone());
    let note = json!({"text": body.0.text, "author_id": member.id, "author_name": author_name});
    let reader = Reader::Member { owner: client, member: member.id, scope: Scope::NotesWrite, now };
    let stored = store::care::notes::write(&state.db, reader, &note, now).await?.ok_or(ApiError::NotFound)?;
    tracing::info!(user.id = %member.id, record.id = %stored.id, "care note written");
    Ok(HttpResponse::Created().json(view(&stored, domain::VolumeUnit::Ml)))
}

/// The notes the user's care team wrote, newest first, a page at a time (`limit`, `cursor`, `from`, `to`).
#[utoipa::path(get, path = "/v1/care-team/notes", tag = "care-team", security(("bearer" = [])),
    params(("limit" = Option<u64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "`{items: [note], next_cursor}`; each note with `id`, `version`, `created_at`, `updated_at`"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list_notes(
    state: web::Data<AppState>,
    auth: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let query = list_query(Collection::CareNotes, &params)?;
    let body = read_page(&state, Reader::Owner(auth.user.id), Collection::CareNotes, &query, false).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).content_type(mime::APPLICATION_JSON).body(body))
}

/// Deletes a note from the user's care team (a tombstone remains for sync).
#[utoipa::path(delete, path = "/v1/care-team/notes/{id}", tag = "care-team", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_note(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    records::delete(&state.writes, auth.user.id, Collection::CareNotes, id, if_match(&req), Utc::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
