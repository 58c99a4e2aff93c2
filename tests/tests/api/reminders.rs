//! Reminders end to end: a routine is planned, the scheduler's tick (driven here with an injected clock)
//! delivers it as Web Push to a stand-in that verifies VAPID and decrypts the payload independently.

use chrono::{DateTime, Duration, Utc};
use milkflow_tests::reminders::{Setup, occurrences, planned, register_device, routine_due_soon, setup};
use milkflow_tests::webpush::Scripted;
use milkflow_tests::{TestApp, VAPID_SUBJECT, on_both_databases_api_only};
use reqwest::Method;
use scheduler::tick::{TickContext, run_once};
use serde_json::{Value, json};

on_both_databases_api_only!(
    a_due_routine_arrives_as_an_encrypted_signed_web_push,
    server_errors_timeouts_and_429_are_retried_honouring_retry_after,
    a_gone_subscription_deletes_the_device_and_it_gets_nothing_more,
    other_client_errors_fail_and_keep_the_reason,
    a_reminder_due_while_schedulers_were_down_is_sent_within_grace_and_missed_after,
    snooze_reminds_again_and_done_closes,
    editing_disabling_and_deleting_a_routine_replans_it,
    three_schedulers_deliver_each_reminder_exactly_once,
    deliveries_leased_by_a_killed_scheduler_are_sent_after_the_lease,
    a_send_that_could_not_end_inside_its_lease_is_left_for_the_next_claim,
    web_devices_are_validated_and_deduplicated,
    with_a_fever_logged_pump_reminders_say_not_to_pump_extra,
    a_broadcast_reaches_matching_devices_and_waits_for_quiet_hours,
    a_burst_larger_than_a_batch_drains_in_one_tick,
);

async fn a_due_routine_arrives_as_an_encrypted_signed_web_push(app: TestApp) {
    let s = setup(app).await;
    let (routine, due) = routine_due_soon(&s.app, &s.token).await;
    let early = run_once(&s.ctx, due - Duration::seconds(1)).await.unwrap();
    assert_eq!((early.staged, early.attempted), (1, 0), "staged a second early, and not sent: {early:?}");
    assert!(s.standin.received().is_empty());
    let list = occurrences(&s.app, &s.token).await;
    assert_eq!(list[0]["status"], "planned", "a staged reminder is planned to the app: {list:?}");
    assert_eq!(list[0]["deliveries"][0]["status"], "pending");
    let tick = run_once(&s.ctx, due).await.unwrap();
    assert_eq!(
        (tick.claimed, tick.delivered),
        (0, 1),
        "{tick:?} {:?}",
        s.standin.received().iter().map(|r| r.problem.clone()).collect::<Vec<_>>()
    );
    let received = s.standin.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let r = &received[0];
    assert_eq!(r.status, 201, "{:?}", r.problem);
    let payload = r.payload.as_ref().unwrap();
    assert_eq!(payload["type"], "reminder");
    assert_eq!(payload["kind"], "pump");
    assert_eq!(payload["routine_id"], routine.as_str());
    assert_eq!(payload["actions"], json!(["done", "snooze"]));
    assert_eq!(payload["title"], "Time to pump");
    assert!(payload["body"].as_str().unwrap().contains("gentle massage"));
    assert_eq!(r.claims.as_ref().unwrap()["sub"], VAPID_SUBJECT);
    assert_eq!(r.headers.get("urgency").map(String::as_str), Some("normal"));
    assert!(r.headers.get("topic").is_some_and(|t| t.len() <= 32));
    let list = occurrences(&s.app, &s.token).await;
    let sent = list.iter().find(|o| o["id"] == payload["occurrence_id"]).unwrap();
    assert_eq!(sent["status"], "delivered");
    assert_eq!(sent["deliveries"][0]["status"], "delivered");
    let next = planned(&s.app, &s.token, &routine).await.unwrap();
    assert_eq!(next, due + Duration::days(1), "the next day's reminder is planned");
    let again = run_once(&s.ctx, due + Duration::seconds(2)).await.unwrap();
    assert_eq!(again.attempted, 0, "a delivered reminder is never sent again");
    assert_eq!(s.standin.received().len(), 1);
    let metrics = s.ctx.metrics.render();
    assert!(metrics.contains("milkflow_deliveries_total{outcome=\"delivered\",provider=\"web\"} 1"), "{metrics}");
    assert!(metrics.contains("milkflow_delivery_lateness_seconds_count{provider=\"web\"} 1"), "{metrics}");
    assert!(metrics.contains("milkflow_due_backlog 0"), "{metrics}");
}

