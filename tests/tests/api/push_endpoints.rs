//! Push endpoints a stranger gives us must not reach inside: checked at registration and again at each send.

use chrono::Duration;
use milkflow_tests::reminders::{occurrences, routine_due_soon, setup};
use milkflow_tests::{TestApp, on_both_databases, on_both_databases_api_only};
use scheduler::tick::{TickContext, run_once};
use serde_json::json;

on_both_databases!(endpoints_into_internal_ranges_or_other_ports_are_refused_at_registration);
on_both_databases_api_only!(an_internal_endpoint_already_stored_is_refused_at_send_time);

async fn endpoints_into_internal_ranges_or_other_ports_are_refused_at_registration(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let keys = json!({"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM", "auth": "tBHItJI5svbpez7KI4CCXg"});
    for endpoint in [
        "https://[::]/push/1",
        "https://[::127.0.0.1]/push/1",
        "https://[::ffff:169.254.169.254]/push/1",
        "https://[64:ff9b::a9fe:a9fe]/push/1",
        "https://[2002:a9fe:a9fe::1]/push/1",
        "https://[fec0::1]/push/1",
        "https://192.0.0.10/push/1",
        "https://198.18.0.1/push/1",
        "https://240.0.0.1/push/1",
        "https://2130706433/push/1",
        "https://push.example.org:8443/push/1",
        "https://push.example.org:22/push/1",
        "http://push.example.org/push/1",
    ] {
        let body = json!({"platform": "web", "endpoint": endpoint, "keys": keys});
        let r = app.post_auth("/v1/devices", &body, &token).await;
        assert_eq!(r.error_fields(), vec!["endpoint"], "{endpoint}: {}", r.body);
    }
    let public = json!({"platform": "web", "endpoint": "https://push.example.org/push/1", "keys": keys});
    assert_eq!(app.post_auth("/v1/devices", &public, &token).await.status, 201);
    assert_eq!(app.count("devices", "1 = 1").await, 1);
}

async fn an_internal_endpoint_already_stored_is_refused_at_send_time(app: TestApp) {
    // The device was stored while loopback was allowed; the scheduler now runs without that allowance.
    let s = setup(app).await;
    let mut strict = s.app.settings.clone();
    strict.push.allow_insecure = false;
    let ctx = TickContext::build(&strict, s.app.db.clone()).await.unwrap();
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    let tick = run_once(&ctx, due + Duration::seconds(1)).await.unwrap();
    assert_eq!((tick.delivered, tick.failed), (0, 1));
    assert!(s.standin.received().is_empty(), "nothing reached the loopback address");
    let list = occurrences(&s.app, &s.token).await;
    let d = &list.iter().find(|o| o["status"] == "failed").unwrap()["deliveries"][0];
    assert_eq!(d["last_error"], "invalid_device");
}

on_both_databases_api_only!(a_device_moving_to_another_account_is_answered_as_new_and_gets_nothing_of_the_old_owner);

async fn a_device_moving_to_another_account_is_answered_as_new_and_gets_nothing_of_the_old_owner(app: TestApp) {
    use milkflow_tests::webpush::Scripted;
    let s = setup(app).await;
    // The old owner's reminder is being retried (the service answered 500) when the phone signs in to
    // another account.
    s.standin.script(&s.sub.id, &[Scripted { status: 500, retry_after: None }]);
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    assert_eq!(run_once(&s.ctx, due + Duration::seconds(1)).await.unwrap().retried, 1);
    let (other, _) = s.app.signed_up().await;
    let body =
        json!({"platform": "web", "endpoint": s.sub.endpoint, "keys": {"p256dh": s.sub.p256dh, "auth": s.sub.auth}});
    let moved = s.app.post_auth("/v1/devices", &body, &other).await;
    assert_eq!(moved.status, 201, "answered as a new device: {}", moved.body);
    let again = s.app.post_auth("/v1/devices", &body, &other).await;
    assert_eq!(again.status, 200, "the account's own device again is an update");
    assert!(s.app.get("/v1/devices", Some(&s.token)).await.body.as_array().unwrap().is_empty());
    assert_eq!(s.app.count("audit_log", "action = 'device.move'").await, 1);
    assert_eq!(s.app.count("deliveries", "status = 'retrying'").await, 0, "the old owner's retry is dropped");
    let received = s.standin.received().len();
    assert_eq!(run_once(&s.ctx, due + Duration::hours(1)).await.unwrap().attempted, 0);
    assert_eq!(s.standin.received().len(), received, "nothing of the old owner's reaches the other account's phone");
    assert_eq!(s.app.count("devices", "1 = 1").await, 1, "the device stays, with its new owner");
}
