//! Helpers of the reminder tests: a stand-in push service, a device on it, and routines due soon.

use chrono::{DateTime, Duration, Utc};
use scheduler::tick::TickContext;
use serde_json::{Value, json};

use crate::webpush::{NewSubscription, WebPushStandIn};
use crate::{TestApp, VAPID_SUBJECT};

/// An API (without its scheduler), a signed-up account with one Web Push device on a stand-in, and a tick context.
pub struct Setup {
    pub app: TestApp,
    pub token: String,
    pub standin: WebPushStandIn,
    pub sub: NewSubscription,
    pub ctx: TickContext,
}

/// Builds a [`Setup`] on `app`.
pub async fn setup(app: TestApp) -> Setup {
    let key = app.get("/v1/push/vapid-public-key", None).await.body["public_key"].as_str().unwrap().to_owned();
    let standin = WebPushStandIn::start(&key, VAPID_SUBJECT).await;
    let (token, _) = app.signed_up().await;
    let sub = register_device(&app, &standin, &token).await;
    let ctx = TickContext::build(&app.settings, app.db.clone()).await.unwrap();
    Setup { app, token, standin, sub, ctx }
}

/// Registers a Web Push device of the stand-in for `token`'s account.
pub async fn register_device(app: &TestApp, standin: &WebPushStandIn, token: &str) -> NewSubscription {
    let sub = standin.subscribe();
    let body = json!({"platform": "web", "endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}, "name": "phone", "locale": "en"});
    let r = app.post_auth("/v1/devices", &body, token).await;
    assert_eq!(r.status, 201, "{}", r.body);
    sub
}

/// A pump routine firing at the next whole minute at least two minutes from now; its id and due time.
pub async fn routine_due_soon(app: &TestApp, token: &str) -> (String, DateTime<Utc>) {
    let at = (Utc::now() + Duration::minutes(3)).format("%H:%M").to_string();
    let r = app
        .post_auth("/v1/routines", &json!({"kind": "pump", "schedule": {"type": "times", "times": [at]}}), token)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    (id.clone(), planned(app, token, &id).await.expect("a planned occurrence"))
}

/// The user's reminders from two hours ago to three days ahead.
pub async fn occurrences(app: &TestApp, token: &str) -> Vec<Value> {
    let from = (Utc::now() - Duration::hours(2)).to_rfc3339().replace('+', "%2B");
    let to = (Utc::now() + Duration::days(3)).to_rfc3339().replace('+', "%2B");
    let r = app.get(&format!("/v1/occurrences?from={from}&to={to}"), Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().unwrap().clone()
}

/// When `routine`'s planned occurrence is due.
pub async fn planned(app: &TestApp, token: &str, routine: &str) -> Option<DateTime<Utc>> {
    occurrences(app, token)
        .await
        .into_iter()
        .find(|o| o["routine_id"] == routine && o["status"] == "planned")
        .map(|o| o["due_at"].as_str().unwrap().parse().unwrap())
}
