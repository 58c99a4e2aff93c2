//! `/v1/auth/verify-email`: confirming an account's address by its email's link or code, and sending it again.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::routes::me::UserView;
use crate::services::verification::{self, Confirmation};
use crate::startup::AppState;

/// Registers the verification routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/auth/verify-email").route(web::post().to(verify_email)))
        .service(web::resource("/v1/auth/verify-email/resend").route(web::post().to(resend)));
}

/// The link's token, or the address and the code typed from the email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The `token` parameter of the email's link.
    pub token: Option<String>,
    /// With `code`: the address the email went to.
    #[schema(example = "mother@example.org")]
    pub email: Option<String>,
    /// The six digits of the email.
    #[schema(example = "042917")]
    pub code: Option<String>,
}

/// Confirms an address with the token of its email's link or with its code (at most 5 wrong codes per email).
/// Needs no sign-in, as the link may open on another device.
#[utoipa::path(post, path = "/v1/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "The address is confirmed; the account as now stored", body = UserView),
        (status = 422, description = "The token or code is wrong, used or expired (the same answer for each)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_email(
    state: web::Data<AppState>,
    http: HttpRequest,
    body: JsonBody<VerifyEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody(req) = body;
    let address = crate::ratelimit::client_address(&http, &state.trusted_proxies);
    state.auth_limits.check_address(address, Utc::now()).await?;
    let confirmation = Confirmation { token: req.token, email: req.email, code: req.code };
    let account = verification::confirm(&state.db, confirmation, Utc::now()).await?;
    state.accounts.forget(account.id);
    Ok(HttpResponse::Ok().json(UserView::from(account)))
}

/// Sends the signed-in account a new verification email; the earlier link and code stop working.
#[utoipa::path(post, path = "/v1/auth/verify-email/resend", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 202, description = "A new email is on its way"),
        (status = 409, description = "The address is verified already", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "One was sent in the last minute, or five in the last hour, or too many recovery requests came from this address (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resend(state: web::Data<AppState>, auth: AuthUser, http: HttpRequest) -> Result<HttpResponse, ApiError> {
    let account = auth.fresh(&state.db).await?;
    let address = crate::ratelimit::client_address(&http, &state.trusted_proxies);
    state.auth_limits.check_recovery(address, &account.email, Utc::now()).await?;
    verification::resend(&state.db, &state.public_url, &account, Utc::now()).await?;
    Ok(HttpResponse::Accepted().finish())
}
