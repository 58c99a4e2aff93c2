//! A Web Push service stand-in on 127.0.0.1: it checks each request's VAPID JWT (signature with `p256`,
//! claims by hand) and decrypts the `aes128gcm` payload with its own RFC 8291 code, independent of the
//! product's encryption, then answers as scripted (201 by default).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use serde_json::Value;
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// One accepted or refused push request, as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub subscription: String,
    pub status: u16,
    /// The decrypted payload (JSON), when the request was valid.
    pub payload: Option<Value>,
    pub claims: Option<Value>,
    pub headers: HashMap<String, String>,
    /// Why the stand-in refused the request, if it did.
    pub problem: Option<String>,
}

/// A scripted answer: a status and an optional `Retry-After` in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Scripted {
    pub status: u16,
    pub retry_after: Option<u64>,
}

struct Subscription {
    secret: SecretKey,
    auth: [u8; 16],
}

#[derive(Default)]
struct State {
    subscriptions: HashMap<String, Subscription>,
    script: HashMap<String, VecDeque<Scripted>>,
    received: Vec<Received>,
}

/// The stand-in server.
pub struct WebPushStandIn {
    pub base: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

struct Expect {
    vapid_public_key: String,
    subject: String,
    origin: String,
}

/// A subscription a browser would hand to the app.
pub struct NewSubscription {
    pub id: String,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

impl WebPushStandIn {
    /// Starts on a free port, expecting VAPID signatures by `vapid_public_key` with `subject`.
    pub async fn start(vapid_public_key: &str, subject: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind stand-in");
        let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let state = Arc::new(Mutex::new(State::default()));
        let expect = web::Data::new(Expect {
            vapid_public_key: vapid_public_key.into(),
            subject: subject.into(),
            origin: base.clone(),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(expect.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .route("/push/{id}", web::post().to(receive))
        })
        .listen(listener)
        .expect("listen")
        .workers(1)
        .disable_signals()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { base, state, handle }
    }

    /// A new browser subscription (fresh P-256 key pair and auth secret).
    pub fn subscribe(&self) -> NewSubscription {
        let secret = SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let mut auth = [0u8; 16];
        p256::elliptic_curve::rand_core::RngCore::fill_bytes(&mut p256::elliptic_curve::rand_core::OsRng, &mut auth);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let p256dh = B64.encode(secret.public_key().to_encoded_point(false).as_bytes());
        let sub = NewSubscription {
            endpoint: format!("{}/push/{id}", self.base),
            p256dh,
            auth: B64.encode(auth),
            id: id.clone(),
        };
        self.state.lock().unwrap().subscriptions.insert(id, Subscription { secret, auth });
        sub
    }

    /// Answers the next requests for `subscription` with these, in order (then 201 again).
    pub fn script(&self, subscription: &str, answers: &[Scripted]) {
        self.state.lock().unwrap().script.entry(subscription.into()).or_default().extend(answers.iter().copied());
    }

    /// Forgets the scripted answers not yet given: every subscription is accepted again.
    pub fn unscript(&self) {
        self.state.lock().unwrap().script.clear();
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Payloads of accepted (2xx) requests.
    pub fn delivered(&self) -> Vec<Value> {
        self.received().into_iter().filter(|r| (200..300).contains(&r.status)).filter_map(|r| r.payload).collect()
    }
}

impl Drop for WebPushStandIn {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn receive(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
    expect: web::Data<Expect>,
) -> HttpResponse {
    let id = path.into_inner();
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned())))
        .collect();
    let checked = check(&req, &body, &id, &state, &expect);
    let mut st = state.lock().unwrap();
    let (status, retry_after, payload, claims, problem) = match checked {
        Ok((payload, claims)) => {
            let scripted = st
                .script
                .get_mut(&id)
                .and_then(VecDeque::pop_front)
                .unwrap_or(Scripted { status: 201, retry_after: None });
            (scripted.status, scripted.retry_after, Some(payload), Some(claims), None)
        }
        Err((status, problem)) => (status, None, None, None, Some(problem)),
    };
    st.received.push(Received { subscription: id, status, payload, claims, headers, problem: problem.clone() });
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(seconds) = retry_after {
        response.insert_header(("Retry-After", seconds.to_string()));
    }
    if status >= 400 {
        // What a real service says about itself, which must never reach the account.
        return response.body(format!("{PUSH_SERVICE_DETAIL}: {}", problem.as_deref().unwrap_or("scripted")));
    }
    response.finish()
}

/// The start of every error body of the stand-in.
pub const PUSH_SERVICE_DETAIL: &str = "push-service internals: shard eu-7";

type Checked = Result<(Value, Value), (u16, String)>;

fn check(req: &HttpRequest, body: &[u8], id: &str, state: &Mutex<State>, expect: &Expect) -> Checked {
    let bad = |status: u16, why: &str| Err((status, why.to_owned()));
    let ttl = header(req, "ttl").and_then(|t| t.parse::<u64>().ok());
    if ttl.is_none() {
        return bad(400, "TTL header missing");
    }
    if header(req, "content-encoding").as_deref() != Some("aes128gcm") {
        return bad(415, "Content-Encoding must be aes128gcm");
    }
    if let Some(u) = header(req, "urgency")
        && !["very-low", "low", "normal", "high"].contains(&u.as_str())
    {
        return bad(400, "bad Urgency");
    }
    if let Some(t) = header(req, "topic")
        && (t.len() > 32 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return bad(400, "bad Topic");
    }
    let claims = match verify_vapid(header(req, "authorization").as_deref().unwrap_or(""), expect) {
        Ok(c) => c,
        Err(e) => return bad(403, &e),
    };
    let st = state.lock().unwrap();
    let Some(sub) = st.subscriptions.get(id) else { return bad(404, "no such subscription") };
    let plaintext = match decrypt(body, &sub.secret, &sub.auth) {
        Ok(p) => p,
        Err(e) => return bad(400, &e),
    };
    if plaintext.len() > 3993 {
        return bad(413, "payload too large");
    }
    match serde_json::from_slice(&plaintext) {
        Ok(payload) => Ok((payload, claims)),
        Err(_) => bad(400, "payload is not JSON"),
    }
}

/// RFC 8292: `vapid t=<JWT>, k=<public key>`, ES256 over the JWT, `aud` the origin, `exp` within 24 hours, `sub`.
fn verify_vapid(authorization: &str, expect: &Expect) -> Result<Value, String> {
    let rest = authorization.strip_prefix("vapid ").ok_or("Authorization is not vapid")?;
    let mut t = None;
    let mut k = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("t=") {
            t = Some(v);
        } else if let Some(v) = part.strip_prefix("k=") {
            k = Some(v);
        }
    }
    let (t, k) = (t.ok_or("no t=")?, k.ok_or("no k=")?);
    if k.trim_end_matches('=') != expect.vapid_public_key {
        return Err("k= is not the server's VAPID key".into());
    }
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() != 3 {
        return Err("JWT is not three parts".into());
    }
    let header: Value =
        serde_json::from_slice(&B64.decode(parts[0]).map_err(|_| "header b64")?).map_err(|_| "header json")?;
    if header["alg"] != "ES256" {
        return Err("alg is not ES256".into());
    }
    let key =
        VerifyingKey::from_sec1_bytes(&B64.decode(k).map_err(|_| "k b64")?).map_err(|_| "k is not a P-256 key")?;
    let signature =
        Signature::from_slice(&B64.decode(parts[2]).map_err(|_| "sig b64")?).map_err(|_| "signature shape")?;
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).map_err(|_| "signature does not verify")?;
    let claims: Value =
        serde_json::from_slice(&B64.decode(parts[1]).map_err(|_| "claims b64")?).map_err(|_| "claims json")?;
    if claims["aud"] != expect.origin.as_str() {
        return Err(format!("aud {} is not the endpoint's origin {}", claims["aud"], expect.origin));
    }
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().ok_or("no exp")?;
    if exp <= now || exp > now + 24 * 3600 {
        return Err("exp is not within the next 24 hours".into());
    }
    if claims["sub"] != expect.subject.as_str() {
        return Err("sub is not the configured subject".into());
    }
    Ok(claims)
}

