//! Abuse limits: login and registration attempts per address and per account, shared by every API process
//! (in the database or Redis), client addresses behind trusted proxies, and login locks per account and address.

use milkflow_tests::{Db, PASSWORD, Reply, TestApp, spawn_app_with, unique_email};
use serde_json::json;

/// Where the limits of a test app live.
#[derive(Clone, Copy)]
enum Store {
    Database,
    Redis,
}

const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// An app whose peer 127.0.0.1 is a trusted proxy, so `X-Forwarded-For` names each test's clients.
async fn behind_proxy(kind: Db, store: Store, per_minute: &str) -> Option<TestApp> {
    let mut settings =
        vec![("MILKFLOW_TRUSTED_PROXIES", "127.0.0.1/32"), ("MILKFLOW_AUTH_RATE_LIMIT_PER_MINUTE", per_minute)];
    if let Store::Redis = store {
        if !redis_answers().await {
            assert!(std::env::var("CI").is_err(), "Redis must answer at {REDIS_URL} in CI");
            eprintln!("skipped: no Redis at {REDIS_URL}");
            return None;
        }
        settings.push(("MILKFLOW_REDIS_URL", REDIS_URL));
    }
    spawn_app_with(kind, &settings).await
}

async fn redis_answers() -> bool {
    tokio::net::TcpStream::connect("127.0.0.1:6379").await.is_ok()
}

/// A client address no other test uses (the Redis store is shared by every test).
fn fresh_address() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    format!("10.{}.{}.{}", b[0], b[1], b[2])
}

async fn login_from(app: &TestApp, address: &str, email: &str, password: &str) -> Reply {
    let r = app
        .client
        .post(format!("{}/v1/auth/login", app.address))
        .header("x-forwarded-for", format!("{address}, 127.0.0.1"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    Reply::from_response(r).await
}

async fn locks_are_per_address(kind: Db, store: Store) {
    let Some(app) = behind_proxy(kind, store, "0").await else { return };
    let email = unique_email();
    app.register(&email).await;
    let (attacker, owner) = (fresh_address(), fresh_address());
    let unknown = login_from(&app, &attacker, "nobody@example.org", "wrong-password-99").await;
    for _ in 0..5 {
        login_from(&app, &attacker, &email, "wrong-password-99").await.assert_problem(401);
    }
    let locked = login_from(&app, &attacker, &email, PASSWORD).await;
    locked.assert_problem(401);
    assert_eq!(locked.body, unknown.body, "a locked account answers like an unknown email");
    assert!(app.count("users", "locked_until IS NOT NULL").await >= 1, "admins see the latest lock");
    // Attempts during the lock are not counted: they neither extend it nor start a new count.
    let lock_end = "SELECT COALESCE(MAX(expires_ms), 0) AS n FROM auth_limits WHERE key LIKE 'lock:%'";
    let ends = app.scalar(lock_end).await;
    for _ in 0..10 {
        login_from(&app, &attacker, &email, "wrong-password-99").await.assert_problem(401);
    }
    if let Store::Database = store {
        assert!(ends > 0);
        assert_eq!(app.scalar(lock_end).await, ends, "the lock is not extended");
        assert_eq!(app.count("auth_limits", "key LIKE 'fail:%'").await, 0, "no failures counted during the lock");
    }
    // From the owner's own address, the owner is not locked out.
    let from_owner = login_from(&app, &owner, &email, PASSWORD).await;
    assert_eq!(from_owner.status, 200, "{}", from_owner.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_lock_the_account_for_that_address_only_sqlite() {
    locks_are_per_address(Db::Sqlite, Store::Database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_lock_the_account_for_that_address_only_postgres() {
    locks_are_per_address(Db::Postgres, Store::Database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_lock_the_account_for_that_address_only_in_redis() {
    locks_are_per_address(Db::Sqlite, Store::Redis).await;
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
    // Without trusted proxies a forwarding header is the client's own claim, and changes nothing.
    login_from(&app, &fresh_address(), &unique_email(), "wrong-password-99").await.assert_problem(429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_registration_are_rate_limited_with_retry_after_sqlite() {
    limited(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_registration_are_rate_limited_with_retry_after_postgres() {
    limited(Db::Postgres).await;
}

/// Behind a trusted proxy each client has its own quota; two API processes share one.
async fn one_quota_per_client(kind: Db, store: Store) {
    let Some(app) = behind_proxy(kind, store, "3").await else { return };
    let second = app.another_api().await;
    let (a, b) = (fresh_address(), fresh_address());
    for api in [&app, &second, &app] {
        login_from(api, &a, &unique_email(), "wrong-password-99").await.assert_problem(401);
    }
    login_from(&second, &a, &unique_email(), "wrong-password-99").await.assert_problem(429);
    login_from(&app, &a, &unique_email(), "wrong-password-99").await.assert_problem(429);
    // Another client behind the same proxy still has its whole quota.
    login_from(&second, &b, &unique_email(), "wrong-password-99").await.assert_problem(401);
    // The per-account quota is shared too, whatever the address.
    let email = unique_email();
    for api in [&app, &second, &app] {
        login_from(api, &fresh_address(), &email, "wrong-password-99").await.assert_problem(401);
    }
    login_from(&second, &fresh_address(), &email, "wrong-password-99").await.assert_problem(429);
    // An email of any length is counted under a key of one length (the store's column has a bound).
    let long = format!("{}@example.org", "a".repeat(50_000));
    login_from(&app, &fresh_address(), &long, "wrong-password-99").await.assert_problem(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_processes_share_one_quota_and_proxied_clients_each_have_one_sqlite() {
    one_quota_per_client(Db::Sqlite, Store::Database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_processes_share_one_quota_and_proxied_clients_each_have_one_postgres() {
    one_quota_per_client(Db::Postgres, Store::Database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_processes_share_one_quota_in_redis_postgres() {
    one_quota_per_client(Db::Postgres, Store::Redis).await;
}

milkflow_tests::on_both_databases!(a_success_from_one_address_clears_only_that_address_count);

async fn a_success_from_one_address_clears_only_that_address_count(app: TestApp) {
    use api::ratelimit::{AuthLimits, LOCK_AFTER_FAILURES, LimitStore};
    let limits = AuthLimits::new(LimitStore::Database(app.db.clone()), 0, 0);
    let (user, now) = (uuid::Uuid::now_v7(), chrono::Utc::now());
    let (near, neighbour) = ("10.0.0.12".parse().unwrap(), "10.0.0.1".parse().unwrap());
    for _ in 1..LOCK_AFTER_FAILURES {
        assert_eq!(limits.failed(user, near, now).await.unwrap(), None);
    }
    // 10.0.0.1 is a prefix of 10.0.0.12: its success must not clear the other's count.
    limits.succeeded(user, neighbour).await.unwrap();
    assert!(limits.failed(user, near, now).await.unwrap().is_some(), "the fifth failure locks");
    assert!(limits.is_locked(user, near, now).await.unwrap());
    assert!(!limits.is_locked(user, neighbour, now).await.unwrap());
    limits.clear_account(user).await.unwrap();
    assert!(!limits.is_locked(user, near, now).await.unwrap());
}
