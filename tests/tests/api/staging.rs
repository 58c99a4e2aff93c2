//! Staging (issue 23): reminders due within the look-ahead window are made and encrypted ahead by one
//! scheduler, sent at their time by whichever claims them, and taken back when the account changes before
//! then. Each test stages with one scheduler and sends with two others at once, as processes would.

use chrono::{DateTime, Duration, Utc};
use milkflow_tests::reminders::{Setup, occurrences, planned, register_device, routine_due_soon, setup};
use milkflow_tests::{TestApp, on_both_databases_api_only};
use reqwest::Method;
use scheduler::tick::{TickContext, TickOutcome, run_once};
use serde_json::json;

on_both_databases_api_only!(
    staged_reminders_wait_for_their_time_and_go_once_from_several_schedulers,
    a_routine_edited_or_deleted_before_its_time_sends_the_new_one_or_none,
    done_or_snoozed_before_its_time_sends_nothing_then,
    quiet_hours_or_a_new_time_zone_take_back_what_was_staged,
    a_device_removed_or_added_before_the_time_gets_what_it_should,
    an_advisory_raised_before_the_time_makes_the_staged_reminder_gentle,
    a_disabled_or_erased_account_gets_nothing_that_was_staged,
    a_push_service_answering_429_holds_back_only_its_own_queue,
);

/// Stages what is due at `due` a minute ahead, and checks that nothing went out.
async fn stage(s: &Setup, due: DateTime<Utc>) -> TickOutcome {
    let out = run_once(&s.ctx, due - Duration::seconds(60)).await.unwrap();
    assert!(out.staged >= 1 && out.attempted == 0, "{out:?}");
    assert!(s.standin.received().is_empty(), "nothing is sent before its time");
    out
}

/// Two more scheduler processes' contexts.
async fn others(s: &Setup) -> (TickContext, TickContext) {
    let ctx = || TickContext::build(&s.app.settings, s.app.db.clone());
    (ctx().await.unwrap(), ctx().await.unwrap())
}

/// Runs the two other schedulers' ticks at `at`, side by side.
async fn send_at(contexts: &(TickContext, TickContext), at: DateTime<Utc>) {
    let (a, b) = tokio::join!(run_once(&contexts.0, at), run_once(&contexts.1, at));
    a.unwrap();
    b.unwrap();
}

