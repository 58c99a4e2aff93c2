//! Checks a device registration (platform, endpoint and keys, or token) before `store::devices` keeps it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use domain::Violations;
use entity::device;
use push::ssrf::check_url;
use store::devices::NewDevice;
use uuid::Uuid;

use crate::error::ApiError;
use domain::reminders::Platform;
use store::Database;

/// A registration as received.
pub struct Registration {
    pub platform: String,
    pub endpoint: Option<String>,
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    pub token: Option<String>,
    pub name: Option<String>,
    pub locale: Option<String>,
}

/// Checks a Web Push endpoint (see [`check_url`]); the normalised URL.
pub fn check_endpoint(raw: &str, allow_insecure: bool) -> Result<String, String> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| "must be an https:// URL".to_owned())?;
    check_url(&url, allow_insecure)?;
    Ok(url.to_string())
}

fn base64url(raw: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(raw.trim().trim_end_matches('=')).ok()
}

/// Registers (`true`: 201) or updates (`false`: 200) a device; the same endpoint or token is one device. A device
/// another account holds moves to this one (the latest account signed in on a phone gets its reminders) and is
/// answered like a new one, so the answer never tells that another account had it; the old owner's pending
/// deliveries to it are dropped and the move is written to the audit log.
#[tracing::instrument(skip_all, fields(platform = %input.platform))]
pub async fn register(
    db: &Database,
    user_id: Uuid,
    input: Registration,
    allow_insecure: bool,
    now: DateTime<Utc>,
) -> Result<(device::Model, bool), ApiError> {
    let mut v = Violations::new();
    let (mut target, mut p256dh, mut auth) = (None, None, None);
    let platform = Platform::parse(&input.platform);
    match platform {
        Some(Platform::Web) => {
            target = match &input.endpoint {
                Some(e) => v.check("endpoint", check_endpoint(e, allow_insecure)),
                None => {
                    v.push("endpoint", "is required for web push");
                    None
                }
            };
            p256dh = match input.p256dh.as_deref().map(|k| (k, base64url(k))) {
                Some((k, Some(b)))
                    if b.len() == 65
                        && b[0] == 0x04
                        && web_push_native::p256::PublicKey::from_sec1_bytes(&b).is_ok() =>
                {
                    Some(k.trim().trim_end_matches('=').to_owned())
                }
                Some(_) => {
                    v.push("keys.p256dh", "must be an uncompressed P-256 public key, base64url (65 bytes)");
                    None
                }
                None => {
                    v.push("keys.p256dh", "is required for web push");
                    None
                }
            };
            auth = match input.auth.as_deref().map(|a| (a, base64url(a))) {
                Some((a, Some(b))) if b.len() == 16 => Some(a.trim().trim_end_matches('=').to_owned()),
                Some(_) => {
                    v.push("keys.auth", "must be a 16-byte secret, base64url");
                    None
                }
                None => {
                    v.push("keys.auth", "is required for web push");
                    None
                }
            };
        }
        Some(Platform::Fcm | Platform::Apns) => {
            let apns = platform == Some(Platform::Apns);
            target = match input.token.as_deref().map(str::trim) {
                Some(t) if apns && (64..=200).contains(&t.len()) && t.chars().all(|c| c.is_ascii_hexdigit()) => {
                    Some(t.to_ascii_lowercase())
                }
                Some(t)
                    if !apns
                        && (1..=4096).contains(&t.len())
                        && t.chars().all(|c| c.is_ascii_alphanumeric() || "-_:.".contains(c)) =>
                {
                    Some(t.to_owned())
                }
                Some(_) if apns => {
                    v.push("token", "must be an APNs device token (hexadecimal)");
                    None
                }
                Some(_) => {
                    v.push("token", "must be an FCM registration token");
                    None
                }
                None => {
                    v.push("token", "is required for fcm and apns");
                    None
                }
            };
        }
        None => v.push("platform", "must be one of: web, fcm, apns"),
    }
    let name = input.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 100) {
        v.push("name", "must be at most 100 characters");
    }
    let locale = input.locale.unwrap_or_else(|| "en".into());
    if locale.is_empty()
        || locale.len() > 16
        || !locale.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        v.push("locale", "must be a language tag such as en or de-AT");
    }
    v.finish().map_err(ApiError::Validation)?;
    let (Some(platform), Some(target)) = (platform, target) else {
        return Err(anyhow::anyhow!("validated platform or target missing").into());
    };

    let device = NewDevice { platform, target, p256dh, auth, name, locale };
    Ok(store::devices::register(db, user_id, device, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_to_public_hosts() {
        assert!(check_endpoint("https://fcm.googleapis.com/fcm/send/abc", false).is_ok());
        for bad in [
            "http://push.example.com/x",
            "https://127.0.0.1/x",
            "https://localhost:8443/x",
            "https://10.1.2.3/x",
            "https://172.16.0.1/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://100.64.0.1/x",
            "https://intranet/x",
            "https://printer.local/x",
            "https://user:pw@push.example.com/x",
            "ftp://push.example.com/x",
            "not a url",
        ] {
            assert!(check_endpoint(bad, false).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn insecure_mode_allows_http_and_loopback() {
        assert!(check_endpoint("http://127.0.0.1:9000/push/1", true).is_ok());
        assert!(check_endpoint("ftp://127.0.0.1/x", true).is_err());
    }
}
