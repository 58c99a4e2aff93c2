//! The scheduler's `run_once` functions, called directly with an injected clock.

use chrono::{Duration, Utc};
use entity::{refresh_token, user};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, PaginatorTrait};
use uuid::Uuid;

async fn fresh_sqlite() -> (tempfile::TempDir, store::Database) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/milkflow.db?mode=rwc", dir.path().display());
    store::db::migrate(&url, platform::DatabaseKind::Sqlite).await.unwrap();
    let db = store::db::connect(&url, platform::DatabaseKind::Sqlite, 2).await.unwrap();
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

async fn insert_user(db: &store::Database, email: &str, now: chrono::DateTime<Utc>) -> user::Model {
    user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.into()),
        password_hash: Set("x".into()),
        display_name: Set(None),
        timezone: Set("UTC".into()),
        volume_unit: Set("ml".into()),
        quiet_hours_start: Set(None),
        quiet_hours_end: Set(None),
        role: Set(domain::Role::User),
        status: Set(domain::UserStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
        change_seq: Set(0),
        locked_until: Set(None),
        email_verified_at: Set(None),
        token_epoch: Set(0),
    }
    .insert(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn housekeeping_removes_login_limits_and_locks_that_have_ended() {
    use entity::auth_limit;
    let (_dir, db) = fresh_sqlite().await;
    let now = Utc::now();
    for (key, ends) in [("lock:a:1", now - Duration::seconds(1)), ("lock:b:1", now + Duration::minutes(5))] {
        let row =
            auth_limit::ActiveModel { key: Set(key.into()), count: Set(1), expires_ms: Set(ends.timestamp_millis()) };
        row.insert(&db).await.unwrap();
    }
    let outcome = store::housekeeping::run_once(&db, now).await.unwrap();
    assert_eq!(outcome.auth_limits_removed, 1);
    let left: Vec<String> = auth_limit::Entity::find().all(&db).await.unwrap().into_iter().map(|r| r.key).collect();
    assert_eq!(left, vec!["lock:b:1"]);
}

#[tokio::test]
async fn housekeeping_removes_only_refresh_tokens_expired_past_the_grace() {
    let (_dir, db) = fresh_sqlite().await;
    let now = Utc::now();
    let owner = insert_user(&db, "a@example.org", now).await;
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
    let outcome = store::housekeeping::run_once(&db, now).await.unwrap();
    assert_eq!(outcome.refresh_tokens_removed, 1);
    assert_eq!((outcome.deliveries_removed, outcome.devices_removed), (0, 0));
    assert_eq!(refresh_token::Entity::find().count(&db).await.unwrap(), 2);
    let again = store::housekeeping::run_once(&db, now).await.unwrap();
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

#[tokio::test]
async fn a_slow_tick_does_not_stop_later_ticks() {
    use sea_orm::ConnectionTrait;
    let (dir, db) = fresh_sqlite().await;
    let url = format!("sqlite://{}/milkflow.db", dir.path().display());
    let env = [("MILKFLOW_DATABASE_URL".to_owned(), url.clone())].into();
    let settings = platform::Settings::from_sources("127.0.0.1:0", env).unwrap();
    let metrics = std::sync::Arc::new(scheduler::metrics::Metrics::new());
    let mut s = scheduler::Scheduler::build(&settings, db.clone(), metrics.clone()).await.unwrap();
    s.start().await.unwrap();
    let ok_ticks = || metrics.ticks.with_label_values(&["ok"]).get();
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert!(ok_ticks() >= 1, "ticks run");
    // Another writer holds the database for 3 seconds: ticks block on it, one tick runs long.
    let blocker = store::db::connect(&url, platform::DatabaseKind::Sqlite, 1).await.unwrap();
    blocker.execute_unprepared("BEGIN EXCLUSIVE").await.unwrap();
    let before = ok_ticks();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    blocker.execute_unprepared("COMMIT").await.unwrap();
    assert!(ok_ticks() <= before + 1, "ticks waited for the database");
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert!(ok_ticks() >= before + 2, "ticks go on after a slow one: {before} -> {}", ok_ticks());
    assert!(s.health().is_fresh());
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn housekeeping_removes_old_deliveries_and_devices_failing_for_weeks() {
    use domain::reminders::{DeliveryStatus, OccurrenceKind, OccurrenceState, Platform, ReminderTopic};
    use entity::{delivery, device, occurrence};
    let (_dir, db) = fresh_sqlite().await;
    let now = Utc::now();
    let owner = insert_user(&db, "b@example.org", now).await;
    let new_device = |created: chrono::DateTime<Utc>, target: &str| device::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(owner.id),
        platform: Set(Platform::Fcm),
        target: Set(target.into()),
        p256dh: Set(None),
        auth: Set(None),
        name: Set(None),
        locale: Set("en".into()),
        created_at: Set(created),
        updated_at: Set(created),
        last_success_at: Set(None),
    };
    let failing = new_device(now - Duration::days(60), "failing").insert(&db).await.unwrap();
    let young = new_device(now - Duration::days(2), "young").insert(&db).await.unwrap();
    let add = async |device: Uuid, status: DeliveryStatus, updated: chrono::DateTime<Utc>| {
        let occ = occurrence::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(owner.id),
            routine_id: Set(Some(Uuid::now_v7())),
            broadcast_id: Set(None),
            kind: Set(OccurrenceKind::Routine),
            routine_kind: Set(ReminderTopic::Pump),
            due_at: Set(updated),
            state: Set(OccurrenceState::Sent),
            created_at: Set(updated),
            updated_at: Set(updated),
            snoozed_from: Set(None),
            client_id: Set(None),
        }
        .insert(&db)
        .await
        .unwrap();
        delivery::ActiveModel {
            id: Set(Uuid::now_v7()),
            occurrence_id: Set(occ.id),
            device_id: Set(device),
            user_id: Set(owner.id),
            provider: Set(Platform::Fcm),
            status: Set(status),
            attempts: Set(1),
            next_attempt_at: Set(updated),
            lease_until: Set(None),
            leased_by: Set(None),
            due_at: Set(updated),
            expires_at: Set(updated),
            sent_at: Set(None),
            last_status: Set(Some(500)),
            last_error: Set(None),
            payload: Set(None),
            created_at: Set(updated),
            updated_at: Set(updated),
        }
        .insert(&db)
        .await
        .unwrap();
    };
    for day in 1..=5 {
        add(failing.id, DeliveryStatus::Failed, now - Duration::days(day)).await;
        add(young.id, DeliveryStatus::Failed, now - Duration::days(day).min(Duration::days(1))).await;
    }
    add(young.id, DeliveryStatus::Delivered, now - Duration::days(100)).await;
    let outcome = store::housekeeping::run_once(&db, now).await.unwrap();
    assert_eq!(outcome.devices_removed, 1, "only the device failing for weeks: {outcome:?}");
    assert!(device::Entity::find_by_id(young.id).one(&db).await.unwrap().is_some());
    assert_eq!((outcome.deliveries_removed, outcome.occurrences_removed), (1, 1), "{outcome:?}");
}
