//! Abuse limits on login and registration: so many attempts a minute per client address and per account.
//!
//! The limits live in each process's memory: behind several API replicas a client gets each replica's quota.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

use crate::error::ApiError;

/// Keyed limiters for the auth endpoints.
pub struct AuthLimits {
    by_address: DefaultKeyedRateLimiter<String>,
    by_account: DefaultKeyedRateLimiter<String>,
}

impl AuthLimits {
    /// Limits of `per_minute` attempts; `None` when 0 (off, for load tests and benchmarks).
    pub fn new(per_minute: u32) -> Option<Self> {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute)?);
        Some(Self { by_address: RateLimiter::keyed(quota), by_account: RateLimiter::keyed(quota) })
    }

    /// Counts one attempt from `address` for `account`; a 429 with the seconds to wait when over a limit.
    pub fn check(&self, address: &str, account: &str) -> Result<(), ApiError> {
        let clock = DefaultClock::default();
        for (limiter, key) in [(&self.by_address, address), (&self.by_account, account)] {
            if limiter.len() > 100_000 {
                limiter.retain_recent();
            }
            if let Err(not_until) = limiter.check_key(&key.to_owned()) {
                let wait = not_until.wait_time_from(clock.now()).as_secs().max(1);
                tracing::warn!(retry_after_s = wait, "auth attempt rate-limited");
                return Err(ApiError::TooManyRequests(wait));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_attempt_in_a_minute_is_refused_per_address_and_per_account() {
        let limits = AuthLimits::new(10).unwrap();
        for i in 0..10 {
            assert!(limits.check("10.0.0.1", &format!("user{i}@example.org")).is_ok());
        }
        assert!(matches!(limits.check("10.0.0.1", "other@example.org"), Err(ApiError::TooManyRequests(_))));
        let per_account = AuthLimits::new(2).unwrap();
        assert!(per_account.check("a", "ana@example.org").is_ok());
        assert!(per_account.check("b", "ana@example.org").is_ok());
        assert!(
            per_account.check("c", "ana@example.org").is_err(),
            "a third address cannot continue on the same account"
        );
        assert!(AuthLimits::new(0).is_none());
    }
}
