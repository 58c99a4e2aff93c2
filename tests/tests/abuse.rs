//! Abuse limits: login and registration attempts per address and per account, and locking after failures.

use milkflow_tests::{Db, PASSWORD, TestApp, on_both_databases, spawn_app_with, unique_email};
use serde_json::json;

on_both_databases!(repeated_failed_logins_lock_the_account_without_revealing_it);

async fn repeated_failed_logins_lock_the_account_without_revealing_it(app: TestApp) {
    let email = unique_email();
    app.register(&email).await;
    let unknown = app.login("nobody@example.org", "wrong-password-99").await;
    for _ in 0..5 {
        app.login(&email, "wrong-password-99").await.assert_problem(401);
    }
    let locked = app.login(&email, PASSWORD).await;
    locked.assert_problem(401);
    assert_eq!(locked.body, unknown.body, "a locked account answers like an unknown email");
    assert!(app.count("users", "locked_until IS NOT NULL").await >= 1);
}

async fn limited(kind: Db) {
    let Some(app) = spawn_app_with(kind, &[("MILKFLOW_AUTH_RATE_LIMIT_PER_MINUTE", "3")]).await else { return };
    let email = unique_email();
    for _ in 0..3 {
        app.login(&email, "wrong-password-99").await.assert_problem(401);
    }
    let r = app.login(&email, "wrong-password-99").await;
    r.assert_problem(429);
    let wait: u64 = r.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The address is limited too: registering from it is refused for now.
    let reg = app.post("/v1/auth/register", &json!({"email": unique_email(), "password": PASSWORD})).await;
    reg.assert_problem(429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_registration_are_rate_limited_with_retry_after_sqlite() {
    limited(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_registration_are_rate_limited_with_retry_after_postgres() {
    limited(Db::Postgres).await;
}
