//! Delta sync: every change since a cursor, in order, each record once, tombstones included; concurrent
//! writers never make a reader miss a change.

use milkflow_tests::{PASSWORD, TestApp, massage_body, on_both_databases, pump_body, unique_email};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

on_both_databases!(
    sync_returns_each_changed_record_once_in_order_with_tombstones,
    sync_pages_follow_the_cursor,
    a_reader_syncing_during_two_concurrent_writers_sees_every_change_exactly_once,
    sync_shows_only_her_own_changes,
    sync_refuses_a_bad_cursor,
);

async fn sync_all(app: &TestApp, token: &str, since: Option<&str>, limit: u32) -> (Vec<Value>, String) {
    let mut changes = Vec::new();
    let mut cursor = since.map(str::to_owned);
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/sync?since={c}&limit={limit}"),
            None => format!("/v1/sync?limit={limit}"),
        };
        let page = app.get(&path, Some(token)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        changes.extend(page.body["changes"].as_array().unwrap().iter().cloned());
        cursor = Some(page.body["next_cursor"].as_str().unwrap().to_owned());
        if !page.body["has_more"].as_bool().unwrap() {
            return (changes, cursor.unwrap());
        }
    }
}

async fn sync_returns_each_changed_record_once_in_order_with_tombstones(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let massage = app.post_auth("/v1/massage-sessions", &massage_body(20), &token).await.body["id"].clone();
    let pump = app.post_auth("/v1/pump-sessions", &pump_body(10, 40.0, 40.0), &token).await.body["id"].clone();
    let routine = json!({"kind": "pump", "schedule": {"type": "times", "times": ["07:00"]}});
    let routine = app.post_auth("/v1/routines", &routine, &token).await.body["id"].clone();
    app.send(
        Method::PATCH,
        &format!("/v1/pump-sessions/{}", pump.as_str().unwrap()),
        Some(&json!({"notes": "more"})),
        Some(&token),
    )
    .await;
    app.send(Method::DELETE, &format!("/v1/massage-sessions/{}", massage.as_str().unwrap()), None, Some(&token)).await;

    let (changes, cursor) = sync_all(&app, &token, None, 100).await;
    let order: Vec<(&str, &Value, &str)> =
        changes.iter().map(|c| (c["collection"].as_str().unwrap(), &c["id"], c["op"].as_str().unwrap())).collect();
    assert_eq!(
        order,
        vec![
            ("routines", &routine, "upsert"),
            ("pump_sessions", &pump, "upsert"),
            ("massage_sessions", &massage, "delete")
        ]
    );
    assert_eq!(changes[1]["record"]["notes"], "more");
    assert_eq!(changes[1]["version"], 2);
    assert!(changes[2]["record"].is_null());
    let (nothing, same) = sync_all(&app, &token, Some(&cursor), 100).await;
    assert!(nothing.is_empty());
    assert_eq!(same, cursor);
}

async fn sync_pages_follow_the_cursor(app: TestApp) {
    let (token, _) = app.signed_up().await;
    for i in 0..5 {
        app.post_auth("/v1/pump-sessions", &pump_body(100 - i, 10.0, 10.0), &token).await;
    }
    let (one_page, _) = sync_all(&app, &token, None, 100).await;
    let (small_pages, _) = sync_all(&app, &token, None, 2).await;
    assert_eq!(one_page.len(), 5);
    assert_eq!(one_page, small_pages);
}

async fn a_reader_syncing_during_two_concurrent_writers_sees_every_change_exactly_once(app: TestApp) {
    let email = unique_email();
    app.register(&email).await;
    let token = |r: milkflow_tests::Reply| r.body["access_token"].as_str().unwrap().to_owned();
    let (phone, tablet, reader) = (
        token(app.login(&email, PASSWORD).await),
        token(app.login(&email, PASSWORD).await),
        token(app.login(&email, PASSWORD).await),
    );
    const EACH: usize = 15;
    let write = |token: String, collection: &'static str| {
        let app = &app;
        async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let id = Uuid::new_v4();
                let body = if collection == "pump-sessions" {
                    pump_body(300 - i as i64, 20.0, 20.0)
                } else {
                    massage_body(300 - i as i64)
                };
                let r = app.put(&format!("/v1/{collection}/{id}"), &body, &token).await;
                assert_eq!(r.status, 201, "{}", r.body);
                ids.push(id.to_string());
            }
            ids
        }
    };
    let read = async {
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..40 {
            let (changes, next) = sync_all(&app, &reader, cursor.as_deref(), 4).await;
            seen.extend(changes.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
            cursor = Some(next);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        (seen, cursor)
    };
    let (a, b, (mut seen, cursor)) =
        tokio::join!(write(phone, "pump-sessions"), write(tablet, "massage-sessions"), read);
    let (rest, _) = sync_all(&app, &reader, cursor.as_deref(), 4).await;
    seen.extend(rest.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
    let mut counts: HashMap<String, usize> = HashMap::new();
    for id in &seen {
        *counts.entry(id.clone()).or_default() += 1;
    }
    for id in a.iter().chain(b.iter()) {
        assert_eq!(counts.get(id), Some(&1), "record {id} seen {:?} times", counts.get(id));
    }
    assert_eq!(seen.len(), 2 * EACH);
}

async fn sync_shows_only_her_own_changes(app: TestApp) {
    let (mine, _) = app.signed_up().await;
    let (theirs, _) = app.signed_up().await;
    app.post_auth("/v1/pump-sessions", &pump_body(10, 10.0, 10.0), &theirs).await;
    let (changes, _) = sync_all(&app, &mine, None, 100).await;
    assert!(changes.is_empty());
}

async fn sync_refuses_a_bad_cursor(app: TestApp) {
    let (token, _) = app.signed_up().await;
    assert_eq!(app.get("/v1/sync?since=yesterday", Some(&token)).await.error_fields(), vec!["since"]);
    assert_eq!(app.get("/v1/sync?limit=501", Some(&token)).await.error_fields(), vec!["limit"]);
    app.get("/v1/sync", None).await.assert_problem(401);
}
