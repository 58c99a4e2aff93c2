//! `GET /v1/me/export`: everything the user entered, as JSON or as a zip of CSV files.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use domain::VolumeUnit;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::Write;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::http::views::view;
use crate::routes::me::UserView;
use crate::startup::AppState;
use store::records::Collection;

/// Registers the export route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/me/export").route(web::get().to(export)));
}

/// The columns of each collection's CSV file, in order.
fn columns(collection: Collection) -> &'static [&'static str] {
    match collection {
        Collection::MassageSessions => &[
            "id",
            "started_at",
            "duration_s",
            "side",
            "pressure",
            "guide",
            "context",
            "spots",
            "notes",
            "version",
            "created_at",
            "updated_at",
        ],
        Collection::PumpSessions => &[
            "id",
            "started_at",
            "ended_at",
            "side",
            "volume_left_ml",
            "volume_right_ml",
            "pump_type",
            "mode",
            "massage_before",
            "massage_during",
            "notes",
            "version",
            "created_at",
            "updated_at",
        ],
        Collection::SymptomChecks => &[
            "id",
            "at",
            "engorgement",
            "pain",
            "spots",
            "redness",
            "temperature_c",
            "flu_like",
            "notes",
            "version",
            "created_at",
            "updated_at",
        ],
        Collection::Routines => {
            &["id", "name", "kind", "enabled", "days", "schedule", "version", "created_at", "updated_at"]
        }
        Collection::CareNotes => &["id", "text", "author_id", "author_name", "version", "created_at", "updated_at"],
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => as_text(s),
        Some(other) => other.to_string(),
    }
}

/// Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is written with a leading `'`,
/// which makes it plain text: the export goes to clinicians who open it in a spreadsheet.
fn as_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_owned() }
}

/// The user's data as JSON (default) or, with `format=csv`, a zip holding `account.csv` and one CSV per collection.
#[utoipa::path(get, path = "/v1/me/export", tag = "me", security(("bearer" = [])),
    params(("format" = Option<String>, Query, description = "`json` (default) or `csv` (a zip of CSV files)")),
    responses(
        (status = 200, description = "JSON: `{exported_at, account, massage_sessions, pump_sessions, symptom_checks, routines, care_team, care_team_access_log}`; CSV: application/zip"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(
    state: web::Data<AppState>,
    auth: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let csv = match params.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::field("format", "must be one of: json, csv")),
    };
    let rows = store::records::all_live(&state.db, auth.user.id).await?;
    let me = auth.fresh(&state.db).await?;
    let unit = VolumeUnit::parse(&me.volume_unit).unwrap_or_default();
    let mut by_collection: Map<String, Value> =
        Collection::ALL.iter().map(|c| (c.name().to_owned(), json!([]))).collect();
    for row in &rows {
        if let Some(Value::Array(items)) = by_collection.get_mut(row.kind.name()) {
            items.push(view(row, unit));
        }
    }
    by_collection.extend(care_team(&state, me.id).await?);
    tracing::info!(records = rows.len(), csv, "data export");
    let account = serde_json::to_value(UserView::from(me)).map_err(anyhow::Error::from)?;
    if !csv {
        let mut doc = Map::new();
        doc.insert("exported_at".into(), json!(Utc::now()));
        doc.insert("account".into(), account);
        doc.extend(by_collection);
        return Ok(HttpResponse::Ok().json(Value::Object(doc)));
    }
    let zip = build_zip(&account, &by_collection).map_err(|e| anyhow::anyhow!("building the export zip: {e}"))?;
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"milkflow-export.zip\""))
        .body(zip))
}

/// The care-team grants the user gave (live or ended) and every read made through them.
async fn care_team(state: &AppState, owner: uuid::Uuid) -> Result<Map<String, Value>, ApiError> {
    let grants: Vec<Value> = store::care::grants::of_account(&state.db, owner)
        .await?
        .into_iter()
        .filter(|g| g.grant.owner_id == owner)
        .map(|g| {
            let scopes: Vec<&str> = g.scopes.iter().map(|s| s.as_str()).collect();
            let g = g.grant;
            json!({"id": g.id, "member_id": g.member_id, "role": g.role.as_str(), "scopes": scopes.join(" "),
                "note": g.note, "created_at": g.created_at, "expires_at": g.expires_at, "revoked_at": g.revoked_at})
        })
        .collect();
    let reads: Vec<Value> = store::care::access::all_of(&state.db, owner)
        .await?
        .into_iter()
        .map(|r| json!({"grant_id": r.grant_id, "member_id": r.member_id, "resource": r.resource, "at": r.at}))
        .collect();
    Ok(Map::from_iter([(CARE_TEAM.0.to_owned(), Value::Array(grants)), (ACCESS_LOG.0.to_owned(), Value::Array(reads))]))
}

/// The care-team parts of the export and their CSV columns.
const CARE_TEAM: (&str, &[&str]) =
    ("care_team", &["id", "member_id", "role", "scopes", "note", "created_at", "expires_at", "revoked_at"]);
const ACCESS_LOG: (&str, &[&str]) = ("care_team_access_log", &["grant_id", "member_id", "resource", "at"]);

fn build_zip(account: &Value, by_collection: &Map<String, Value>) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let account_columns = ["id", "email", "display_name", "timezone", "volume_unit", "quiet_hours", "created_at"];
    let mut files: Vec<(String, Vec<&str>, Vec<&Value>)> =
        vec![("account.csv".into(), account_columns.to_vec(), vec![account])];
    for c in Collection::ALL {
        let items =
            by_collection.get(c.name()).and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
        files.push((format!("{}.csv", c.name()), columns(c).to_vec(), items));
    }
    for (name, cols) in [CARE_TEAM, ACCESS_LOG] {
        let items = by_collection.get(name).and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
        files.push((format!("{name}.csv"), cols.to_vec(), items));
    }
    for (name, cols, items) in files {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(&cols)?;
        for item in items {
            out.write_record(cols.iter().map(|c| cell(item.get(*c))))?;
        }
        zip.start_file(name, options)?;
        zip.write_all(&out.into_inner()?)?;
    }
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_looks_like_a_formula_is_written_as_text() {
        for risky in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"http://x\")"] {
            assert_eq!(cell(Some(&json!(risky))), format!("'{risky}"));
        }
        assert_eq!(cell(Some(&json!("gentle circles"))), "gentle circles");
        assert_eq!(cell(Some(&json!(-1.5))), "-1.5", "numbers are data, not formulas");
    }
}
