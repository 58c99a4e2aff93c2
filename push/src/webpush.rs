//! Web Push (RFC 8030) with `aes128gcm` payload encryption (RFC 8291) and VAPID (RFC 8292), sent with reqwest.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use web_push_native::jwt_simple::prelude::{Claims, Duration as JwtDuration, ECDSAP256KeyPairLike};
use web_push_native::p256::PublicKey;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

use crate::vapid::VapidKeys;
use crate::{SendOutcome, retry_after};

/// Why a Web Push message could not even be built.
#[derive(Debug, thiserror::Error)]
pub enum WebPushError {
    #[error("the subscription is invalid: {0}")]
    InvalidSubscription(String),
    #[error("encrypting or signing failed: {0}")]
    Build(String),
    #[error("the request could not be converted: {0}")]
    Request(String),
}

/// A Web Push sender.
#[derive(Clone)]
pub struct WebPush {
    client: reqwest::Client,
    keys: Arc<VapidKeys>,
    /// Signed VAPID headers by origin: an ES256 signature per message would cost as much as the encryption.
    signed: Arc<Mutex<SignedHeaders>>,
    /// Whether `http://`, any port and internal hosts are allowed (development and tests only).
    allow_insecure: bool,
}

/// When each origin's `Authorization` header was signed, and the header.
type SignedHeaders = HashMap<String, (Instant, Arc<str>)>;

/// A browser's push subscription.
pub struct Subscription<'a> {
    pub endpoint: &'a str,
    pub p256dh: &'a str,
    pub auth: &'a str,
}

/// Urgency of reminders (RFC 8030 §5.3): a routine reminder is `normal`.
pub const URGENCY: &str = "normal";

/// How long a VAPID signature is valid (RFC 8292 allows at most 24 hours).
pub const VAPID_VALIDITY: Duration = Duration::from_secs(12 * 3600);

/// How long a signed VAPID header is reused for one origin: well inside its validity.
pub const VAPID_REUSE: Duration = Duration::from_secs(3600);

