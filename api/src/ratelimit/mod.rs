//! Abuse limits on login and registration, shared by every API process through [`LimitStore`]:
//! - so many attempts a minute per client address and per account (429 with `Retry-After`);
//! - so many recovery emails (password resets, email changes) an hour per client address and per account;
//! - [`LOCK_AFTER_FAILURES`] failed logins in a row from one address lock the account *for that address* for
//!   [`LOCK_FOR`]; attempts during a lock are not counted, so an attacker's address never locks out the owner's.

mod address;
pub mod backend;

pub use address::client_address;
pub use backend::LimitStore;

use chrono::{DateTime, Duration, Utc};
use std::net::IpAddr;
use uuid::Uuid;

use crate::error::ApiError;
use backend::StoreError;

/// Failed logins in a row from one address that lock the account for that address.
pub const LOCK_AFTER_FAILURES: i64 = 5;
/// Wrong invitation codes an account may type in an hour.
pub const INVITE_TRIES_PER_HOUR: i64 = 10;
/// How long a lock lasts.
pub const LOCK_FOR: Duration = Duration::minutes(15);
/// The window of the per-minute limits.
const MINUTE_MS: i64 = 60_000;
/// The window of the recovery limits.
const HOUR_MS: i64 = 3_600_000;

/// The auth endpoints' limits and locks.
#[derive(Clone)]
pub struct AuthLimits {
    store: LimitStore,
    /// Attempts a minute per address and per account; `None` turns these limits off (locks stay).
    per_minute: Option<i64>,
    /// Recovery requests an hour per address and per account; `None` turns these limits off.
    recovery_per_hour: Option<i64>,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(e) => ApiError::Database(e),
            StoreError::Redis(e) => {
                // Like an unreachable database: retry later (503), the cause to the log.
                tracing::error!(error = %e, "the Redis limit store failed");
                ApiError::Unavailable
            }
        }
    }
}

/// An account name as a limit key: the normalised email hashed, so keys have one length whatever a request
/// sends, and the store holds no email addresses.
fn account_key(account: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(account.trim().to_lowercase().as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn lock_key(user: Uuid, address: IpAddr) -> String {
    format!("lock:{user}:{address}")
}

fn failures_key(user: Uuid, address: IpAddr) -> String {
    format!("fail:{user}:{address}")
}

impl AuthLimits {
    /// Limits of `per_minute` attempts and `recovery_per_hour` recovery requests (0 = off), kept in `store`.
    pub fn new(store: LimitStore, per_minute: u32, recovery_per_hour: u32) -> Self {
        let on = |n: u32| (n > 0).then_some(i64::from(n));
        Self { store, per_minute: on(per_minute), recovery_per_hour: on(recovery_per_hour) }
    }

    /// Counts one attempt from `address` for the account named `account`; a 429 with the seconds to wait when
    /// either is over its limit.
    pub async fn check(&self, address: IpAddr, account: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        let keys = [format!("rate:address:{address}"), format!("rate:account:{}", account_key(account))];
        self.count(&keys, self.per_minute, MINUTE_MS, now).await
    }

    /// Counts one attempt from `address` that names no account (a reset link presented, say).
    pub async fn check_address(&self, address: IpAddr, now: DateTime<Utc>) -> Result<(), ApiError> {
        self.count(&[format!("rate:address:{address}")], self.per_minute, MINUTE_MS, now).await
    }

    /// Counts one request for a recovery email from `address` for the account named `account`.
    pub async fn check_recovery(&self, address: IpAddr, account: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        let keys = [format!("recovery:address:{address}"), format!("recovery:account:{}", account_key(account))];
        self.count(&keys, self.recovery_per_hour, HOUR_MS, now).await
    }

    async fn count(
        &self,
        keys: &[String],
        limit: Option<i64>,
        window_ms: i64,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let Some(limit) = limit else { return Ok(()) };
        let now_ms = now.timestamp_millis();
        for key in keys {
            let counted = self.store.hit(key, window_ms, now_ms).await?;
            if counted.count > limit {
                let wait = ((counted.expires_ms - now_ms) as f64 / 1000.0).ceil().max(1.0) as u64;
                tracing::warn!(retry_after_s = wait, limit = key.split(':').next(), "auth attempt rate-limited");
                return Err(ApiError::TooManyRequests(wait));
            }
        }
        Ok(())
    }

    /// Refuses (429) an account that typed [`INVITE_TRIES_PER_HOUR`] wrong invitation codes within an hour,
    /// for an hour from the last.
    pub async fn check_invite_tries(&self, user: Uuid, now: DateTime<Utc>) -> Result<(), ApiError> {
        if self.store.is_set(&format!("invite-lock:{user}"), now.timestamp_millis()).await? {
            tracing::warn!(user.id = %user, "invitation codes: tries used up");
            return Err(ApiError::TooManyRequests(HOUR_MS as u64 / 1000));
        }
        Ok(())
    }

    /// Counts a wrong invitation code typed by `user`; the last allowed one locks further tries for an hour.
    pub async fn invite_failed(&self, user: Uuid, now: DateTime<Utc>) -> Result<(), ApiError> {
        let now_ms = now.timestamp_millis();
        let tries = self.store.hit(&format!("invite:{user}"), HOUR_MS, now_ms).await?;
        if tries.count >= INVITE_TRIES_PER_HOUR {
            self.store.set(&format!("invite-lock:{user}"), now_ms + HOUR_MS, now_ms).await?;
            self.store.remove(&format!("invite:{user}")).await?;
        }
        Ok(())
    }

    /// Whether logins to `user` from `address` are locked now.
    pub async fn is_locked(&self, user: Uuid, address: IpAddr, now: DateTime<Utc>) -> Result<bool, ApiError> {
        Ok(self.store.is_set(&lock_key(user, address), now.timestamp_millis()).await?)
    }

    /// Counts a failed login; the lock's end when this one locks the account for `address`.
    pub async fn failed(
        &self,
        user: Uuid,
        address: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, ApiError> {
        let now_ms = now.timestamp_millis();
        let failures = self.store.hit(&failures_key(user, address), LOCK_FOR.num_milliseconds(), now_ms).await?;
        if failures.count < LOCK_AFTER_FAILURES {
            return Ok(None);
        }
        let until = now + LOCK_FOR;
        self.store.set(&lock_key(user, address), until.timestamp_millis(), now_ms).await?;
        self.store.remove(&failures_key(user, address)).await?;
        Ok(Some(until))
    }

    /// A successful login from `address` clears its count of failures.
    pub async fn succeeded(&self, user: Uuid, address: IpAddr) -> Result<(), ApiError> {
        Ok(self.store.remove(&failures_key(user, address)).await?)
    }

    /// Clears every lock and failure count of `user` (an admin enabling the account, a bootstrap).
    pub async fn clear_account(&self, user: Uuid) -> Result<(), ApiError> {
        self.store.remove_prefix(&format!("fail:{user}:")).await?;
        Ok(self.store.remove_prefix(&format!("lock:{user}:")).await?)
    }
}
