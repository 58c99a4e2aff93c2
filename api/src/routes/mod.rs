//! HTTP routes, one module per resource.

pub mod auth;
pub mod health;
pub mod me;
pub mod records;
pub mod routines;
pub mod sync;

use actix_web::web;

/// Registers every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::routes)
        .configure(auth::routes)
        .configure(me::routes)
        .configure(sync::routes)
        .configure(records::routes);
}
