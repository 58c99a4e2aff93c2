//! HTTP routes, one module per resource.

pub mod admin;
pub mod auth;
pub mod care_notes;
pub mod care_suggestions;
pub mod care_team;
pub mod clients;
pub mod content;
pub mod credentials;
pub mod devices;
pub mod export;
pub mod health;
pub mod me;
pub mod occurrences;
pub mod records;
pub mod recovery;
pub mod reports;
pub mod routines;
pub mod stats;
pub mod sync;
pub mod verify;

use actix_web::web;

/// Registers every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::routes)
        .configure(auth::routes)
        .configure(verify::routes)
        .configure(recovery::routes)
        .configure(credentials::routes)
        .configure(me::routes)
        .configure(care_team::routes)
        .configure(care_notes::routes)
        .configure(care_suggestions::routes)
        .configure(clients::routes)
        .configure(reports::routes)
        .configure(export::routes)
        .configure(sync::routes)
        .configure(content::routes)
        .configure(stats::routes)
        .configure(devices::routes)
        .configure(occurrences::routes)
        .configure(admin::routes)
        .configure(records::routes);
}
