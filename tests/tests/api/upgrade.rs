//! An installation of the release before typed tables upgrades by starting the new binary: every record moves
//! from `records` into its kind's table, each occurrence names its routine or its broadcast in a column of its
//! own, and phones, reminders and change numbers carry on as they were.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use domain::reminders::OccurrenceState;
use milkflow_tests::{Db, PASSWORD, TestApp, massage_body, pump_body};
use sea_orm::{ConnectionTrait, EntityTrait, Statement, Value as Sql};
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_move_into_typed_tables_losslessly_on_sqlite() {
    upgrade(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_move_into_typed_tables_losslessly_on_postgres() {
    upgrade(Db::Postgres).await;
}

/// A record as the release before stored it: its JSON text is the validated fields, as that release wrote them.
struct Old {
    id: Uuid,
    user: Uuid,
    collection: &'static str,
    body: Value,
    version: i64,
    seq: i64,
    deleted: bool,
}

/// The migration that the release before ended with.
const RELEASED_MIGRATIONS: u32 = 11;

async fn upgrade(kind: Db) {
    let now = Utc::now().trunc_subsecs(3);
    let (owner, other) = (Uuid::now_v7(), Uuid::now_v7());
    let spots = json!([{"side": "left", "quadrant": "upper_outer", "kind": "hard", "severity": 3}]);
    let old = vec![
        old(owner, "pump_sessions", pump_body(300, 60.5, 40.0), 1, 1),
        old(
            owner,
            "massage_sessions",
            json!({"started_at": now - Duration::hours(4), "duration_s": 300, "side": "both",
            "pressure": "light", "context": "before_pumping", "spots": spots, "notes": "warm, \"gentle\""}),
            1,
            2,
        ),
        old(
            owner,
            "symptom_checks",
            json!({"at": now - Duration::hours(3), "engorgement": 3, "pain": 2,
            "spots": spots, "redness": true, "temperature_c": 37.4, "flu_like": false}),
            1,
            3,
        ),
        old(
            owner,
            "routines",
            json!({"name": "Mornings", "kind": "massage_then_pump", "days": ["mon", "wed", "fri"],
            "schedule": {"type": "times", "times": ["07:00"]}}),
            2,
            4,
        ),
        old(owner, "routines", json!({"kind": "pump", "schedule": {"type": "after_last", "hours": 3}}), 1, 5),
        Old { deleted: true, ..old(owner, "pump_sessions", pump_body(200, 1.0, 1.0), 2, 6) },
        old(owner, "massage_sessions", massage_body(30), 3, 7),
        old(other, "pump_sessions", pump_body(20, 10.0, 10.0), 1, 1),
    ];
    let times_routine = old[3].id;
    let (snoozed, re_reminder, next) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (broadcast, told, told_again) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let re_reminder_due = now + Duration::minutes(10);
    let next_due = now + Duration::hours(20);
    let Some(app) = milkflow_tests::spawn_api_on(kind, |url| {
        let old = &old;
        async move {
            let kind = if url.starts_with("sqlite") { platform::DatabaseKind::Sqlite } else { platform::DatabaseKind::Postgres };
            let db = store::db::connect(&url, kind, 1).await.unwrap();
            use sea_orm_migration::MigratorTrait;
            migration::Migrator::up(&db, Some(RELEASED_MIGRATIONS)).await.unwrap();
            let hash = api::auth::password::hash(PASSWORD.into()).await.unwrap();
            for (id, seq) in [(owner, 7), (other, 1)] {
                insert(&db, "INSERT INTO users (id, email, password_hash, display_name, timezone, volume_unit, role, status, created_at, updated_at, change_seq) VALUES (?, ?, ?, NULL, 'UTC', 'ml', 'user', 'active', ?, ?, ?)",
                    vec![id.into(), format!("{id}@upgrade.test").into(), hash.clone().into(), now.into(), now.into(), seq.into()]).await;
            }
            for r in old {
                // As that release filled them: the typed columns from the validated fields (a tombstone keeps
                // its time and drops the rest).
                let valid: Value = serde_json::from_str(&stored(r.collection, &r.body, now)).unwrap();
                let sort_at = ["started_at", "at"].iter().find_map(|k| valid[*k].as_str()).map_or(now, |t| t.parse::<DateTime<Utc>>().unwrap());
                let text = |k: &str| valid[k].as_str().filter(|_| !r.deleted).map(str::to_owned);
                let data = if r.deleted { "{}".to_owned() } else { valid.to_string() };
                insert(&db, "INSERT INTO records (id, user_id, collection, sort_at, side, pump_type, data, version, change_seq, created_at, updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    vec![r.id.into(), r.user.into(), r.collection.into(), sort_at.into(), text("side").into(), text("pump_type").into(), data.into(),
                        r.version.into(), r.seq.into(), (now - Duration::days(1)).into(), now.into(), r.deleted.then_some(now).into()]).await;
            }
            for (id, state, due, from) in [(snoozed, "snoozed", now - Duration::minutes(5), None), (re_reminder, "planned", re_reminder_due, Some(snoozed)), (next, "planned", next_due, None)] {
                let occurrence_kind = if from.is_some() { "snooze" } else { "routine" };
                insert(&db, "INSERT INTO occurrences (id, user_id, routine_id, kind, routine_kind, due_at, state, created_at, updated_at, snoozed_from) VALUES (?, ?, ?, ?, 'massage_then_pump', ?, ?, ?, ?, ?)",
                    vec![id.into(), owner.into(), times_routine.into(), occurrence_kind.into(), due.into(), state.into(), now.into(), now.into(), from.into()]).await;
            }
            // A broadcast's occurrence and its re-reminder kept the broadcast's id as their routine id.
            insert(&db, "INSERT INTO broadcasts (id, title, body, audience, send_at, targeted, created_by, created_at) VALUES (?, 'Hello', 'News', '\"all\"', ?, 1, ?, ?)",
                vec![broadcast.into(), now.into(), other.into(), now.into()]).await;
            for (id, state, due, from) in [(told, "snoozed", now - Duration::minutes(7), None), (told_again, "planned", re_reminder_due, Some(told))] {
                let occurrence_kind = if from.is_some() { "snooze" } else { "broadcast" };
                insert(&db, "INSERT INTO occurrences (id, user_id, routine_id, kind, routine_kind, due_at, state, created_at, updated_at, snoozed_from) VALUES (?, ?, ?, ?, 'broadcast', ?, ?, ?, ?, ?)",
                    vec![id.into(), owner.into(), broadcast.into(), occurrence_kind.into(), due.into(), state.into(), now.into(), now.into(), from.into()]).await;
            }
            db.close().await.unwrap();
        }
    })
    .await
    else {
        return;
    };
    check(&app, &old, owner, now).await;
    // The reminders planned before the upgrade stand, snoozed one included.
    for (id, due) in [(re_reminder, re_reminder_due), (next, next_due)] {
        let o = entity::occurrence::Entity::find_by_id(id).one(&app.db).await.unwrap().expect("an occurrence kept");
        assert_eq!(
            (o.state, o.due_at, o.routine_id, o.broadcast_id),
            (OccurrenceState::Planned, due, Some(times_routine), None)
        );
    }
    // A broadcast's occurrences now name it in their own column.
    for (id, state) in [(told, OccurrenceState::Snoozed), (told_again, OccurrenceState::Planned)] {
        let o = entity::occurrence::Entity::find_by_id(id).one(&app.db).await.unwrap().expect("an occurrence kept");
        assert_eq!((o.state, o.routine_id, o.broadcast_id), (state, None, Some(broadcast)));
    }
    let token = login(&app, owner).await;
    let upcoming = app.get(&format!("/v1/routines/{times_routine}/upcoming?count=3"), Some(&token)).await;
    assert_eq!(upcoming.status, 200, "{}", upcoming.body);
    assert_eq!(upcoming.body["fires"].as_array().unwrap().len(), 3, "the moved routine still plans");
    // A session logged after the upgrade re-plans the routine that counts from the last session.
    let logged = app.post_auth("/v1/pump-sessions", &pump_body(1, 5.0, 5.0), &token).await;
    assert_eq!(logged.status, 201, "{}", logged.body);
    let after_last = old[4].id;
    let started: DateTime<Utc> = logged.body["started_at"].as_str().unwrap().parse().unwrap();
    let mine = app
        .get(
            &format!("/v1/occurrences?from={}", (now - Duration::days(1)).to_rfc3339().replace('+', "%2B")),
            Some(&token),
        )
        .await;
    let dues: Vec<&str> = mine
        .body
        .as_array()
        .map(|a| {
            a.iter().filter(|o| o["routine_id"] == json!(after_last)).filter_map(|o| o["due_at"].as_str()).collect()
        })
        .unwrap_or_default();
    assert!(dues.iter().any(|d| d.parse::<DateTime<Utc>>().unwrap() == started + Duration::hours(3)), "{}", mine.body);
    // Change numbers carry on: the new session is the account's eighth change, and all a phone gets after the
    // seventh.
    let after = sync(&app, &token, 7).await;
    assert_eq!(after.body["changes"].as_array().unwrap().len(), 1, "{}", after.body);
    assert_eq!(after.body["changes"][0]["id"], logged.body["id"]);
    for table in ["massage_sessions", "pump_sessions", "symptom_checks", "routines"] {
        assert!(app.count(table, "1 = 1").await > 0, "{table}");
    }
}

fn old(user: Uuid, collection: &'static str, body: Value, version: i64, seq: i64) -> Old {
    Old { id: Uuid::now_v7(), user, collection, body, version, seq, deleted: false }
}

/// The JSON text the release before stored: the fields as validated and written back by serde.
fn stored(collection: &str, body: &Value, now: DateTime<Utc>) -> String {
    let kind = domain::RecordKind::from_name(collection).unwrap();
    serde_json::to_string(&domain::RecordBody::parse(kind, body, now).expect("a valid old record")).unwrap()
}

async fn insert(db: &store::Database, sql: &str, values: Vec<Sql>) {
    let backend = db.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Postgres {
        let mut n = 0;
        sql.chars()
            .map(|c| {
                if c == '?' {
                    n += 1;
                    format!("${n}")
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        sql.to_owned()
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.expect("old-schema insert");
}

async fn login(app: &TestApp, user: Uuid) -> String {
    let r = app.login(&format!("{user}@upgrade.test"), PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}

async fn sync(app: &TestApp, token: &str, since: i64) -> milkflow_tests::Reply {
    let cursor = URL_SAFE_NO_PAD.encode(format!("s:{since}"));
    let r = app.get(&format!("/v1/sync?since={cursor}&limit=500"), Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

/// Every record reads as it was stored, tombstones stay tombstones, and sync carries on from a cursor taken
/// before the upgrade: nothing twice, nothing missed.
async fn check(app: &TestApp, old: &[Old], owner: Uuid, now: DateTime<Utc>) {
    let token = login(app, owner).await;
    for r in old.iter().filter(|r| r.user == owner) {
        let path = format!("{}/{}", domain::RecordKind::from_name(r.collection).unwrap().path(), r.id);
        let got = app.get(&path, Some(&token)).await;
        if r.deleted {
            got.assert_problem(404);
            continue;
        }
        assert_eq!(got.status, 200, "{path}: {}", got.body);
        let mut expected: Value = serde_json::from_str(&stored(r.collection, &r.body, now)).unwrap();
        let fields = expected.as_object_mut().unwrap();
        fields.insert("id".into(), json!(r.id));
        fields.insert("version".into(), json!(r.version));
        fields.insert("created_at".into(), json!(now - Duration::days(1)));
        fields.insert("updated_at".into(), json!(now));
        assert_eq!(got.body, expected, "{path}");
    }
    // Another account's record stays another's.
    let theirs = old.iter().find(|r| r.user != owner).unwrap();
    app.get(&format!("/v1/pump-sessions/{}", theirs.id), Some(&token)).await.assert_problem(404);
    // A phone that synced up to change 4 before the upgrade gets 5, 6 (a deletion) and 7, in order.
    let page = sync(app, &token, 4).await;
    let changes: Vec<(String, &str, i64)> = page.body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["op"].as_str().unwrap(), c["version"].as_i64().unwrap()))
        .collect();
    let expected: Vec<(String, &str, i64)> =
        old[4..7].iter().map(|r| (r.id.to_string(), if r.deleted { "delete" } else { "upsert" }, r.version)).collect();
    assert_eq!(changes, expected);
    assert_eq!(page.body["next_cursor"], URL_SAFE_NO_PAD.encode("s:7"));
    // From the beginning: each of the seven once.
    let all = sync(app, &token, 0).await;
    assert_eq!(all.body["changes"].as_array().unwrap().len(), 7);
}
