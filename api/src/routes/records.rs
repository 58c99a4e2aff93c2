//! `/v1/massage-sessions`, `/v1/pump-sessions`, `/v1/symptom-checks`, `/v1/routines`: one set of handlers,
//! configured per collection, documented per collection in `openapi::records`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::VolumeUnit;
use entity::record;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::routes::routines;
use crate::services::pages::PageKey;
use crate::services::records::{self, Collection, IfMatch, ListQuery};
use crate::startup::AppState;

/// Registers every collection's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for collection in Collection::ALL {
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

/// Applies a JSON merge patch to a typed value and reads the result back, naming the field that no longer fits.
pub fn merge_into<T: serde::Serialize + serde::de::DeserializeOwned>(
    current: &T,
    patch: &Value,
) -> Result<T, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let mut doc = serde_json::to_value(current).map_err(anyhow::Error::from)?;
    records::merge_patch(&mut doc, patch);
    crate::extract::parse(doc.to_string().as_bytes())
}

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// The strong ETag of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A record as the app sees it: its fields plus id, version and times; pump volumes also in oz for oz users.
pub fn view(row: &record::Model, unit: VolumeUnit) -> Value {
    let oz = Collection::from_name(&row.collection).is_some_and(|c| shows_oz(c, unit));
    view_of(&row.data, row.id, row.version, row.created_at, row.updated_at, oz)
}

/// [`view`] from a record's parts; `oz` adds the oz figures of pump volumes.
fn view_of(
    data: &str,
    id: Uuid,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    oz: bool,
) -> Value {
    let mut obj = match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    obj.insert("id".into(), json!(id));
    obj.insert("version".into(), json!(version));
    obj.insert("created_at".into(), json!(created_at));
    obj.insert("updated_at".into(), json!(updated_at));
    if oz {
        for side in ["left", "right"] {
            if let Some(ml) = obj.get(&format!("volume_{side}_ml")).and_then(Value::as_f64) {
                let oz = (ml / VolumeUnit::ML_PER_OZ * 100.0).round() / 100.0;
                obj.insert(format!("volume_{side}_oz"), json!(oz));
            }
        }
    }
    Value::Object(obj)
}

/// Whether her records of `collection` show volumes in oz as well.
fn shows_oz(collection: Collection, unit: VolumeUnit) -> bool {
    collection == Collection::PumpSessions && unit == VolumeUnit::Oz
}

/// The unit she reads volumes in.
pub fn unit_of(auth: &AuthUser) -> VolumeUnit {
    VolumeUnit::parse(&auth.user.volume_unit).unwrap_or_default()
}

fn with_etag(mut response: HttpResponse, version: i64) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// Whether `If-None-Match` names `tag` (or is `*`): the client already holds it.
fn none_match(req: &HttpRequest, tag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

/// A record id from the path; anything that is not a UUID names no record of hers.
pub fn record_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound)
}

/// Parses `If-Match`: `*` or a list of strong ETags; a malformed one matches nothing.
fn if_match(req: &HttpRequest) -> Option<IfMatch> {
    let raw = req.headers().get(header::IF_MATCH)?.to_str().ok()?.trim();
    if raw == "*" {
        return Some(IfMatch::Any);
    }
    let versions = raw.split(',').filter_map(|t| t.trim().strip_prefix('"')?.strip_suffix('"')?.parse().ok()).collect();
    Some(IfMatch::Versions(versions))
}

/// An opaque keyset cursor for lists ordered by (time, id), newest first.
pub fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", at.timestamp_millis(), id))
}

/// The (time, id) of a cursor from [`encode_cursor`]; `None` for anything else.
pub fn decode_cursor(raw: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let (millis, id) = text.split_once(':')?;
    Some((DateTime::from_timestamp_millis(millis.parse().ok()?)?, Uuid::parse_str(id).ok()?))
}

/// Reads a query parameter as an RFC 3339 instant (a bare `YYYY-MM-DD` means midnight UTC), recording an error
/// under its name.
pub fn instant_param(
    params: &HashMap<String, String>,
    name: &str,
    v: &mut domain::Violations,
) -> Option<DateTime<Utc>> {
    let raw = params.get(name)?;
    let parsed = DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)).ok().or_else(|| {
        chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok().map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
    });
    v.check(name, parsed.ok_or_else(|| "must be an RFC 3339 date-time such as 2027-01-01T00:00:00Z".to_owned()))
}

/// Reads `limit` (1 to `max`, default `default`).
pub fn limit_param(params: &HashMap<String, String>, default: u64, max: u64, v: &mut domain::Violations) -> u64 {
    match params.get("limit") {
        None => default,
        Some(raw) => v
            .check(
                "limit",
                raw.parse::<u64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or(format!("must be a whole number from 1 to {max}")),
            )
            .unwrap_or(default),
    }
}

fn list_query(collection: Collection, params: &HashMap<String, String>) -> Result<ListQuery, ApiError> {
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

/// Lists her records, newest first, a page at a time, with a weak `ETag` of her change number and unit;
/// `If-None-Match` with it gives 304.
///
/// Her change number is read first and the page second, so a page is at least as new as the number it is sent
/// and kept under (see `services::pages`). A page she asked for before, with nothing of hers changed since, is
/// sent again as it was.
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
    let (rows, more) = records::list(&state.db, auth.user.id, **collection, &key.query).await?;
    let next_cursor = if more { rows.last().map(|r| encode_cursor(r.sort_at, r.id)) } else { None };
    let mut body = String::with_capacity(64 + rows.iter().map(|r| r.data.len() + 160).sum::<usize>());
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
    let body = web::Bytes::from(body);
    state.pages.put(key, change_seq, body.clone());
    Ok(response.content_type(mime::APPLICATION_JSON).body(body))
}

