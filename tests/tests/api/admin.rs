//! The admin API: only for admins, every action audited; users, content and the audit log.

use milkflow_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, TestApp, on_both_databases, unique_email};
use reqwest::Method;
use serde_json::{Value, json};

on_both_databases!(
    every_admin_route_refuses_users_and_the_anonymous,
    admins_find_users_by_email_prefix_and_status_page_by_page,
    user_detail_counts_the_users_data_without_showing_it,
    disabling_ends_the_users_sessions_and_reminders_and_enabling_restores_them,
    the_last_admin_cannot_demote_or_delete_own_account,
    an_admin_erases_an_account_completely,
    guides_are_unique_per_locale_and_unpublished_ones_stay_hidden,
    tips_appear_only_once_published,
    every_admin_action_is_in_the_audit_log,
);

async fn admin_token(app: &TestApp) -> String {
    let r = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    r.body["access_token"].as_str().unwrap().to_owned()
}

async fn every_admin_route_refuses_users_and_the_anonymous(app: TestApp) {
    use utoipa::OpenApi;
    let (user, _) = app.signed_up().await;
    let doc = api::openapi::ApiDoc::openapi();
    let mut checked = 0;
    for (path, item) in doc.paths.paths.iter().filter(|(p, _)| p.starts_with("/admin/")) {
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        let methods = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ];
        for (method, _) in methods.into_iter().filter(|(_, d)| *d) {
            let as_user = app.send(method.clone(), &concrete, Some(&json!({})), Some(&user)).await;
            as_user.assert_problem(403);
            let anonymous = app.send(method.clone(), &concrete, Some(&json!({})), None).await;
            anonymous.assert_problem(401);
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} admin operations documented");
}

