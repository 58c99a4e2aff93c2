//! The member endpoints beyond the reads of `care_team.rs` (the report, notes, routine suggestions), walked as
//! a stranger, a revoked and an expired member, a partner, and with each scope missing: anything the grant does
//! not allow is a 404 and writes nothing.

use milkflow_tests::{TestApp, on_both_databases};
use serde_json::{Value, json};

use crate::care_team::{Account, account, member_of, owner_with_logs};

on_both_databases!(the_report_notes_and_suggestions_answer_only_a_live_grant_with_their_scopes);

/// Each endpoint: its path under `/v1/clients/{id}`, its body when it is a POST, and the scopes it needs.
fn endpoints() -> [(&'static str, Option<Value>, &'static [&'static str]); 3] {
    let routine = json!({"kind": "pump", "schedule": {"type": "times", "times": ["06:30"]}});
    [
        ("report", None, &["stats:read", "logs:read"]),
        ("notes", Some(json!({"text": "Rest between pumps."})), &["notes:write"]),
        ("routine-suggestions", Some(routine), &["routines:suggest"]),
    ]
}

const SCOPES: [&str; 5] = ["logs:read", "stats:read", "advisories:read", "notes:write", "routines:suggest"];

async fn walk(app: &TestApp, member: &Account, client: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    for (path, body, _) in endpoints() {
        let path = format!("/v1/clients/{client}/{path}");
        let reply = match body {
            Some(body) => app.post_auth(&path, &body, &member.token).await,
            None => app.get(&path, Some(&member.token)).await,
        };
        statuses.push(reply.status.as_u16());
    }
    statuses
}

async fn written(app: &TestApp, owner: &Account) -> (usize, usize) {
    let notes = app.get("/v1/care-team/notes", Some(&owner.token)).await.body["items"].as_array().unwrap().len();
    let suggested = app.get("/v1/care-team/routine-suggestions", Some(&owner.token)).await;
    (notes, suggested.body.as_array().unwrap().len())
}

async fn the_report_notes_and_suggestions_answer_only_a_live_grant_with_their_scopes(app: TestApp) {
    let owner = owner_with_logs(&app).await;
    let stranger = account(&app, true).await;
    assert_eq!(walk(&app, &stranger, &owner.id).await, vec![404; 3], "a stranger");
    let partner = member_of(&app, &owner, json!({"role": "partner"})).await;
    assert_eq!(walk(&app, &partner, &owner.id).await, vec![404; 3], "a partner's preset");
    assert_eq!(written(&app, &owner).await, (0, 0), "nothing was written");

    for missing in SCOPES {
        let scopes: Vec<&str> = SCOPES.into_iter().filter(|s| *s != missing).collect();
        let member = member_of(&app, &owner, json!({"role": "consultant", "scopes": scopes})).await;
        let expected: Vec<u16> = endpoints()
            .iter()
            .map(|(_, body, needs)| match (needs.contains(&missing), body) {
                (true, _) => 404,
                (false, Some(_)) => 201,
                (false, None) => 200,
            })
            .collect();
        assert_eq!(walk(&app, &member, &owner.id).await, expected, "without {missing}");
    }
    let before = written(&app, &owner).await;

    let soon = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let expiring = member_of(&app, &owner, json!({"role": "consultant", "expires_at": soon})).await;
    assert_eq!(walk(&app, &expiring, &owner.id).await, vec![200, 201, 201]);
    app.execute("UPDATE care_grants SET expires_at = '2026-01-01T00:00:00+00:00' WHERE expires_at IS NOT NULL").await;
    assert_eq!(walk(&app, &expiring, &owner.id).await, vec![404; 3], "an expired grant");

    let revoked = member_of(&app, &owner, json!({"role": "consultant"})).await;
    let members = app.get("/v1/care-team/members", Some(&owner.token)).await;
    let grant = members.body.as_array().unwrap().iter().find(|m| m["member"]["id"] == revoked.id.as_str()).unwrap();
    let path = format!("/v1/care-team/members/{}", grant["id"].as_str().unwrap());
    assert_eq!(app.send(reqwest::Method::DELETE, &path, None, Some(&owner.token)).await.status, 204);
    assert_eq!(walk(&app, &revoked, &owner.id).await, vec![404; 3], "a revoked grant");
    assert_eq!(written(&app, &owner).await, (before.0 + 1, before.1 + 1), "only the expiring member's writes");
}
