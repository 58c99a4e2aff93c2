//! The user's logs, offline-first: PUT by client id, POST, GET with ETag, PATCH and PUT with If-Match, DELETE with
//! tombstones, listing with cursors and filters, validation naming every field, owner scoping.

use milkflow_tests::{TestApp, massage_body, on_both_databases, pump_body};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

on_both_databases!(
    the_same_put_twice_leaves_one_record_and_one_version,
    put_replaces_and_if_match_guards_against_stale_versions,
    post_creates_with_a_server_id_location_and_etag,
    get_with_the_current_etag_is_not_modified,
    patch_merges_fields_and_validates_the_result_whole,
    delete_leaves_a_tombstone_and_put_revives,
    another_users_records_are_invisible,
    pump_session_with_bad_fields_is_refused_naming_every_field,
    listing_pages_newest_first_with_cursors_and_filters,
    listing_refuses_bad_parameters_by_name,
    a_list_is_not_modified_until_an_own_record_or_the_unit_changes,
    a_list_asked_again_shows_what_another_api_process_wrote,
    lists_asked_at_once_by_many_accounts_each_show_its_own,
    oz_users_also_get_ounces,
    massage_sessions_and_symptom_checks_round_trip,
    records_need_a_token,
);

async fn the_same_put_twice_leaves_one_record_and_one_version(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let id = Uuid::new_v4();
    let body = pump_body(60, 60.0, 45.0);
    let first = app.put(&format!("/v1/pump-sessions/{id}"), &body, &token).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.etag().as_deref(), Some("\"1\""));
    assert_eq!(first.body["id"], id.to_string());
    assert_eq!(first.body["volume_left_ml"], 60.0);
    let again = app.put(&format!("/v1/pump-sessions/{id}"), &body, &token).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["version"], 1);
    assert_eq!(app.count("pump_sessions", "1 = 1").await, 1);
}

async fn put_replaces_and_if_match_guards_against_stale_versions(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let path = format!("/v1/pump-sessions/{}", Uuid::new_v4());
    app.put(&path, &pump_body(60, 60.0, 45.0), &token).await;
    let replaced = app.put(&path, &pump_body(60, 70.0, 45.0), &token).await;
    assert_eq!((replaced.status.as_u16(), replaced.body["version"].as_i64()), (200, Some(2)));
    let stale =
        app.send_with(Method::PUT, &path, Some(&pump_body(60, 1.0, 1.0)), &token, &[("If-Match", "\"1\"")]).await;
    stale.assert_problem(412);
    let current = app.get(&path, Some(&token)).await;
    assert_eq!(current.body["volume_left_ml"], 70.0, "a refused PUT changed the record");
    let fresh =
        app.send_with(Method::PUT, &path, Some(&pump_body(60, 1.0, 1.0)), &token, &[("If-Match", "\"2\"")]).await;
    assert_eq!(fresh.status, 200);
    assert_eq!(fresh.etag().as_deref(), Some("\"3\""));
    // If-Match on an id that does not exist yet fails rather than creating.
    let missing = format!("/v1/pump-sessions/{}", Uuid::new_v4());
    app.send_with(Method::PUT, &missing, Some(&pump_body(30, 1.0, 1.0)), &token, &[("If-Match", "*")])
        .await
        .assert_problem(412);
}

async fn post_creates_with_a_server_id_location_and_etag(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let created = app.post_auth("/v1/pump-sessions", &pump_body(30, 50.0, 50.0), &token).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let location = created.headers.get("location").unwrap().to_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/pump-sessions/{}", created.body["id"].as_str().unwrap()));
    let fetched = app.get(&location, Some(&token)).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, created.body);
    assert_eq!(fetched.etag(), created.etag());
}

async fn get_with_the_current_etag_is_not_modified(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let created = app.post_auth("/v1/pump-sessions", &pump_body(30, 50.0, 50.0), &token).await;
    let path = format!("/v1/pump-sessions/{}", created.body["id"].as_str().unwrap());
    let etag = created.etag().unwrap();
    let same = app.send_with(Method::GET, &path, None, &token, &[("If-None-Match", &etag)]).await;
    assert_eq!(same.status, 304);
    let other = app.send_with(Method::GET, &path, None, &token, &[("If-None-Match", "\"99\"")]).await;
    assert_eq!(other.status, 200);
}

