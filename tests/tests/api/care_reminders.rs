//! A care-team member with `reminders:receive` gets the owner's reminders as real Web Push (decrypted by the
//! stand-in): without the owner's actions, never with wording that hints at the owner's health, not in the
//! member's own quiet hours, and not once the grant is revoked.

use chrono::{Duration, Timelike};
use milkflow_tests::reminders::{occurrences, planned, register_device, routine_due_soon, setup};
use milkflow_tests::{TestApp, on_both_databases_api_only};
use scheduler::tick::run_once;
use serde_json::json;

use crate::care_team::{Account, member_of};

on_both_databases_api_only!(a_partner_receives_the_owners_reminders_outside_the_partners_quiet_hours);

async fn a_partner_receives_the_owners_reminders_outside_the_partners_quiet_hours(app: TestApp) {
    let s = setup(app).await;
    let owner_id = s.app.get("/v1/me", Some(&s.token)).await.body["id"].as_str().unwrap().to_owned();
    let owner = Account { id: owner_id, token: s.token.clone() };
    let partner = member_of(&s.app, &owner, json!({"role": "partner"})).await;
    let partner_device = register_device(&s.app, &s.standin, &partner.token).await;
    // A fever makes the owner's pump reminders gentle; the partner's must not hint at it.
    let fever = json!({"at": chrono::Utc::now().to_rfc3339(), "engorgement": 4, "pain": 6, "temperature_c": 38.6});
    assert_eq!(s.app.post_auth("/v1/symptom-checks", &fever, &s.token).await.status, 201);

    let (routine, due) = routine_due_soon(&s.app, &s.token).await;
    let tick = run_once(&s.ctx, due + Duration::seconds(1)).await.unwrap();
    assert_eq!((tick.claimed, tick.delivered), (1, 2), "{tick:?}");
    let received = s.standin.received();
    let to = |sub: &str| received.iter().find(|r| r.subscription == sub).and_then(|r| r.payload.clone()).unwrap();
    let (own, theirs) = (to(&s.sub.id), to(&partner_device.id));
    assert_eq!((own["type"].as_str(), theirs["type"].as_str()), (Some("reminder"), Some("care_team_reminder")));
    assert_eq!(own["actions"], json!(["done", "snooze"]));
    assert_eq!(theirs["actions"], json!([]));
    assert_eq!(theirs["title"], own["title"]);
    assert_ne!(own["body"], theirs["body"], "the owner's reminder is the gentle one");
    assert!(theirs["body"].as_str().unwrap().contains("gentle massage"), "{theirs}");
    let list = occurrences(&s.app, &s.token).await;
    let sent = list.iter().find(|o| o["id"] == own["occurrence_id"]).unwrap();
    assert_eq!(sent["deliveries"].as_array().unwrap().len(), 1, "the owner sees the owner's devices only");

    // The next one falls in the partner's quiet hours (on the partner's clock, UTC here).
    let next = planned(&s.app, &s.token, &routine).await.unwrap();
    let hhmm = |h: u32| format!("{:02}:{:02}", h % 24, next.minute());
    let quiet = json!({"quiet_hours": {"start": hhmm(next.hour() + 23), "end": hhmm(next.hour() + 1)}});
    let patched = s.app.send(reqwest::Method::PATCH, "/v1/me", Some(&quiet), Some(&partner.token)).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let tick = run_once(&s.ctx, next + Duration::seconds(1)).await.unwrap();
    assert_eq!((tick.claimed, tick.delivered), (1, 1), "only the owner's device: {tick:?}");

    // Revoked: the owner's alone again, even outside quiet hours.
    let cleared = json!({"quiet_hours": null});
    s.app.send(reqwest::Method::PATCH, "/v1/me", Some(&cleared), Some(&partner.token)).await;
    let grant = s.app.get("/v1/care-team/members", Some(&s.token)).await.body[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/care-team/members/{grant}");
    assert_eq!(s.app.send(reqwest::Method::DELETE, &path, None, Some(&s.token)).await.status, 204);
    let third = planned(&s.app, &s.token, &routine).await.unwrap();
    let tick = run_once(&s.ctx, third + Duration::seconds(1)).await.unwrap();
    assert_eq!((tick.claimed, tick.delivered), (1, 1), "{tick:?}");
    let to_partner = s.standin.received().iter().filter(|r| r.subscription == partner_device.id).count();
    assert_eq!(to_partner, 1, "one reminder reached the partner in all");
    // Erasing the owner takes the deliveries of the owner's reminders to the partner's device too.
    assert_eq!(s.app.send(reqwest::Method::DELETE, "/v1/me", None, Some(&s.token)).await.status, 204);
    assert_eq!(s.app.count("deliveries", "1 = 1").await, 0);
}
