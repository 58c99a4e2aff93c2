//! `/v1/massage-sessions`, `/v1/pump-sessions`, `/v1/symptom-checks`, `/v1/routines`: one set of handlers,
//! configured per collection, documented per collection in `openapi::records`.

use actix_web::http::header::{self};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use domain::VolumeUnit;
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::http::conditional::{etag, if_match, none_match, with_etag};
use crate::http::params::{
    DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, instant_param, limit_param, record_id,
};
use crate::http::views::{shows_oz, unit_of, view, write_listed};
use crate::routes::routines;
use crate::services::pages::PageKey;
use crate::startup::AppState;
use store::care::Reader;
use store::records::{self, Collection, ListQuery};

/// Registers the routes of every collection the owner writes (care notes have routes of their own).
pub fn routes(cfg: &mut web::ServiceConfig) {
    for collection in Collection::OWNED {
        let mut scope = web::scope(collection.path())
            .app_data(web::Data::new(collection))
            .service(web::resource("").route(web::get().to(list_records)).route(web::post().to(create_record)))
            .service(
                web::resource("/{id}")
                    .route(web::get().to(get_record))
                    .route(web::put().to(put_record))
                    .route(web::patch().to(patch_record))
                    .route(web::delete().to(delete_record)),
            );
        if collection == Collection::Routines {
            scope = scope.service(web::resource("/{id}/upcoming").route(web::get().to(routines::upcoming)));
        }
        cfg.service(scope);
    }
}

pub fn list_query(collection: Collection, params: &HashMap<String, String>) -> Result<ListQuery, ApiError> {
    let mut v = domain::Violations::new();
    let limit = limit_param(params, DEFAULT_LIMIT, MAX_LIMIT, &mut v);
    let after = params
        .get("cursor")
        .and_then(|c| v.check("cursor", decode_cursor(c).ok_or("is not a cursor from this list".into())));
    let (from, to) = (instant_param(params, "from", &mut v), instant_param(params, "to", &mut v));
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        v.push("to", "must not be before from");
    }
    let mut choice = |name: &str, allowed: &[&str], applies: bool| -> Option<String> {
        let raw = params.get(name)?;
        if !applies {
            v.push(name, format!("does not apply to {}", collection.name()));
            return None;
        }
        v.check(
            name,
            allowed
                .contains(&raw.as_str())
                .then(|| raw.clone())
                .ok_or(format!("must be one of: {}", allowed.join(", "))),
        )
    };
    let side = choice(
        "side",
        &["left", "right", "both"],
        matches!(collection, Collection::PumpSessions | Collection::MassageSessions),
    );
    let pump_type = choice("pump_type", &["manual", "electric"], collection == Collection::PumpSessions);
    v.finish().map_err(ApiError::Validation)?;
    Ok(ListQuery { limit, after, from, to, side, pump_type })
}