async fn patch_merges_fields_and_validates_the_result_whole(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let created = app.post_auth("/v1/pump-sessions", &pump_body(30, 50.0, 50.0), &token).await;
    let path = format!("/v1/pump-sessions/{}", created.body["id"].as_str().unwrap());
    let patched = app
        .send(Method::PATCH, &path, Some(&json!({"volume_right_ml": 80, "notes": "after a warm shower"})), Some(&token))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        (patched.body["volume_right_ml"].as_f64(), patched.body["volume_left_ml"].as_f64()),
        (Some(80.0), Some(50.0))
    );
    assert_eq!(patched.body["notes"], "after a warm shower");
    assert_eq!(patched.body["version"], 2);
    let ended_before = json!({"ended_at": "2000-01-01T00:00:00Z"});
    let bad = app.send(Method::PATCH, &path, Some(&ended_before), Some(&token)).await;
    assert_eq!(bad.error_fields(), vec!["ended_at"]);
    let stale =
        app.send_with(Method::PATCH, &path, Some(&json!({"notes": null})), &token, &[("If-Match", "\"1\"")]).await;
    stale.assert_problem(412);
    let now = app.get(&path, Some(&token)).await;
    assert_eq!((now.body["version"].as_i64(), now.body["notes"].as_str()), (Some(2), Some("after a warm shower")));
    let cleared =
        app.send_with(Method::PATCH, &path, Some(&json!({"notes": null})), &token, &[("If-Match", "\"2\"")]).await;
    assert_eq!(cleared.status, 200);
    assert!(cleared.body.get("notes").is_none_or(Value::is_null), "{}", cleared.body);
}

async fn delete_leaves_a_tombstone_and_put_revives(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let id = Uuid::new_v4();
    let path = format!("/v1/massage-sessions/{id}");
    assert_eq!(app.put(&path, &massage_body(10), &token).await.status, 201);
    assert_eq!(app.send(Method::DELETE, &path, None, Some(&token)).await.status, 204);
    app.get(&path, Some(&token)).await.assert_problem(404);
    app.send(Method::DELETE, &path, None, Some(&token)).await.assert_problem(404);
    let listed = app.get("/v1/massage-sessions", Some(&token)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 0);
    assert_eq!(
        app.count(
            "massage_sessions",
            "deleted_at IS NOT NULL AND duration_s IS NULL AND spots IS NULL AND notes IS NULL"
        )
        .await,
        1,
        "the tombstone keeps no health data"
    );
    let revived = app.put(&path, &massage_body(10), &token).await;
    assert_eq!((revived.status.as_u16(), revived.body["version"].as_i64()), (201, Some(3)));
}

async fn another_users_records_are_invisible(app: TestApp) {
    let (owner, _) = app.signed_up().await;
    let (other, _) = app.signed_up().await;
    let id = Uuid::new_v4();
    let path = format!("/v1/pump-sessions/{id}");
    app.put(&path, &pump_body(30, 50.0, 50.0), &owner).await;
    app.get(&path, Some(&other)).await.assert_problem(404);
    app.send(Method::PATCH, &path, Some(&json!({"notes": "x"})), Some(&other)).await.assert_problem(404);
    app.send(Method::DELETE, &path, None, Some(&other)).await.assert_problem(404);
    app.put(&path, &pump_body(30, 1.0, 1.0), &other).await.assert_problem(409);
    // The same id in another of the owner's collections is refused as well.
    app.put(&format!("/v1/massage-sessions/{id}"), &massage_body(5), &owner).await.assert_problem(409);
    let listed = app.get("/v1/pump-sessions", Some(&other)).await;
    assert_eq!(listed.body["items"], json!([]));
    let mine = app.get(&path, Some(&owner)).await;
    assert_eq!((mine.body["volume_left_ml"].as_f64(), mine.body["version"].as_i64()), (Some(50.0), Some(1)));
}

