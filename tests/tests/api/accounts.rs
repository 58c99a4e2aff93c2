//! Registration, login, refresh rotation, reuse detection and logout, on SQLite and PostgreSQL.

use milkflow_tests::{PASSWORD, TestApp, on_both_databases, unique_email};
use serde_json::json;

on_both_databases!(
    registration_is_accepted_and_signing_in_gives_tokens_and_a_normalised_user,
    registration_defaults_to_utc,
    registering_a_taken_email_answers_exactly_like_a_new_one_and_changes_nothing,
    registration_with_bad_fields_names_every_field_and_writes_nothing,
    concurrent_registrations_of_one_email_give_one_account_and_the_same_answer,
    login_accepts_the_right_password_in_any_email_case,
    unknown_email_and_wrong_password_get_the_same_answer,
    refresh_rotates_and_the_new_token_works,
    reusing_a_refresh_token_revokes_the_whole_family,
    logout_revokes_the_refresh_token,
    unknown_refresh_token_is_unauthorized,
    bootstrap_admin_can_log_in_with_the_admin_role,
);

async fn registration_is_accepted_and_signing_in_gives_tokens_and_a_normalised_user(app: TestApp) {
    let r = app
        .post(
            "/v1/auth/register",
            &json!({"email": "  Ana.B@Example.ORG ", "password": PASSWORD, "timezone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body, json!({"message": api::routes::auth::REGISTRATION_ACCEPTED}));
    assert!(r.body.get("access_token").is_none(), "registration alone signs nobody in");
    let r = app.login("ana.b@example.org", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3));
    assert!(r.body["refresh_token"].as_str().is_some_and(|t| t.len() >= 40));
    assert_eq!(r.body["expires_in"], 900);
    assert_eq!(r.body["token_type"], "Bearer");
    let user = &r.body["user"];
    assert_eq!(user["email"], "ana.b@example.org");
    assert_eq!(user["timezone"], "Europe/Berlin");
    assert_eq!(user["role"], "user");
    assert_eq!(user["volume_unit"], "ml");
    assert!(user.get("password_hash").is_none() && !r.body.to_string().contains("argon2"));
    let stored = app.count("users", "email = 'ana.b@example.org' AND password_hash LIKE '$argon2id$%'").await;
    assert_eq!(stored, 1);
}

async fn registration_defaults_to_utc(app: TestApp) {
    let body = app.register(&unique_email()).await;
    assert_eq!(body["user"]["timezone"], "UTC");
}

async fn registering_a_taken_email_answers_exactly_like_a_new_one_and_changes_nothing(app: TestApp) {
    let email = unique_email();
    app.register(&email).await;
    let fresh = app.post("/v1/auth/register", &json!({"email": unique_email(), "password": PASSWORD})).await;
    let taken =
        app.post("/v1/auth/register", &json!({"email": email.to_uppercase(), "password": "another-pass-99"})).await;
    assert_eq!((taken.status, &taken.body), (fresh.status, &fresh.body), "the same status and body");
    assert_eq!(taken.headers.get("content-length"), fresh.headers.get("content-length"));
    assert_eq!(app.count("users", &format!("email = '{}'", email.to_lowercase())).await, 1);
    assert_eq!(app.login(&email, PASSWORD).await.status, 200, "the account's password is unchanged");
    app.login(&email, "another-pass-99").await.assert_problem(401);
}

async fn registration_with_bad_fields_names_every_field_and_writes_nothing(app: TestApp) {
    let before = app.count("users", "1 = 1").await;
    let r = app
        .post("/v1/auth/register", &json!({"email": "not-an-email", "password": "short", "timezone": "Mars/Olympus"}))
        .await;
    assert_eq!(r.error_fields(), vec!["email", "password", "timezone"]);
    let r = app.post("/v1/auth/register", &json!({"email": unique_email()})).await;
    assert_eq!(r.error_fields(), vec!["password"]);
    let r = app.post("/v1/auth/register", &json!({"email": unique_email(), "password": 12345678901_i64})).await;
    assert_eq!(r.error_fields(), vec!["password"]);
    assert_eq!(app.count("users", "1 = 1").await, before);
    assert_eq!(app.count("refresh_tokens", "1 = 1").await, 0);
}

async fn concurrent_registrations_of_one_email_give_one_account_and_the_same_answer(app: TestApp) {
    let email = unique_email();
    let body = json!({"email": email, "password": PASSWORD});
    let (a, b) = tokio::join!(app.post("/v1/auth/register", &body), app.post("/v1/auth/register", &body));
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (202, 202), "{} / {}", a.body, b.body);
    assert_eq!(a.body, b.body);
    assert_eq!(app.count("users", &format!("email = '{}'", email.to_lowercase())).await, 1);
}

async fn login_accepts_the_right_password_in_any_email_case(app: TestApp) {
    let email = unique_email();
    app.register(&email).await;
    let r = app.login(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["email"], email.to_lowercase());
    let me = app.get("/v1/me", r.body["access_token"].as_str()).await;
    assert_eq!(me.status, 200);
}

async fn unknown_email_and_wrong_password_get_the_same_answer(app: TestApp) {
    let email = unique_email();
    app.register(&email).await;
    let wrong = app.login(&email, "wrong-password-99").await;
    let unknown = app.login("nobody@example.org", "wrong-password-99").await;
    wrong.assert_problem(401);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    let malformed = app.login("not an email", "wrong-password-99").await;
    assert_eq!(malformed.body, unknown.body);
}

async fn refresh_rotates_and_the_new_token_works(app: TestApp) {
    let (_, refresh) = app.signed_up().await;
    let r1 = app.post("/v1/auth/refresh", &json!({"refresh_token": refresh})).await;
    assert_eq!(r1.status, 200, "{}", r1.body);
    let second = r1.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, refresh);
    assert_eq!(app.get("/v1/me", r1.body["access_token"].as_str()).await.status, 200);
    let r2 = app.post("/v1/auth/refresh", &json!({"refresh_token": second})).await;
    assert_eq!(r2.status, 200, "{}", r2.body);
}