/// Lists the user's records, newest first, a page at a time, with a weak `ETag` of the user's change number and unit;
/// `If-None-Match` with it gives 304.
///
/// The user's change number is read first and the page second, so a page is at least as new as the number it is sent
/// and kept under (see `services::pages`). A page the user asked for before, with nothing of the user's changed
/// since, is sent again as it was.
pub async fn list_records(
    state: web::Data<AppState>,
    auth: AuthUser,
    collection: web::Data<Collection>,
    params: web::Query<HashMap<String, String>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = list_query(**collection, &params)?;
    let unit = unit_of(&auth);
    let change_seq =
        state.change_numbers.of(auth.user.id).await?.ok_or(ApiError::Unauthorized(crate::auth::extract::INVALID))?;
    let tag = page_etag(change_seq, unit);
    let not_modified = none_match(&req, &tag);
    let mut response = if not_modified { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response.insert_header((header::ETAG, tag)).insert_header((header::CACHE_CONTROL, "no-store"));
    if not_modified {
        return Ok(response.finish());
    }
    let oz = shows_oz(**collection, unit);
    let key = PageKey { user_id: auth.user.id, collection: **collection, oz, query };
    if let Some(body) = state.pages.get(&key, change_seq) {
        return Ok(response.content_type(mime::APPLICATION_JSON).body(body));
    }
    let body = read_page(&state, Reader::Owner(auth.user.id), **collection, &key.query, oz).await?;
    state.pages.put(key, change_seq, body.clone());
    Ok(response.content_type(mime::APPLICATION_JSON).body(body))
}

/// A page of the records `reader` reads, as JSON (`{"items": [...], "next_cursor": ...}`).
pub async fn read_page(
    state: &AppState,
    reader: Reader,
    collection: Collection,
    query: &ListQuery,
    oz: bool,
) -> Result<web::Bytes, ApiError> {
    let (rows, more) = records::list(&state.db, reader, collection, query).await?;
    let next_cursor = if more { rows.last().map(|r| encode_cursor(r.sort_at, r.id)) } else { None };
    let mut body = String::with_capacity(64 + rows.len() * 400);
    body.push_str("{\"items\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        write_listed(&mut body, row, oz).map_err(anyhow::Error::from)?;
    }
    body.push_str("],\"next_cursor\":");
    body.push_str(&serde_json::to_string(&next_cursor).map_err(anyhow::Error::from)?);
    body.push('}');
    Ok(web::Bytes::from(body))
}

/// The weak ETag of the user's lists: the user's change number and the unit the user's volumes are shown in.
///
/// Weak, as two bodies may carry it: a page read while a write of the user's committed may already show that write.
fn page_etag(change_seq: i64, unit: VolumeUnit) -> String {
    format!("W/\"{change_seq}-{}\"", unit.as_str())
}

/// Creates a record with a server-chosen id.
pub async fn create_record(
    state: web::Data<AppState>,
    auth: AuthUser,
    collection: web::Data<Collection>,
    body: JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::now_v7();
    let (row, _) = records::put(&state.writes, auth.user.id, **collection, id, &body.0, None, Utc::now()).await?;
    let response = HttpResponse::Created()
        .insert_header((header::LOCATION, format!("{}/{}", collection.path(), row.id)))
        .json(view(&row, unit_of(&auth)));
    Ok(with_etag(response, row.version))
}

/// One record, with its ETag; `If-None-Match` with the current ETag gives 304.
pub async fn get_record(
    state: web::Data<AppState>,
    auth: AuthUser,
    collection: web::Data<Collection>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let row = records::find_live(&state.db, auth.user.id, **collection, id).await?.ok_or(ApiError::NotFound)?;
    let current = etag(row.version);
    let not_modified = none_match(&req, &current);
    if not_modified {
        return Ok(with_etag(HttpResponse::NotModified().finish(), row.version));
    }
    Ok(with_etag(HttpResponse::Ok().json(view(&row, unit_of(&auth))), row.version))
}

/// Creates (201) or replaces (200) the record with a client-chosen id; retrying the same PUT is harmless.
pub async fn put_record(
    state: web::Data<AppState>,
    auth: AuthUser,
    collection: web::Data<Collection>,
    path: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&path).map_err(|_| ApiError::field("id", "must be a UUID"))?;
    let (row, created) =
        records::put(&state.writes, auth.user.id, **collection, id, &body.0, if_match(&req), Utc::now()).await?;
    let mut builder = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(with_etag(builder.json(view(&row, unit_of(&auth))), row.version))
}

/// Changes some fields (a JSON merge patch); the result is validated as a whole.
pub async fn patch_record(
    state: web::Data<AppState>,
    auth: AuthUser,
    collection: web::Data<Collection>,
    path: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let row =
        records::patch(&state.writes, auth.user.id, **collection, id, &body.0, if_match(&req), Utc::now()).await?;
    Ok(with_etag(HttpResponse::Ok().json(view(&row, unit_of(&auth))), row.version))
}

/// Deletes a record; a tombstone remains for sync.
pub async fn delete_record(
    state: web::Data<AppState>,
    auth: AuthUser,
    collection: web::Data<Collection>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    records::delete(&state.writes, auth.user.id, **collection, id, if_match(&req), Utc::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