async fn pump_session_with_bad_fields_is_refused_naming_every_field(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let future = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    let body = json!({
        "started_at": future,
        "ended_at": "2000-01-01T00:00:00Z",
        "volume_left_ml": -5,
        "volume_right_ml": 1001,
        "pump_type": "hand-crank",
        "mode": "triple",
        "notes": "n".repeat(2001),
    });
    let r = app.put(&format!("/v1/pump-sessions/{}", Uuid::new_v4()), &body, &token).await;
    assert_eq!(
        r.error_fields(),
        vec!["started_at", "volume_left_ml", "volume_right_ml", "pump_type", "mode", "notes"],
        "{}",
        r.body
    );
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let end_before = json!({"started_at": start.to_rfc3339(), "ended_at": (start - chrono::Duration::minutes(1)).to_rfc3339(),
        "volume_left_ml": 1, "volume_right_ml": 1, "pump_type": "manual", "mode": "single"});
    let r = app.post_auth("/v1/pump-sessions", &end_before, &token).await;
    assert_eq!(r.error_fields(), vec!["ended_at"]);
    let early = start - chrono::Duration::hours(4);
    let too_long = json!({"started_at": early.to_rfc3339(), "ended_at": (early + chrono::Duration::minutes(241)).to_rfc3339(),
        "volume_left_ml": 1, "volume_right_ml": 1, "pump_type": "manual", "mode": "single"});
    assert_eq!(app.post_auth("/v1/pump-sessions", &too_long, &token).await.error_fields(), vec!["ended_at"]);
    let bad_id = app.put("/v1/pump-sessions/not-a-uuid", &pump_body(30, 1.0, 1.0), &token).await;
    assert_eq!(bad_id.error_fields(), vec!["id"]);
    for table in ["massage_sessions", "pump_sessions", "symptom_checks", "routines"] {
        assert_eq!(app.count(table, "1 = 1").await, 0, "{table}");
    }
}