impl WebPush {
    /// A sender signing with `keys`, giving each request `timeout`; unless `allow_insecure`, names that
    /// resolve to internal addresses are not reached.
    pub fn new(keys: Arc<VapidKeys>, timeout: Duration, allow_insecure: bool) -> Self {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none());
        if !allow_insecure {
            builder = builder.dns_resolver(Arc::new(super::ssrf::PublicOnly));
        }
        let client = builder.build().unwrap_or_default();
        Self { client, keys, signed: Arc::default(), allow_insecure }
    }

    /// The `Authorization` header for an origin, signed at most once per [`VAPID_REUSE`].
    fn vapid_header(&self, origin: String) -> Result<Arc<str>, WebPushError> {
        let mut signed = self.signed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((at, header)) = signed.get(&origin)
            && at.elapsed() < VAPID_REUSE
        {
            return Ok(header.clone());
        }
        let claims = Claims::create(JwtDuration::from_secs(VAPID_VALIDITY.as_secs()))
            .with_audience(origin.clone())
            .with_subject(&self.keys.subject);
        let token = self.keys.key_pair.sign(claims).map_err(|e| WebPushError::Build(e.to_string()))?;
        let header: Arc<str> = format!("vapid t={token}, k={}", self.keys.public_key).into();
        if signed.len() >= 1024 {
            // Push services are a handful of origins; this only bounds what odd endpoints could pile up.
            signed.clear();
        }
        signed.insert(origin, (Instant::now(), header.clone()));
        Ok(header)
    }

    /// Encrypts `body` for the subscription (RFC 8291): what [`WebPush::build`] posts. It can be made ahead and
    /// posted later, or again: the keys are the subscription's own.
    pub fn encrypt(&self, sub: &Subscription<'_>, body: &[u8]) -> Result<Vec<u8>, WebPushError> {
        let p256dh = URL_SAFE_NO_PAD
            .decode(sub.p256dh.trim_end_matches('='))
            .ok()
            .filter(|b| PublicKey::from_sec1_bytes(b).is_ok())
            .ok_or_else(|| WebPushError::InvalidSubscription("p256dh".into()))?;
        let auth: [u8; 16] = URL_SAFE_NO_PAD
            .decode(sub.auth.trim_end_matches('='))
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| WebPushError::InvalidSubscription("auth".into()))?;
        let p256dh = match p256dh.len() {
            65 => p256dh,
            // A compressed point: the agreement takes the uncompressed form.
            _ => PublicKey::from_sec1_bytes(&p256dh)
                .map(|k| k.to_encoded_point(false).as_bytes().to_vec())
                .map_err(|_| WebPushError::InvalidSubscription("p256dh".into()))?,
        };
        super::ece::encrypt(body, &p256dh, &auth).map_err(|e| WebPushError::Build(e.to_string()))
    }

    /// Builds the signed request posting `encrypted` (from [`WebPush::encrypt`]) to `endpoint`. The VAPID JWT is
    /// built here rather than by the encryption crate: its `aud` must be the endpoint's origin including a
    /// non-default port (RFC 8292), and its `exp` is set apart from the message TTL.
    pub fn build(
        &self,
        endpoint: &str,
        encrypted: Vec<u8>,
        ttl: Duration,
        topic: Option<&str>,
    ) -> Result<reqwest::Request, WebPushError> {
        let endpoint =
            reqwest::Url::parse(endpoint).map_err(|e| WebPushError::InvalidSubscription(format!("endpoint: {e}")))?;
        // Checked again at every send: a stored endpoint may predate a rule (names are checked as they resolve).
        super::ssrf::check_url(&endpoint, self.allow_insecure)
            .map_err(|why| WebPushError::InvalidSubscription(format!("endpoint {why}")))?;
        let authorization = self.vapid_header(endpoint.origin().ascii_serialization())?;
        let ttl = ttl.min(Duration::from_secs(24 * 3600));
        let mut request = self
            .client
            .post(endpoint)
            .header("ttl", ttl.as_secs())
            .header("urgency", URGENCY)
            .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::AUTHORIZATION, &*authorization);
        if let Some(topic) = topic {
            request = request.header("topic", topic);
        }
        request.body(encrypted).build().map_err(|e| WebPushError::Request(e.to_string()))
    }

    /// Encrypts and sends one message, and classifies the answer.
    pub async fn send(&self, sub: &Subscription<'_>, body: &[u8], ttl: Duration, topic: Option<&str>) -> SendOutcome {
        match self.encrypt(sub, body) {
            Ok(encrypted) => self.post(sub.endpoint, encrypted, ttl, topic).await,
            Err(e) => SendOutcome::Failed { status: None, reason: e.to_string() },
        }
    }

    /// Sends a message encrypted ahead, and classifies the answer.
    pub async fn post(&self, endpoint: &str, encrypted: Vec<u8>, ttl: Duration, topic: Option<&str>) -> SendOutcome {
        let request = match self.build(endpoint, encrypted, ttl, topic) {
            Ok(r) => r,
            Err(e) => return SendOutcome::Failed { status: None, reason: e.to_string() },
        };
        match self.client.execute(request).await {
            Ok(response) => classify(response).await,
            Err(e) if e.is_timeout() || e.is_connect() => {
                SendOutcome::Retry { status: None, after: None, reason: format!("transport: {e}") }
            }
            Err(e) => SendOutcome::Retry { status: None, after: None, reason: format!("request: {e}") },
        }
    }
}

async fn classify(response: reqwest::Response) -> SendOutcome {
    let status = response.status().as_u16();
    let after = retry_after(response.headers().get(reqwest::header::RETRY_AFTER), SystemTime::now());
    let reason = || format!("push service answered {status}");
    match status {
        200..=299 => SendOutcome::Delivered,
        404 | 410 => SendOutcome::Gone { status, reason: reason() },
        // 408: it gave up waiting for our request, which may be sent again (RFC 9110, section 15.5.9).
        408 | 429 | 500..=599 => SendOutcome::Retry { status: Some(status), after, reason: reason() },
        _ => {
            let detail = crate::excerpt(&response.text().await.unwrap_or_default());
            SendOutcome::Failed { status: Some(status), reason: format!("{}: {detail}", reason()) }
        }
    }
}

/// A `Topic` (at most 32 base64url characters) that lets a push service replace an undelivered earlier
/// reminder of the same routine with this one.
pub fn topic_for(routine_id: uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(&routine_id.as_bytes()[..16])[..22].to_owned()
}
