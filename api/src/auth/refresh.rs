//! Refresh tokens: opaque random strings, stored only as their SHA-256 hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Lifetime of a refresh token.
pub const REFRESH_TOKEN_TTL: Duration = Duration::days(30);

/// A new token (32 random bytes, base64url) and the hash to store.
pub fn generate() -> (String, String) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let hashed = digest(&token);
    (token, hashed)
}

/// The stored form of a token: lower-case hex SHA-256.
pub fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_only_their_hash_is_kept() {
        let (a, ha) = generate();
        let (b, hb) = generate();
        assert_ne!(a, b);
        assert_eq!(ha, digest(&a));
        assert_eq!(ha.len(), 64);
        assert!(!ha.contains(&a));
        assert_ne!(ha, hb);
    }
}