async fn listing_pages_newest_first_with_cursors_and_filters(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let mut created = Vec::new();
    for i in 0..7 {
        let mut body = pump_body(600 - i * 60, 10.0 * i as f64, 0.0);
        if i % 2 == 0 {
            body["pump_type"] = json!("manual");
            body["mode"] = json!("single");
        }
        let r = app.post_auth("/v1/pump-sessions", &body, &token).await;
        assert_eq!(r.status, 201, "{}", r.body);
        created.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/pump-sessions?limit=3&cursor={c}"),
            None => "/v1/pump-sessions?limit=3".to_owned(),
        };
        let page = app.get(&path, Some(&token)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    let manual = app.get("/v1/pump-sessions?pump_type=manual", Some(&token)).await;
    assert_eq!(manual.body["items"].as_array().unwrap().len(), 4);
    // Manual single sessions with milk on the left only are left-side sessions; the first has none, so "both".
    let left = app.get("/v1/pump-sessions?side=left", Some(&token)).await;
    assert_eq!(left.body["items"].as_array().unwrap().len(), 3);
    let from = (chrono::Utc::now() - chrono::Duration::minutes(370)).to_rfc3339();
    let recent = app.get(&format!("/v1/pump-sessions?from={}", urlencode(&from)), Some(&token)).await;
    assert_eq!(recent.body["items"].as_array().unwrap().len(), 3, "{}", recent.body);
    let to = (chrono::Utc::now() - chrono::Duration::minutes(450)).to_rfc3339();
    let older = app.get(&format!("/v1/pump-sessions?to={}", urlencode(&to)), Some(&token)).await;
    assert_eq!(older.body["items"].as_array().unwrap().len(), 3, "{}", older.body);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn a_list_is_not_modified_until_an_own_record_or_the_unit_changes(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let (other, _) = app.signed_up().await;
    let first = app.put(&format!("/v1/pump-sessions/{}", Uuid::new_v4()), &pump_body(90, 60.0, 45.0), &token).await;
    assert_eq!(first.status, 201);
    let list = |if_none_match: Option<String>| {
        let (app, token) = (&app, token.clone());
        async move {
            let headers: Vec<(&str, &str)> =
                if_none_match.as_deref().map(|t| ("If-None-Match", t)).into_iter().collect();
            app.send_with(Method::GET, "/v1/pump-sessions", None, &token, &headers).await
        }
    };
    let page = list(None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["cache-control"], "no-store");
    let tag = page.etag().expect("a list has an ETag");
    assert!(tag.starts_with("W/\""), "{tag}");
    let again = list(Some(tag.clone())).await;
    assert_eq!((again.status.as_u16(), again.body.clone()), (304, Value::Null));
    assert_eq!(again.etag().as_ref(), Some(&tag));
    assert_eq!(list(None).await.body, page.body, "asked again, the same page");

    // Another account's writes change nothing for this account.
    app.put(&format!("/v1/pump-sessions/{}", Uuid::new_v4()), &pump_body(30, 10.0, 0.0), &other).await;
    assert_eq!(list(Some(tag.clone())).await.status, 304);

    let id = Uuid::new_v4();
    app.put(&format!("/v1/pump-sessions/{id}"), &pump_body(30, 10.0, 0.0), &token).await;
    let added = list(Some(tag.clone())).await;
    assert_eq!(added.status, 200);
    assert_eq!(added.body["items"][0]["id"], id.to_string());
    assert_eq!(added.body["items"].as_array().unwrap().len(), 2);
    let tag = added.etag().unwrap();

    // A change to one of the user's records in another collection changes this list's tag, not its items.
    app.post_auth("/v1/massage-sessions", &massage_body(10), &token).await;
    let unchanged_items = list(Some(tag.clone())).await;
    assert_eq!((unchanged_items.status.as_u16(), &unchanged_items.body["items"]), (200, &added.body["items"]));
    let tag = unchanged_items.etag().unwrap();

    let deleted = app.send(Method::DELETE, &format!("/v1/pump-sessions/{id}"), None, Some(&token)).await;
    assert_eq!(deleted.status, 204);
    let after_delete = list(Some(tag.clone())).await;
    assert_eq!(after_delete.status, 200);
    assert_eq!(after_delete.body["items"].as_array().unwrap().len(), 1);
    let tag = after_delete.etag().unwrap();

    let unit = app.send(Method::PATCH, "/v1/me", Some(&json!({"volume_unit": "oz"})), Some(&token)).await;
    assert_eq!(unit.status, 200, "{}", unit.body);
    let in_oz = list(Some(tag.clone())).await;
    assert_eq!(in_oz.status, 200, "the account's unit is part of what the page shows");
    assert!(in_oz.body["items"][0]["volume_left_oz"].is_number(), "{}", in_oz.body);
    assert_ne!(in_oz.etag().unwrap(), tag);
}

async fn a_list_asked_again_shows_what_another_api_process_wrote(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let other = app.another_api().await;
    app.put(&format!("/v1/pump-sessions/{}", Uuid::new_v4()), &pump_body(90, 60.0, 45.0), &token).await;
    let before = app.get("/v1/pump-sessions", Some(&token)).await;
    assert_eq!(before.body["items"].as_array().unwrap().len(), 1);
    for round in 0..3 {
        let id = Uuid::new_v4();
        let put = other.put(&format!("/v1/pump-sessions/{id}"), &pump_body(60 - round, 10.0, 0.0), &token).await;
        assert_eq!(put.status, 201, "{}", put.body);
        let after = app.get("/v1/pump-sessions", Some(&token)).await;
        assert_eq!(after.body["items"].as_array().unwrap().len(), 2 + round as usize, "{}", after.body);
        assert_eq!(after.body["items"][0]["id"], id.to_string());
        assert_ne!(after.etag(), before.etag());
    }
}

/// Lists asked at the same moment share one read of their change numbers: each must still get its own.
async fn lists_asked_at_once_by_many_accounts_each_show_its_own(app: TestApp) {
    let mut accounts = Vec::new();
    for n in 0..10 {
        let (token, _) = app.signed_up().await;
        let mut ids = Vec::new();
        for minutes in 0..n {
            let id = Uuid::new_v4();
            app.put(&format!("/v1/pump-sessions/{id}"), &pump_body(90 + minutes, 60.0, 45.0), &token).await;
            ids.push(id.to_string());
        }
        ids.sort();
        let alone = app.get("/v1/pump-sessions", Some(&token)).await.etag().expect("a list has an ETag");
        accounts.push((token, ids, alone));
    }
    let at_once = |accounts: &[(String, Vec<String>, String)]| {
        let tokens: Vec<String> = accounts.iter().flat_map(|(token, ..)| [token.clone(), token.clone()]).collect();
        let app = &app;
        async move { futures_util::future::join_all(tokens.iter().map(|t| app.get("/v1/pump-sessions", Some(t)))).await }
    };
    for (pages, round) in [(at_once(&accounts).await, 0), (at_once(&accounts).await, 1)] {
        for (page, (_, ids, alone)) in pages.iter().zip(accounts.iter().flat_map(|a| [a, a])) {
            let mut shown: Vec<String> =
                page.body["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
            shown.sort();
            assert_eq!(&shown, ids, "round {round}: {}", page.body);
            assert_eq!(page.etag().as_ref(), Some(alone), "round {round}: the tag the account gets alone");
        }
    }
    let tags: std::collections::HashSet<_> = accounts.iter().map(|(_, _, tag)| tag).collect();
    assert_eq!(tags.len(), accounts.len(), "ten accounts with different numbers of writes, ten tags");

    // One more write each, then all at once again: every list shows it.
    for (token, ids, _) in &mut accounts {
        let id = Uuid::new_v4();
        assert_eq!(app.put(&format!("/v1/pump-sessions/{id}"), &pump_body(30, 1.0, 1.0), token).await.status, 201);
        ids.push(id.to_string());
        ids.sort();
    }
    for (page, (_, ids, alone)) in at_once(&accounts).await.iter().zip(accounts.iter().flat_map(|a| [a, a])) {
        assert_eq!(page.body["items"].as_array().unwrap().len(), ids.len(), "{}", page.body);
        assert_ne!(page.etag().as_ref(), Some(alone), "a write of the account's changes its tag");
    }
}

async fn listing_refuses_bad_parameters_by_name(app: TestApp) {
    let (token, _) = app.signed_up().await;
    assert_eq!(app.get("/v1/pump-sessions?limit=0", Some(&token)).await.error_fields(), vec!["limit"]);
    assert_eq!(app.get("/v1/pump-sessions?limit=201", Some(&token)).await.error_fields(), vec!["limit"]);
    assert_eq!(app.get("/v1/pump-sessions?cursor=bogus", Some(&token)).await.error_fields(), vec!["cursor"]);
    assert_eq!(app.get("/v1/pump-sessions?from=yesterday", Some(&token)).await.error_fields(), vec!["from"]);
    assert_eq!(app.get("/v1/pump-sessions?side=middle", Some(&token)).await.error_fields(), vec!["side"]);
    assert_eq!(app.get("/v1/massage-sessions?pump_type=manual", Some(&token)).await.error_fields(), vec!["pump_type"]);
    assert_eq!(app.get("/v1/pump-sessions?limit=200", Some(&token)).await.status, 200);
}

async fn oz_users_also_get_ounces(app: TestApp) {
    let (token, _) = app.signed_up().await;
    app.send(Method::PATCH, "/v1/me", Some(&json!({"volume_unit": "oz"})), Some(&token)).await;
    let r = app.post_auth("/v1/pump-sessions", &pump_body(30, 59.147, 29.5735), &token).await;
    assert_eq!(r.status, 201);
    assert_eq!((r.body["volume_left_oz"].as_f64(), r.body["volume_right_oz"].as_f64()), (Some(2.0), Some(1.0)));
    assert_eq!(r.body["volume_left_ml"], 59.147, "volumes stay stored in ml");
}

async fn massage_sessions_and_symptom_checks_round_trip(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let m = app.post_auth("/v1/massage-sessions", &massage_body(15), &token).await;
    assert_eq!(m.status, 201, "{}", m.body);
    assert_eq!(m.body["spots"][0]["quadrant"], "upper_outer");
    assert_eq!(m.body["context"], "before_pumping");
    let check = json!({"at": chrono::Utc::now().to_rfc3339(), "engorgement": 3, "pain": 4, "redness": true,
        "temperature_c": 37.4, "spots": [{"side": "right", "quadrant": "areola", "kind": "hard", "severity": 3}]});
    let c = app.post_auth("/v1/symptom-checks", &check, &token).await;
    assert_eq!(c.status, 201, "{}", c.body);
    assert_eq!((c.body["temperature_c"].as_f64(), c.body["flu_like"].as_bool()), (Some(37.4), Some(false)));
    let bad = json!({"at": chrono::Utc::now().to_rfc3339(), "engorgement": 0, "pain": 11, "temperature_c": 44,
        "spots": [{"side": "both", "quadrant": "middle", "kind": "hard", "severity": 0}]});
    let r = app.post_auth("/v1/symptom-checks", &bad, &token).await;
    assert_eq!(
        r.error_fields(),
        vec!["engorgement", "pain", "spots[0].side", "spots[0].quadrant", "spots[0].severity", "temperature_c"]
    );
}

async fn records_need_a_token(app: TestApp) {
    app.get("/v1/pump-sessions", None).await.assert_problem(401);
    app.post("/v1/pump-sessions", &pump_body(30, 1.0, 1.0)).await.assert_problem(401);
}
