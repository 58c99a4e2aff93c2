//! Access tokens: tampered, expired, foreign, unsigned tokens get 401; `AdminUser` refuses non-admins with 403.

use actix_web::{App, HttpResponse, test, web};
use api::auth::{AdminUser, JwtKeys};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use milkflow_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TEST_JWT_SECRET, TestApp, on_both_databases};
use serde_json::{Value, json};
use sha2::Sha256;

on_both_databases!(
    tampered_token_is_unauthorized,
    expired_token_is_unauthorized,
    token_for_another_audience_or_issuer_is_unauthorized,
    unsigned_alg_none_token_is_unauthorized,
    token_signed_with_another_key_is_unauthorized,
    token_of_a_user_that_does_not_exist_is_unauthorized,
    token_made_to_live_longer_than_the_lifetime_is_unauthorized,
    admin_extractor_admits_admins_and_refuses_users,
);

fn claims_of(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn forge(header: Value, claims: &Value, key: Option<&[u8]>) -> String {
    let signing_input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let signature = match key {
        Some(k) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(k).unwrap();
            mac.update(signing_input.as_bytes());
            B64.encode(mac.finalize().into_bytes())
        }
        None => String::new(),
    };
    format!("{signing_input}.{signature}")
}

fn hs256() -> Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

async fn tampered_token_is_unauthorized(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let mut claims = claims_of(&token);
    claims["role"] = "admin".into();
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], B64.encode(claims.to_string()), parts[2]);
    app.get("/v1/me", Some(&tampered)).await.assert_problem(401);
    // The untouched token and a correctly re-signed copy still work, so the refusal above is the tampering.
    assert_eq!(app.get("/v1/me", Some(&token)).await.status, 200);
    let resigned = forge(hs256(), &claims_of(&token), Some(TEST_JWT_SECRET.as_bytes()));
    assert_eq!(app.get("/v1/me", Some(&resigned)).await.status, 200);
}

async fn expired_token_is_unauthorized(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let mut claims = claims_of(&token);
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = (now - 7200).into();
    claims["exp"] = (now - 3600).into();
    app.get("/v1/me", Some(&forge(hs256(), &claims, Some(TEST_JWT_SECRET.as_bytes())))).await.assert_problem(401);
}

async fn token_for_another_audience_or_issuer_is_unauthorized(app: TestApp) {
    let (token, _) = app.signed_up().await;
    for (claim, value) in [("aud", "another-service"), ("iss", "someone-else")] {
        let mut claims = claims_of(&token);
        claims[claim] = value.into();
        let forged = forge(hs256(), &claims, Some(TEST_JWT_SECRET.as_bytes()));
        app.get("/v1/me", Some(&forged)).await.assert_problem(401);
    }
}

async fn unsigned_alg_none_token_is_unauthorized(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let forged = forge(json!({"alg": "none", "typ": "JWT"}), &claims_of(&token), None);
    app.get("/v1/me", Some(&forged)).await.assert_problem(401);
}

async fn token_signed_with_another_key_is_unauthorized(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let forged = forge(hs256(), &claims_of(&token), Some(b"guess"));
    app.get("/v1/me", Some(&forged)).await.assert_problem(401);
}

async fn token_of_a_user_that_does_not_exist_is_unauthorized(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let mut claims = claims_of(&token);
    claims["sub"] = uuid::Uuid::new_v4().to_string().into();
    app.get("/v1/me", Some(&forge(hs256(), &claims, Some(TEST_JWT_SECRET.as_bytes())))).await.assert_problem(401);
}

async fn token_made_to_live_longer_than_the_lifetime_is_unauthorized(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let claims = claims_of(&token);
    let key = Some(TEST_JWT_SECRET.as_bytes());
    assert_eq!(app.get("/v1/me", Some(&forge(hs256(), &claims, key))).await.status, 200, "the same claims pass");
    let mut long = claims.clone();
    long["exp"] = (claims["iat"].as_i64().unwrap() + 30 * 24 * 3600).into();
    app.get("/v1/me", Some(&forge(hs256(), &long, key))).await.assert_problem(401);
    let mut no_iat = claims;
    no_iat.as_object_mut().unwrap().remove("iat");
    app.get("/v1/me", Some(&forge(hs256(), &no_iat, key))).await.assert_problem(401);
}

async fn admin_extractor_admits_admins_and_refuses_users(app: TestApp) {
    let state = web::Data::new(api::AppState {
        db: app.db.clone(),
        writes: store::writes::Writes::start(app.db.clone(), Default::default()).await.unwrap(),
        jwt: JwtKeys::new(&secrecy::SecretString::from(TEST_JWT_SECRET)),
        openapi_yaml: String::new(),
        vapid_public_key: String::new(),
        push_allow_insecure: false,
        metrics: Default::default(),
        registry: Default::default(),
        auth_limits: api::ratelimit::AuthLimits::new(api::ratelimit::LimitStore::Database(app.db.clone()), 0, 0),
        trusted_proxies: Vec::new(),
        accounts: Default::default(),
        pages: Default::default(),
        change_numbers: store::seqs::ChangeNumbers::start(app.db.clone()),
        public_url: "http://localhost".into(),
    });
    let service = test::init_service(App::new().app_data(state).route(
        "/admin-only",
        web::get().to(|admin: AdminUser| async move { HttpResponse::Ok().body(admin.0.user.id.to_string()) }),
    ))
    .await;
    let call = |token: Option<String>| {
        let mut req = test::TestRequest::get().uri("/admin-only");
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        req.to_request()
    };
    let user_token = app.signed_up().await.0;
    let admin_token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();

    let as_user = test::call_service(&service, call(Some(user_token))).await;
    assert_eq!(as_user.status(), 403);
    assert_eq!(as_user.headers().get("content-type").unwrap(), "application/problem+json");
    let problem: Value = serde_json::from_slice(&test::read_body(as_user).await).unwrap();
    assert_eq!(problem["status"], 403);
    let as_nobody = test::call_service(&service, call(None)).await;
    assert_eq!(as_nobody.status(), 401);
    let as_admin = test::call_service(&service, call(Some(admin_token.clone()))).await;
    assert_eq!(as_admin.status(), 200);
    let admin_id = app.get("/v1/me", Some(&admin_token)).await.body["id"].as_str().unwrap().to_owned();
    assert_eq!(test::read_body(as_admin).await, admin_id.as_bytes());
}
