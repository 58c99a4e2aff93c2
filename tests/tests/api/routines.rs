//! Routines: CRUD through the shared record rules, and upcoming fire instants from the shared recurrence,
//! exact across daylight saving, honouring quiet hours and the user's last session.

use milkflow_tests::{TestApp, on_both_databases, pump_body};
use reqwest::Method;
use serde_json::json;

on_both_databases!(
    upcoming_fires_follow_berlin_daylight_saving,
    after_last_routine_counts_from_the_last_pump_session,
    upcoming_honours_quiet_hours,
    invalid_routine_is_refused_naming_every_field,
    upcoming_of_another_users_routine_is_not_found_and_count_is_bounded,
);

async fn berlin_user(app: &TestApp) -> String {
    let email = milkflow_tests::unique_email();
    let r = app
        .post(
            "/v1/auth/register",
            &json!({"email": email, "password": milkflow_tests::PASSWORD, "timezone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = app.login(&email, milkflow_tests::PASSWORD).await;
    r.body["access_token"].as_str().unwrap().to_owned()
}

async fn upcoming_fires_follow_berlin_daylight_saving(app: TestApp) {
    let token = berlin_user(&app).await;
    let routine = json!({"name": "Night pump", "kind": "pump", "schedule": {"type": "times", "times": ["02:30"]}});
    let created = app.post_auth("/v1/routines", &routine, &token).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["days"].as_array().unwrap().len(), 7);
    let id = created.body["id"].as_str().unwrap();
    let spring = app.get(&format!("/v1/routines/{id}/upcoming?count=3&from=2027-03-27T00:00:00Z"), Some(&token)).await;
    assert_eq!(spring.status, 200, "{}", spring.body);
    let locals: Vec<&str> =
        spring.body["fires"].as_array().unwrap().iter().map(|f| f["local"].as_str().unwrap()).collect();
    assert_eq!(locals, vec!["2027-03-27T02:30:00+01:00", "2027-03-28T03:00:00+02:00", "2027-03-29T02:30:00+02:00"]);
    let autumn = app.get(&format!("/v1/routines/{id}/upcoming?count=2&from=2027-10-30T12:00:00Z"), Some(&token)).await;
    let at: Vec<&str> = autumn.body["fires"].as_array().unwrap().iter().map(|f| f["at"].as_str().unwrap()).collect();
    assert_eq!(at, vec!["2027-10-31T00:30:00Z", "2027-11-01T01:30:00Z"]);
    assert_eq!(autumn.body["timezone"], "Europe/Berlin");
}

async fn after_last_routine_counts_from_the_last_pump_session(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let routine = json!({"kind": "pump", "schedule": {"type": "after_last", "hours": 3}});
    let id = app.post_auth("/v1/routines", &routine, &token).await.body["id"].as_str().unwrap().to_owned();
    let session = app.post_auth("/v1/pump-sessions", &pump_body(60, 30.0, 30.0), &token).await;
    let started: chrono::DateTime<chrono::Utc> = session.body["started_at"].as_str().unwrap().parse().unwrap();
    let r = app.get(&format!("/v1/routines/{id}/upcoming?count=1"), Some(&token)).await;
    let first: chrono::DateTime<chrono::Utc> = r.body["fires"][0]["at"].as_str().unwrap().parse().unwrap();
    assert_eq!(first, started + chrono::Duration::hours(3));
}

async fn upcoming_honours_quiet_hours(app: TestApp) {
    let (token, _) = app.signed_up().await;
    app.send(Method::PATCH, "/v1/me", Some(&json!({"quiet_hours": {"start": "22:00", "end": "07:00"}})), Some(&token))
        .await;
    let routine = json!({"kind": "massage", "schedule": {"type": "every", "hours": 3, "window": {"start": "00:00", "end": "23:00"}}});
    let id = app.post_auth("/v1/routines", &routine, &token).await.body["id"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/v1/routines/{id}/upcoming?count=6&from=2027-01-01T00:00:00Z"), Some(&token)).await;
    let at: Vec<&str> = r.body["fires"].as_array().unwrap().iter().map(|f| f["at"].as_str().unwrap()).collect();
    assert_eq!(
        at,
        vec![
            "2027-01-01T09:00:00Z",
            "2027-01-01T12:00:00Z",
            "2027-01-01T15:00:00Z",
            "2027-01-01T18:00:00Z",
            "2027-01-01T21:00:00Z",
            "2027-01-02T09:00:00Z"
        ]
    );
}

async fn invalid_routine_is_refused_naming_every_field(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let bad = json!({"kind": "nap", "days": ["someday"], "schedule": {"type": "every", "hours": 0.25, "window": {"start": "6am", "end": "22:00"}}});
    let r = app.post_auth("/v1/routines", &bad, &token).await;
    assert_eq!(r.error_fields(), vec!["kind", "days", "schedule.hours", "schedule.window.start"]);
    for table in ["massage_sessions", "pump_sessions", "symptom_checks", "routines"] {
        assert_eq!(app.count(table, "1 = 1").await, 0, "{table}");
    }
}

async fn upcoming_of_another_users_routine_is_not_found_and_count_is_bounded(app: TestApp) {
    let (owner, _) = app.signed_up().await;
    let (other, _) = app.signed_up().await;
    let routine = json!({"kind": "pump", "schedule": {"type": "times", "times": ["07:00"]}});
    let id = app.post_auth("/v1/routines", &routine, &owner).await.body["id"].as_str().unwrap().to_owned();
    app.get(&format!("/v1/routines/{id}/upcoming"), Some(&other)).await.assert_problem(404);
    assert_eq!(
        app.get(&format!("/v1/routines/{id}/upcoming?count=101"), Some(&owner)).await.error_fields(),
        vec!["count"]
    );
    let ten = app.get(&format!("/v1/routines/{id}/upcoming"), Some(&owner)).await;
    assert_eq!(ten.body["fires"].as_array().unwrap().len(), 10);
}
