//! Firebase Cloud Messaging HTTP v1: a service-account JWT (RS256, signed with jsonwebtoken) is exchanged for
//! an OAuth2 access token, cached until shortly before it expires, then `messages:send`.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Mutex;

use crate::payload::Reminder;
use crate::{SendOutcome, retry_after};

/// The OAuth2 scope of FCM.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// Why FCM could not be set up or asked.
#[derive(Debug, thiserror::Error)]
pub enum FcmError {
    #[error("the service account JSON is invalid: {0}")]
    ServiceAccount(String),
    #[error("signing the token request failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
    #[error("the token endpoint answered {status}: {body}")]
    Token { status: u16, body: String },
    #[error("the request failed: {0}")]
    Transport(#[from] reqwest::Error),
}

#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    private_key_id: Option<String>,
    private_key: String,
    client_email: String,
    token_uri: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// An FCM sender for one Firebase project.
pub struct Fcm {
    client: reqwest::Client,
    account: ServiceAccount,
    key: EncodingKey,
    base_url: String,
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for Fcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fcm").field("project_id", &self.account.project_id).field("base_url", &self.base_url).finish()
    }
}

impl Fcm {
    /// A sender from a service-account JSON document; `base_url` is where `messages:send` lives.
    pub fn new(service_account_json: &str, base_url: &str, timeout: Duration) -> Result<Self, FcmError> {
        let account: ServiceAccount =
            serde_json::from_str(service_account_json).map_err(|e| FcmError::ServiceAccount(e.to_string()))?;
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| FcmError::ServiceAccount(format!("private_key: {e}")))?;
        let client = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()?;
        Ok(Self { client, account, key, base_url: base_url.trim_end_matches('/').to_owned(), cached: Mutex::new(None) })
    }

    /// A valid access token: the cached one, or a new one from the token endpoint.
    async fn access_token(&self) -> Result<String, FcmError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let claims = json!({
            "iss": self.account.client_email,
            "scope": SCOPE,
            "aud": self.account.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.account.private_key_id.clone();
        let assertion = jsonwebtoken::encode(&header, &claims, &self.key)?;
        let response = self
            .client
            .post(&self.account.token_uri)
            .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())])
            .send()
            .await?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(FcmError::Token { status, body: crate::excerpt(&response.text().await.unwrap_or_default()) });
        }
        let token: TokenResponse = response.json().await?;
        // Renew a minute early, so a token never expires between this check and its use.
        let valid_for = Duration::from_secs(token.expires_in.saturating_sub(60).max(1));
        *cached = Some((token.access_token.clone(), Instant::now() + valid_for));
        tracing::debug!(valid_for_s = valid_for.as_secs(), "FCM access token obtained");
        Ok(token.access_token)
    }

    async fn forget_token(&self) {
        *self.cached.lock().await = None;
    }

    /// Sends one reminder to a registration token.
    pub async fn send(&self, token: &str, reminder: &Reminder, ttl: Duration, collapse_key: &str) -> SendOutcome {
        let access = match self.access_token().await {
            Ok(t) => t,
            Err(FcmError::Token { status, body }) if status >= 500 || status == 429 => {
                return SendOutcome::Retry {
                    status: Some(status),
                    after: None,
                    reason: format!("token endpoint: {body}"),
                };
            }
            Err(FcmError::Transport(e)) => {
                return SendOutcome::Retry { status: None, after: None, reason: format!("token endpoint: {e}") };
            }
            Err(e) => return SendOutcome::Failed { status: None, reason: e.to_string() },
        };
        let message = json!({
            "message": {
                "token": token,
                "notification": {"title": reminder.title, "body": reminder.body},
                "data": {
                    "type": reminder.kind_of_message,
                    "kind": reminder.kind,
                    "routine_id": reminder.routine_id.map(|r| r.to_string()).unwrap_or_default(),
                    "broadcast_id": reminder.broadcast_id.map(|b| b.to_string()).unwrap_or_default(),
                    "client_id": reminder.client_id.map(|c| c.to_string()).unwrap_or_default(),
                    "occurrence_id": reminder.occurrence_id.to_string(),
                    "actions": reminder.actions.join(","),
                },
                "android": {"ttl": format!("{}s", ttl.as_secs()), "collapse_key": collapse_key, "priority": "normal"},
                "apns": {"headers": {"apns-collapse-id": collapse_key, "apns-push-type": "alert"}},
            }
        });
        let url = format!("{}/v1/projects/{}/messages:send", self.base_url, self.account.project_id);
        let response = match self.client.post(url).bearer_auth(access).json(&message).send().await {
            Ok(r) => r,
            Err(e) => return SendOutcome::Retry { status: None, after: None, reason: format!("transport: {e}") },
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return SendOutcome::Delivered;
        }
        let after = retry_after(response.headers().get(reqwest::header::RETRY_AFTER), SystemTime::now());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = error_code(&body);
        let reason = format!("FCM answered {status} {code}");
        match (status, code.as_str()) {
            (_, "UNREGISTERED") | (404, _) => SendOutcome::Gone { status, reason },
            (401, "THIRD_PARTY_AUTH_ERROR") => SendOutcome::Failed { status: Some(status), reason },
            (401, _) => {
                // Our access token was refused: get a new one next time.
                self.forget_token().await;
                SendOutcome::Retry { status: Some(status), after: None, reason }
            }
            (408, _) | (429, _) | (500..=599, _) => SendOutcome::Retry { status: Some(status), after, reason },
            _ => SendOutcome::Failed { status: Some(status), reason },
        }
    }
}

/// The most specific error code of an FCM error body: `details[].errorCode`, else `error.status`.
fn error_code(body: &Value) -> String {
    let details = body["error"]["details"].as_array();
    details
        .and_then(|d| d.iter().find_map(|x| x["errorCode"].as_str()))
        .or_else(|| body["error"]["status"].as_str())
        .unwrap_or("")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fcm_error_code_prefers_details() {
        let body = json!({"error": {"code": 404, "status": "NOT_FOUND", "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}});
        assert_eq!(error_code(&body), "UNREGISTERED");
        assert_eq!(error_code(&json!({"error": {"status": "UNAVAILABLE"}})), "UNAVAILABLE");
        assert_eq!(error_code(&Value::Null), "");
    }

    #[test]
    fn a_service_account_without_a_key_is_refused() {
        let e = Fcm::new(
            r#"{"project_id": "p", "private_key": "nope", "client_email": "a@b", "token_uri": "http://x"}"#,
            "http://x",
            Duration::from_secs(1),
        );
        assert!(matches!(e, Err(FcmError::ServiceAccount(_))));
    }
}
