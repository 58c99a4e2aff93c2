//! Daily stats per local day, the massage effect, and advisories from red-flag rules.

use milkflow_tests::{TestApp, on_both_databases, pump_body};
use serde_json::json;

on_both_databases!(
    daily_stats_count_sessions_and_volumes_per_local_day,
    daily_stats_refuse_bad_ranges,
    massage_effect_compares_the_users_sessions_and_flags_too_few,
    a_fever_gives_an_advisory_to_contact_a_clinician,
    no_symptoms_no_advisories,
);

async fn daily_stats_count_sessions_and_volumes_per_local_day(app: TestApp) {
    let (token, _) = app.signed_up().await;
    app.post_auth("/v1/pump-sessions", &pump_body(120, 60.0, 40.0), &token).await;
    app.post_auth("/v1/pump-sessions", &pump_body(60, 30.0, 30.0), &token).await;
    app.post_auth("/v1/massage-sessions", &milkflow_tests::massage_body(130), &token).await;
    let today = (chrono::Utc::now() - chrono::Duration::minutes(60)).date_naive();
    let earliest = (chrono::Utc::now() - chrono::Duration::minutes(130)).date_naive();
    let r = app
        .get(&format!("/v1/stats/daily?from={}&to={}", earliest - chrono::Duration::days(1), today), Some(&token))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let days = r.body["days"].as_array().unwrap();
    assert_eq!(days.len() as i64, (today - earliest).num_days() + 2);
    let sessions: u64 = days.iter().map(|d| d["pump_sessions"].as_u64().unwrap()).sum();
    let total: f64 = days.iter().map(|d| d["volume_total_ml"].as_f64().unwrap()).sum();
    let massages: u64 = days.iter().map(|d| d["massage_sessions"].as_u64().unwrap()).sum();
    assert_eq!((sessions, total, massages), (2, 160.0, 1));
    assert_eq!(days[0]["pump_sessions"], 0);
    let default = app.get("/v1/stats/daily", Some(&token)).await;
    assert_eq!(default.body["days"].as_array().unwrap().len(), 7);
    let instants = app.get("/v1/stats/daily?from=2027-01-01T10:00:00Z&to=2027-01-03T10:00:00Z", Some(&token)).await;
    assert_eq!(instants.body["days"].as_array().unwrap().len(), 3, "instants count as the user's local dates");
}

async fn daily_stats_refuse_bad_ranges(app: TestApp) {
    let (token, _) = app.signed_up().await;
    assert_eq!(app.get("/v1/stats/daily?from=2027-02-01&to=2027-01-01", Some(&token)).await.error_fields(), vec!["to"]);
    assert_eq!(
        app.get("/v1/stats/daily?from=2020-01-01&to=2027-01-01", Some(&token)).await.error_fields(),
        vec!["from"]
    );
    assert_eq!(app.get("/v1/stats/daily?from=01/02/2027", Some(&token)).await.error_fields(), vec!["from"]);
}

async fn massage_effect_compares_the_users_sessions_and_flags_too_few(app: TestApp) {
    let (token, _) = app.signed_up().await;
    for i in 0..5 {
        app.post_auth("/v1/pump-sessions", &pump_body(1000 + i * 60, 60.0, 60.0), &token).await;
    }
    for i in 0..4 {
        let mut body = pump_body(100 + i * 60, 45.0, 45.0);
        body["massage_before"] = json!(false);
        assert_eq!(app.post_auth("/v1/pump-sessions", &body, &token).await.status, 201);
    }
    let r = app.get("/v1/insights/massage-effect?days=30", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["with_massage"], json!({"sessions": 5, "average_volume_ml": 120.0}));
    assert_eq!(r.body["without_massage"], json!({"sessions": 4, "average_volume_ml": 90.0}));
    assert_eq!(r.body["difference_ml"], 30.0);
    assert_eq!(r.body["insufficient_data"], true);
    assert_eq!(app.get("/v1/insights/massage-effect?days=0", Some(&token)).await.error_fields(), vec!["days"]);
}

async fn a_fever_gives_an_advisory_to_contact_a_clinician(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let check = json!({"at": chrono::Utc::now().to_rfc3339(), "engorgement": 4, "pain": 6, "temperature_c": 38.4, "redness": true});
    let created = app.post_auth("/v1/symptom-checks", &check, &token).await;
    let r = app.get("/v1/advisories", Some(&token)).await;
    assert_eq!(r.status, 200);
    let advisories = r.body["advisories"].as_array().unwrap();
    assert_eq!(advisories.len(), 1, "{}", r.body);
    let a = &advisories[0];
    assert_eq!(a["rule"], "fever");
    assert!(a["message"].as_str().unwrap().contains("contact your lactation consultant or clinician"));
    assert_eq!(a["triggered_by"][0]["id"], created.body["id"]);
    assert!(a["sources"][0].as_str().unwrap().contains("Protocol #36"));
    assert!(r.body["disclaimer"].as_str().unwrap().contains("does not diagnose"));
}

async fn no_symptoms_no_advisories(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let check = json!({"at": chrono::Utc::now().to_rfc3339(), "engorgement": 2, "pain": 1, "temperature_c": 37.9});
    app.post_auth("/v1/symptom-checks", &check, &token).await;
    let r = app.get("/v1/advisories", Some(&token)).await;
    assert_eq!(r.body["advisories"], json!([]));
}