/// The weak ETag of her lists: her change number and the unit her volumes are shown in.
///
/// Weak, as two bodies may carry it: a page read while a write of hers committed may already show that write.
fn page_etag(change_seq: i64, unit: VolumeUnit) -> String {
    format!("W/\"{change_seq}-{}\"", unit.as_str())
}

/// Appends a listed record's JSON, the same as [`view`] gives: its stored fields, which this service wrote as one
/// JSON object, are copied as they are, not parsed and written again. Pump volumes for oz users need the parse.
fn write_listed(out: &mut String, row: &records::Listed, oz: bool) -> serde_json::Result<()> {
    let stored = row.data.trim();
    if oz || !(stored.starts_with('{') && stored.ends_with('}')) {
        let view = view_of(&row.data, row.id, row.version, row.created_at, row.updated_at, oz);
        out.push_str(&serde_json::to_string(&view)?);
        return Ok(());
    }
    let fields = stored[1..stored.len() - 1].trim();
    out.push('{');
    out.push_str(fields);
    if !fields.is_empty() {
        out.push(',');
    }
    out.push_str("\"id\":\"");
    out.push_str(row.id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    out.push_str("\",\"version\":");
    out.push_str(&row.version.to_string());
    push_instant(out, ",\"created_at\":", row.created_at);
    push_instant(out, ",\"updated_at\":", row.updated_at);
    out.push('}');
    Ok(())
}

/// Appends `"key":` and an instant as serde writes it (RFC 3339, `Z`, as many fraction digits as it needs).
///
/// Written directly, not through serde: serde passes a formatted instant through its string escaper one
/// character at a time, which a profile of a page of 50 put at 9% of the API's CPU. An RFC 3339 instant
/// has nothing to escape.
fn push_instant(out: &mut String, key: &str, at: DateTime<Utc>) {
    out.push_str(key);
    out.push('"');
    out.push_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    out.push('"');
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_accept_rfc_3339_and_bare_dates() {
        let params: HashMap<String, String> = [
            ("a".to_owned(), "2027-01-02T03:04:05+01:00".to_owned()),
            ("b".to_owned(), "2027-01-02".to_owned()),
            ("c".to_owned(), "yesterday".to_owned()),
        ]
        .into();
        let mut v = domain::Violations::new();
        assert_eq!(instant_param(&params, "a", &mut v).unwrap().to_rfc3339(), "2027-01-02T02:04:05+00:00");
        assert_eq!(instant_param(&params, "b", &mut v).unwrap().to_rfc3339(), "2027-01-02T00:00:00+00:00");
        assert!(instant_param(&params, "c", &mut v).is_none());
        assert_eq!(v.finish().unwrap_err()[0].field, "c");
    }

    #[test]
    fn cursor_round_trips_and_garbage_is_refused() {
        let row = record::Model {
            id: Uuid::now_v7(),
            user_id: Uuid::nil(),
            collection: "pump_sessions".into(),
            sort_at: DateTime::from_timestamp_millis(1_800_000_000_123).unwrap(),
            side: None,
            pump_type: None,
            data: "{}".into(),
            version: 1,
            change_seq: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deleted_at: None,
        };
        assert_eq!(decode_cursor(&encode_cursor(row.sort_at, row.id)), Some((row.sort_at, row.id)));
        assert_eq!(decode_cursor("not-a-cursor"), None);
    }

    #[test]
    fn a_listed_record_reads_the_same_as_its_view() {
        let now = Utc::now();
        for (collection, data) in [
            (Collection::PumpSessions, json!({"volume_left_ml": 59.147, "notes": "a \"quoted\" }, {", "side": "both"})),
            (Collection::SymptomChecks, json!({})),
        ] {
            let row = record::Model {
                id: Uuid::now_v7(),
                user_id: Uuid::nil(),
                collection: collection.name().into(),
                sort_at: now,
                side: None,
                pump_type: None,
                data: data.to_string(),
                version: 7,
                change_seq: 3,
                created_at: now - chrono::Duration::milliseconds(1500),
                updated_at: now,
                deleted_at: None,
            };
            // Instants with a fraction of any length and none (serde writes as many digits as they need).
            let whole = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
            let tenth = DateTime::from_timestamp_millis(1_800_000_000_100).unwrap();
            for (created_at, updated_at) in [(row.created_at, row.updated_at), (whole, tenth), (tenth, whole)] {
                let row = record::Model { created_at, updated_at, ..row.clone() };
                let listed = records::Listed {
                    id: row.id,
                    sort_at: row.sort_at,
                    data: row.data.clone(),
                    version: row.version,
                    created_at: row.created_at,
                    updated_at: row.updated_at,
                };
                for unit in [VolumeUnit::Ml, VolumeUnit::Oz] {
                    let mut out = String::new();
                    write_listed(&mut out, &listed, shows_oz(collection, unit)).unwrap();
                    assert_eq!(
                        serde_json::from_str::<Value>(&out).unwrap(),
                        view(&row, unit),
                        "{collection:?} {unit:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn pump_volumes_gain_an_oz_figure_for_oz_users() {
        let row = record::Model {
            id: Uuid::nil(),
            user_id: Uuid::nil(),
            collection: "pump_sessions".into(),
            sort_at: Utc::now(),
            side: None,
            pump_type: None,
            data: json!({"volume_left_ml": 59.147, "volume_right_ml": 0.0}).to_string(),
            version: 2,
            change_seq: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deleted_at: None,
        };
        let oz = view(&row, VolumeUnit::Oz);
        assert_eq!(oz["volume_left_oz"], 2.0);
        assert_eq!(oz["version"], 2);
        assert!(view(&row, VolumeUnit::Ml).get("volume_left_oz").is_none());
    }
}
