//! `/v1/auth/password-reset`: a reset link by email, and a new password set with it.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::services::recovery;
use crate::startup::AppState;

/// Registers the password-reset routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/auth/password-reset").route(web::post().to(request_reset)))
        .service(web::resource("/v1/auth/password-reset/confirm").route(web::post().to(confirm_reset)));
}

/// The address to send a reset link to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[schema(example = "mother@example.org")]
    pub email: String,
}

/// The answer to every valid reset request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetAccepted {
    /// A message the app can show.
    #[schema(example = "If this address has an account, a link to choose a new password is on its way.")]
    pub message: &'static str,
}

const RESET_ACCEPTED: &str = "If this address has an account, a link to choose a new password is on its way. \
    It works once, for 30 minutes.";

/// A reset link's token and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The `token` parameter of the email's link.
    pub token: String,
    /// At least 10 characters.
    #[schema(example = "new-gentle-circles-7", min_length = 10)]
    pub new_password: String,
}

/// Emails a link to choose a new password to the address when it has an active account; the answer is the
/// same either way. The link works once, for 30 minutes; a newer request makes older links stop working.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted (also when no account has the address)", body = ResetAccepted),
        (status = 422, description = "Not an email address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address or for this account (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_reset(
    state: web::Data<AppState>,
    http: HttpRequest,
    body: JsonBody<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody(req) = body;
    let address = crate::routes::auth::limit(&state, &http, &req.email).await?;
    state.auth_limits.check_recovery(address, &req.email, Utc::now()).await?;
    recovery::request_reset(&state.db, &state.public_url, &req.email, None, Utc::now()).await?;
    Ok(HttpResponse::Accepted().json(ResetAccepted { message: RESET_ACCEPTED }))
}

/// Sets a new password with the token of a reset link. Every session and access token of the account ends
/// (sign in again with the new password), login locks are lifted, and the address is emailed a notice.
#[utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "The password is set; sign in with it"),
        (status = 422, description = "The token is wrong, used or expired (one answer for each), or the new password is too short", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_reset(
    state: web::Data<AppState>,
    http: HttpRequest,
    body: JsonBody<PasswordResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody(req) = body;
    let address = crate::ratelimit::client_address(&http, &state.trusted_proxies);
    state.auth_limits.check_address(address, Utc::now()).await?;
    let account =
        recovery::confirm_reset(&state.db, &state.public_url, &req.token, &req.new_password, Utc::now()).await?;
    state.accounts.forget(account.id);
    state.auth_limits.clear_account(account.id).await?;
    Ok(HttpResponse::NoContent().finish())
}
