//! `AuthUser` and `AdminUser`: a request's verified account, or a 401/403 problem.

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use domain::Role;
use entity::user;
use futures_util::future::LocalBoxFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

use crate::error::ApiError;
use crate::startup::AppState;

/// What a request knows of its account: who the user is and the preferences that shape answers.
///
/// It comes from [`AccountCache`], so it may be up to [`ACCOUNT_FRESH_FOR`] old. Whatever shows or changes the
/// account itself (`/v1/me`, the export) reads the account's row afresh.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: Uuid,
    pub timezone: String,
    pub volume_unit: String,
    /// Access tokens of an earlier epoch are refused.
    pub token_epoch: i64,
}

/// The authenticated, active account behind a valid access token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: Account,
    pub role: Role,
}

/// An authenticated account with the `admin` role.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

pub(crate) const INVALID: &str = "the access token is missing, invalid or expired";

/// How long an account read for a token check is used again without reading its row.
///
/// A change made through this process (disabling, erasing, a new role or profile) takes effect at once, as it
/// calls [`AccountCache::forget`]; one made through another API process takes effect within this time. Reading
/// the account on every request would cap the API at one query's rate before any work is done.
pub const ACCOUNT_FRESH_FOR: Duration = Duration::from_secs(1);

/// Accounts kept at most; past it the least used go first.
const MAX_CACHED_ACCOUNTS: u64 = 100_000;

/// Active accounts recently read for token checks, so a phone's burst of requests does not read the account's
/// row for each one (see [`ACCOUNT_FRESH_FOR`]).
pub struct AccountCache {
    accounts: moka::sync::Cache<Uuid, AuthUser>,
    /// Counts [`AccountCache::forget`] calls: a read that began before one must not store what it read.
    forgets: AtomicU64,
}

impl Default for AccountCache {
    fn default() -> Self {
        Self::with_lifetime(ACCOUNT_FRESH_FOR)
    }
}

impl AccountCache {
    pub fn with_lifetime(fresh_for: Duration) -> Self {
        let accounts = moka::sync::Cache::builder().max_capacity(MAX_CACHED_ACCOUNTS).time_to_live(fresh_for).build();
        Self { accounts, forgets: AtomicU64::new(0) }
    }

    /// The active account `id`, from memory if read recently, or `None` when it is absent or not active.
    pub async fn active(&self, db: &store::db::Database, id: Uuid) -> Result<Option<AuthUser>, ApiError> {
        if let Some(found) = self.accounts.get(&id) {
            return Ok(Some(found));
        }
        let forgets_before = self.forgets.load(Ordering::Acquire);
        let Some(row) = store::accounts::active(db, id).await? else { return Ok(None) };
        let role = row.role;
        let account =
            Account { id, timezone: row.timezone, volume_unit: row.volume_unit, token_epoch: row.token_epoch };
        let found = AuthUser { user: account, role };
        self.store_unless_forgotten(forgets_before, found.clone());
        Ok(Some(found))
    }

    /// Stores `found`, unless an account was forgotten since the read that found it began (it may be older).
    fn store_unless_forgotten(&self, forgets_before: u64, found: AuthUser) {
        if self.forgets.load(Ordering::Acquire) == forgets_before {
            self.accounts.insert(found.user.id, found);
        }
    }

    /// Drops what is known of account `id`: call it after committing a change to its status, role, profile or
    /// token epoch.
    pub fn forget(&self, id: Uuid) {
        self.forgets.fetch_add(1, Ordering::AcqRel);
        self.accounts.invalidate(&id);
    }
}

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
            let found = state.accounts.active(&state.db, claims.sub).await?;
            // An epoch newer than the one read can only be this server's (read before a change committed).
            found.filter(|a| claims.epoch >= a.user.token_epoch).ok_or(ApiError::Unauthorized(INVALID))
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

impl AuthUser {
    /// The user's account row as it stands now, for answers that show or change it.
    pub async fn fresh(&self, db: &store::db::Database) -> Result<user::Model, ApiError> {
        store::accounts::active(db, self.user.id).await?.ok_or(ApiError::Unauthorized(INVALID))
    }
}

impl AdminUser {
    /// The admin behind this request, for the audit log.
    pub fn actor(&self, req: &HttpRequest) -> crate::services::audit::Actor {
        crate::services::audit::actor_of(self.0.user.id, req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone(id: Uuid) -> AuthUser {
        AuthUser {
            user: Account { id, timezone: "UTC".into(), volume_unit: "ml".into(), token_epoch: 0 },
            role: Role::User,
        }
    }

    #[test]
    fn a_read_that_began_before_a_forget_is_not_stored() {
        let cache = AccountCache::default();
        let (id, other) = (Uuid::new_v4(), Uuid::new_v4());
        let before = cache.forgets.load(Ordering::Acquire);
        cache.forget(other);
        cache.store_unless_forgotten(before, someone(id));
        assert!(cache.accounts.get(&id).is_none(), "it may have been read before the change was committed");
        let now = cache.forgets.load(Ordering::Acquire);
        cache.store_unless_forgotten(now, someone(id));
        assert!(cache.accounts.get(&id).is_some());
        cache.forget(id);
        assert!(cache.accounts.get(&id).is_none());
    }
}
