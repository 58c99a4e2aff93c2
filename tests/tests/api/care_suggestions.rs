//! Routine suggestions from the care team: suggested through a grant with `routines:suggest`, accepted into the
//! owner's routines (once, however often accepted) or declined.

use milkflow_tests::{TestApp, on_both_databases};
use serde_json::json;

use crate::care_team::{account, member_of, owner_with_logs};

on_both_databases!(a_suggested_routine_becomes_the_owners_once_accepted);

async fn a_suggested_routine_becomes_the_owners_once_accepted(app: TestApp) {
    let owner = owner_with_logs(&app).await;
    app.send(reqwest::Method::PATCH, "/v1/me", Some(&json!({"timezone": "Europe/Berlin"})), Some(&owner.token)).await;
    let consultant = member_of(&app, &owner, json!({"role": "consultant"})).await;
    let partner = member_of(&app, &owner, json!({"role": "partner"})).await;
    let stranger = account(&app, true).await;
    let path = format!("/v1/clients/{}/routine-suggestions", owner.id);
    let routine = json!({"name": "Before the morning pump", "kind": "massage_then_pump",
        "schedule": {"type": "times", "times": ["06:30"]}});
    app.post_auth(&path, &routine, &partner.token).await.assert_problem(404);
    app.post_auth(&path, &routine, &stranger.token).await.assert_problem(404);
    let bad = app.post_auth(&path, &json!({"kind": "nap"}), &consultant.token).await;
    assert!(bad.error_fields().contains(&"kind".to_owned()), "{}", bad.body);

    let first = app.post_auth(&path, &routine, &consultant.token).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["status"], "pending");
    let second = app.post_auth(&path, &routine, &consultant.token).await;
    let pending = app.get("/v1/care-team/routine-suggestions?status=pending", Some(&owner.token)).await;
    assert_eq!(pending.body.as_array().unwrap().len(), 2, "{}", pending.body);
    assert_eq!(pending.body[1]["from"]["id"], consultant.id.as_str());
    assert_eq!(pending.body[1]["routine"]["schedule"]["times"], json!(["06:30"]));
    let others = app.get("/v1/care-team/routine-suggestions", Some(&consultant.token)).await;
    assert_eq!(others.body, json!([]), "the member does not see them as the owner's");

    let id = first.body["id"].as_str().unwrap();
    let accept = format!("/v1/care-team/routine-suggestions/{id}/accept");
    app.post_auth(&accept, &json!({}), &stranger.token).await.assert_problem(404);
    let accepted = app.post_auth(&accept, &json!({}), &owner.token).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    let routine_id = accepted.body["routine"]["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted.body["suggestion"]["routine_id"], routine_id.as_str());
    let again = app.post_auth(&accept, &json!({}), &owner.token).await;
    assert_eq!(again.body["routine"]["id"], routine_id.as_str(), "accepting twice makes one routine");
    let routines = app.get("/v1/routines", Some(&owner.token)).await;
    assert_eq!(routines.body["items"].as_array().unwrap().len(), 1, "{}", routines.body);
    // Planned on the owner's clock: 06:30 in Berlin.
    let upcoming = app.get(&format!("/v1/routines/{routine_id}/upcoming?count=1"), Some(&owner.token)).await;
    assert!(upcoming.body.to_string().contains("06:30"), "{}", upcoming.body);
    app.post_auth(&format!("/v1/care-team/routine-suggestions/{id}/decline"), &json!({}), &owner.token)
        .await
        .assert_problem(409);

    let other = second.body["id"].as_str().unwrap();
    let declined =
        app.post_auth(&format!("/v1/care-team/routine-suggestions/{other}/decline"), &json!({}), &owner.token).await;
    assert_eq!(declined.body["status"], "declined", "{}", declined.body);
    app.post_auth(&format!("/v1/care-team/routine-suggestions/{other}/accept"), &json!({}), &owner.token)
        .await
        .assert_problem(409);
    assert_eq!(app.get("/v1/routines", Some(&owner.token)).await.body["items"].as_array().unwrap().len(), 1);
}