async fn reusing_a_refresh_token_revokes_the_whole_family(app: TestApp) {
    let (_, first) = app.signed_up().await;
    let rotated = app.post("/v1/auth/refresh", &json!({"refresh_token": first})).await;
    let second = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    app.post("/v1/auth/refresh", &json!({"refresh_token": first})).await.assert_problem(401);
    // The thief's reuse also ends the legitimate successor.
    app.post("/v1/auth/refresh", &json!({"refresh_token": second})).await.assert_problem(401);
    // Another login (another family) is unaffected.
    let other = app.signed_up().await.1;
    assert_eq!(app.post("/v1/auth/refresh", &json!({"refresh_token": other})).await.status, 200);
}

async fn logout_revokes_the_refresh_token(app: TestApp) {
    let (_, refresh) = app.signed_up().await;
    let r = app.post("/v1/auth/logout", &json!({"refresh_token": refresh})).await;
    assert_eq!(r.status, 204);
    app.post("/v1/auth/refresh", &json!({"refresh_token": refresh})).await.assert_problem(401);
    // Logging out twice, or with an unknown token, is harmless.
    assert_eq!(app.post("/v1/auth/logout", &json!({"refresh_token": refresh})).await.status, 204);
}

async fn unknown_refresh_token_is_unauthorized(app: TestApp) {
    app.post("/v1/auth/refresh", &json!({"refresh_token": "not-a-token"})).await.assert_problem(401);
}

async fn bootstrap_admin_can_log_in_with_the_admin_role(app: TestApp) {
    let r = app.login(milkflow_tests::ADMIN_EMAIL, milkflow_tests::ADMIN_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["role"], "admin");
    assert_eq!(app.count("users", "role = 'admin'").await, 1);
}
