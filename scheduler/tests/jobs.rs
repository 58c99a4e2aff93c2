//! The scheduler's `run_once` functions, called directly with an injected clock.

use chrono::{Duration, Utc};
use entity::{refresh_token, user};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, PaginatorTrait};
use uuid::Uuid;

async fn fresh_sqlite() -> (tempfile::TempDir, platform::Database) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/milkflow.db?mode=rwc", dir.path().display());
    platform::db::migrate(&url, platform::DatabaseKind::Sqlite).await.unwrap();
    let db = platform::db::connect(&url, platform::DatabaseKind::Sqlite, 2).await.unwrap();
    (dir, db)
}

#[tokio::test]
async fn claim_tick_completes_against_a_reachable_database() {
    let (dir, db) = fresh_sqlite().await;
    let env = [("MILKFLOW_DATABASE_URL".to_owned(), format!("sqlite://{}/milkflow.db", dir.path().display()))].into();
    let settings = platform::Settings::from_sources("127.0.0.1:0", env).unwrap();
    let ctx = scheduler::tick::TickContext::build(&settings, db.clone()).await.unwrap();
    let outcome = scheduler::tick::run_once(&ctx, Utc::now()).await.unwrap();
    assert_eq!(outcome, scheduler::tick::TickOutcome::default());
    db.clone().close().await.unwrap();
    assert!(scheduler::tick::run_once(&ctx, Utc::now()).await.is_err(), "a tick without a database must fail");
}

#[tokio::test]
async fn housekeeping_removes_only_refresh_tokens_expired_past_the_grace() {
    let (_dir, db) = fresh_sqlite().await;
    let now = Utc::now();
    let owner = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set("a@example.org".into()),
        password_hash: Set("x".into()),
        display_name: Set(None),
        timezone: Set("UTC".into()),
        volume_unit: Set("ml".into()),
        quiet_hours_start: Set(None),
        quiet_hours_end: Set(None),
        role: Set("user".into()),
        status: Set("active".into()),
        created_at: Set(now),
        updated_at: Set(now),
        change_seq: Set(0),
    }
    .insert(&db)
    .await
    .unwrap();
    for (hash, expires) in
        [("old", now - Duration::days(2)), ("recent", now - Duration::hours(1)), ("live", now + Duration::days(5))]
    {
        refresh_token::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(owner.id),
            family_id: Set(Uuid::now_v7()),
            token_hash: Set(hash.into()),
            created_at: Set(now - Duration::days(30)),
            expires_at: Set(expires),
            used_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(&db)
        .await
        .unwrap();
    }
    let outcome = scheduler::housekeeping::run_once(&db, now).await.unwrap();
    assert_eq!(outcome.refresh_tokens_removed, 1);
    assert_eq!(refresh_token::Entity::find().count(&db).await.unwrap(), 2);
    let again = scheduler::housekeeping::run_once(&db, now).await.unwrap();
    assert_eq!(again.refresh_tokens_removed, 0);
}

#[tokio::test]
async fn readiness_turns_503_when_the_claim_tick_stops_completing() {
    let (_dir, db) = fresh_sqlite().await;
    let tick = std::sync::Arc::new(scheduler::TickHealth::new(std::time::Duration::from_millis(800)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/readyz", listener.local_addr().unwrap().port());
    let server = scheduler::health::serve(listener, db, tick.clone(), Default::default()).unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    // No tick completes from here on: a stuck scheduler must not look ready.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let stale = reqwest::get(&url).await.unwrap();
    assert_eq!(stale.status(), 503);
    assert!(stale.text().await.unwrap().contains("claim tick"));
    tick.record();
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200, "a completed tick makes it ready again");
    handle.stop(false).await;
}
