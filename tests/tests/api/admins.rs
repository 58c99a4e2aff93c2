//! One active admin always remains: the guard counts active admins only, holds when admins act at the same
//! moment, and start-up brings back the configured admin when no active one exists.

use milkflow_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, TestApp, on_both_databases, unique_email};
use reqwest::Method;
use serde_json::json;

on_both_databases!(
    a_disabled_admin_does_not_count_as_the_one_left,
    two_admins_stepping_down_at_once_leave_one,
    start_up_restores_the_configured_admin_when_no_active_admin_exists,
    start_up_creates_a_new_configured_admin_when_the_only_admins_are_disabled,
    two_processes_starting_at_once_both_start_and_create_one_admin,
);

async fn token(app: &TestApp, email: &str, password: &str) -> String {
    let r = app.login(email, password).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}

/// A second admin (promoted by the bootstrap admin): its id and token.
async fn second_admin(app: &TestApp, first: &str) -> (String, String) {
    let email = unique_email();
    let body = app.register(&email).await;
    let id = body["user"]["id"].as_str().unwrap().to_owned();
    let promoted = app.post_auth(&format!("/admin/v1/users/{id}/role"), &json!({"role": "admin"}), first).await;
    assert_eq!(promoted.body["role"], "admin", "{}", promoted.body);
    (id, token(app, &email, PASSWORD).await)
}

async fn a_disabled_admin_does_not_count_as_the_one_left(app: TestApp) {
    let a = token(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let a_id = app.get("/v1/me", Some(&a)).await.body["id"].as_str().unwrap().to_owned();
    let (b_id, b) = second_admin(&app, &a).await;
    let disabled = app.post_auth(&format!("/admin/v1/users/{a_id}/disable"), &json!({}), &b).await;
    assert_eq!(disabled.body["status"], "disabled", "{}", disabled.body);
    // B is now the only active admin: B can neither step down nor be erased, through the admin API or /v1/me.
    let demote = app.post_auth(&format!("/admin/v1/users/{b_id}/role"), &json!({"role": "user"}), &b).await;
    assert!(demote.assert_problem(409)["detail"].as_str().unwrap().contains("last active admin"));
    app.send(Method::DELETE, &format!("/admin/v1/users/{b_id}"), None, Some(&b)).await.assert_problem(409);
    app.send(Method::DELETE, "/v1/me", None, Some(&b)).await.assert_problem(409);
    assert_eq!(app.get("/admin/v1/users", Some(&b)).await.status, 200, "B is still an admin");
    // With A enabled again, B may step down.
    app.post_auth(&format!("/admin/v1/users/{a_id}/enable"), &json!({}), &b).await;
    let demoted = app.post_auth(&format!("/admin/v1/users/{b_id}/role"), &json!({"role": "user"}), &b).await;
    assert_eq!(demoted.body["role"], "user", "{}", demoted.body);
}

async fn two_admins_stepping_down_at_once_leave_one(app: TestApp) {
    let a = token(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let a_id = app.get("/v1/me", Some(&a)).await.body["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let (b_id, b) = second_admin(&app, &a).await;
        let step_down = |id: String, t: String| {
            let app = &app;
            async move { app.post_auth(&format!("/admin/v1/users/{id}/role"), &json!({"role": "user"}), &t).await }
        };
        let (ra, rb) = tokio::join!(step_down(a_id.clone(), a.clone()), step_down(b_id.clone(), b.clone()));
        let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{} / {}", ra.body, rb.body);
        let active = "role = 'admin' AND status = 'active'";
        assert_eq!(app.count("users", active).await, 1);
        if rb.status == 409 {
            // B stayed, and makes A an admin again for the next round.
            app.post_auth(&format!("/admin/v1/users/{a_id}/role"), &json!({"role": "admin"}), &b).await;
            app.post_auth(&format!("/admin/v1/users/{b_id}/role"), &json!({"role": "user"}), &a).await;
        }
        assert_eq!(app.count("users", active).await, 1);
    }
}

async fn start_up_restores_the_configured_admin_when_no_active_admin_exists(app: TestApp) {
    // A state the guard now prevents, as older versions could leave it: every admin disabled.
    use sea_orm::ConnectionTrait;
    app.db.execute_unprepared("UPDATE users SET status = 'disabled' WHERE role = 'admin'").await.unwrap();
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.assert_problem(401);
    let restarted = app.another_api().await;
    let admin = token(&restarted, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(restarted.get("/admin/v1/users", Some(&admin)).await.status, 200);
    assert_eq!(app.count("audit_log", "action = 'admin.bootstrap'").await, 1);
    // With an active admin, another start changes nothing.
    drop(app.another_api().await);
    assert_eq!(app.count("audit_log", "action = 'admin.bootstrap'").await, 1);
}

async fn start_up_creates_a_new_configured_admin_when_the_only_admins_are_disabled(app: TestApp) {
    use sea_orm::ConnectionTrait;
    app.db.execute_unprepared("UPDATE users SET status = 'disabled' WHERE role = 'admin'").await.unwrap();
    let mut settings = app.settings.clone();
    let email = unique_email();
    settings.admin_email = Some(email.clone());
    let restarted = app.another_api_with(settings).await;
    let admin = token(&restarted, &email, ADMIN_PASSWORD).await;
    assert_eq!(restarted.get("/admin/v1/users", Some(&admin)).await.status, 200);
}

async fn two_processes_starting_at_once_both_start_and_create_one_admin(app: TestApp) {
    use sea_orm::ConnectionTrait;
    app.db.execute_unprepared("UPDATE users SET status = 'disabled' WHERE role = 'admin'").await.unwrap();
    let mut settings = app.settings.clone();
    let email = unique_email();
    settings.admin_email = Some(email.clone());
    // Each build panics if it fails; both must start.
    let (a, b) = tokio::join!(app.another_api_with(settings.clone()), app.another_api_with(settings));
    assert_eq!(app.count("users", &format!("email = '{}' AND role = 'admin'", email.to_lowercase())).await, 1);
    token(&a, &email, ADMIN_PASSWORD).await;
    token(&b, &email, ADMIN_PASSWORD).await;
}
