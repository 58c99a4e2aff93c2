//! Every error is problem+json: 404, 405, 400, 415, 413, 422; health and readiness; the served OpenAPI document.

use milkflow_tests::{TestApp, on_both_databases};
use reqwest::Method;

on_both_databases!(
    unknown_route_is_a_404_problem,
    wrong_method_is_a_405_problem,
    malformed_json_is_a_400_problem,
    wrong_content_type_is_a_415_problem,
    body_over_64_kib_is_a_413_problem,
    missing_field_is_a_422_problem_naming_it,
    health_and_readiness_answer,
    readiness_is_503_when_the_database_is_gone,
    every_response_carries_a_request_id,
    served_openapi_is_the_committed_file,
    every_documented_operation_is_routed,
    metrics_count_requests_in_prometheus_format,
);

async fn unknown_route_is_a_404_problem(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let r = app.get("/v1/no-such-thing", Some(&token)).await;
    assert_eq!(r.assert_problem(404)["detail"], "no such route");
    app.get("/", None).await.assert_problem(404);
}

async fn wrong_method_is_a_405_problem(app: TestApp) {
    let r = app.send(Method::DELETE, "/v1/auth/login", None, None).await;
    r.assert_problem(405);
    assert_eq!(r.headers.get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    app.send(Method::PUT, "/v1/me", None, None).await.assert_problem(405);
}

async fn malformed_json_is_a_400_problem(app: TestApp) {
    let r = app.send_raw(Method::POST, "/v1/auth/login", "application/json", br#"{"email": "#.to_vec()).await;
    let body = r.assert_problem(400);
    assert!(body["detail"].as_str().unwrap().contains("malformed JSON"), "{body}");
}

async fn wrong_content_type_is_a_415_problem(app: TestApp) {
    let r =
        app.send_raw(Method::POST, "/v1/auth/login", "application/x-www-form-urlencoded", b"email=a".to_vec()).await;
    r.assert_problem(415);
    let r = app.send_raw(Method::POST, "/v1/auth/register", "text/plain", b"{}".to_vec()).await;
    r.assert_problem(415);
}

async fn body_over_64_kib_is_a_413_problem(app: TestApp) {
    let before = app.count("users", "1 = 1").await;
    let mut big = br#"{"email": ""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 200_000));
    big.extend(br#"@example.org", "password": "gentle-circles-42"}"#);
    app.send_raw(Method::POST, "/v1/auth/register", "application/json", big).await.assert_problem(413);
    assert_eq!(app.count("users", "1 = 1").await, before);
}

async fn missing_field_is_a_422_problem_naming_it(app: TestApp) {
    let r = app
        .send_raw(Method::POST, "/v1/auth/login", "application/json", br#"{"email": "a@example.org"}"#.to_vec())
        .await;
    assert_eq!(r.error_fields(), vec!["password"]);
    assert_eq!(r.body["errors"][0]["message"], "is required");
}

async fn health_and_readiness_answer(app: TestApp) {
    let h = app.get("/healthz", None).await;
    assert_eq!((h.status.as_u16(), h.body["status"].as_str()), (200, Some("ok")));
    let r = app.get("/readyz", None).await;
    assert_eq!((r.status.as_u16(), r.body["status"].as_str()), (200, Some("ready")));
}

async fn readiness_is_503_when_the_database_is_gone(app: TestApp) {
    // Closing the pool closes it for the server too: its database is now unreachable.
    app.db.clone().close().await.unwrap();
    app.get("/readyz", None).await.assert_problem(503);
    assert_eq!(app.get("/healthz", None).await.status, 200);
}

async fn every_response_carries_a_request_id(app: TestApp) {
    let ok = app.get("/healthz", None).await;
    let err = app.get("/nope", None).await;
    let id = |r: &milkflow_tests::Reply| r.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert!(id(&ok).is_some() && id(&err).is_some());
    assert_ne!(id(&ok), id(&err));
}

async fn served_openapi_is_the_committed_file(app: TestApp) {
    let r = app.client.get(format!("{}/openapi.yaml", app.address)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/yaml"));
    let served = r.text().await.unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml")).unwrap();
    assert_eq!(served, committed);
    assert!(served.contains("/v1/auth/login"));
}

async fn every_documented_operation_is_routed(app: TestApp) {
    use utoipa::OpenApi;
    let doc = api::openapi::ApiDoc::openapi();
    let mut checked = 0;
    for (path, item) in &doc.paths.paths {
        let operations = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ];
        for (method, documented) in operations.into_iter().filter(|(_, d)| *d) {
            let _ = documented;
            let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string()).replace("{slug}", "some-guide");
            let r = app.send_raw(method.clone(), &concrete, "application/json", b"{}".to_vec()).await;
            let unrouted = r.status == 405 || (r.status == 404 && r.body["detail"] == "no such route");
            assert!(!unrouted, "{method} {path} is documented but not routed: {} {}", r.status, r.body);
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} operations documented");
}

async fn metrics_count_requests_in_prometheus_format(app: TestApp) {
    app.get("/healthz", None).await;
    let r = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    assert!(text.contains("milkflow_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"), "{text}");
    assert!(
        text.contains("# TYPE milkflow_deliveries_total counter") || text.contains("milkflow_claim_batch_size"),
        "{text}"
    );
}