async fn server_errors_timeouts_and_429_are_retried_honouring_retry_after(app: TestApp) {
    let s = setup(app).await;
    s.standin.script(
        &s.sub.id,
        &[
            Scripted { status: 500, retry_after: None },
            Scripted { status: 408, retry_after: None },
            Scripted { status: 429, retry_after: Some(120) },
        ],
    );
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    let t1 = due + Duration::seconds(1);
    assert_eq!(run_once(&s.ctx, t1).await.unwrap().retried, 1);
    let status = |list: &Vec<Value>| {
        list.iter().find(|o| o["due_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap() == due).unwrap()["deliveries"][0].clone()
    };
    let d = status(&occurrences(&s.app, &s.token).await);
    assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some("retrying"), Some(1)));
    // The backoff after the first failure is a few seconds: nothing is retried at once.
    assert_eq!(run_once(&s.ctx, t1).await.unwrap().attempted, 0);
    // A 408 says the push service gave up waiting for the request (RFC 9110: it may be sent again).
    let timed_out = t1 + Duration::seconds(10);
    assert_eq!(run_once(&s.ctx, timed_out).await.unwrap().retried, 1, "second attempt answered 408");
    let t2 = timed_out + Duration::seconds(15);
    assert_eq!(run_once(&s.ctx, t2).await.unwrap().retried, 1, "third attempt answered 429");
    assert_eq!(
        run_once(&s.ctx, t2 + Duration::seconds(119)).await.unwrap().attempted,
        0,
        "Retry-After: 120 is honoured"
    );
    let last = run_once(&s.ctx, t2 + Duration::seconds(121)).await.unwrap();
    assert_eq!(last.delivered, 1);
    let d = status(&occurrences(&s.app, &s.token).await);
    assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some("delivered"), Some(4)));
    assert_eq!(s.standin.delivered().len(), 1);
}

async fn a_gone_subscription_deletes_the_device_and_it_gets_nothing_more(app: TestApp) {
    let s = setup(app).await;
    s.standin.script(&s.sub.id, &[Scripted { status: 410, retry_after: None }]);
    let (routine, due) = routine_due_soon(&s.app, &s.token).await;
    assert_eq!(run_once(&s.ctx, due + Duration::seconds(1)).await.unwrap().pruned, 1);
    let devices = s.app.get("/v1/devices", Some(&s.token)).await;
    assert_eq!(devices.body, json!([]));
    assert!(s.ctx.metrics.render().contains("milkflow_devices_pruned_total{provider=\"web\"} 1"));
    let next = planned(&s.app, &s.token, &routine).await.unwrap();
    let later = run_once(&s.ctx, next + Duration::seconds(1)).await.unwrap();
    assert_eq!((later.claimed, later.attempted), (1, 0), "no device, nothing sent");
    assert_eq!(s.standin.received().len(), 1);
}

async fn other_client_errors_fail_and_keep_the_reason(app: TestApp) {
    let s = setup(app).await;
    s.standin.script(&s.sub.id, &[Scripted { status: 400, retry_after: None }]);
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    assert_eq!(run_once(&s.ctx, due + Duration::seconds(1)).await.unwrap().failed, 1);
    let list = occurrences(&s.app, &s.token).await;
    let d = &list.iter().find(|o| o["status"] == "failed").unwrap()["deliveries"][0];
    assert_eq!(d["status"], "failed");
    assert_eq!(d["last_error"], "rejected_4xx", "a reason code, never the push service's own answer");
    assert!(!list.iter().any(|o| o.to_string().contains(milkflow_tests::webpush::PUSH_SERVICE_DETAIL)));
    assert_eq!(
        run_once(&s.ctx, due + Duration::minutes(5)).await.unwrap().attempted,
        0,
        "a failed delivery is not retried"
    );
}