/// RFC 8291 with RFC 8188 `aes128gcm` (one record): the user agent's side.
pub fn decrypt(body: &[u8], ua_secret: &SecretKey, auth: &[u8; 16]) -> Result<Vec<u8>, String> {
    if body.len() < 21 {
        return Err("body shorter than the aes128gcm header".into());
    }
    let salt = &body[..16];
    let idlen = body[20] as usize;
    if idlen != 65 || body.len() < 21 + idlen + 17 {
        return Err("keyid is not a 65-byte P-256 point".into());
    }
    let as_public_bytes = &body[21..21 + idlen];
    let ciphertext = &body[21 + idlen..];
    let as_public = PublicKey::from_sec1_bytes(as_public_bytes).map_err(|_| "keyid is not a P-256 point")?;
    let shared = p256::ecdh::diffie_hellman(ua_secret.to_nonzero_scalar(), as_public.as_affine());
    let ua_public = ua_secret.public_key().to_encoded_point(false);
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(ua_public.as_bytes());
    key_info.extend_from_slice(as_public_bytes);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes()).expand(&key_info, &mut ikm).map_err(|_| "hkdf ikm")?;
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(|_| "hkdf cek")?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(|_| "hkdf nonce")?;
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| "cek")?;
    let mut plain = cipher.decrypt(&Nonce::from(nonce), ciphertext).map_err(|_| "decryption failed")?;
    let end = plain.iter().rposition(|b| *b != 0).ok_or("no padding delimiter")?;
    if plain[end] != 2 {
        return Err("last record must end with the 0x02 delimiter".into());
    }
    plain.truncate(end);
    Ok(plain)
}