async fn admins_find_users_by_email_prefix_and_status_page_by_page(app: TestApp) {
    let admin = admin_token(&app).await;
    let prefix = format!("pfx{}", uuid::Uuid::new_v4().simple());
    for i in 0..5 {
        app.register(&format!("{prefix}.{i}@example.org")).await;
    }
    app.register("pfx_other@example.org").await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app.get(&format!("/admin/v1/users?email_prefix={prefix}&limit=2{cursor}"), Some(&admin)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(r.body["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().all(|e| e.starts_with(&prefix)));
    // `_` in a prefix is a character, not a wildcard.
    let underscore = app.get("/admin/v1/users?email_prefix=pfx_", Some(&admin)).await;
    assert_eq!(underscore.body["items"].as_array().unwrap().len(), 1);
    let disabled = app.get("/admin/v1/users?status=disabled", Some(&admin)).await;
    assert_eq!(disabled.body["items"], json!([]));
    assert_eq!(app.get("/admin/v1/users?status=sleeping", Some(&admin)).await.error_fields(), vec!["status"]);
}

async fn user_detail_counts_the_users_data_without_showing_it(app: TestApp) {
    let admin = admin_token(&app).await;
    let body = app.register(&unique_email()).await;
    let (token, id) = (body["access_token"].as_str().unwrap(), body["user"]["id"].as_str().unwrap());
    app.post_auth("/v1/pump-sessions", &milkflow_tests::pump_body(60, 50.0, 50.0), token).await;
    app.post_auth("/v1/massage-sessions", &milkflow_tests::massage_body(70), token).await;
    app.post_auth("/v1/routines", &json!({"kind": "pump", "schedule": {"type": "times", "times": ["07:00"]}}), token)
        .await;
    app.post_auth("/v1/devices", &json!({"platform": "fcm", "token": "fcm-token-detail"}), token).await;
    let r = app.get(&format!("/admin/v1/users/{id}"), Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["counts"], json!({"sessions": 2, "devices": 1, "routines": 1}));
    assert!(!r.body.to_string().contains("volume_left_ml") && !r.body.to_string().contains("password"));
}

async fn disabling_ends_the_users_sessions_and_reminders_and_enabling_restores_them(app: TestApp) {
    let admin = admin_token(&app).await;
    let email = unique_email();
    let body = app.register(&email).await;
    let (token, refresh, id) = (
        body["access_token"].as_str().unwrap(),
        body["refresh_token"].as_str().unwrap(),
        body["user"]["id"].as_str().unwrap(),
    );
    app.post_auth("/v1/routines", &json!({"kind": "pump", "schedule": {"type": "times", "times": ["07:00"]}}), token)
        .await;
    assert_eq!(app.count("occurrences", "state = 'planned'").await, 1);
    let r = app.post_auth(&format!("/admin/v1/users/{id}/disable"), &json!({}), &admin).await;
    assert_eq!((r.status.as_u16(), r.body["status"].as_str()), (200, Some("disabled")));
    // At once, though the account was read for the routine just before (the API keeps accounts briefly).
    app.get("/v1/pump-sessions", Some(token)).await.assert_problem(401);
    app.get("/v1/me", Some(token)).await.assert_problem(401);
    app.post("/v1/auth/refresh", &json!({"refresh_token": refresh})).await.assert_problem(401);
    app.login(&email, PASSWORD).await.assert_problem(401);
    assert_eq!(app.count("occurrences", "state = 'planned'").await, 0, "the user's reminders stop");
    let r = app.post_auth(&format!("/admin/v1/users/{id}/enable"), &json!({}), &admin).await;
    assert_eq!(r.body["status"], "active");
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
    assert_eq!(app.count("occurrences", "state = 'planned'").await, 1, "the user's reminders are planned again");
}

async fn the_last_admin_cannot_demote_or_delete_own_account(app: TestApp) {
    let admin = admin_token(&app).await;
    let me = app.get("/v1/me", Some(&admin)).await.body["id"].as_str().unwrap().to_owned();
    app.post_auth(&format!("/admin/v1/users/{me}/role"), &json!({"role": "user"}), &admin).await.assert_problem(409);
    app.send(Method::DELETE, &format!("/admin/v1/users/{me}"), None, Some(&admin)).await.assert_problem(409);
    let other = app.register(&unique_email()).await;
    let other_id = other["user"]["id"].as_str().unwrap();
    let promoted = app.post_auth(&format!("/admin/v1/users/{other_id}/role"), &json!({"role": "admin"}), &admin).await;
    assert_eq!(promoted.body["role"], "admin");
    let demoted = app.post_auth(&format!("/admin/v1/users/{me}/role"), &json!({"role": "user"}), &admin).await;
    assert_eq!(demoted.body["role"], "user", "with another admin this one may step down");
    app.get("/admin/v1/users", Some(&admin)).await.assert_problem(403);
}

async fn an_admin_erases_an_account_completely(app: TestApp) {
    let admin = admin_token(&app).await;
    let body = app.register(&unique_email()).await;
    let (token, id) = (body["access_token"].as_str().unwrap(), body["user"]["id"].as_str().unwrap());
    app.post_auth("/v1/pump-sessions", &milkflow_tests::pump_body(60, 50.0, 50.0), token).await;
    assert_eq!(app.send(Method::DELETE, &format!("/admin/v1/users/{id}"), None, Some(&admin)).await.status, 204);
    app.get(&format!("/admin/v1/users/{id}"), Some(&admin)).await.assert_problem(404);
    for table in ["massage_sessions", "pump_sessions", "symptom_checks", "routines"] {
        assert_eq!(app.count(table, "1 = 1").await, 0, "{table}");
    }
    app.get("/v1/me", Some(token)).await.assert_problem(401);
}

fn guide(slug: &str, locale: &str, published: bool) -> Value {
    json!({"slug": slug, "locale": locale, "title": "Sanfte Massage", "summary": "Leichte Kreise.", "published": published,
        "steps": [{"title": "Kreise", "text": "Leichte Kreise zur Brustwarze hin.", "duration_s": 120}], "sources": ["ABM #36"]})
}

async fn guides_are_unique_per_locale_and_unpublished_ones_stay_hidden(app: TestApp) {
    let admin = admin_token(&app).await;
    let created = app.post_auth("/admin/v1/guides", &guide("gentle-everyday-massage", "de", false), &admin).await;
    assert_eq!(created.status, 201, "{}", created.body);
    app.post_auth("/admin/v1/guides", &guide("gentle-everyday-massage", "de", true), &admin).await.assert_problem(409);
    let hidden = app.get("/v1/guides/gentle-everyday-massage?locale=de", None).await;
    assert_eq!(hidden.body["locale"], "en", "the unpublished German guide is not shown");
    let id = created.body["id"].as_str().unwrap();
    let published = app
        .send(Method::PATCH, &format!("/admin/v1/guides/{id}"), Some(&json!({"published": true})), Some(&admin))
        .await;
    assert_eq!((published.status.as_u16(), published.body["published"].as_bool()), (200, Some(true)));
    let shown = app.get("/v1/guides/gentle-everyday-massage?locale=de", None).await;
    assert_eq!((shown.body["locale"].as_str(), shown.body["title"].as_str()), (Some("de"), Some("Sanfte Massage")));
    let bad = app
        .send(
            Method::PATCH,
            &format!("/admin/v1/guides/{id}"),
            Some(&json!({"steps": [], "slug": "Bad Slug"})),
            Some(&admin),
        )
        .await;
    assert_eq!(bad.error_fields(), vec!["slug", "steps"]);
    assert_eq!(app.send(Method::DELETE, &format!("/admin/v1/guides/{id}"), None, Some(&admin)).await.status, 204);
    assert_eq!(app.get("/v1/guides/gentle-everyday-massage?locale=de", None).await.body["locale"], "en");
}

async fn tips_appear_only_once_published(app: TestApp) {
    let admin = admin_token(&app).await;
    let text = format!("Drink a glass of water while you pump ({})", uuid::Uuid::new_v4().simple());
    let created =
        app.post_auth("/admin/v1/tips", &json!({"text": text, "locale": "en", "published": false}), &admin).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let visible = |r: &milkflow_tests::Reply| r.body.as_array().unwrap().iter().any(|t| t["text"] == text.as_str());
    assert!(!visible(&app.get("/v1/tips?limit=100", None).await));
    let id = created.body["id"].as_str().unwrap();
    let later = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    app.send(
        Method::PATCH,
        &format!("/admin/v1/tips/{id}"),
        Some(&json!({"published": true, "publish_at": later})),
        Some(&admin),
    )
    .await;
    assert!(!visible(&app.get("/v1/tips?limit=100", None).await), "not before publish_at");
    app.send(Method::PATCH, &format!("/admin/v1/tips/{id}"), Some(&json!({"publish_at": null})), Some(&admin)).await;
    assert!(visible(&app.get("/v1/tips?limit=100", None).await));
}

async fn every_admin_action_is_in_the_audit_log(app: TestApp) {
    let admin = admin_token(&app).await;
    let target = app.register(&unique_email()).await["user"]["id"].as_str().unwrap().to_owned();
    app.post_auth(&format!("/admin/v1/users/{target}/disable"), &json!({}), &admin).await;
    app.post_auth(&format!("/admin/v1/users/{target}/enable"), &json!({}), &admin).await;
    app.post_auth("/admin/v1/tips", &json!({"text": "Rest when you can.", "locale": "en"}), &admin).await;
    let log = app.get(&format!("/admin/v1/audit-log?target_id={target}"), Some(&admin)).await;
    assert_eq!(log.status, 200);
    let actions: Vec<&str> = log.body.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["user.enable", "user.disable"]);
    let entry = &log.body[0];
    assert_eq!(entry["ip"], "127.0.0.1");
    let me = app.get("/v1/me", Some(&admin)).await.body["id"].clone();
    assert_eq!(entry["actor_id"], me);
    let tips = app.get("/admin/v1/audit-log?action=tip.create", Some(&admin)).await;
    assert_eq!(tips.body.as_array().unwrap().len(), 1);
    // A refused action leaves no trace and changes nothing.
    app.post_auth(&format!("/admin/v1/users/{}/role", me.as_str().unwrap()), &json!({"role": "user"}), &admin)
        .await
        .assert_problem(409);
    assert_eq!(app.get("/admin/v1/audit-log?action=user.role", Some(&admin)).await.body, json!([]));
}