async fn a_reminder_due_while_schedulers_were_down_is_sent_within_grace_and_missed_after(app: TestApp) {
    let s = setup(app).await;
    let (routine, due) = routine_due_soon(&s.app, &s.token).await;
    let late = run_once(&s.ctx, due + Duration::minutes(14)).await.unwrap();
    assert_eq!((late.missed, late.delivered), (0, 1), "14 minutes late is within the 15-minute grace");
    let next = planned(&s.app, &s.token, &routine).await.unwrap();
    let stale = run_once(&s.ctx, next + Duration::minutes(16)).await.unwrap();
    assert_eq!((stale.missed, stale.attempted), (1, 0));
    assert_eq!(s.standin.received().len(), 1, "no flood of stale reminders");
    let list = occurrences(&s.app, &s.token).await;
    assert!(list.iter().any(|o| o["status"] == "missed"));
    assert!(planned(&s.app, &s.token, &routine).await.unwrap() > next, "a missed reminder still plans the next one");
}

async fn snooze_reminds_again_and_done_closes(app: TestApp) {
    let s = setup(app).await;
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    run_once(&s.ctx, due + Duration::seconds(1)).await.unwrap();
    let occurrence = s.standin.delivered()[0]["occurrence_id"].as_str().unwrap().to_owned();
    let bad = s.app.post_auth(&format!("/v1/occurrences/{occurrence}/snooze"), &json!({"minutes": 3}), &s.token).await;
    assert_eq!(bad.error_fields(), vec!["minutes"]);
    let snoozed =
        s.app.post_auth(&format!("/v1/occurrences/{occurrence}/snooze"), &json!({"minutes": 10}), &s.token).await;
    assert_eq!(snoozed.status, 201, "{}", snoozed.body);
    assert_eq!(snoozed.body["source"], "snooze");
    let again_at: DateTime<Utc> = snoozed.body["due_at"].as_str().unwrap().parse().unwrap();
    let tick = run_once(&s.ctx, again_at + Duration::seconds(1)).await.unwrap();
    assert_eq!(tick.delivered, 1);
    let second = &s.standin.delivered()[1];
    assert_eq!(second["occurrence_id"], snoozed.body["id"]);
    let done = s
        .app
        .post_auth(&format!("/v1/occurrences/{}/done", second["occurrence_id"].as_str().unwrap()), &json!({}), &s.token)
        .await;
    assert_eq!((done.status.as_u16(), done.body["status"].as_str()), (200, Some("done")));
    let list = occurrences(&s.app, &s.token).await;
    assert!(list.iter().any(|o| o["id"] == occurrence.as_str() && o["status"] == "snoozed"));
    let (other, _) = s.app.signed_up().await;
    s.app.post_auth(&format!("/v1/occurrences/{occurrence}/done"), &json!({}), &other).await.assert_problem(404);
}

