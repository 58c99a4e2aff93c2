//! Published guides and tips, seeded from current guidance; a massage session may name only a real guide.

use milkflow_tests::{TestApp, massage_body, on_both_databases};
use serde_json::json;

on_both_databases!(
    seeded_guides_are_listed_with_steps_durations_and_sources,
    a_guide_is_found_by_slug_with_english_fallback,
    tips_are_published_advice,
    a_massage_session_may_name_only_a_published_guide,
);

async fn seeded_guides_are_listed_with_steps_durations_and_sources(app: TestApp) {
    let r = app.get("/v1/guides", None).await;
    assert_eq!(r.status, 200);
    let slugs: Vec<&str> = r.body.as_array().unwrap().iter().map(|g| g["slug"].as_str().unwrap()).collect();
    assert!(slugs.contains(&"gentle-everyday-massage") && slugs.contains(&"before-pumping-massage"), "{slugs:?}");
    for g in r.body.as_array().unwrap() {
        let steps = g["steps"].as_array().unwrap();
        assert!(steps.len() >= 3);
        let total: u64 = steps.iter().map(|s| s["duration_s"].as_u64().unwrap()).sum();
        assert_eq!(g["total_duration_s"].as_u64(), Some(total));
        assert!(!g["sources"].as_array().unwrap().is_empty());
    }
}

async fn a_guide_is_found_by_slug_with_english_fallback(app: TestApp) {
    let r = app.get("/v1/guides/gentle-everyday-massage?locale=de-AT", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["locale"], "en");
    let text = r.body.to_string().to_lowercase();
    assert!(text.contains("outer") && text.contains("nipple") && text.contains("never so much that it hurts"));
    app.get("/v1/guides/deep-tissue-massage", None).await.assert_problem(404);
    assert_eq!(app.get("/v1/guides?locale=e%20n", None).await.error_fields(), vec!["locale"]);
}

async fn tips_are_published_advice(app: TestApp) {
    let r = app.get("/v1/tips?limit=100", None).await;
    assert_eq!(r.status, 200);
    let tips = r.body.as_array().unwrap();
    assert!(tips.len() >= 5);
    assert!(tips.iter().any(|t| t["text"].as_str().unwrap().contains("4 hours at room temperature")));
    assert_eq!(app.get("/v1/tips?limit=2", None).await.body.as_array().unwrap().len(), 2);
}

async fn a_massage_session_may_name_only_a_published_guide(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let mut body = massage_body(10);
    body["guide"] = json!("before-pumping-massage");
    assert_eq!(app.post_auth("/v1/massage-sessions", &body, &token).await.status, 201);
    body["guide"] = json!("no-such-guide");
    assert_eq!(app.post_auth("/v1/massage-sessions", &body, &token).await.error_fields(), vec!["guide"]);
}