async fn staged_reminders_wait_for_their_time_and_go_once_from_several_schedulers(app: TestApp) {
    let s = setup(app).await;
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    let at = due.format("%H:%M").to_string();
    let mut users = vec![s.token.clone()];
    for _ in 0..9 {
        let (token, _) = s.app.signed_up().await;
        register_device(&s.app, &s.standin, &token).await;
        let routine = json!({"kind": "massage", "schedule": {"type": "times", "times": [at]}});
        assert_eq!(s.app.post_auth("/v1/routines", &routine, &token).await.status, 201);
        users.push(token);
    }
    let staged = stage(&s, due).await;
    assert_eq!(staged.staged, 10, "{staged:?}");
    let next_due = |after| store::deliveries::next_due_between(&s.app.db, after, due + Duration::seconds(1));
    assert_eq!(next_due(due - Duration::seconds(60)).await.unwrap(), Some(due), "the on-time loop wakes for them");
    assert_eq!(next_due(due).await.unwrap(), None, "after `now` only");
    let contexts = others(&s).await;
    send_at(&contexts, due - Duration::milliseconds(1)).await;
    assert!(s.standin.received().is_empty(), "not a millisecond early");
    let (a, b, c) = tokio::join!(run_once(&contexts.0, due), run_once(&contexts.1, due), run_once(&s.ctx, due));
    let sent: Vec<usize> = [a, b, c].into_iter().map(|o| o.unwrap().delivered).collect();
    assert_eq!(sent.iter().sum::<usize>(), 10, "{sent:?}");
    let mut delivered: Vec<String> =
        s.standin.delivered().iter().map(|p| p["occurrence_id"].as_str().unwrap().to_owned()).collect();
    delivered.sort();
    delivered.dedup();
    assert_eq!((delivered.len(), s.standin.received().len()), (10, 10), "each once, and decrypted");
    send_at(&contexts, due + Duration::seconds(5)).await;
    assert_eq!(s.standin.received().len(), 10, "nothing twice");
    assert_eq!(next_due(due - Duration::seconds(60)).await.unwrap(), None, "nothing left to wake for");
    for token in &users {
        let list = occurrences(&s.app, token).await;
        let sent = list.iter().find(|o| o["due_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap() == due);
        assert_eq!(sent.unwrap()["status"], "delivered", "{list:?}");
    }
}

async fn a_routine_edited_or_deleted_before_its_time_sends_the_new_one_or_none(app: TestApp) {
    let s = setup(app).await;
    let (routine, due) = routine_due_soon(&s.app, &s.token).await;
    stage(&s, due).await;
    let path = format!("/v1/routines/{routine}");
    let r = s.app.send(Method::PATCH, &path, Some(&json!({"kind": "massage"})), Some(&s.token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let contexts = others(&s).await;
    send_at(&contexts, due).await;
    let delivered = s.standin.delivered();
    assert_eq!(delivered.len(), 1, "the edited routine's reminder, once: {delivered:?}");
    assert_eq!(
        (delivered[0]["kind"].as_str(), delivered[0]["title"].as_str()),
        (Some("massage"), Some("Time for a gentle massage"))
    );
    // The next day's: staged, then the routine is deleted.
    let next = planned(&s.app, &s.token, &routine).await.unwrap();
    stage_again(&s, next).await;
    assert_eq!(s.app.send(Method::DELETE, &path, None, Some(&s.token)).await.status, 204);
    send_at(&contexts, next + Duration::seconds(1)).await;
    assert_eq!(s.standin.received().len(), 1, "a deleted routine's staged reminder is not sent");
}

/// [`stage`] when something was already sent.
async fn stage_again(s: &Setup, due: DateTime<Utc>) {
    let before = s.standin.received().len();
    let out = run_once(&s.ctx, due - Duration::seconds(60)).await.unwrap();
    assert_eq!((out.staged, out.attempted), (1, 0), "{out:?}");
    assert_eq!(s.standin.received().len(), before);
}

async fn done_or_snoozed_before_its_time_sends_nothing_then(app: TestApp) {
    let s = setup(app).await;
    let (routine, due) = routine_due_soon(&s.app, &s.token).await;
    stage(&s, due).await;
    let id = occurrence_due(&s, due).await;
    let done = s.app.post_auth(&format!("/v1/occurrences/{id}/done"), &json!({}), &s.token).await;
    assert_eq!((done.status.as_u16(), done.body["status"].as_str()), (200, Some("done")), "{}", done.body);
    let contexts = others(&s).await;
    send_at(&contexts, due + Duration::seconds(1)).await;
    assert!(s.standin.received().is_empty(), "done before its time: nothing is sent");
    let next = planned(&s.app, &s.token, &routine).await.unwrap();
    assert_eq!(next, due + Duration::days(1), "the routine goes on");
    stage(&s, next).await;
    let id = occurrence_due(&s, next).await;
    let snoozed = s.app.post_auth(&format!("/v1/occurrences/{id}/snooze"), &json!({"minutes": 10}), &s.token).await;
    assert_eq!(snoozed.status, 201, "{}", snoozed.body);
    let again_at: DateTime<Utc> = snoozed.body["due_at"].as_str().unwrap().parse().unwrap();
    send_at(&contexts, again_at + Duration::seconds(1)).await;
    send_at(&contexts, next + Duration::seconds(1)).await;
    let delivered = s.standin.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["occurrence_id"], snoozed.body["id"], "the re-reminder, once; not the snoozed one");
}

/// The id of the account's reminder due at `due`.
async fn occurrence_due(s: &Setup, due: DateTime<Utc>) -> String {
    let list = occurrences(&s.app, &s.token).await;
    let o = list.iter().find(|o| o["due_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap() == due);
    let o = o.unwrap_or_else(|| panic!("none due at {due}: {list:?}"));
    assert_eq!(o["status"], "planned", "staged, as the app sees it");
    o["id"].as_str().unwrap().to_owned()
}

async fn quiet_hours_or_a_new_time_zone_take_back_what_was_staged(app: TestApp) {
    let s = setup(app).await;
    let (routine, due) = routine_due_soon(&s.app, &s.token).await;
    stage(&s, due).await;
    let quiet = json!({"start": (due - Duration::minutes(30)).format("%H:%M").to_string(), "end": (due + Duration::hours(2)).format("%H:%M").to_string()});
    let r = s.app.send(Method::PATCH, "/v1/me", Some(&json!({"quiet_hours": quiet})), Some(&s.token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let contexts = others(&s).await;
    send_at(&contexts, due + Duration::seconds(1)).await;
    assert!(s.standin.received().is_empty(), "the staged reminder fell in the new quiet hours");
    // Its daily time is always in the quiet hours now: it is not planned then (nor at all, with only that time).
    let moved = planned(&s.app, &s.token, &routine).await;
    assert!(moved.is_none_or(|at| at > due + Duration::hours(1)), "{moved:?}");
    // Quiet hours gone again: planned at its time; staged; then the account moves nine hours east.
    s.app.send(Method::PATCH, "/v1/me", Some(&json!({"quiet_hours": null})), Some(&s.token)).await;
    let next = planned(&s.app, &s.token, &routine).await.unwrap();
    stage(&s, next).await;
    let r = s.app.send(Method::PATCH, "/v1/me", Some(&json!({"timezone": "Asia/Tokyo"})), Some(&s.token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    send_at(&contexts, next + Duration::seconds(1)).await;
    assert!(s.standin.received().is_empty(), "the staged reminder was for the old clock");
    let replanned = planned(&s.app, &s.token, &routine).await.unwrap();
    assert_eq!((replanned - next).num_hours().rem_euclid(24), 15, "the same local time in Tokyo: {replanned}");
}

async fn a_device_removed_or_added_before_the_time_gets_what_it_should(app: TestApp) {
    let s = setup(app).await;
    let second = register_device(&s.app, &s.standin, &s.token).await;
    let (routine, due) = routine_due_soon(&s.app, &s.token).await;
    stage(&s, due).await;
    let devices = s.app.get("/v1/devices", Some(&s.token)).await.body;
    // Newest first: the setup's device is the last.
    let first = devices.as_array().unwrap().last().unwrap();
    let path = format!("/v1/devices/{}", first["id"].as_str().unwrap());
    assert_eq!(s.app.send(Method::DELETE, &path, None, Some(&s.token)).await.status, 204);
    let contexts = others(&s).await;
    send_at(&contexts, due).await;
    let received = s.standin.received();
    assert_eq!(received.len(), 1, "only the device left: {received:?}");
    assert_eq!(received[0].subscription, second.id);
    // The next day's is staged for the one device; a third is added before its time.
    let next = planned(&s.app, &s.token, &routine).await.unwrap();
    stage_again(&s, next).await;
    let third = register_device(&s.app, &s.standin, &s.token).await;
    send_at(&contexts, next).await;
    let mut to: Vec<String> = s.standin.received()[1..].iter().map(|r| r.subscription.clone()).collect();
    to.sort();
    let mut want = vec![second.id.clone(), third.id.clone()];
    want.sort();
    assert_eq!(to, want, "both devices, each once");
}

async fn an_advisory_raised_before_the_time_makes_the_staged_reminder_gentle(app: TestApp) {
    let s = setup(app).await;
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    stage(&s, due).await;
    let check = json!({"at": Utc::now().to_rfc3339(), "engorgement": 4, "pain": 5, "temperature_c": 38.6});
    assert_eq!(s.app.post_auth("/v1/symptom-checks", &check, &s.token).await.status, 201);
    let contexts = others(&s).await;
    send_at(&contexts, due).await;
    let delivered = s.standin.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(delivered[0]["body"].as_str().unwrap().contains("no extra pumping"), "{}", delivered[0]);
}

async fn a_disabled_or_erased_account_gets_nothing_that_was_staged(app: TestApp) {
    let s = setup(app).await;
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    let (erased, _) = s.app.signed_up().await;
    register_device(&s.app, &s.standin, &erased).await;
    let routine = json!({"kind": "pump", "schedule": {"type": "times", "times": [due.format("%H:%M").to_string()]}});
    assert_eq!(s.app.post_auth("/v1/routines", &routine, &erased).await.status, 201);
    assert_eq!(stage(&s, due).await.staged, 2);
    let admin = s.app.login(milkflow_tests::ADMIN_EMAIL, milkflow_tests::ADMIN_PASSWORD).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = s.app.get("/v1/me", Some(&s.token)).await.body["id"].as_str().unwrap().to_owned();
    let r = s.app.post_auth(&format!("/admin/v1/users/{id}/disable"), &json!({}), &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.app.send(Method::DELETE, "/v1/me", None, Some(&erased)).await.status, 204);
    let contexts = others(&s).await;
    send_at(&contexts, due + Duration::seconds(1)).await;
    assert!(s.standin.received().is_empty(), "{:?}", s.standin.received());
}

async fn a_push_service_answering_429_holds_back_only_its_own_queue(app: TestApp) {
    let s = setup(app).await;
    let (_, due) = routine_due_soon(&s.app, &s.token).await;
    // A second device on the same service, and a second account on another service (another origin).
    let same = register_device(&s.app, &s.standin, &s.token).await;
    let key = s.app.get("/v1/push/vapid-public-key", None).await.body["public_key"].as_str().unwrap().to_owned();
    let other_service = milkflow_tests::webpush::WebPushStandIn::start(&key, milkflow_tests::VAPID_SUBJECT).await;
    let (other, _) = s.app.signed_up().await;
    register_device(&s.app, &other_service, &other).await;
    let routine = json!({"kind": "pump", "schedule": {"type": "times", "times": [due.format("%H:%M").to_string()]}});
    assert_eq!(s.app.post_auth("/v1/routines", &routine, &other).await.status, 201);
    let busy = milkflow_tests::webpush::Scripted { status: 429, retry_after: Some(60) };
    s.standin.script(&s.sub.id, &[busy]);
    s.standin.script(&same.id, &[busy]);
    // One push at a time to each service, so the second waits behind the first's 429.
    let mut settings = s.app.settings.clone();
    settings.push.max_in_flight = 1;
    let ctx = TickContext::build(&settings, s.app.db.clone()).await.unwrap();
    assert_eq!(stage(&s, due).await.staged, 2, "two accounts' reminders");
    let tick = run_once(&ctx, due).await.unwrap();
    assert_eq!((tick.delivered, tick.retried), (1, 2), "{tick:?}");
    assert_eq!(other_service.delivered().len(), 1, "the other service is not held back");
    let asked = s.standin.received();
    assert_eq!(asked.len(), 1, "after its 429 the busy service is asked nothing more: {asked:?}");
    assert_eq!(asked[0].status, 429);
    s.standin.unscript();
    assert_eq!(run_once(&ctx, due + Duration::seconds(30)).await.unwrap().attempted, 0, "Retry-After: 60");
    let later = run_once(&ctx, due + Duration::seconds(61)).await.unwrap();
    assert_eq!(later.delivered, 2, "{later:?}");
    assert_eq!(s.standin.delivered().len(), 2);
}