async fn editing_disabling_and_deleting_a_routine_replans_it(app: TestApp) {
    let s = setup(app).await;
    let (routine, due) = routine_due_soon(&s.app, &s.token).await;
    let path = format!("/v1/routines/{routine}");
    let later = (due + Duration::hours(2)).format("%H:%M").to_string();
    let r = s
        .app
        .send(Method::PATCH, &path, Some(&json!({"schedule": {"type": "times", "times": [later]}})), Some(&s.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(planned(&s.app, &s.token, &routine).await, Some(due + Duration::hours(2)));
    s.app.send(Method::PATCH, &path, Some(&json!({"enabled": false})), Some(&s.token)).await;
    assert_eq!(planned(&s.app, &s.token, &routine).await, None, "a disabled routine plans nothing");
    s.app.send(Method::PATCH, &path, Some(&json!({"enabled": true})), Some(&s.token)).await;
    assert!(planned(&s.app, &s.token, &routine).await.is_some());
    s.app.send(Method::DELETE, &path, None, Some(&s.token)).await;
    assert_eq!(planned(&s.app, &s.token, &routine).await, None);
    assert_eq!(run_once(&s.ctx, due + Duration::hours(3)).await.unwrap().claimed, 0);
    // An after_last routine moves when the user logs a session.
    let after = s
        .app
        .post_auth("/v1/routines", &json!({"kind": "pump", "schedule": {"type": "after_last", "hours": 3}}), &s.token)
        .await;
    let after_id = after.body["id"].as_str().unwrap().to_owned();
    let session = s.app.post_auth("/v1/pump-sessions", &milkflow_tests::pump_body(30, 40.0, 40.0), &s.token).await;
    let started: DateTime<Utc> = session.body["started_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(planned(&s.app, &s.token, &after_id).await, Some(started + Duration::hours(3)));
}

async fn three_schedulers_deliver_each_reminder_exactly_once(app: TestApp) {
    let s = setup(app).await;
    let mut subscriptions = vec![s.sub.id.clone()];
    let at = (Utc::now() + Duration::minutes(3)).format("%H:%M").to_string();
    for _ in 0..12 {
        let (token, _) = s.app.signed_up().await;
        subscriptions.push(register_device(&s.app, &s.standin, &token).await.id);
        s.app
            .post_auth(
                "/v1/routines",
                &json!({"kind": "massage", "schedule": {"type": "times", "times": [at]}}),
                &token,
            )
            .await;
    }
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    let contexts: Vec<TickContext> = three_contexts(&s).await;
    let now = due + Duration::seconds(1);
    let mut rounds = 0;
    loop {
        let outcomes = futures_util::future::join_all(contexts.iter().map(|c| run_once(c, now))).await;
        let work: usize = outcomes.iter().map(|o| o.as_ref().unwrap().claimed + o.as_ref().unwrap().attempted).sum();
        rounds += 1;
        if work == 0 || rounds > 10 {
            break;
        }
    }
    let delivered = s.standin.delivered();
    assert_eq!(delivered.len(), 13, "every reminder once: {}", delivered.len());
    let mut ids: Vec<&str> = delivered.iter().map(|p| p["occurrence_id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 13, "no reminder twice");
    assert_eq!(
        s.standin.received().iter().map(|r| r.subscription.clone()).collect::<std::collections::HashSet<_>>().len(),
        subscriptions.len()
    );
}

async fn three_contexts(s: &Setup) -> Vec<TickContext> {
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(TickContext::build(&s.app.settings, s.app.db.clone()).await.unwrap());
    }
    out
}

async fn deliveries_leased_by_a_killed_scheduler_are_sent_after_the_lease(app: TestApp) {
    use sea_orm::{ConnectionTrait, Statement};
    let s = setup(app).await;
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    let now = due + Duration::seconds(1);
    // A scheduler fans out, claims the deliveries and dies before sending: they stay leased to it.
    let mut fanned = scheduler::tick::TickOutcome::default();
    scheduler::tick::fan_out(&s.ctx, now, &mut fanned).await.unwrap();
    assert_eq!(fanned.claimed, 1);
    let backend = s.app.db.get_database_backend();
    let lease_until = if s.app.kind == milkflow_tests::Db::Postgres { "$1" } else { "?" };
    let sql = format!("UPDATE deliveries SET lease_until = {lease_until}, leased_by = 'killed-process'");
    s.app
        .db
        .execute_raw(Statement::from_sql_and_values(backend, sql, [(now + Duration::seconds(60)).into()]))
        .await
        .unwrap();
    let during = run_once(&s.ctx, now + Duration::seconds(30)).await.unwrap();
    assert_eq!(during.attempted, 0, "a leased delivery is left to its owner until the lease ends");
    let after = run_once(&s.ctx, now + Duration::seconds(61)).await.unwrap();
    assert_eq!(after.delivered, 1);
    assert_eq!(s.standin.delivered().len(), 1);
}

async fn a_send_that_could_not_end_inside_its_lease_is_left_for_the_next_claim(app: TestApp) {
    let s = setup(app).await;
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    let now = due + Duration::seconds(1);
    // A scheduler whose send could outlast its lease (here: its timeout is the whole lease), as one whose sends
    // waited too long for a slot: another could take the delivery meanwhile, so it must not send.
    let mut behind = s.ctx.clone();
    behind.push.timeout_s = behind.push.lease_s;
    let first = run_once(&behind, now).await.unwrap();
    assert_eq!((first.leased, first.delivered), (1, 0), "{first:?}");
    assert!(s.standin.delivered().is_empty(), "nothing is sent once the lease cannot cover the send");
    let lapsed = s.ctx.metrics.deliveries.with_label_values(&["web", "lease_lapsed"]).get();
    assert_eq!(lapsed, 1);
    // Unrecorded, it stays leased until the lease ends, then any scheduler sends it, once.
    let during = run_once(&s.ctx, now + Duration::seconds(30)).await.unwrap();
    assert_eq!(during.attempted, 0, "{during:?}");
    let after = run_once(&s.ctx, now + Duration::seconds(s.ctx.push.lease_s as i64 + 1)).await.unwrap();
    assert_eq!(after.delivered, 1, "{after:?}");
    assert_eq!(s.standin.delivered().len(), 1);
}

async fn web_devices_are_validated_and_deduplicated(app: TestApp) {
    let s = setup(app).await;
    let again = json!({"platform": "web", "endpoint": s.sub.endpoint, "keys": {"p256dh": s.sub.p256dh, "auth": s.sub.auth}, "name": "renamed"});
    let r = s.app.post_auth("/v1/devices", &again, &s.token).await;
    assert_eq!((r.status.as_u16(), r.body["name"].as_str()), (200, Some("renamed")));
    assert_eq!(s.app.get("/v1/devices", Some(&s.token)).await.body.as_array().unwrap().len(), 1);
    let bad = json!({"platform": "web", "endpoint": "ftp://x", "keys": {"p256dh": "AAAA", "auth": "short"}});
    assert_eq!(
        s.app.post_auth("/v1/devices", &bad, &s.token).await.error_fields(),
        vec!["endpoint", "keys.p256dh", "keys.auth"]
    );
    let fcm = s.app.post_auth("/v1/devices", &json!({"platform": "fcm", "token": "fcm-token:abc_123"}), &s.token).await;
    assert_eq!(fcm.status, 201);
    let apns = s.app.post_auth("/v1/devices", &json!({"platform": "apns", "token": "zz"}), &s.token).await;
    assert_eq!(apns.error_fields(), vec!["token"]);
    let id = fcm.body["id"].as_str().unwrap();
    let (other, _) = s.app.signed_up().await;
    s.app.send(Method::DELETE, &format!("/v1/devices/{id}"), None, Some(&other)).await.assert_problem(404);
    assert_eq!(s.app.send(Method::DELETE, &format!("/v1/devices/{id}"), None, Some(&s.token)).await.status, 204);
}

async fn with_a_fever_logged_pump_reminders_say_not_to_pump_extra(app: TestApp) {
    let s = setup(app).await;
    let check = json!({"at": Utc::now().to_rfc3339(), "engorgement": 4, "pain": 5, "temperature_c": 38.6});
    assert_eq!(s.app.post_auth("/v1/symptom-checks", &check, &s.token).await.status, 201);
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    run_once(&s.ctx, due + Duration::seconds(1)).await.unwrap();
    let payload = &s.standin.delivered()[0];
    assert!(payload["body"].as_str().unwrap().contains("no extra pumping"), "{payload}");
    let planned_count = occurrences(&s.app, &s.token).await.iter().filter(|o| o["status"] == "planned").count();
    assert_eq!(planned_count, 1, "no reminders beyond the user's own routine");
}

async fn a_broadcast_reaches_matching_devices_and_waits_for_quiet_hours(app: TestApp) {
    let s = setup(app).await;
    let admin = s.app.login(milkflow_tests::ADMIN_EMAIL, milkflow_tests::ADMIN_PASSWORD).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The sleeper is in quiet hours now.
    let (sleeper, _) = s.app.signed_up().await;
    let quiet = json!({"start": (Utc::now() - Duration::hours(1)).format("%H:%M").to_string(), "end": (Utc::now() + Duration::hours(2)).format("%H:%M").to_string()});
    s.app.send(Method::PATCH, "/v1/me", Some(&json!({"quiet_hours": quiet})), Some(&sleeper)).await;
    register_device(&s.app, &s.standin, &sleeper).await;
    // A German-only device is outside an English audience.
    let (german, _) = s.app.signed_up().await;
    let sub = s.standin.subscribe();
    let body = json!({"platform": "web", "endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}, "locale": "de-AT"});
    s.app.post_auth("/v1/devices", &body, &german).await;

    let request = json!({"title": "A new gentle guide", "body": "Light strokes for a tender spot are in the app.", "audience": {"locales": ["en"]}});
    let r = s.app.post_auth("/admin/v1/broadcasts", &request, &admin).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["targeted"], 2);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let bad = s
        .app
        .post_auth(
            "/admin/v1/broadcasts",
            &json!({"title": "", "body": "x", "audience": {"all": true, "locales": ["en"]}}),
            &admin,
        )
        .await;
    assert_eq!(bad.error_fields(), vec!["title", "audience"]);

    let now = Utc::now() + Duration::seconds(1);
    assert_eq!(run_once(&s.ctx, now).await.unwrap().delivered, 1, "the one outside quiet hours gets it now");
    let payload = s.standin.delivered()[0].clone();
    assert_eq!((payload["type"].as_str(), payload["broadcast_id"].as_str()), (Some("broadcast"), Some(id.as_str())));
    assert_eq!(payload["title"], "A new gentle guide");
    let status = s.app.get(&format!("/admin/v1/broadcasts/{id}"), Some(&admin)).await;
    assert_eq!((status.body["delivered"].as_i64(), status.body["pending"].as_i64()), (Some(1), Some(1)));

    let for_sleeper = occurrences(&s.app, &sleeper).await;
    let due: DateTime<Utc> =
        for_sleeper.iter().find(|o| o["kind"] == "broadcast").unwrap()["due_at"].as_str().unwrap().parse().unwrap();
    assert!(due > now + Duration::minutes(100), "deferred to the end of the account's quiet hours: {due}");
    assert_eq!(run_once(&s.ctx, due + Duration::seconds(1)).await.unwrap().delivered, 1);
    let done = s.app.get(&format!("/admin/v1/broadcasts/{id}"), Some(&admin)).await;
    assert_eq!(
        (done.body["delivered"].as_i64(), done.body["pending"].as_i64(), done.body["failed"].as_i64()),
        (Some(2), Some(0), Some(0))
    );
    assert!(s.standin.received().iter().all(|r| r.subscription != sub.id), "the German device got nothing");

    let stats = s.app.get("/admin/v1/stats/deliveries", Some(&admin)).await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    let delivered: u64 = stats
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["provider"] == "web")
        .map(|d| d["delivered"].as_u64().unwrap())
        .sum();
    assert_eq!(delivered, 2);
    let web = stats.body.as_array().unwrap().iter().find(|d| d["provider"] == "web").unwrap();
    assert!(web["lateness_p99_s"].as_f64().is_some());
    let usage = s.app.get("/admin/v1/stats/usage", Some(&admin)).await;
    assert!(
        usage.body["users"].as_u64().unwrap() >= 4 && usage.body["active_users_7d"].as_u64().unwrap() >= 3,
        "{}",
        usage.body
    );
}

async fn a_burst_larger_than_a_batch_drains_in_one_tick(app: TestApp) {
    use sea_orm::{EntityTrait, sea_query::Expr};
    let mut s = setup(app).await;
    for _ in 0..5 {
        routine_due_soon(&s.app, &s.token).await;
    }
    // All five fall due now; a batch holds two.
    entity::occurrence::Entity::update_many()
        .col_expr(entity::occurrence::Column::DueAt, Expr::value(Utc::now() - Duration::seconds(30)))
        .exec(&s.app.db)
        .await
        .unwrap();
    s.ctx.push.batch = 2;
    let batches = std::cell::Cell::new(0);
    let out = scheduler::tick::drain(&s.ctx, || batches.set(batches.get() + 1)).await.unwrap();
    assert_eq!((out.claimed, out.leased, out.delivered), (5, 5, 5), "{out:?}");
    assert!(batches.get() >= 3, "{} batches", batches.get());
    assert_eq!(s.standin.delivered().len(), 5);
    let tick = run_once(&s.ctx, Utc::now()).await.unwrap();
    assert_eq!((tick.claimed, tick.attempted), (0, 0), "nothing left after the drain");
}
