//! The secrets emails carry: a link's token and a 6-digit code, made here and stored only as hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use store::email_tokens::NewToken;
use uuid::Uuid;

/// A new secret: what the email says, and what is stored.
pub struct Secret {
    /// For the link: 32 random bytes, base64url.
    pub token: String,
    /// To type on the phone: six digits.
    pub code: String,
    pub stored: NewToken,
}

/// SHA-256 of `text`, hex.
pub fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored hash of `code` for token `id` (the id keeps equal codes of two tokens apart).
pub fn code_hash(id: Uuid, code: &str) -> String {
    hash(&format!("{id}:{code}"))
}

/// A new secret valid for `valid_for` from `now`; with `with_code`, a code too.
pub fn new_secret(valid_for: Duration, with_code: bool, now: DateTime<Utc>) -> Secret {
    let mut rng = rand::rng();
    let token = URL_SAFE_NO_PAD.encode(rng.random::<[u8; 32]>());
    let code = format!("{:06}", rng.random_range(0..1_000_000u32));
    let id = Uuid::now_v7();
    let stored = NewToken {
        id,
        token_hash: hash(&token),
        code_hash: with_code.then(|| code_hash(id, &code)),
        expires_at: now + valid_for,
    };
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
        assert_eq!(s.stored.token_hash, hash(&s.token));
        assert_ne!(s.stored.token_hash, s.token);
        assert_eq!(s.stored.code_hash.as_deref(), Some(code_hash(s.stored.id, &s.code).as_str()));
        assert_ne!(new_secret(Duration::hours(1), true, Utc::now()).token, s.token);
    }
}
