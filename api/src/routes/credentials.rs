//! `/v1/me/password` and `/v1/me/email`: the signed-in owner changes a credential; other sessions end.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::routes::auth::{TokenResponse, tokens};
use crate::services::recovery::{self, CredentialChange};
use crate::startup::AppState;

/// Registers the credential routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/me/password").route(web::post().to(change_password)))
        .service(web::resource("/v1/me/email").route(web::post().to(change_email)));
}

/// The current password and the new one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 10 characters.
    #[schema(min_length = 10)]
    pub new_password: String,
}

/// The current password and the new address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    pub current_password: String,
    #[schema(example = "new-address@example.org")]
    pub new_email: String,
}

/// Sets a new password. Every other session and every access token issued before ends; the answer holds this
/// device's new tokens. The address is emailed a notice.
#[utoipa::path(post, path = "/v1/me/password", tag = "me", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed; this device's new tokens", body = TokenResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The current password is not correct (repeated failures lock the account for this address), or the new one is too short", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    state: web::Data<AppState>,
    auth: AuthUser,
    http: HttpRequest,
    body: JsonBody<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody(req) = body;
    let account = auth.fresh(&state.db).await?;
    let address = crate::routes::auth::limit(&state, &http, &account.email).await?;
    let change = CredentialChange { address, current_password: &req.current_password, new_value: &req.new_password };
    let signed_in =
        recovery::change_password(&state.db, &state.auth_limits, &state.public_url, account, change, Utc::now())
            .await?;
    state.accounts.forget(signed_in.user.id);
    Ok(HttpResponse::Ok().json(tokens(&state, signed_in)?))
}

/// Starts moving the account to a new address: a link and a code go to the new address, which replaces the
/// current one once confirmed with `POST /v1/auth/verify-email`; the current address is told. Every other
/// session and every access token issued before ends; the answer holds this device's new tokens. The answer
/// does not say whether another account has the new address (then nothing is sent to it).
#[utoipa::path(post, path = "/v1/me/email", tag = "me", security(("bearer" = [])), request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "Confirmation sent to the new address; this device's new tokens (the account keeps its address until then)", body = TokenResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The current password is not correct, or the new address is not valid or is the current one", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address or for this account (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_email(
    state: web::Data<AppState>,
    auth: AuthUser,
    http: HttpRequest,
    body: JsonBody<ChangeEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody(req) = body;
    let account = auth.fresh(&state.db).await?;
    let address = crate::routes::auth::limit(&state, &http, &account.email).await?;
    let change = CredentialChange { address, current_password: &req.current_password, new_value: &req.new_email };
    let signed_in =
        recovery::change_email(&state.db, &state.auth_limits, &state.public_url, account, change, Utc::now()).await?;
    state.accounts.forget(signed_in.user.id);
    Ok(HttpResponse::Accepted().json(tokens(&state, signed_in)?))
}
