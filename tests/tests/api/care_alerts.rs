//! Care alerts: when a red flag becomes active for the owner, each member with `advisories:notify` gets one
//! Web Push (decrypted by the stand-in) that names no symptom, once per advisory; nobody else gets one.

use chrono::{Duration, Utc};
use milkflow_tests::reminders::{occurrences, register_device, setup};
use milkflow_tests::{TestApp, on_both_databases_api_only};
use scheduler::tick::run_once;
use serde_json::json;

use crate::care_team::{Account, member_of};

on_both_databases_api_only!(a_red_flag_alerts_the_consultant_once_and_names_no_symptom);

async fn a_red_flag_alerts_the_consultant_once_and_names_no_symptom(app: TestApp) {
    let s = setup(app).await;
    let owner_id = s.app.get("/v1/me", Some(&s.token)).await.body["id"].as_str().unwrap().to_owned();
    let owner = Account { id: owner_id.clone(), token: s.token.clone() };
    let consultant = member_of(&s.app, &owner, json!({"role": "consultant"})).await;
    let consultant_device = register_device(&s.app, &s.standin, &consultant.token).await;
    let partner = member_of(&s.app, &owner, json!({"role": "partner"})).await;
    let partner_device = register_device(&s.app, &s.standin, &partner.token).await;
    let calm = json!({"at": Utc::now().to_rfc3339(), "engorgement": 2, "pain": 1, "temperature_c": 36.8});
    assert_eq!(s.app.post_auth("/v1/symptom-checks", &calm, &s.token).await.status, 201);
    let quiet = run_once(&s.ctx, Utc::now()).await.unwrap();
    assert_eq!(quiet.claimed, 0, "no red flag, no alert: {quiet:?}");

    let fever = json!({"at": Utc::now().to_rfc3339(), "engorgement": 4, "pain": 6, "temperature_c": 38.9});
    assert_eq!(s.app.post_auth("/v1/symptom-checks", &fever, &s.token).await.status, 201);
    let tick = run_once(&s.ctx, Utc::now() + Duration::seconds(1)).await.unwrap();
    assert_eq!((tick.claimed, tick.delivered), (1, 1), "{tick:?}");
    let received = s.standin.received();
    assert_eq!(received.len(), 1, "only the consultant's device");
    assert_eq!(received[0].subscription, consultant_device.id);
    assert_ne!(received[0].subscription, partner_device.id);
    let payload = received[0].payload.clone().unwrap();
    assert_eq!(payload["type"], "care_alert");
    assert_eq!(payload["client_id"], owner_id.as_str());
    assert_eq!(payload["title"], "A client may need your attention");
    // What a lock screen shows, and every other field but the ids.
    let text =
        format!("{} {} {} {}", payload["title"], payload["body"], payload["kind"], payload["type"]).to_lowercase();
    assert_eq!(payload.as_object().unwrap().len(), 7, "no other field: {payload}");
    for word in ["fever", "temperature", "38", "pain", "mastitis", "engorg", "advisory"] {
        assert!(!text.contains(word), "the push names {word:?}: {text}");
    }
    // The consultant opens the app: the advisory itself is behind the grant.
    let flags = s.app.get(&format!("/v1/clients/{owner_id}/advisories"), Some(&consultant.token)).await;
    assert_eq!(flags.body["advisories"][0]["rule"], "fever", "{}", flags.body);
    let alerts = occurrences(&s.app, &consultant.token).await;
    assert_eq!(alerts[0]["source"], "care_alert", "{alerts:?}");

    // Once per advisory: another check while the same fever holds alerts nobody again.
    let again = json!({"at": Utc::now().to_rfc3339(), "engorgement": 4, "pain": 5, "temperature_c": 38.4});
    assert_eq!(s.app.post_auth("/v1/symptom-checks", &again, &s.token).await.status, 201);
    let tick = run_once(&s.ctx, Utc::now() + Duration::seconds(2)).await.unwrap();
    assert_eq!(tick.claimed, 0, "{tick:?}");
    // A member who joins while it holds is told once too.
    let second = member_of(&s.app, &owner, json!({"role": "consultant"})).await;
    let second_device = register_device(&s.app, &s.standin, &second.token).await;
    let tick = run_once(&s.ctx, Utc::now() + Duration::seconds(3)).await.unwrap();
    assert_eq!((tick.claimed, tick.delivered), (1, 1), "{tick:?}");
    assert!(s.standin.received().iter().any(|r| r.subscription == second_device.id));
    assert_eq!(s.standin.received().len(), 2);
}
