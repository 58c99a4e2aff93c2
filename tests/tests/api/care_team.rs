//! Care-team sharing: an owner invites, a member with a verified address accepts, reads what the grant allows
//! and nothing else; every member endpoint is walked as a stranger, a revoked, an expired member and with each
//! scope missing.

use milkflow_tests::{TestApp, massage_body, on_both_databases, pump_body, unique_email};
use serde_json::{Value, json};

on_both_databases!(
    a_consultant_sees_what_the_grant_allows_until_it_is_revoked,
    every_member_read_is_a_404_without_a_live_grant_with_its_scope,
    invitations_are_checked_and_wrong_codes_are_bounded,
    erasing_the_member_removes_the_grant,
    notes_from_the_care_team_reach_the_owner_and_sync,
);

/// Every member read: its path under `/v1/clients/{id}` and the scope it needs.
const READS: [(&str, &str); 6] = [
    ("massage-sessions", "logs:read"),
    ("pump-sessions", "logs:read"),
    ("symptom-checks", "logs:read"),
    ("stats/daily", "stats:read"),
    ("insights/massage-effect", "stats:read"),
    ("advisories", "advisories:read"),
];

/// A signed-in account: its id and access token.
pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) token: String,
}

pub(crate) async fn account(app: &TestApp, verified: bool) -> Account {
    let email = unique_email();
    let session = app.register(&email).await;
    if verified {
        let at = "'2026-12-01T00:00:00+00:00'";
        app.execute(&format!("UPDATE users SET email_verified_at = {at} WHERE email = '{}'", email.to_lowercase()))
            .await;
    }
    Account {
        id: session["user"]["id"].as_str().unwrap().to_owned(),
        token: session["access_token"].as_str().unwrap().to_owned(),
    }
}

/// An owner with a massage session, a pump session and a symptom check.
pub(crate) async fn owner_with_logs(app: &TestApp) -> Account {
    let owner = account(app, false).await;
    app.post_auth("/v1/pump-sessions", &pump_body(60, 40.0, 35.0), &owner.token).await;
    app.post_auth("/v1/massage-sessions", &massage_body(70), &owner.token).await;
    let check = json!({"at": chrono::Utc::now().to_rfc3339(), "engorgement": 4, "pain": 6, "temperature_c": 38.4,
        "redness": true});
    assert_eq!(app.post_auth("/v1/symptom-checks", &check, &owner.token).await.status, 201);
    owner
}

