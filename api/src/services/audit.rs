//! Who acted, as the audit log (`store::audit`) keeps it: the admin behind a request and the client address.

use actix_web::HttpRequest;
use uuid::Uuid;

pub use store::audit::{Actor, record};

/// The admin `id` behind a request, with the client address (through trusted proxies).
pub fn actor_of(id: Uuid, req: &HttpRequest) -> Actor {
    let trusted = req.app_data::<actix_web::web::Data<crate::startup::AppState>>().map(|s| s.trusted_proxies.clone());
    Actor { id, ip: Some(crate::ratelimit::client_address(req, trusted.as_deref().unwrap_or_default()).to_string()) }
}
