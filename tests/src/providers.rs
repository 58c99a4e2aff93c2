//! FCM and APNs stand-ins on 127.0.0.1: they verify the JWTs they receive (RS256 with the `rsa` crate,
//! ES256 with `p256`), check the protocol headers and answer with the providers' real error shapes.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A message a stand-in accepted or refused.
#[derive(Debug, Clone)]
pub struct Message {
    pub token: String,
    pub status: u16,
    pub body: Value,
    pub problem: Option<String>,
}

/// A scripted answer: status, provider error code, Retry-After seconds.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub code: &'static str,
    pub retry_after: Option<u64>,
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Answer>,
    messages: Vec<Message>,
    tokens_issued: Vec<String>,
}

fn claims_of(jwt: &str) -> Option<(Value, Value, Vec<u8>, String)> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return None;
    }
    let header = serde_json::from_slice(&B64.decode(parts[0]).ok()?).ok()?;
    let claims = serde_json::from_slice(&B64.decode(parts[1]).ok()?).ok()?;
    Some((header, claims, B64.decode(parts[2]).ok()?, format!("{}.{}", parts[0], parts[1])))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The FCM HTTP v1 stand-in: an OAuth2 token endpoint and `messages:send`.
pub struct FcmStandIn {
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    handle: actix_web::dev::ServerHandle,
}

/// The service-account JSON pointing at a stand-in.
pub fn service_account(base: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "milkflow-test",
        "private_key_id": "test-key-1",
        "private_key": include_str!("../fixtures/fcm-test-key.pem"),
        "client_email": "push@milkflow-test.iam.gserviceaccount.com",
        "token_uri": format!("{base}/token"),
    })
    .to_string()
}

impl FcmStandIn {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let shared = Arc::new(Mutex::new(Shared::default()));
        let data = web::Data::from(shared.clone());
        let token_uri = web::Data::new(format!("{base}/token"));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(token_uri.clone())
                .route("/token", web::post().to(fcm_token))
                .route("/v1/projects/{project}/messages:send", web::post().to(fcm_send))
        })
        .listen(listener)
        .expect("listen")
        .workers(1)
        .disable_signals()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { base, shared, handle }
    }

    /// Answers the next messages with these, in order (then 200 again).
    pub fn script(&self, answers: &[Answer]) {
        self.shared.lock().unwrap().script.extend(answers.iter().cloned());
    }

    pub fn messages(&self) -> Vec<Message> {
        self.shared.lock().unwrap().messages.clone()
    }

    /// How many access tokens were issued (the sender should cache them).
    pub fn tokens_issued(&self) -> usize {
        self.shared.lock().unwrap().tokens_issued.len()
    }
}

impl Drop for FcmStandIn {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn verify_rs256(jwt: &str) -> Result<Value, String> {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    let (header, claims, signature, signed) = claims_of(jwt).ok_or("not a JWT")?;
    if header["alg"] != "RS256" || header["kid"] != "test-key-1" {
        return Err(format!("header {header}"));
    }
    let key = rsa::RsaPublicKey::from_public_key_pem(include_str!("../fixtures/fcm-test-key.pub.pem"))
        .map_err(|e| e.to_string())?;
    let signature = Signature::try_from(signature.as_slice()).map_err(|e| e.to_string())?;
    VerifyingKey::<sha2::Sha256>::new(key)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "RS256 signature does not verify")?;
    Ok(claims)
}

async fn fcm_token(
    form: web::Form<std::collections::HashMap<String, String>>,
    shared: web::Data<Mutex<Shared>>,
    token_uri: web::Data<String>,
) -> HttpResponse {
    let refuse =
        |why: String| HttpResponse::BadRequest().json(json!({"error": "invalid_grant", "error_description": why}));
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return refuse("grant_type".into());
    }
    let claims = match verify_rs256(form.get("assertion").map(String::as_str).unwrap_or("")) {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    let ok = claims["iss"] == "push@milkflow-test.iam.gserviceaccount.com"
        && claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
        && claims["aud"] == token_uri.as_str()
        && claims["exp"].as_i64().zip(claims["iat"].as_i64()).is_some_and(|(e, i)| e > now() && e - i <= 3600);
    if !ok {
        return refuse(format!("claims {claims}"));
    }
    let mut st = shared.lock().unwrap();
    let token = format!("ya29.stand-in-{}", st.tokens_issued.len() + 1);
    st.tokens_issued.push(token.clone());
    HttpResponse::Ok().json(json!({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}))
}

