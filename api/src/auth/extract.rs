//! `AuthUser` and `AdminUser`: a request's verified account, or a 401/403 problem.

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use domain::Role;
use entity::user;
use futures_util::future::LocalBoxFuture;
use sea_orm::EntityTrait;

use crate::error::ApiError;
use crate::startup::AppState;

/// The authenticated account behind a valid access token, loaded fresh so a deleted or disabled account stops at once.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: user::Model,
    pub role: Role,
}

/// An authenticated account with the `admin` role.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

const INVALID: &str = "the access token is missing, invalid or expired";

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("application state missing"))?;
            let claims = token.and_then(|t| state.jwt.verify(&t)).ok_or(ApiError::Unauthorized(INVALID))?;
            let user = user::Entity::find_by_id(claims.sub)
                .one(&state.db)
                .await?
                .filter(|u| u.status == domain::UserStatus::Active.as_str())
                .ok_or(ApiError::Unauthorized(INVALID))?;
            let role = Role::parse(&user.role).map_err(|e| anyhow::anyhow!("stored role: {e}"))?;
            Ok(AuthUser { user, role })
        })
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let auth = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let auth = auth.await?;
            if auth.role == Role::Admin { Ok(AdminUser(auth)) } else { Err(ApiError::Forbidden) }
        })
    }
}

impl AdminUser {
    /// The admin behind this request, for the audit log.
    pub fn actor(&self, req: &HttpRequest) -> crate::services::audit::Actor {
        crate::services::audit::Actor::of(self.0.user.id, req)
    }
}
