//! Snoozes: one pending re-reminder per reminder, a bounded number an hour, and a broadcast snoozed says
//! what the broadcast said.

use chrono::{DateTime, Duration, Utc};
use milkflow_tests::reminders::{occurrences, routine_due_soon, setup};
use milkflow_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, on_both_databases_api_only};
use scheduler::tick::run_once;
use serde_json::json;

on_both_databases_api_only!(
    snoozing_one_reminder_twenty_times_leaves_one_pending_re_reminder,
    snoozes_at_the_same_moment_leave_one_pending_re_reminder,
    snoozes_per_account_and_hour_are_bounded,
    a_snoozed_broadcast_says_the_broadcast_again,
);

async fn snooze(app: &TestApp, token: &str, occurrence: &str, minutes: i64) -> milkflow_tests::Reply {
    app.post_auth(&format!("/v1/occurrences/{occurrence}/snooze"), &json!({"minutes": minutes}), token).await
}

fn pending_snoozes(list: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    list.iter().filter(|o| o["source"] == "snooze" && o["status"] == "planned").collect()
}

async fn snoozing_one_reminder_twenty_times_leaves_one_pending_re_reminder(app: TestApp) {
    let s = setup(app).await;
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    run_once(&s.ctx, due + Duration::seconds(1)).await.unwrap();
    let occurrence = s.standin.delivered()[0]["occurrence_id"].as_str().unwrap().to_owned();
    let first = snooze(&s.app, &s.token, &occurrence, 10).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let mut last = first.body.clone();
    for minutes in 11..30 {
        let again = snooze(&s.app, &s.token, &occurrence, minutes).await;
        assert_eq!(again.status, 200, "snoozing again moves the re-reminder: {}", again.body);
        assert_eq!(again.body["id"], first.body["id"]);
        last = again.body.clone();
    }
    // Snoozing the re-reminder itself moves it too.
    let moved = snooze(&s.app, &s.token, first.body["id"].as_str().unwrap(), 5).await;
    assert_eq!((moved.status.as_u16(), &moved.body["id"]), (200, &first.body["id"]));
    assert_ne!(moved.body["due_at"], last["due_at"]);
    let list = occurrences(&s.app, &s.token).await;
    assert_eq!(pending_snoozes(&list).len(), 1, "{list:?}");
    let again_at: DateTime<Utc> = moved.body["due_at"].as_str().unwrap().parse().unwrap();
    let tick = run_once(&s.ctx, again_at + Duration::seconds(1)).await.unwrap();
    assert_eq!(tick.delivered, 1, "one re-reminder, sent once");
    assert_eq!(s.standin.delivered().len(), 2);
}

async fn snoozes_at_the_same_moment_leave_one_pending_re_reminder(app: TestApp) {
    let s = setup(app).await;
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    run_once(&s.ctx, due + Duration::seconds(1)).await.unwrap();
    let occurrence = s.standin.delivered()[0]["occurrence_id"].as_str().unwrap().to_owned();
    let replies = futures_util::future::join_all((0..8).map(|i| snooze(&s.app, &s.token, &occurrence, 10 + i))).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert!(replies.iter().all(|r| r.status == 200 || r.status == 201), "no errors");
    assert_eq!(created, 1);
    assert_eq!(pending_snoozes(&occurrences(&s.app, &s.token).await).len(), 1);
}

async fn snoozes_per_account_and_hour_are_bounded(app: TestApp) {
    let s = setup(app).await;
    let max = store::reminders::MAX_SNOOZES_PER_HOUR as usize;
    // Reminders of several routines, each snoozed once: each snooze is a new re-reminder.
    let mut reminders = Vec::new();
    for i in 0..=max {
        let at = (Utc::now() + Duration::minutes(3 + i as i64)).format("%H:%M").to_string();
        let body = json!({"kind": "massage", "schedule": {"type": "times", "times": [at]}});
        assert_eq!(s.app.post_auth("/v1/routines", &body, &s.token).await.status, 201);
    }
    for o in occurrences(&s.app, &s.token).await.iter().filter(|o| o["status"] == "planned") {
        reminders.push(o["id"].as_str().unwrap().to_owned());
    }
    assert!(reminders.len() > max, "{}", reminders.len());
    for id in &reminders[..max] {
        assert_eq!(snooze(&s.app, &s.token, id, 30).await.status, 201);
    }
    let refused = snooze(&s.app, &s.token, &reminders[max], 30).await;
    refused.assert_problem(429);
    let wait: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    assert_eq!(pending_snoozes(&occurrences(&s.app, &s.token).await).len(), max);
}

async fn a_snoozed_broadcast_says_the_broadcast_again(app: TestApp) {
    let s = setup(app).await;
    let admin = s.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let request = json!({"title": "Clinic hours this week", "body": "The consultants answer until 8 pm.", "audience": {"all": true}});
    let created = s.app.post_auth("/admin/v1/broadcasts", &request, &admin).await;
    assert_eq!(created.status, 201, "{}", created.body);
    run_once(&s.ctx, Utc::now() + Duration::seconds(1)).await.unwrap();
    let first = s.standin.delivered()[0].clone();
    assert_eq!(first["title"], "Clinic hours this week");
    let snoozed = snooze(&s.app, &s.token, first["occurrence_id"].as_str().unwrap(), 15).await;
    assert_eq!(snoozed.status, 201, "{}", snoozed.body);
    assert_eq!(snoozed.body["kind"], "broadcast");
    let again_at: DateTime<Utc> = snoozed.body["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(run_once(&s.ctx, again_at + Duration::seconds(1)).await.unwrap().delivered, 1);
    let again = s.standin.delivered()[1].clone();
    assert_eq!(
        (again["type"].as_str(), again["broadcast_id"].as_str()),
        (Some("broadcast"), created.body["id"].as_str())
    );
    assert_eq!(again["title"], "Clinic hours this week");
    assert_eq!(again["body"], "The consultants answer until 8 pm.");
}
