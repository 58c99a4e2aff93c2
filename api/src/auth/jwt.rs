//! Access tokens: short-lived HS256 JWTs with one explicit `Validation`.

use chrono::{DateTime, Duration, Utc};
use domain::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Issuer of every access token.
pub const ISSUER: &str = "milkflow";
/// Audience of access tokens for the mobile app and admin clients.
pub const AUDIENCE: &str = "milkflow-api";
/// Lifetime of an access token.
pub const ACCESS_TOKEN_TTL: Duration = Duration::minutes(15);

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    /// The account's token epoch when issued: a later epoch revokes the token (absent in tokens issued before
    /// epochs existed, which count as epoch 0).
    #[serde(default)]
    pub epoch: i64,
}

/// Signs and verifies access tokens.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    /// Keys from the shared secret.
    pub fn new(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["sub", "iat", "exp", "iss", "aud"]);
        validation.validate_exp = true;
        validation.leeway = 5;
        Self { encoding: EncodingKey::from_secret(bytes), decoding: DecodingKey::from_secret(bytes), validation }
    }

    /// A token for `user` with `role` in token epoch `epoch`, valid from `now` for [`ACCESS_TOKEN_TTL`].
    pub fn issue(
        &self,
        user: Uuid,
        role: Role,
        epoch: i64,
        now: DateTime<Utc>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: user,
            role,
            iat: now.timestamp(),
            exp: (now + ACCESS_TOKEN_TTL).timestamp(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            epoch,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The claims of a valid token; `None` for anything tampered, expired, foreign, unsigned, or made to live
    /// longer than [`ACCESS_TOKEN_TTL`] (a token minted with a leaked key must not outlast the rules).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation).ok()?.claims;
        let issued_in_future = claims.iat > Utc::now().timestamp() + i64::try_from(self.validation.leeway).ok()?;
        let too_long = claims.exp - claims.iat > ACCESS_TOKEN_TTL.num_seconds();
        (!issued_in_future && !too_long).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    fn keys() -> JwtKeys {
        JwtKeys::new(&SecretString::from("k".repeat(40)))
    }

    fn forge(header: &str, claims: &serde_json::Value, signature: &str) -> String {
        format!("{}.{}.{}", B64.encode(header), B64.encode(claims.to_string()), signature)
    }

    #[test]
    fn issued_token_verifies_with_its_claims() {
        let now = Utc::now();
        let user = Uuid::new_v4();
        let claims = keys().verify(&keys().issue(user, Role::Admin, 0, now).unwrap()).unwrap();
        assert_eq!(
            (claims.sub, claims.role, claims.iss.as_str(), claims.aud.as_str()),
            (user, Role::Admin, ISSUER, AUDIENCE)
        );
        assert_eq!(claims.exp - claims.iat, 15 * 60);
    }

    #[test]
    fn a_token_carries_its_epoch_and_one_without_counts_as_epoch_0() {
        let k = keys();
        let claims = k.verify(&k.issue(Uuid::new_v4(), Role::User, 7, Utc::now()).unwrap()).unwrap();
        assert_eq!(claims.epoch, 7);
        let now = Utc::now().timestamp();
        let older = serde_json::json!({"sub": Uuid::new_v4(), "role": "user", "iat": now, "exp": now + 600,
            "iss": ISSUER, "aud": AUDIENCE});
        let token = encode(&Header::new(Algorithm::HS256), &older, &k.encoding).unwrap();
        assert_eq!(k.verify(&token).unwrap().epoch, 0);
    }

    #[test]
    fn expired_token_is_refused() {
        let token = keys().issue(Uuid::new_v4(), Role::User, 0, Utc::now() - Duration::minutes(16)).unwrap();
        assert!(keys().verify(&token).is_none());
    }

    #[test]
    fn token_signed_with_another_key_is_refused() {
        let other = JwtKeys::new(&SecretString::from("o".repeat(40)));
        let token = other.issue(Uuid::new_v4(), Role::User, 0, Utc::now()).unwrap();
        assert!(keys().verify(&token).is_none());
    }

    #[test]
    fn alg_none_and_wrong_audience_are_refused() {
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({"sub": Uuid::new_v4(), "role": "admin", "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE});
        assert!(keys().verify(&forge(r#"{"alg":"none","typ":"JWT"}"#, &claims, "")).is_none());
        let mut foreign = claims.clone();
        foreign["aud"] = "someone-else".into();
        let k = keys();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".into());
        let token = encode(&header, &foreign, &k.encoding).unwrap();
        assert!(k.verify(&token).is_none());
    }

    #[test]
    fn token_living_longer_than_the_lifetime_is_refused() {
        let k = keys();
        let now = Utc::now().timestamp();
        let mut claims = serde_json::json!({"sub": Uuid::new_v4(), "role": "user", "iat": now, "exp": now + 15 * 60,
            "iss": ISSUER, "aud": AUDIENCE});
        let sign = |c: &serde_json::Value| encode(&Header::new(Algorithm::HS256), c, &k.encoding).unwrap();
        assert!(k.verify(&sign(&claims)).is_some(), "exactly the lifetime is accepted");
        claims["exp"] = (now + 15 * 60 + 1).into();
        assert!(k.verify(&sign(&claims)).is_none(), "one second more is refused");
        claims["iat"] = (now + 3600).into();
        claims["exp"] = (now + 3600 + 60).into();
        assert!(k.verify(&sign(&claims)).is_none(), "issued in the future");
    }

    #[test]
    fn tampered_payload_is_refused() {
        let token = keys().issue(Uuid::new_v4(), Role::User, 0, Utc::now()).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims: serde_json::Value = serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
        claims["role"] = "admin".into();
        parts[1] = B64.encode(claims.to_string());
        assert!(keys().verify(&parts.join(".")).is_none());
    }
}
