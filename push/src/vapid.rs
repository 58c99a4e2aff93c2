//! The VAPID key pair (RFC 8292): from `MILKFLOW_VAPID_PRIVATE_KEY`, or generated once and kept in the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use platform::Settings;
use secrecy::ExposeSecret;
use web_push_native::jwt_simple::algorithms::ES256KeyPair;
use web_push_native::p256::SecretKey;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

/// The server's application-server key.
pub struct VapidKeys {
    pub key_pair: ES256KeyPair,
    /// The uncompressed public point, base64url: the `applicationServerKey` web clients subscribe with.
    pub public_key: String,
    pub subject: String,
}

impl std::fmt::Debug for VapidKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeys").field("public_key", &self.public_key).field("subject", &self.subject).finish()
    }
}

/// The name the generated key is kept under in the database.
pub const SECRET_NAME: &str = "vapid_private_key";

impl VapidKeys {
    /// Keys from a base64url 32-byte private scalar.
    pub fn from_private(encoded: &str, subject: &str) -> Result<Self, String> {
        let raw =
            URL_SAFE_NO_PAD.decode(encoded.trim().trim_end_matches('=')).map_err(|_| "is not base64url".to_owned())?;
        let secret = SecretKey::from_slice(&raw).map_err(|_| "is not a P-256 private key (32 bytes)".to_owned())?;
        let key_pair = ES256KeyPair::from_bytes(&raw).map_err(|e| e.to_string())?;
        let public_key = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        Ok(Self { key_pair, public_key, subject: subject.to_owned() })
    }

    /// The configured key, or the one kept in the database: `keep(generated)` stores a newly generated key under
    /// [`SECRET_NAME`] unless one is stored already, and answers the stored key and whether it is the new one.
    pub async fn load(
        settings: &Settings,
        keep: impl AsyncFnOnce(&str) -> anyhow::Result<(String, bool)>,
    ) -> anyhow::Result<Self> {
        let subject = &settings.push.vapid_subject;
        if let Some(key) = &settings.push.vapid_private_key {
            return Self::from_private(key.expose_secret(), subject)
                .map_err(|e| anyhow::anyhow!("invalid setting MILKFLOW_VAPID_PRIVATE_KEY: {e}"));
        }
        let generated = URL_SAFE_NO_PAD.encode(ES256KeyPair::generate().to_bytes());
        let (stored, created) = keep(&generated).await?;
        if created {
            tracing::warn!("MILKFLOW_VAPID_PRIVATE_KEY is unset: generated a VAPID key and stored it in the database");
        }
        Self::from_private(&stored, subject).map_err(|e| anyhow::anyhow!("stored VAPID key: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_is_an_uncompressed_point() {
        let private = URL_SAFE_NO_PAD.encode(ES256KeyPair::generate().to_bytes());
        let keys = VapidKeys::from_private(&private, "mailto:ops@example.org").unwrap();
        let point = URL_SAFE_NO_PAD.decode(&keys.public_key).unwrap();
        assert_eq!((point.len(), point[0]), (65, 0x04));
        assert!(VapidKeys::from_private("not-a-key", "mailto:a@b.c").is_err());
        assert!(!format!("{keys:?}").contains(&private));
    }
}
