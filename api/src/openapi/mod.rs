//! The OpenAPI document, generated from the handlers and DTOs.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{Problem, ProblemField};
use crate::routes::admin::{
    audit as admin_audit, broadcasts as admin_broadcasts, content as admin_content, stats as admin_stats,
    users as admin_users,
};
use crate::routes::{
    auth, care_notes, care_suggestions, care_team, clients, content, credentials, devices, export, health, me,
    occurrences, recovery, reports, routines, stats, sync, verify,
};
use client_records::ClientRecordPaths;
use records::{PumpVolumesOz, RecordMeta, RecordPaths};

mod client_records;
mod records;

/// milkflow's API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "milkflow API",
        description = "The backend of milkflow, a breastfeeding companion: accounts, massage and pumping routines, logs and reminders. \
Every error is an RFC 9457 problem document (`application/problem+json`).",
        license(name = "AGPL-3.0-only")
    ),
    paths(
        health::healthz, health::readyz, health::openapi_yaml, health::metrics,
        auth::register, auth::login, auth::refresh, auth::logout, verify::verify_email, verify::resend,
        recovery::request_reset, recovery::confirm_reset,
        me::get_me, me::patch_me, me::delete_me, credentials::change_password, credentials::change_email, export::export,
        care_team::invite, care_team::accept, care_team::list_members, care_team::change_member,
        care_team::revoke_member, care_team::access_log, clients::list_clients, clients::client_daily,
        clients::client_massage_effect, clients::client_advisories, care_notes::write_note, care_notes::list_notes,
        care_notes::delete_note, care_suggestions::suggest, care_suggestions::list_suggestions,
        care_suggestions::accept, care_suggestions::decline, reports::own_report, reports::client_report,
        sync::sync, routines::upcoming,
        content::list_guides, content::get_guide, content::list_tips,
        stats::daily, stats::massage_effect, stats::list_advisories,
        devices::register_device, devices::list_devices, devices::delete_device, devices::vapid_public_key,
        occurrences::list_occurrences, occurrences::snooze, occurrences::done,
        admin_users::list_users, admin_users::get_user, admin_users::disable_user, admin_users::enable_user,
        admin_users::delete_user, admin_users::set_role, admin_users::send_password_reset,
        admin_content::list_guides, admin_content::create_guide, admin_content::get_guide, admin_content::patch_guide,
        admin_content::delete_guide, admin_content::list_tips, admin_content::create_tip, admin_content::patch_tip,
        admin_content::delete_tip, admin_audit::list_audit_log,
        admin_broadcasts::create_broadcast, admin_broadcasts::get_broadcast, admin_broadcasts::list_broadcasts,
        admin_stats::delivery_stats, admin_stats::usage_stats,
    ),
    components(schemas(
        Problem, ProblemField, RecordMeta, PumpVolumesOz,
        domain::logs::MassageSession, domain::logs::PumpSession, domain::logs::SymptomCheck, domain::routine::Routine,
    )),
    modifiers(&BearerAuth, &RecordPaths, &ClientRecordPaths, &CommonErrors),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "me", description = "The user's own account"),
        (name = "care-team", description = "Sharing with a lactation consultant or partner: what the owner chooses, for as long as the owner chooses"),
        (name = "massage", description = "Massage sessions: gentle circles from the outer breast toward the nipple"),
        (name = "pumping", description = "Pump sessions; volumes in ml"),
        (name = "symptoms", description = "Symptom checks"),
        (name = "routines", description = "Massage and pumping routines and their upcoming reminders"),
        (name = "sync", description = "Offline-first delta sync"),
        (name = "insights", description = "The user's own numbers, and advisories to contact a clinician (never a diagnosis)"),
        (name = "devices", description = "Push targets for reminders (Web Push, FCM, APNs)"),
        (name = "reminders", description = "The user's reminders: status, per-device outcome, snooze and done"),
        (name = "admin", description = "For staff with the admin role; every action is written to the audit log"),
        (name = "content", description = "Massage guides and tips, written from current lactation guidance"),
        (name = "operations", description = "Health and the API description"),
    )
)]
pub struct ApiDoc;

/// Adds the errors every operation of its kind can answer, so generated clients expect them: 400, 413, 415
/// and 422 where there is a body, 422 where there are parameters, 401 where a token is needed, 403 on the
/// admin API, and 503 while the database is unreachable.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let problem = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/problem+json",
                        ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                    )
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let admin = path.starts_with("/admin/");
            for op in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
            {
                let mut add = |code: &str, description: &str| {
                    op.responses.responses.entry(code.to_owned()).or_insert_with(|| problem(description));
                };
                if op.request_body.is_some() {
                    add("400", "Malformed JSON");
                    add("413", "Body over 64 KiB");
                    add("415", "Body not application/json");
                    add("422", "Invalid fields, every one named");
                }
                if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    add("422", "Invalid parameters, every one named");
                }
                if op.security.is_some() {
                    add("401", "No valid access token");
                }
                if admin {
                    add("403", "Not an admin");
                }
                if path != "/healthz" {
                    add("503", "The database is unreachable; retry later");
                }
                // OpenAPI requires a description of every response; an unnamed one says its status.
                for (code, response) in op.responses.responses.iter_mut() {
                    if let RefOr::T(r) = response
                        && r.description.is_empty()
                    {
                        let reason =
                            code.parse::<u16>().ok().and_then(|c| actix_web::http::StatusCode::from_u16(c).ok());
                        r.description = reason.and_then(|s| s.canonical_reason()).unwrap_or("Response").to_owned();
                    }
                }
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The document as YAML, as committed in `openapi.yaml`.
pub fn yaml() -> anyhow::Result<String> {
    Ok(ApiDoc::openapi().to_yaml()?)
}
