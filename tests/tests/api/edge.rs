//! The API's edge: bounded metric labels, security headers, CORS, and input no database can store.

use milkflow_tests::{Db, TestApp, on_both_databases, spawn_app_with};
use reqwest::Method;
use serde_json::json;

on_both_databases!(
    invented_methods_add_no_metric_series,
    a_method_longer_than_any_real_one_is_refused_early,
    every_response_says_nosniff_and_data_is_not_stored_by_caches,
    a_nul_character_is_a_field_error_not_a_server_error,
    without_cors_origins_no_cors_headers_are_sent,
);

/// The number of `milkflow_http_requests_total` series in `/metrics`.
async fn request_series(app: &TestApp) -> usize {
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    text.lines().filter(|l| l.starts_with("milkflow_http_requests_total{")).count()
}

async fn send_method(app: &TestApp, method: &str, path: &str) -> reqwest::Response {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    app.client.request(method, format!("{}{path}", app.address)).send().await.unwrap()
}

async fn invented_methods_add_no_metric_series(app: TestApp) {
    // One invented method first: it opens the `other` series, which every later one shares.
    assert_eq!(send_method(&app, "ZZ00000", "/healthz").await.status(), 405);
    request_series(&app).await;
    let before = request_series(&app).await;
    for i in 0..1000 {
        send_method(&app, &format!("Z{i:06}"), "/healthz").await;
    }
    assert_eq!(request_series(&app).await, before, "1,000 invented methods must not add series");
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("milkflow_http_requests_total{method=\"other\",route=\"/healthz\",status=\"405\"} 1001"));
    assert!(!text.contains("Z000999"), "no invented token reaches the metrics");
}

async fn a_method_longer_than_any_real_one_is_refused_early(app: TestApp) {
    let r = send_method(&app, &"ZZMETHOD".repeat(100), "/v1/me").await;
    assert_eq!(r.status(), 501);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("ZZMETHOD"), "{text}");
}

async fn every_response_says_nosniff_and_data_is_not_stored_by_caches(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let login = app.login(milkflow_tests::ADMIN_EMAIL, milkflow_tests::ADMIN_PASSWORD).await;
    assert_eq!(login.headers["cache-control"], "no-store", "a response with tokens");
    for (path, token) in [("/v1/me", Some(token.as_str())), ("/v1/pump-sessions", Some(&token)), ("/healthz", None)] {
        let r = app.get(path, token).await;
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(r.headers["cache-control"], "no-store", "{path}");
    }
    let missing = app.get("/v1/no-such-route", None).await;
    assert_eq!(missing.headers["x-content-type-options"], "nosniff");
}

async fn a_nul_character_is_a_field_error_not_a_server_error(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let login = app.post("/v1/auth/login", &json!({"email": "mo\u{0}ther@example.org", "password": "x"})).await;
    assert_eq!(login.error_fields(), vec!["email"]);
    let r =
        app.post("/v1/auth/register", &json!({"email": "mo\u{0}ther@example.org", "password": "long-enough-1"})).await;
    assert_eq!(r.error_fields(), vec!["email"]);
    for email in ["<mother@example.org>", "Mother <m@example.org>", "mo ther@example.org", "mo\tther@example.org"] {
        let r = app.post("/v1/auth/register", &json!({"email": email, "password": "long-enough-1"})).await;
        assert_eq!(r.error_fields(), vec!["email"], "{email:?}");
    }
    let mut body = milkflow_tests::pump_body(30, 10.0, 10.0);
    body["notes"] = json!("before\u{0}after");
    assert_eq!(app.post_auth("/v1/pump-sessions", &body, &token).await.error_fields(), vec!["notes"]);
    let listed = app.get("/v1/pump-sessions?cursor=%00", Some(&token)).await;
    assert_eq!(listed.error_fields(), vec!["cursor"]);
    let admin = app.login(milkflow_tests::ADMIN_EMAIL, milkflow_tests::ADMIN_PASSWORD).await;
    let admin_token = admin.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/admin/v1/users?email_prefix=a%00b", Some(admin_token)).await.error_fields(),
        vec!["email_prefix"]
    );
}

async fn without_cors_origins_no_cors_headers_are_sent(app: TestApp) {
    let r = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("origin", "https://app.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

async fn cors(kind: Db) {
    let origins = "https://app.example.org,https://admin.example.org";
    let Some(app) = spawn_app_with(kind, &[("MILKFLOW_CORS_ORIGINS", origins)]).await else { return };
    let preflight = app
        .client
        .request(Method::OPTIONS, format!("{}/v1/pump-sessions", app.address))
        .header("origin", "https://app.example.org")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "authorization, if-match, content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.org");
    let allowed = h["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    for header in ["authorization", "if-match", "content-type"] {
        assert!(allowed.contains(header), "{allowed}");
    }
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("PUT"));

    let (token, _) = app.signed_up().await;
    let r = app
        .client
        .get(format!("{}/v1/pump-sessions", app.address))
        .bearer_auth(&token)
        .header("origin", "https://admin.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://admin.example.org");
    let exposed = r.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase();
    for header in ["etag", "retry-after", "location"] {
        assert!(exposed.contains(header), "{exposed}");
    }

    let foreign = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("origin", "https://evil.example.org")
        .send()
        .await
        .unwrap();
    assert!(foreign.headers().get("access-control-allow-origin").is_none(), "another origin gets no CORS headers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_origins_get_cors_preflight_and_exposed_headers_sqlite() {
    cors(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_origins_get_cors_preflight_and_exposed_headers_postgres() {
    cors(Db::Postgres).await;
}