async fn invite(app: &TestApp, owner: &Account, body: Value) -> Value {
    let r = app.post_auth("/v1/care-team/invitations", &body, &owner.token).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

/// `owner` invites with `body` and a fresh verified member accepts.
pub(crate) async fn member_of(app: &TestApp, owner: &Account, body: Value) -> Account {
    let code = invite(app, owner, body).await["code"].as_str().unwrap().to_owned();
    let member = account(app, true).await;
    let accepted = app.post_auth("/v1/care-team/invitations/accept", &json!({"code": code}), &member.token).await;
    assert_eq!(accepted.status, 201, "{}", accepted.body);
    member
}

async fn read(app: &TestApp, member: &Account, client: &str, path: &str) -> u16 {
    app.get(&format!("/v1/clients/{client}/{path}"), Some(&member.token)).await.status.as_u16()
}

/// The status of every member read, in the order of [`READS`].
async fn walk(app: &TestApp, member: &Account, client: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    for (path, _) in READS {
        statuses.push(read(app, member, client, path).await);
    }
    statuses
}

async fn a_consultant_sees_what_the_grant_allows_until_it_is_revoked(app: TestApp) {
    let owner = owner_with_logs(&app).await;
    let made = invite(&app, &owner, json!({"role": "consultant", "note": "Jo, IBCLC"})).await;
    let code = made["code"].as_str().unwrap();
    assert_eq!(code.len(), 9, "{made}");
    assert!(made["link"].as_str().unwrap().ends_with(&format!("/care-team/join?code={code}")), "{made}");
    let preset = ["advisories:notify", "advisories:read", "logs:read", "notes:write", "routines:suggest", "stats:read"];
    assert_eq!(made["scopes"], json!(preset));
    assert_eq!(app.count("care_invitations", &format!("code_hash = '{code}'")).await, 0, "kept only hashed");

    let consultant = account(&app, false).await;
    let typed = json!({"code": code.to_lowercase().replace('-', " ")});
    app.post_auth("/v1/care-team/invitations/accept", &typed, &consultant.token).await.assert_problem(403);
    app.execute("UPDATE users SET email_verified_at = updated_at").await;
    let joined = app.post_auth("/v1/care-team/invitations/accept", &typed, &consultant.token).await;
    assert_eq!(joined.status, 201, "{}", joined.body);
    assert_eq!(joined.body["id"], owner.id.as_str());
    app.post_auth("/v1/care-team/invitations/accept", &typed, &consultant.token).await.assert_problem(422);

    let clients = app.get("/v1/clients", Some(&consultant.token)).await;
    assert_eq!(clients.body.as_array().unwrap().len(), 1, "{}", clients.body);
    assert_eq!(clients.body[0]["scopes"], json!(preset));
    assert_eq!(walk(&app, &consultant, &owner.id).await, vec![200; 6]);
    let pumps = app.get(&format!("/v1/clients/{}/pump-sessions", owner.id), Some(&consultant.token)).await;
    assert_eq!(pumps.body["items"][0]["volume_left_ml"], 40.0, "{}", pumps.body);
    let left = app.get(&format!("/v1/clients/{}/massage-sessions?side=right", owner.id), Some(&consultant.token)).await;
    assert_eq!(left.body["items"], json!([]), "the owner's filters apply");
    let flags = app.get(&format!("/v1/clients/{}/advisories", owner.id), Some(&consultant.token)).await;
    assert!(!flags.body["advisories"].as_array().unwrap().is_empty(), "{}", flags.body);

    let members = app.get("/v1/care-team/members", Some(&owner.token)).await;
    assert_eq!(members.body[0]["member"]["id"], consultant.id.as_str(), "{}", members.body);
    assert_eq!(members.body[0]["note"], "Jo, IBCLC");
    let grant = members.body[0]["id"].as_str().unwrap().to_owned();
    let log = app.get("/v1/care-team/access-log?limit=4", Some(&owner.token)).await;
    let resources: Vec<&str> =
        log.body["items"].as_array().unwrap().iter().map(|e| e["resource"].as_str().unwrap()).collect();
    assert_eq!(resources, vec!["advisories", "massage-sessions", "pump-sessions", "advisories"], "{}", log.body);
    assert_eq!(log.body["items"][0]["member"]["id"], consultant.id.as_str());
    let rest = app
        .get(
            &format!("/v1/care-team/access-log?cursor={}", log.body["next_cursor"].as_str().unwrap()),
            Some(&owner.token),
        )
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 5, "9 reads in all");

    // Narrowed to stats, then revoked: the very next read follows, in this process and in another.
    let other_process = app.another_api().await;
    assert_eq!(walk(&other_process, &consultant, &owner.id).await, vec![200; 6]);
    let narrowed = app
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/care-team/members/{grant}"),
            Some(&json!({"scopes": ["stats:read"]})),
            Some(&owner.token),
        )
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(walk(&app, &consultant, &owner.id).await, vec![404, 404, 404, 200, 200, 404]);
    let revoked =
        app.send(reqwest::Method::DELETE, &format!("/v1/care-team/members/{grant}"), None, Some(&owner.token)).await;
    assert_eq!(revoked.status, 204);
    assert_eq!(walk(&app, &consultant, &owner.id).await, vec![404; 6]);
    assert_eq!(walk(&other_process, &consultant, &owner.id).await, vec![404; 6], "in every process at once");
    assert_eq!(app.get("/v1/clients", Some(&consultant.token)).await.body, json!([]));
    assert_eq!(app.get("/v1/care-team/members", Some(&owner.token)).await.body, json!([]));
}

