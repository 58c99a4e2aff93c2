//! The secrets emails carry: a link's token and a 6-digit code, stored only as hashes.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use store::email_tokens::NewToken;
use uuid::Uuid;

use crate::auth::refresh;

/// A new secret: what the email says, and what is stored.
pub struct Secret {
    /// For the link: 32 random bytes, base64url.
    pub token: String,
    /// To type on the phone: six digits.
    pub code: String,
    pub stored: NewToken,
}

/// The stored hash of `code` for token `id` (the id keeps equal codes of two tokens apart).
pub fn code_hash(id: Uuid, code: &str) -> String {
    refresh::digest(&format!("{id}:{code}"))
}

/// A new secret valid for `valid_for` from `now`; with `with_code`, a code too.
pub fn new_secret(valid_for: Duration, with_code: bool, now: DateTime<Utc>) -> Secret {
    // The same kind of opaque token as a refresh token, kept the same way.
    let (token, token_hash) = refresh::generate();
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let id = Uuid::now_v7();
    let stored =
        NewToken { id, token_hash, code_hash: with_code.then(|| code_hash(id, &code)), expires_at: now + valid_for };
    Secret { token, code, stored }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_stored_only_as_hashes() {
        let s = new_secret(Duration::hours(1), true, Utc::now());
        assert_eq!(s.code.len(), 6);
        assert!(s.code.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(s.stored.token_hash, refresh::digest(&s.token));
        assert_ne!(s.stored.token_hash, s.token);
        assert_eq!(s.stored.code_hash.as_deref(), Some(code_hash(s.stored.id, &s.code).as_str()));
        assert_ne!(new_secret(Duration::hours(1), true, Utc::now()).token, s.token);
    }
}
