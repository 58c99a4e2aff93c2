//! Group commit of record writes: writes that wait together share one transaction, and each still gets the
//! answer it would get alone; one that fails, panics or changes nothing takes nothing of its own with it and
//! costs its neighbours nothing but a rerun.

use api::error::ApiError;
use api::services::records::{self, Collection};
use api::services::writes::{Step, Writes};
use futures_util::FutureExt;
use milkflow_tests::{TestApp, on_both_databases, pump_body};
use scheduler::metrics::Metrics;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use uuid::Uuid;

on_both_databases!(
    writes_waiting_together_commit_together_and_each_keeps_its_own_answer,
    puts_sent_at_once_are_all_kept_with_distinct_change_numbers,
    a_routine_written_inside_a_batch_counts_the_sessions_after_it,
);

async fn her_id(app: &TestApp, token: &str) -> Uuid {
    app.get("/v1/me", Some(token)).await.body["id"].as_str().unwrap().parse().unwrap()
}

async fn change_seq(app: &TestApp, user: Uuid) -> i64 {
    entity::user::Entity::find_by_id(user).one(&app.db).await.unwrap().expect("her account").change_seq
}

async fn writes_waiting_together_commit_together_and_each_keeps_its_own_answer(app: TestApp) {
    let (theirs_token, _) = app.signed_up().await;
    let (token, _) = app.signed_up().await;
    let her = her_id(&app, &token).await;
    let theirs = Uuid::new_v4();
    let put_theirs = app.put(&format!("/v1/pump-sessions/{theirs}"), &pump_body(90, 10.0, 10.0), &theirs_token).await;
    assert_eq!(put_theirs.status, 201);
    let seq_before = change_seq(&app, her).await;

    let metrics = Arc::new(Metrics::new());
    let writes = Writes::start(app.db.clone(), metrics.clone());

    // A first write holds the lane inside its transaction while the others queue up behind it.
    let (gate, go) = hold_lane(&writes, her).await;

    let body = pump_body(60, 60.0, 45.0);
    let put = |id: Uuid| {
        let (writes, body) = (writes.clone(), body.clone());
        tokio::spawn(async move {
            records::put(&writes, her, Collection::PumpSessions, id, &body, None, chrono::Utc::now()).await
        })
    };
    let new = Uuid::new_v4();
    let (first, again, taken) = (put(new), put(new), put(theirs));
    let plain: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let plain_puts: Vec<_> = plain.iter().map(|id| put(*id)).collect();
    // A write that changes her change number, then fails: its change must not last.
    let failing = tokio::spawn({
        let writes = writes.clone();
        async move {
            writes
                .run(her, move |txn| {
                    async move {
                        entity::user::Entity::update_many()
                            .col_expr(
                                entity::user::Column::ChangeSeq,
                                Expr::col(entity::user::Column::ChangeSeq).add(100),
                            )
                            .filter(entity::user::Column::Id.eq(her))
                            .exec(txn)
                            .await?;
                        Err::<Step<()>, _>(ApiError::BadRequest("refused on purpose".into()))
                    }
                    .boxed()
                })
                .await
        }
    });
    let panicking = tokio::spawn({
        let writes = writes.clone();
        async move { writes.run(her, |_txn| async { panic!("a write that panics") }.boxed()).await.map(|(): ()| ()) }
    });

    let queued = 3 + plain.len() + 2;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while writes.waiting() < queued {
        assert!(tokio::time::Instant::now() < deadline, "only {} of {queued} writes queued", writes.waiting());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    go.notify_one();
    gate.await.unwrap().unwrap();

    // The two PUTs of one new id: one created it, the other found it as it is.
    let (first, again) = (first.await.unwrap().unwrap(), again.await.unwrap().unwrap());
    assert!(first.1 != again.1, "exactly one of two identical PUTs creates: {} and {}", first.1, again.1);
    assert_eq!((first.0.id, first.0.version, again.0.version), (new, 1, 1));
    assert!(matches!(taken.await.unwrap(), Err(ApiError::Conflict(_))), "an id of another user's record");
    assert!(matches!(failing.await.unwrap(), Err(ApiError::BadRequest(_))));
    assert!(matches!(panicking.await.unwrap(), Err(ApiError::Internal(_))));
    let mut seqs = vec![std::cmp::max(first.0.change_seq, again.0.change_seq)];
    for p in plain_puts {
        let (row, created) = p.await.unwrap().unwrap();
        assert!(created);
        seqs.push(row.change_seq);
    }

    // Her change number counts exactly her six new records: the failed and retried writes spent none.
    assert_eq!(change_seq(&app, her).await, seq_before + 6);
    seqs.sort_unstable();
    assert_eq!(seqs, (seq_before + 1..=seq_before + 6).collect::<Vec<_>>(), "one change number each");
    let hers = entity::record::Entity::find().filter(entity::record::Column::UserId.eq(her)).count(&app.db).await;
    assert_eq!(hers.unwrap(), 6);
    assert_eq!(app.get(&format!("/v1/pump-sessions/{theirs}"), Some(&theirs_token)).await.status, 200);
    assert_eq!(app.get(&format!("/v1/pump-sessions/{theirs}"), Some(&token)).await.status, 404);

    // The gate alone, the new id's creation alone (its batch could not keep it), and the five plain PUTs in
    // one transaction; the refused writes were each rerun alone: the conflict, the failure, the panic and
    // both PUTs of the one id (the second of them found the first's uncommitted insert, the first later found
    // the second's committed one).
    assert_eq!(metrics.write_batch.get_sample_count(), 3);
    assert_eq!(metrics.write_batch.get_sample_sum(), 7.0);
    assert_eq!(metrics.writes_rerun.get(), 5);

    // The lane goes on working after all that.
    let after = put(Uuid::new_v4()).await.unwrap().unwrap();
    assert_eq!(after.0.change_seq, seq_before + 7);
}

async fn puts_sent_at_once_are_all_kept_with_distinct_change_numbers(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let her = her_id(&app, &token).await;
    let seq_before = change_seq(&app, her).await;
    let ids: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
    let (paths, body): (Vec<String>, _) =
        (ids.iter().map(|id| format!("/v1/pump-sessions/{id}")).collect(), pump_body(30, 20.0, 25.0));
    let replies = futures_util::future::join_all(paths.iter().map(|path| app.put(path, &body, &token))).await;
    for reply in &replies {
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    // She had no records before, so a sync from the beginning holds exactly what the PUTs brought.
    let synced = app.get("/v1/sync?limit=100", Some(&token)).await;
    assert_eq!(synced.status, 200, "{}", synced.body);
    let changes = synced.body["changes"].as_array().unwrap();
    let mut synced_ids: Vec<String> = changes.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    let mut sent: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    synced_ids.sort();
    sent.sort();
    assert_eq!(synced_ids, sent, "every PUT answered 201 is there to sync");
    assert_eq!(change_seq(&app, her).await, seq_before + 40);
}

/// Holds `writes`' lane inside a first write's transaction until the returned `Notify` is notified.
async fn hold_lane(writes: &Writes, her: Uuid) -> (tokio::task::JoinHandle<Result<(), ApiError>>, Arc<Notify>) {
    let (running_tx, running) = oneshot::channel();
    let go = Arc::new(Notify::new());
    let gate = tokio::spawn({
        let (writes, go, mut running_tx) = (writes.clone(), go.clone(), Some(running_tx));
        async move {
            writes
                .run(her, move |_txn| {
                    let (signal, go) = (running_tx.take(), go.clone());
                    async move {
                        if let Some(signal) = signal {
                            let _ = signal.send(());
                        }
                        go.notified().await;
                        Ok(Step::Commit(()))
                    }
                    .boxed()
                })
                .await
        }
    });
    running.await.unwrap();
    (gate, go)
}

/// Hands a PUT to the lane and waits until it is queued, so writes queue in the order they are given.
async fn queue_put(
    writes: &Writes,
    her: Uuid,
    collection: Collection,
    body: serde_json::Value,
) -> tokio::task::JoinHandle<Result<(entity::record::Model, bool), ApiError>> {
    let before = writes.waiting();
    let handle = tokio::spawn({
        let writes = writes.clone();
        async move { records::put(&writes, her, collection, Uuid::new_v4(), &body, None, chrono::Utc::now()).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while writes.waiting() == before {
        assert!(tokio::time::Instant::now() < deadline, "the write was never queued");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    handle
}

/// A transaction that found she has no routine counting from her last session does not look again for her
/// next session: unless it has written one of her routines since.
async fn a_routine_written_inside_a_batch_counts_the_sessions_after_it(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let her = her_id(&app, &token).await;
    let writes = Writes::start(app.db.clone(), Arc::new(Metrics::new()));
    let (gate, go) = hold_lane(&writes, her).await;
    let (earlier, later) = (pump_body(100, 30.0, 30.0), pump_body(30, 40.0, 40.0));
    let routine = serde_json::json!({"kind": "pump", "schedule": {"type": "after_last", "hours": 3}});
    let first = queue_put(&writes, her, Collection::PumpSessions, earlier).await;
    let routine = queue_put(&writes, her, Collection::Routines, routine).await;
    let second = queue_put(&writes, her, Collection::PumpSessions, later.clone()).await;
    go.notify_one();
    gate.await.unwrap().unwrap();
    first.await.unwrap().unwrap();
    let routine = routine.await.unwrap().unwrap().0;
    second.await.unwrap().unwrap();

    let planned = entity::occurrence::Entity::find()
        .filter(entity::occurrence::Column::RoutineId.eq(routine.id))
        .filter(entity::occurrence::Column::State.eq("planned"))
        .all(&app.db)
        .await
        .unwrap();
    let started: chrono::DateTime<chrono::Utc> = later["started_at"].as_str().unwrap().parse().unwrap();
    let due: Vec<_> = planned.iter().map(|o| o.due_at.timestamp()).collect();
    assert_eq!(due, vec![(started + chrono::Duration::hours(3)).timestamp()], "planned from the later session");
}
