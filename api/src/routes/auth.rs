//! `/v1/auth/*`: register, login, refresh, logout.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::jwt::ACCESS_TOKEN_TTL;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::routes::me::UserView;
use crate::services::{accounts, sessions};
use crate::startup::AppState;

/// Registers the auth routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/auth/register").route(web::post().to(register)))
        .service(web::resource("/v1/auth/login").route(web::post().to(login)))
        .service(web::resource("/v1/auth/refresh").route(web::post().to(refresh)))
        .service(web::resource("/v1/auth/logout").route(web::post().to(logout)));
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "mother@example.org")]
    pub email: String,
    /// At least 10 characters.
    #[schema(example = "gentle-circles-42", min_length = 10)]
    pub password: String,
    /// An IANA time zone; `UTC` when absent.
    #[schema(example = "Europe/Berlin")]
    pub timezone: Option<String>,
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "mother@example.org")]
    pub email: String,
    #[schema(example = "gentle-circles-42")]
    pub password: String,
}

/// A refresh token, to rotate or to revoke.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Tokens of a signed-in session.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT for `Authorization: Bearer`, valid `expires_in` seconds.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Opaque and single-use: each refresh returns a new one; reusing an old one ends the session.
    pub refresh_token: String,
    pub user: UserView,
}

pub(crate) fn tokens(state: &AppState, signed_in: accounts::SignedIn) -> Result<TokenResponse, ApiError> {
    let role = signed_in.user.role;
    let access_token = state
        .jwt
        .issue(signed_in.user.id, role, signed_in.user.token_epoch, Utc::now())
        .map_err(anyhow::Error::from)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL.num_seconds(),
        refresh_token: signed_in.refresh_token,
        user: UserView::from(signed_in.user),
    })
}

/// The answer to every valid registration.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationAccepted {
    /// A message the app can show.
    #[schema(
        example = "Thank you. Check your inbox to confirm your email; you can sign in with this email and password now."
    )]
    pub message: &'static str,
}

/// The same for a new address and for one that already has an account.
pub const REGISTRATION_ACCEPTED: &str =
    "Thank you. Check your inbox to confirm your email; you can sign in with this email and password now.";

/// Applies the per-address and per-account attempt limits; the client's address.
pub(crate) async fn limit(state: &AppState, http: &HttpRequest, email: &str) -> Result<std::net::IpAddr, ApiError> {
    let address = crate::ratelimit::client_address(http, &state.trusted_proxies);
    state.auth_limits.check(address, email, Utc::now()).await?;
    Ok(address)
}

/// Registers an account. The answer is the same whether or not the address already has an account (so nobody
/// can learn that it does): a new address gets an email to confirm it, one that has an account gets an email
/// saying someone tried to sign up with it. The app then signs in with the same email and password; an
/// unverified account may use the app (sharing with a care team will need a verified address).
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 202, description = "Registration received (also when the address already has an account)", body = RegistrationAccepted),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or for this account (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    state: web::Data<AppState>,
    http: HttpRequest,
    body: JsonBody<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody(req) = body;
    limit(&state, &http, &req.email).await?;
    let input = accounts::Registration { email: req.email, password: req.password, timezone: req.timezone };
    accounts::register(&state.db, &state.public_url, input, Utc::now()).await?;
    Ok(HttpResponse::Accepted().json(RegistrationAccepted { message: REGISTRATION_ACCEPTED }))
}

/// Signs in with email and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong email or password (the same answer for both, also while the account is locked for this address after repeated failures)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or for this account (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    http: HttpRequest,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody(req) = body;
    let address = limit(&state, &http, &req.email).await?;
    let signed_in =
        accounts::login(&state.db, &state.auth_limits, address, &req.email, &req.password, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(tokens(&state, signed_in)?))
}

/// Exchanges a refresh token for new tokens; the presented one is used up.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, expired or reused refresh token (reuse revokes the session)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(state: web::Data<AppState>, body: JsonBody<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let JsonBody(req) = body;
    let now = Utc::now();
    match sessions::rotate(&state.db, &req.refresh_token, now).await? {
        sessions::Rotation::Rotated { user, token } => {
            let user = entity_user(&state, user).await?;
            Ok(HttpResponse::Ok().json(tokens(&state, accounts::SignedIn { user, refresh_token: token })?))
        }
        sessions::Rotation::Reused => {
            Err(ApiError::Unauthorized("this refresh token was already used; the session is revoked"))
        }
        sessions::Rotation::Invalid => Err(ApiError::Unauthorized("the refresh token is unknown or expired")),
    }
}

async fn entity_user(state: &AppState, id: uuid::Uuid) -> Result<entity::user::Model, ApiError> {
    store::accounts::active(&state.db, id).await?.ok_or(ApiError::Unauthorized("the account is not active"))
}

/// Ends a session: revokes the refresh token and every token rotated from it.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "Session ended (also when the token was unknown)")))]
pub async fn logout(state: web::Data<AppState>, body: JsonBody<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    sessions::revoke_by_token(&state.db, &body.0.refresh_token, Utc::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