async fn fcm_send(req: HttpRequest, body: web::Json<Value>, shared: web::Data<Mutex<Shared>>) -> HttpResponse {
    let mut st = shared.lock().unwrap();
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let token = body["message"]["token"].as_str().unwrap_or("").to_owned();
    let data_all_strings = body["message"]["data"].as_object().is_some_and(|d| d.values().all(Value::is_string));
    let problem = if !st.tokens_issued.iter().any(|t| t == bearer) {
        Some((401, "UNAUTHENTICATED", "the access token is not one the token endpoint issued"))
    } else if !data_all_strings {
        Some((400, "INVALID_ARGUMENT", "data values must be strings"))
    } else if body["message"]["notification"]["title"].as_str().is_none_or(str::is_empty) {
        Some((400, "INVALID_ARGUMENT", "notification.title is missing"))
    } else {
        None
    };
    let answer = match problem {
        Some((status, code, _)) => Answer { status, code, retry_after: None },
        None => st.script.pop_front().unwrap_or(Answer { status: 200, code: "", retry_after: None }),
    };
    st.messages.push(Message {
        token,
        status: answer.status,
        body: body.into_inner(),
        problem: problem.map(|p| p.2.to_owned()),
    });
    if answer.status == 200 {
        return HttpResponse::Ok().json(json!({"name": "projects/milkflow-test/messages/0:1"}));
    }
    let status_name = match answer.status {
        404 => "NOT_FOUND",
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(answer.status).unwrap());
    if let Some(s) = answer.retry_after {
        response.insert_header(("Retry-After", s.to_string()));
    }
    response.json(json!({"error": {"code": answer.status, "message": "stand-in", "status": status_name,
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": answer.code}]}}))
}

/// The APNs stand-in, speaking HTTP/2 without TLS (prior knowledge).
pub struct ApnsStandIn {
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    handle: actix_web::dev::ServerHandle,
    /// The `.p8` key the sender must sign with (PKCS#8 PEM).
    pub key_pem: String,
}

pub const APNS_KEY_ID: &str = "KEYID12345";
pub const APNS_TEAM_ID: &str = "TEAMID1234";
pub const APNS_TOPIC: &str = "app.milkflow.ios";

struct ApnsExpect {
    public: p256::PublicKey,
}

impl ApnsStandIn {
    /// Starts on a free port with a fresh signing key.
    pub async fn start() -> Self {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let key_pem = secret.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let shared = Arc::new(Mutex::new(Shared::default()));
        let data = web::Data::from(shared.clone());
        let expect = web::Data::new(ApnsExpect { public: secret.public_key() });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(expect.clone())
                .route("/3/device/{token}", web::post().to(apns_send))
        })
        .listen_auto_h2c(listener)
        .expect("listen")
        .workers(1)
        .disable_signals()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { base, shared, handle, key_pem }
    }

    pub fn script(&self, answers: &[Answer]) {
        self.shared.lock().unwrap().script.extend(answers.iter().cloned());
    }

    pub fn messages(&self) -> Vec<Message> {
        self.shared.lock().unwrap().messages.clone()
    }
}

impl Drop for ApnsStandIn {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn check_apns(req: &HttpRequest, expect: &ApnsExpect) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier;
    if req.version() != actix_web::http::Version::HTTP_2 {
        return Err(format!("APNs speaks HTTP/2 only, got {:?}", req.version()));
    }
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let jwt = header("authorization")
        .strip_prefix("bearer ")
        .ok_or("authorization is not a bearer provider token")?
        .to_owned();
    let (jwt_header, claims, signature, signed) = claims_of(&jwt).ok_or("not a JWT")?;
    if jwt_header["alg"] != "ES256" || jwt_header["kid"] != APNS_KEY_ID {
        return Err(format!("provider token header {jwt_header}"));
    }
    let signature = p256::ecdsa::Signature::from_slice(&signature).map_err(|_| "signature shape")?;
    p256::ecdsa::VerifyingKey::from(&expect.public)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "ES256 signature does not verify")?;
    if claims["iss"] != APNS_TEAM_ID || claims["iat"].as_i64().is_none_or(|iat| now() - iat > 3600 || iat > now() + 60)
    {
        return Err(format!("provider token claims {claims}"));
    }
    if header("apns-topic") != APNS_TOPIC || header("apns-push-type") != "alert" {
        return Err("apns-topic or apns-push-type".into());
    }
    if header("apns-expiration").parse::<i64>().is_err()
        || header("apns-collapse-id").is_empty()
        || header("apns-collapse-id").len() > 64
    {
        return Err("apns-expiration or apns-collapse-id".into());
    }
    Ok(())
}

async fn apns_send(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
    shared: web::Data<Mutex<Shared>>,
    expect: web::Data<ApnsExpect>,
) -> HttpResponse {
    let problem = check_apns(&req, &expect).err();
    let mut st = shared.lock().unwrap();
    let answer = match &problem {
        Some(_) => Answer { status: 403, code: "InvalidProviderToken", retry_after: None },
        None => st.script.pop_front().unwrap_or(Answer { status: 200, code: "", retry_after: None }),
    };
    st.messages.push(Message { token: path.into_inner(), status: answer.status, body: body.into_inner(), problem });
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(answer.status).unwrap());
    response.insert_header(("apns-id", uuid::Uuid::new_v4().to_string()));
    if answer.status == 200 {
        return response.finish();
    }
    if let Some(s) = answer.retry_after {
        response.insert_header(("Retry-After", s.to_string()));
    }
    let mut body = json!({"reason": answer.code});
    if answer.status == 410 {
        body["timestamp"] = json!(chrono::Utc::now().timestamp_millis());
    }
    response.json(body)
}
