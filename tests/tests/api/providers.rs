//! FCM and APNs delivery against stand-ins that verify the JWTs and answer with the providers' error shapes.

use chrono::{DateTime, Duration, Utc};
use milkflow_tests::providers::{
    APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC, Answer, ApnsStandIn, FcmStandIn, service_account,
};
use milkflow_tests::{TestApp, on_both_databases_api_only};
use scheduler::tick::{TickContext, run_once};
use serde_json::json;

on_both_databases_api_only!(
    fcm_reminders_use_one_cached_oauth_token_and_string_data,
    fcm_unregistered_prunes_and_unavailable_is_retried_after_retry_after,
    apns_reminders_go_over_http2_with_a_signed_provider_token,
    apns_gone_tokens_are_pruned_and_429_is_retried,
);

struct Providers {
    fcm: FcmStandIn,
    apns: ApnsStandIn,
    ctx: TickContext,
    _dir: tempfile::TempDir,
}

async fn providers(app: &TestApp) -> Providers {
    let (fcm, apns) = (FcmStandIn::start().await, ApnsStandIn::start().await);
    let dir = tempfile::tempdir().unwrap();
    let account = dir.path().join("service-account.json");
    std::fs::write(&account, service_account(&fcm.base)).unwrap();
    let key = dir.path().join("AuthKey.p8");
    std::fs::write(&key, &apns.key_pem).unwrap();
    let mut settings = app.settings.clone();
    settings.push.fcm_service_account_file = Some(account.display().to_string());
    settings.push.fcm_base_url = fcm.base.clone();
    settings.push.apns = Some(platform::ApnsSettings {
        key_file: key.display().to_string(),
        key_id: APNS_KEY_ID.into(),
        team_id: APNS_TEAM_ID.into(),
        topic: APNS_TOPIC.into(),
    });
    settings.push.apns_base_url = apns.base.clone();
    let ctx = TickContext::build(&settings, app.db.clone()).await.unwrap();
    Providers { fcm, apns, ctx, _dir: dir }
}

/// A user with one device and a massage routine due in a few minutes; the user's token and the due time.
async fn user_with(app: &TestApp, device: serde_json::Value) -> (String, DateTime<Utc>) {
    let (token, _) = app.signed_up().await;
    let r = app.post_auth("/v1/devices", &device, &token).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let at = (Utc::now() + Duration::minutes(3)).format("%H:%M").to_string();
    let routine = app
        .post_auth("/v1/routines", &json!({"kind": "massage", "schedule": {"type": "times", "times": [at]}}), &token)
        .await;
    let id = routine.body["id"].clone();
    let list = app.get("/v1/occurrences", Some(&token)).await;
    let due = list.body.as_array().unwrap().iter().find(|o| o["routine_id"] == id).unwrap()["due_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (token, due)
}

const APNS_TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

async fn fcm_reminders_use_one_cached_oauth_token_and_string_data(app: TestApp) {
    let p = providers(&app).await;
    let (_, due) = user_with(&app, json!({"platform": "fcm", "token": "fcm-device-1", "locale": "de-DE"})).await;
    let tick = run_once(&p.ctx, due + Duration::seconds(1)).await.unwrap();
    assert_eq!(tick.delivered, 1, "{tick:?} {:?}", p.fcm.messages());
    let m = &p.fcm.messages()[0];
    assert_eq!(m.token, "fcm-device-1");
    assert_eq!(m.body["message"]["notification"]["title"], "Zeit für eine sanfte Massage");
    assert_eq!(m.body["message"]["data"]["type"], "reminder");
    assert_eq!(m.body["message"]["data"]["actions"], "done,snooze");
    assert_eq!(m.body["message"]["android"]["ttl"], "3600s");
    run_once(&p.ctx, due + Duration::days(1) + Duration::seconds(1)).await.unwrap();
    assert_eq!(p.fcm.messages().len(), 2);
    assert_eq!(p.fcm.tokens_issued(), 1, "the access token is cached");
}

async fn fcm_unregistered_prunes_and_unavailable_is_retried_after_retry_after(app: TestApp) {
    let p = providers(&app).await;
    p.fcm.script(&[Answer { status: 503, code: "UNAVAILABLE", retry_after: Some(60) }]);
    let (token, due) = user_with(&app, json!({"platform": "fcm", "token": "fcm-device-2"})).await;
    let t = due + Duration::seconds(1);
    assert_eq!(run_once(&p.ctx, t).await.unwrap().retried, 1);
    assert_eq!(run_once(&p.ctx, t + Duration::seconds(59)).await.unwrap().attempted, 0, "Retry-After: 60 is honoured");
    assert_eq!(run_once(&p.ctx, t + Duration::seconds(61)).await.unwrap().delivered, 1);
    p.fcm.script(&[Answer { status: 404, code: "UNREGISTERED", retry_after: None }]);
    assert_eq!(run_once(&p.ctx, due + Duration::days(1) + Duration::seconds(1)).await.unwrap().pruned, 1);
    assert_eq!(app.get("/v1/devices", Some(&token)).await.body, json!([]));
}

async fn apns_reminders_go_over_http2_with_a_signed_provider_token(app: TestApp) {
    let p = providers(&app).await;
    let (_, due) = user_with(&app, json!({"platform": "apns", "token": APNS_TOKEN})).await;
    let tick = run_once(&p.ctx, due + Duration::seconds(1)).await.unwrap();
    let messages = p.apns.messages();
    assert_eq!(tick.delivered, 1, "{tick:?} {messages:?}");
    assert_eq!(messages[0].token, APNS_TOKEN);
    assert_eq!(messages[0].body["aps"]["alert"]["title"], "Time for a gentle massage");
    assert_eq!(messages[0].body["actions"], json!(["done", "snooze"]));
    assert!(messages[0].problem.is_none());
}

async fn apns_gone_tokens_are_pruned_and_429_is_retried(app: TestApp) {
    let p = providers(&app).await;
    p.apns.script(&[Answer { status: 429, code: "TooManyRequests", retry_after: None }]);
    let (token, due) = user_with(&app, json!({"platform": "apns", "token": APNS_TOKEN})).await;
    let t = due + Duration::seconds(1);
    assert_eq!(run_once(&p.ctx, t).await.unwrap().retried, 1);
    assert_eq!(run_once(&p.ctx, t + Duration::seconds(30)).await.unwrap().delivered, 1);
    p.apns.script(&[Answer { status: 400, code: "BadDeviceToken", retry_after: None }]);
    assert_eq!(run_once(&p.ctx, due + Duration::days(1) + Duration::seconds(1)).await.unwrap().pruned, 1);
    assert_eq!(app.get("/v1/devices", Some(&token)).await.body, json!([]));
}
