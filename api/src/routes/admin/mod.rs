//! `/admin/v1/*`: the API staff run milkflow with; only for the `admin` role, every action audited.

pub mod audit;
pub mod broadcasts;
pub mod content;
pub mod stats;
pub mod users;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{FromRequest, ResponseError, web};

use crate::auth::AdminUser;

/// Registers the admin routes behind the admin check.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/v1")
            .wrap(from_fn(require_admin))
            .configure(users::routes)
            .configure(content::routes)
            .configure(audit::routes)
            .configure(broadcasts::routes)
            .configure(stats::routes),
    );
}

/// Refuses anyone but an admin (401 without a valid token, 403 for other roles) before the request body or
/// parameters are even read, so nothing about the admin API is revealed to others.
async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let (http, payload) = req.into_parts();
    let admin = AdminUser::from_request(&http, &mut Payload::None).await;
    let req = ServiceRequest::from_parts(http, payload);
    match admin {
        Ok(_) => Ok(next.call(req).await?.map_into_left_body()),
        Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}
