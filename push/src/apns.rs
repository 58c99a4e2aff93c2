//! Apple Push Notification service: token-based auth (an ES256 provider JWT with `kid` and `iss`, reused for
//! at most 50 minutes), HTTP/2, `apns-topic`, `apns-push-type: alert`, `apns-expiration`, `apns-collapse-id`.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Mutex;

use crate::payload::Reminder;
use crate::{SendOutcome, retry_after};

/// A provider token is renewed after this long (Apple: at most every 20 minutes, at least every hour).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);

/// Why APNs could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ApnsError {
    #[error("the signing key is invalid: {0}")]
    Key(String),
    #[error("signing the provider token failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
    #[error("the HTTP/2 client could not be built: {0}")]
    Client(#[from] reqwest::Error),
}

/// How to reach APNs.
#[derive(Clone)]
pub struct ApnsConfig {
    /// The `.p8` key (PKCS#8 PEM, P-256).
    pub key_pem: String,
    /// The 10-character key id.
    pub key_id: String,
    pub team_id: String,
    /// The app's bundle id.
    pub topic: String,
    pub base_url: String,
}

/// An APNs sender.
pub struct Apns {
    client: reqwest::Client,
    config: ApnsConfig,
    key: EncodingKey,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for Apns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apns").field("key_id", &self.config.key_id).field("topic", &self.config.topic).finish()
    }
}

impl Apns {
    /// A sender for one app.
    pub fn new(config: ApnsConfig, timeout: Duration) -> Result<Self, ApnsError> {
        let key = EncodingKey::from_ec_pem(config.key_pem.as_bytes()).map_err(|e| ApnsError::Key(e.to_string()))?;
        let client =
            reqwest::Client::builder().http2_prior_knowledge().timeout(timeout).connect_timeout(timeout).build()?;
        Ok(Self { client, config, key, token: Mutex::new(None) })
    }

    async fn provider_token(&self, renew: bool) -> Result<String, ApnsError> {
        let mut token = self.token.lock().await;
        if !renew
            && let Some((t, made)) = token.as_ref()
            && made.elapsed() < TOKEN_LIFETIME
        {
            return Ok(t.clone());
        }
        let iat = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.config.key_id.clone());
        let jwt = jsonwebtoken::encode(&header, &json!({"iss": self.config.team_id, "iat": iat}), &self.key)?;
        *token = Some((jwt.clone(), Instant::now()));
        Ok(jwt)
    }

    /// Sends one reminder to a device token.
    pub async fn send(&self, device_token: &str, reminder: &Reminder, ttl: Duration, collapse_id: &str) -> SendOutcome {
        let jwt = match self.provider_token(false).await {
            Ok(t) => t,
            Err(e) => return SendOutcome::Failed { status: None, reason: e.to_string() },
        };
        let expiration =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) + ttl.as_secs();
        let body = json!({
            "aps": {"alert": {"title": reminder.title, "body": reminder.body}, "sound": "default", "category": "REMINDER"},
            "type": reminder.kind_of_message,
            "kind": reminder.kind,
            "routine_id": reminder.routine_id,
            "broadcast_id": reminder.broadcast_id,
            "client_id": reminder.client_id,
            "occurrence_id": reminder.occurrence_id,
            "actions": reminder.actions,
        });
        let url = format!("{}/3/device/{device_token}", self.config.base_url.trim_end_matches('/'));
        let request = self
            .client
            .post(url)
            .header("authorization", format!("bearer {jwt}"))
            .header("apns-topic", &self.config.topic)
            .header("apns-push-type", "alert")
            .header("apns-priority", "5")
            .header("apns-expiration", expiration.to_string())
            .header("apns-collapse-id", collapse_id)
            .json(&body);
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return SendOutcome::Retry { status: None, after: None, reason: format!("transport: {e}") },
        };
        let status = response.status().as_u16();
        if status == 200 {
            return SendOutcome::Delivered;
        }
        let after = retry_after(response.headers().get(reqwest::header::RETRY_AFTER), SystemTime::now());
        let reason_code = response
            .json::<Value>()
            .await
            .ok()
            .and_then(|b| b["reason"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let reason = format!("APNs answered {status} {}", crate::excerpt(&reason_code));
        match (status, reason_code.as_str()) {
            (410, _) | (400, "BadDeviceToken") | (400, "DeviceTokenNotForTopic") => {
                SendOutcome::Gone { status, reason }
            }
            (403, "ExpiredProviderToken") | (403, "InvalidProviderToken") => {
                let _ = self.provider_token(true).await;
                SendOutcome::Retry { status: Some(status), after: None, reason }
            }
            (408, _) | (429, _) | (500..=599, _) => SendOutcome::Retry { status: Some(status), after, reason },
            _ => SendOutcome::Failed { status: Some(status), reason },
        }
    }
}