async fn every_member_read_is_a_404_without_a_live_grant_with_its_scope(app: TestApp) {
    let owner = owner_with_logs(&app).await;
    let stranger = account(&app, true).await;
    assert_eq!(walk(&app, &stranger, &owner.id).await, vec![404; 6], "a stranger");
    assert_eq!(walk(&app, &owner, &owner.id).await, vec![404; 6], "an owner is no member of the own team");
    let nobody = uuid::Uuid::now_v7().to_string();
    let member = member_of(&app, &owner, json!({"role": "consultant"})).await;
    assert_eq!(walk(&app, &member, &nobody).await, vec![404; 6], "an account that does not exist");
    assert_eq!(walk(&app, &member, "not-a-uuid").await, vec![404; 6]);
    // Another owner's id, with a grant from the first.
    let other = owner_with_logs(&app).await;
    assert_eq!(walk(&app, &member, &other.id).await, vec![404; 6], "another owner's data");

    for missing in ["logs:read", "stats:read", "advisories:read"] {
        let scopes: Vec<&str> =
            ["logs:read", "stats:read", "advisories:read"].into_iter().filter(|s| *s != missing).collect();
        let member = member_of(&app, &owner, json!({"role": "consultant", "scopes": scopes})).await;
        let expected: Vec<u16> = READS.iter().map(|(_, s)| if *s == missing { 404 } else { 200 }).collect();
        assert_eq!(walk(&app, &member, &owner.id).await, expected, "without {missing}");
    }
    let partner = member_of(&app, &owner, json!({"role": "partner"})).await;
    assert_eq!(walk(&app, &partner, &owner.id).await, vec![404, 404, 404, 200, 200, 404], "a partner's preset");

    let soon = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let expiring = member_of(&app, &owner, json!({"role": "consultant", "expires_at": soon})).await;
    assert_eq!(walk(&app, &expiring, &owner.id).await, vec![200; 6]);
    // (The one grant with an end; SQLite keeps ids as blobs, so it is picked by its end.)
    app.execute("UPDATE care_grants SET expires_at = '2026-01-01T00:00:00+00:00' WHERE expires_at IS NOT NULL").await;
    assert_eq!(walk(&app, &expiring, &owner.id).await, vec![404; 6], "an expired grant");
    let log = app.get("/v1/care-team/access-log?limit=200", Some(&owner.token)).await;
    let by_expiring =
        log.body["items"].as_array().unwrap().iter().filter(|e| e["member"]["id"] == expiring.id.as_str());
    assert_eq!(by_expiring.count(), 6, "only the allowed reads are logged");
}

async fn invitations_are_checked_and_wrong_codes_are_bounded(app: TestApp) {
    let owner = account(&app, false).await;
    let path = "/v1/care-team/invitations";
    let bad = app.post_auth(path, &json!({"role": "midwife"}), &owner.token).await;
    assert_eq!(bad.assert_problem(422)["errors"][0]["field"], "role");
    let bad =
        app.post_auth(path, &json!({"role": "partner", "scopes": ["logs:read", "logs:write"]}), &owner.token).await;
    let problem = bad.assert_problem(422);
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("'logs:write'"), "{problem}");
    let bad =
        app.post_auth(path, &json!({"role": "partner", "expires_at": "2020-01-01T00:00:00Z"}), &owner.token).await;
    assert_eq!(bad.assert_problem(422)["errors"][0]["field"], "expires_at");
    let mine = invite(&app, &owner, json!({"role": "partner", "scopes": ["stats:read"]})).await;
    app.execute("UPDATE users SET email_verified_at = updated_at").await;
    let own = app.post_auth("/v1/care-team/invitations/accept", &json!({"code": mine["code"]}), &owner.token).await;
    assert_eq!(own.assert_problem(422)["errors"][0]["field"], "code");

    let guesser = account(&app, true).await;
    for _ in 0..10 {
        let r = app.post_auth("/v1/care-team/invitations/accept", &json!({"code": "0000-0000"}), &guesser.token).await;
        r.assert_problem(422);
    }
    let right = app.post_auth("/v1/care-team/invitations/accept", &json!({"code": mine["code"]}), &guesser.token).await;
    right.assert_problem(429);
    assert!(right.headers.get("retry-after").is_some());
}

async fn erasing_the_member_removes_the_grant(app: TestApp) {
    let owner = owner_with_logs(&app).await;
    let member = member_of(&app, &owner, json!({"role": "consultant"})).await;
    read(&app, &member, &owner.id, "pump-sessions").await;
    // Staff see the grant on both accounts; the owner's export holds it and the reads made through it.
    let admin = app.login(milkflow_tests::ADMIN_EMAIL, milkflow_tests::ADMIN_PASSWORD).await;
    let admin = admin.body["access_token"].as_str().unwrap().to_owned();
    for id in [&owner.id, &member.id] {
        let detail = app.get(&format!("/admin/v1/users/{id}"), Some(&admin)).await;
        assert_eq!(detail.body["care_team"][0]["owner_id"], owner.id.as_str(), "{}", detail.body);
        assert_eq!(detail.body["care_team"][0]["member_id"], member.id.as_str());
    }
    let export = app.get("/v1/me/export", Some(&owner.token)).await;
    assert_eq!(export.body["care_team"][0]["member_id"], member.id.as_str(), "{}", export.body);
    assert_eq!(export.body["care_team_access_log"][0]["resource"], "pump-sessions");
    assert_eq!(app.get("/v1/me/export", Some(&member.token)).await.body["care_team"], json!([]), "given only");
    assert_eq!(app.get("/v1/care-team/members", Some(&owner.token)).await.body.as_array().unwrap().len(), 1);
    let erased = app.send(reqwest::Method::DELETE, "/v1/me", None, Some(&member.token)).await;
    assert_eq!(erased.status, 204);
    assert_eq!(app.get("/v1/care-team/members", Some(&owner.token)).await.body, json!([]));
    assert_eq!(app.count("care_grants", "1 = 1").await, 0);
    assert_eq!(app.count("care_access_log", "1 = 1").await, 0, "the log of a grant goes with it");
}

async fn notes_from_the_care_team_reach_the_owner_and_sync(app: TestApp) {
    let owner = owner_with_logs(&app).await;
    let consultant = member_of(&app, &owner, json!({"role": "consultant"})).await;
    let partner = member_of(&app, &owner, json!({"role": "partner"})).await;
    let path = format!("/v1/clients/{}/notes", owner.id);
    let note = json!({"text": "Try the laid-back position before the 6 a.m. pump."});
    app.post_auth(&path, &note, &partner.token).await.assert_problem(404);
    let stranger = account(&app, true).await;
    app.post_auth(&path, &note, &stranger.token).await.assert_problem(404);
    let empty = app.post_auth(&path, &json!({"text": "  "}), &consultant.token).await;
    assert_eq!(empty.assert_problem(422)["errors"][0]["field"], "text");
    let written = app.post_auth(&path, &note, &consultant.token).await;
    assert_eq!(written.status, 201, "{}", written.body);
    assert_eq!(written.body["author_id"], consultant.id.as_str());

    let notes = app.get("/v1/care-team/notes", Some(&owner.token)).await;
    assert_eq!(notes.body["items"].as_array().unwrap().len(), 1, "{}", notes.body);
    assert_eq!(notes.body["items"][0]["text"], note["text"]);
    let id = notes.body["items"][0]["id"].as_str().unwrap().to_owned();
    let sync = app.get("/v1/sync?limit=500", Some(&owner.token)).await;
    assert_eq!(sync.status, 200, "{}", sync.body);
    let synced: Vec<&Value> =
        sync.body["changes"].as_array().unwrap().iter().filter(|c| c["collection"] == "care_notes").collect();
    assert_eq!(synced.len(), 1, "{}", sync.body);
    assert_eq!(synced[0]["record"]["author_id"], consultant.id.as_str());
    // The owner cannot write notes as if from the care team.
    let forged = app.put(&format!("/v1/care-team/notes/{}", uuid::Uuid::now_v7()), &note, &owner.token).await;
    assert!(matches!(forged.status.as_u16(), 404 | 405), "{}", forged.status);

    let deleted =
        app.send(reqwest::Method::DELETE, &format!("/v1/care-team/notes/{id}"), None, Some(&owner.token)).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(app.get("/v1/care-team/notes", Some(&owner.token)).await.body["items"], json!([]));
    let sync = app.get("/v1/sync?limit=500", Some(&owner.token)).await;
    let tombstone = sync.body["changes"].as_array().unwrap().iter().find(|c| c["collection"] == "care_notes").unwrap();
    assert_eq!(tombstone["op"], "delete");
}
