//! Group commit of record writes: writes that wait together share one transaction, and each still gets the
//! answer it would get alone; one that fails, panics or changes nothing takes nothing of its own with it and
//! costs its neighbours nothing but a rerun.

use futures_util::FutureExt;
use milkflow_tests::{TestApp, on_both_databases, pump_body};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use store::StoreError;
use store::metrics::WriteMetrics;
use store::records::{self, Collection, IfMatch};
use store::writes::{Step, Writes};
use tokio::sync::{Notify, oneshot};
use uuid::Uuid;

on_both_databases!(
    writes_waiting_together_commit_together_and_each_keeps_its_own_answer,
    puts_sent_at_once_are_all_kept_with_distinct_change_numbers,
    a_routine_written_inside_a_batch_counts_the_sessions_after_it,
    new_records_waiting_together_are_inserted_together,
    a_new_record_of_no_account_waiting_with_others_costs_them_nothing,
    new_records_of_every_kind_waiting_together_are_inserted_together,
    a_new_record_whose_id_another_kind_uses_waiting_with_others_costs_them_nothing,
    a_batch_begun_while_the_last_committed_numbers_after_it,
    a_lane_looks_up_routines_again_once_the_owners_number_moved_on,
    a_lane_spares_the_routine_lookup_while_the_owners_number_is_where_it_left_it,
);

async fn user_id_of(app: &TestApp, token: &str) -> Uuid {
    app.get("/v1/me", Some(token)).await.body["id"].as_str().unwrap().parse().unwrap()
}

async fn change_seq(app: &TestApp, user: Uuid) -> i64 {
    entity::user::Entity::find_by_id(user).one(&app.db).await.unwrap().expect("the user's account").change_seq
}

async fn writes_waiting_together_commit_together_and_each_keeps_its_own_answer(app: TestApp) {
    let (theirs_token, _) = app.signed_up().await;
    let (token, _) = app.signed_up().await;
    let user = user_id_of(&app, &token).await;
    let theirs = Uuid::new_v4();
    let put_theirs = app.put(&format!("/v1/pump-sessions/{theirs}"), &pump_body(90, 10.0, 10.0), &theirs_token).await;
    assert_eq!(put_theirs.status, 201);
    let seq_before = change_seq(&app, user).await;

    let metrics = Arc::new(WriteMetrics::new());
    let writes = Writes::start(app.db.clone(), metrics.clone()).await.unwrap();

    // A first write holds the lane inside its transaction while the others queue up behind it.
    let (gate, go) = hold_lane(&writes, user).await;

    let body = pump_body(60, 60.0, 45.0);
    let put = |id: Uuid| {
        let (writes, body) = (writes.clone(), body.clone());
        tokio::spawn(async move {
            records::put(&writes, user, Collection::PumpSessions, id, &body, None, chrono::Utc::now()).await
        })
    };
    let new = Uuid::new_v4();
    let (first, again, taken) = (put(new), put(new), put(theirs));
    let plain: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let plain_puts: Vec<_> = plain.iter().map(|id| put(*id)).collect();
    // A write that changes the user's change number, then fails: its change must not last.
    let failing = tokio::spawn({
        let writes = writes.clone();
        async move {
            writes
                .run(user, move |txn| {
                    async move {
                        entity::user::Entity::update_many()
                            .col_expr(
                                entity::user::Column::ChangeSeq,
                                Expr::col(entity::user::Column::ChangeSeq).add(100),
                            )
                            .filter(entity::user::Column::Id.eq(user))
                            .exec(txn)
                            .await?;
                        Err::<Step<()>, _>(StoreError::Conflict("refused on purpose".into()))
                    }
                    .boxed()
                })
                .await
        }
    });
    let panicking = tokio::spawn({
        let writes = writes.clone();
        async move { writes.run(user, |_txn| async { panic!("a write that panics") }.boxed()).await.map(|(): ()| ()) }
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
    assert!(matches!(taken.await.unwrap(), Err(StoreError::Conflict(_))), "an id of another user's record");
    assert!(matches!(failing.await.unwrap(), Err(StoreError::Conflict(m)) if m == "refused on purpose"));
    assert!(matches!(panicking.await.unwrap(), Err(StoreError::Internal(_))));
    let mut seqs = vec![std::cmp::max(first.0.change_seq, again.0.change_seq)];
    for p in plain_puts {
        let (row, created) = p.await.unwrap().unwrap();
        assert!(created);
        seqs.push(row.change_seq);
    }

    // The user's change number counts exactly the six new records: the failed and retried writes spent none.
    assert_eq!(change_seq(&app, user).await, seq_before + 6);
    seqs.sort_unstable();
    assert_eq!(seqs, (seq_before + 1..=seq_before + 6).collect::<Vec<_>>(), "one change number each");
    let live = records::count_live(&app.db, user, &domain::RecordKind::ALL).await;
    assert_eq!(live.unwrap(), 6);
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
    let user = user_id_of(&app, &token).await;
    let seq_before = change_seq(&app, user).await;
    let ids: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
    let (paths, body): (Vec<String>, _) =
        (ids.iter().map(|id| format!("/v1/pump-sessions/{id}")).collect(), pump_body(30, 20.0, 25.0));
    let replies = futures_util::future::join_all(paths.iter().map(|path| app.put(path, &body, &token))).await;
    for reply in &replies {
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    // The user had no records before, so a sync from the beginning holds exactly what the PUTs brought.
    let synced = app.get("/v1/sync?limit=100", Some(&token)).await;
    assert_eq!(synced.status, 200, "{}", synced.body);
    let changes = synced.body["changes"].as_array().unwrap();
    let mut synced_ids: Vec<String> = changes.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    let mut sent: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    synced_ids.sort();
    sent.sort();
    assert_eq!(synced_ids, sent, "every PUT answered 201 is there to sync");
    assert_eq!(change_seq(&app, user).await, seq_before + 40);
}

/// Another user whose writes share the lane of `user` (PostgreSQL has several), so that the two can wait together.
async fn another_in_same_lane(app: &TestApp, writes: &Writes, user: Uuid) -> Uuid {
    for _ in 0..64 {
        let (token, _) = app.signed_up().await;
        let other = user_id_of(app, &token).await;
        if writes.lane_of(other) == writes.lane_of(user) {
            return other;
        }
    }
    panic!("no user of 64 shares the lane");
}

/// Holds `writes`' lane inside a first write's transaction until the returned `Notify` is notified.
async fn hold_lane(writes: &Writes, user: Uuid) -> (tokio::task::JoinHandle<Result<(), StoreError>>, Arc<Notify>) {
    hold_lane_having_taken(writes, user, 0).await
}

/// [`hold_lane`], its write having first taken `taken` of the user's change numbers.
async fn hold_lane_having_taken(
    writes: &Writes,
    user: Uuid,
    taken: i64,
) -> (tokio::task::JoinHandle<Result<(), StoreError>>, Arc<Notify>) {
    let (running_tx, running) = oneshot::channel();
    let go = Arc::new(Notify::new());
    let gate = tokio::spawn({
        let (writes, go, mut running_tx) = (writes.clone(), go.clone(), Some(running_tx));
        async move {
            writes
                .run(user, move |txn| {
                    let (signal, go) = (running_tx.take(), go.clone());
                    async move {
                        if taken > 0 {
                            entity::user::Entity::update_many()
                                .col_expr(
                                    entity::user::Column::ChangeSeq,
                                    Expr::col(entity::user::Column::ChangeSeq).add(taken),
                                )
                                .filter(entity::user::Column::Id.eq(user))
                                .exec(txn)
                                .await?;
                        }
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

/// A PUT of the user's record `id` handed to the lane; it returns once the write is queued, so writes queue
/// in the order they are given.
async fn queue_put(
    writes: &Writes,
    user: Uuid,
    collection: Collection,
    id: Uuid,
    body: serde_json::Value,
    if_match: Option<IfMatch>,
) -> tokio::task::JoinHandle<Result<(records::Record, bool), StoreError>> {
    let before = writes.waiting();
    let handle = tokio::spawn({
        let writes = writes.clone();
        async move { records::put(&writes, user, collection, id, &body, if_match, chrono::Utc::now()).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while writes.waiting() == before {
        assert!(tokio::time::Instant::now() < deadline, "the write was never queued");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // `waiting()` counts a send's permit, taken just before its write is put in the queue, on another thread: a
    // moment for that to finish, or the next write could reach the queue first (seen once under a full run).
    tokio::time::sleep(Duration::from_millis(20)).await;
    handle
}

/// The instants the routine `routine` is planned to fire at.
async fn planned(app: &TestApp, routine: Uuid) -> Vec<i64> {
    let planned = entity::occurrence::Entity::find()
        .filter(entity::occurrence::Column::RoutineId.eq(routine))
        .filter(entity::occurrence::Column::State.eq("planned"))
        .all(&app.db)
        .await
        .unwrap();
    planned.iter().map(|o| o.due_at.timestamp()).collect()
}

fn started_at(body: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    body["started_at"].as_str().unwrap().parse().unwrap()
}

/// A transaction that found the user has no routine counting from the last session does not look again for
/// the user's next session, unless it has written one of the user's routines since. (Replacements, so that
/// each runs on its own in the shared transaction: new records are inserted together, see the next test.)
async fn a_routine_written_inside_a_batch_counts_the_sessions_after_it(app: TestApp) {
    let (token, _) = app.signed_up().await;
    let user = user_id_of(&app, &token).await;
    let (a, b, r) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    for (path, body) in [
        (format!("/v1/pump-sessions/{a}"), pump_body(200, 30.0, 30.0)),
        (format!("/v1/pump-sessions/{b}"), pump_body(150, 30.0, 30.0)),
        (
            format!("/v1/routines/{r}"),
            serde_json::json!({"kind": "pump", "schedule": {"type": "times", "times": ["09:00"]}}),
        ),
    ] {
        assert_eq!(app.put(&path, &body, &token).await.status, 201, "{path}");
    }
    let writes = Writes::start(app.db.clone(), Arc::new(WriteMetrics::new())).await.unwrap();
    let (gate, go) = hold_lane(&writes, user).await;
    let (earlier, later) = (pump_body(100, 30.0, 30.0), pump_body(30, 40.0, 40.0));
    let routine = serde_json::json!({"kind": "pump", "schedule": {"type": "after_last", "hours": 3}});
    let any = || Some(IfMatch::Any);
    let first = queue_put(&writes, user, Collection::PumpSessions, a, earlier, any()).await;
    let routine = queue_put(&writes, user, Collection::Routines, r, routine, any()).await;
    let second = queue_put(&writes, user, Collection::PumpSessions, b, later.clone(), any()).await;
    go.notify_one();
    gate.await.unwrap().unwrap();
    for write in [first, routine, second] {
        write.await.unwrap().unwrap();
    }
    let due = (started_at(&later) + chrono::Duration::hours(3)).timestamp();
    assert_eq!(planned(&app, r).await, vec![due], "planned from the later session");
}

/// New records waiting together, of two users, are inserted by one statement: each gets the next of its
/// owner's change numbers in the order they came, and the first user's routine counting from the last
/// session is planned from the latest of them.
async fn new_records_waiting_together_are_inserted_together(app: TestApp) {
    let metrics = Arc::new(WriteMetrics::new());
    let writes = Writes::start(app.db.clone(), metrics.clone()).await.unwrap();
    let (token, _) = app.signed_up().await;
    let user = user_id_of(&app, &token).await;
    let other = another_in_same_lane(&app, &writes, user).await;
    let routine = serde_json::json!({"kind": "pump", "schedule": {"type": "after_last", "hours": 3}});
    let r = app.post_auth("/v1/routines", &routine, &token).await.body["id"].as_str().unwrap().parse().unwrap();
    let (user_before, others_before) = (change_seq(&app, user).await, change_seq(&app, other).await);
    let (gate, go) = hold_lane(&writes, user).await;
    let mut queued = Vec::new();
    for (owner, minutes_ago) in [(user, 90), (other, 80), (user, 20), (other, 70), (user, 50)] {
        let (id, body) = (Uuid::new_v4(), pump_body(minutes_ago, 50.0, 50.0));
        queued.push((
            owner,
            id,
            body.clone(),
            queue_put(&writes, owner, Collection::PumpSessions, id, body, None).await,
        ));
    }
    go.notify_one();
    gate.await.unwrap().unwrap();

    let mut seqs: HashMap<Uuid, Vec<i64>> = HashMap::new();
    let mut user_latest = None;
    for (owner, id, body, write) in queued {
        if owner == user {
            user_latest = std::cmp::max(user_latest, Some(started_at(&body)));
        }
        let (row, created) = write.await.unwrap().unwrap();
        assert!(created);
        assert_eq!((row.id, row.user_id, row.version), (id, owner, 1));
        assert_eq!(row.sort_at.timestamp_millis(), started_at(&body).timestamp_millis(), "its own fields");
        seqs.entry(owner).or_default().push(row.change_seq);
    }
    assert_eq!(seqs[&user], vec![user_before + 1, user_before + 2, user_before + 3]);
    assert_eq!(seqs[&other], vec![others_before + 1, others_before + 2]);
    assert_eq!((change_seq(&app, user).await, change_seq(&app, other).await), (user_before + 3, others_before + 2));
    // The gate alone, then the five in one transaction, by one statement (not each by its own write), none
    // rerun.
    assert_eq!((metrics.write_batch.get_sample_count(), metrics.write_batch.get_sample_sum()), (2, 6.0));
    assert_eq!(metrics.records_inserted_together.get(), 5);
    assert_eq!(metrics.writes_rerun.get(), 0);
    let due = (user_latest.unwrap() + chrono::Duration::hours(3)).timestamp();
    assert_eq!(planned(&app, r).await, vec![due], "planned from the user's latest session");
}

/// Thirteen new records wait together: seven of the user's, five of another user's in the same lane, and one
/// whose owner has no account. That one cannot be numbered, so the batch's insert keeps nothing (no change
/// number taken by it lasts); each is then written as it would be alone: the twelve with their owners' next
/// numbers in the order they came, the thirteenth refused.
async fn a_new_record_of_no_account_waiting_with_others_costs_them_nothing(app: TestApp) {
    let metrics = Arc::new(WriteMetrics::new());
    let writes = Writes::start(app.db.clone(), metrics.clone()).await.unwrap();
    let (token, _) = app.signed_up().await;
    let user = user_id_of(&app, &token).await;
    let other = another_in_same_lane(&app, &writes, user).await;
    let nobody = (0..1000).map(|_| Uuid::new_v4()).find(|id| writes.lane_of(*id) == writes.lane_of(user)).unwrap();
    let (user_before, others_before) = (change_seq(&app, user).await, change_seq(&app, other).await);
    let (gate, go) = hold_lane(&writes, user).await;
    let mut owners: Vec<Uuid> = [user, other].into_iter().cycle().take(10).collect();
    owners.splice(5..5, [nobody, user, user]);
    assert_eq!((owners.len(), owners.iter().filter(|o| **o == user).count()), (13, 7));
    let mut queued = Vec::new();
    for (i, owner) in owners.into_iter().enumerate() {
        let (id, body) = (Uuid::new_v4(), pump_body(100 - i as i64, 40.0, 40.0));
        queued.push((owner, id, queue_put(&writes, owner, Collection::PumpSessions, id, body, None).await));
    }
    go.notify_one();
    gate.await.unwrap().unwrap();

    let mut seqs: HashMap<Uuid, Vec<i64>> = HashMap::new();
    for (owner, id, write) in queued {
        match write.await.unwrap() {
            Ok((row, created)) => {
                assert!(created && owner != nobody);
                assert_eq!((row.id, row.user_id), (id, owner));
                seqs.entry(owner).or_default().push(row.change_seq);
            }
            Err(e) => assert!(owner == nobody && matches!(e, StoreError::NotFound), "{e:?}"),
        }
    }
    assert_eq!(seqs[&user], (1..=7).map(|n| user_before + n).collect::<Vec<_>>());
    assert_eq!(seqs[&other], (1..=5).map(|n| others_before + n).collect::<Vec<_>>());
    assert_eq!((change_seq(&app, user).await, change_seq(&app, other).await), (user_before + 7, others_before + 5));
    let kept = |owner| records::count_live(&app.db, owner, &domain::RecordKind::ALL);
    assert_eq!(kept(user).await.unwrap() + kept(other).await.unwrap(), 12);
    assert!(metrics.writes_rerun.get() >= 1, "the refused write ran again alone");
    assert_eq!(metrics.records_inserted_together.get(), 0, "the statement of all thirteen kept nothing");
}

/// A body of each kind, `minutes_ago` (routines have no time of their own).
fn body_of(kind: Collection, minutes_ago: i64) -> serde_json::Value {
    let at = (chrono::Utc::now() - chrono::Duration::minutes(minutes_ago)).to_rfc3339();
    match kind {
        Collection::MassageSessions => milkflow_tests::massage_body(minutes_ago),
        Collection::PumpSessions => pump_body(minutes_ago, 20.0, 25.0),
        Collection::SymptomChecks => serde_json::json!({"at": at, "engorgement": 3, "pain": 2, "redness": false}),
        Collection::Routines => {
            serde_json::json!({"kind": "massage", "schedule": {"type": "times", "times": ["08:00"]}})
        }
        Collection::CareNotes => {
            serde_json::json!({"text": "Rest between pumps.", "author_id": uuid::Uuid::nil(), "author_name": "Jo"})
        }
    }
}

/// New records of every kind, of two users, wait together: they are inserted together (one statement
/// per kind on PostgreSQL), each owner's records numbered one after another without a gap, and each reads
/// back as it was sent.
async fn new_records_of_every_kind_waiting_together_are_inserted_together(app: TestApp) {
    let metrics = Arc::new(WriteMetrics::new());
    let writes = Writes::start(app.db.clone(), metrics.clone()).await.unwrap();
    let (token, _) = app.signed_up().await;
    let user = user_id_of(&app, &token).await;
    let other = another_in_same_lane(&app, &writes, user).await;
    let (user_before, others_before) = (change_seq(&app, user).await, change_seq(&app, other).await);
    let (gate, go) = hold_lane(&writes, user).await;
    let kinds = domain::RecordKind::ALL;
    let mut queued = Vec::new();
    for (i, kind) in kinds.into_iter().chain(kinds).chain(kinds).enumerate() {
        let owner = if i % 3 == 1 { other } else { user };
        let id = Uuid::new_v4();
        queued.push((owner, kind, id, queue_put(&writes, owner, kind, id, body_of(kind, 30 + i as i64), None).await));
    }
    go.notify_one();
    gate.await.unwrap().unwrap();

    let mut seqs: HashMap<Uuid, Vec<i64>> = HashMap::new();
    for (owner, kind, id, write) in queued {
        let (row, created) = write.await.unwrap().unwrap();
        assert!(created);
        assert_eq!((row.id, row.user_id, row.kind, row.version), (id, owner, kind, 1));
        let stored = records::find_live(&app.db, owner, kind, id).await.unwrap().expect("it is stored");
        assert_eq!(stored.body, row.body, "{kind:?} reads back as written");
        assert_eq!(stored.change_seq, row.change_seq);
        seqs.entry(owner).or_default().push(row.change_seq);
    }
    for (owner, before) in [(user, user_before), (other, others_before)] {
        let mut got = seqs.remove(&owner).unwrap();
        got.sort_unstable();
        let count = got.len() as i64;
        assert_eq!(got, (before + 1..=before + count).collect::<Vec<_>>(), "one number each, no gap");
        assert_eq!(change_seq(&app, owner).await, before + count);
    }
    assert_eq!(metrics.records_inserted_together.get(), 3 * kinds.len() as u64);
    assert_eq!(metrics.writes_rerun.get(), 0);
}

/// Three new records wait together; one takes the id of a stored record of another kind. The batch keeps
/// nothing; each is then written alone: that one refused (409), the others created with their owner's next
/// numbers.
async fn a_new_record_whose_id_another_kind_uses_waiting_with_others_costs_them_nothing(app: TestApp) {
    let metrics = Arc::new(WriteMetrics::new());
    let writes = Writes::start(app.db.clone(), metrics.clone()).await.unwrap();
    let (token, _) = app.signed_up().await;
    let user = user_id_of(&app, &token).await;
    let used = Uuid::new_v4();
    let stored = app.put(&format!("/v1/massage-sessions/{used}"), &milkflow_tests::massage_body(200), &token).await;
    assert_eq!(stored.status, 201);
    let before = change_seq(&app, user).await;
    let (gate, go) = hold_lane(&writes, user).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let first = queue_put(&writes, user, Collection::PumpSessions, a, pump_body(50, 1.0, 2.0), None).await;
    let taken = queue_put(&writes, user, Collection::PumpSessions, used, pump_body(40, 1.0, 2.0), None).await;
    let last =
        queue_put(&writes, user, Collection::SymptomChecks, b, body_of(Collection::SymptomChecks, 30), None).await;
    go.notify_one();
    gate.await.unwrap().unwrap();

    let (first, last) = (first.await.unwrap().unwrap(), last.await.unwrap().unwrap());
    assert!(matches!(taken.await.unwrap(), Err(StoreError::Conflict(_))), "an id of another kind's record");
    assert_eq!((first.0.id, last.0.id, first.1, last.1), (a, b, true, true));
    let mut seqs = vec![first.0.change_seq, last.0.change_seq];
    seqs.sort_unstable();
    assert_eq!(seqs, vec![before + 1, before + 2]);
    assert_eq!(change_seq(&app, user).await, before + 2, "the refused record took no number");
    let massage = records::find_live(&app.db, user, Collection::MassageSessions, used).await.unwrap();
    assert!(massage.is_some(), "the stored record is untouched");
    assert!(records::find_live(&app.db, user, Collection::PumpSessions, used).await.unwrap().is_none());
    assert_eq!(metrics.records_inserted_together.get(), 0, "the batch kept nothing");
    assert!(metrics.writes_rerun.get() >= 1);
}

/// New sessions of `user`, `minutes_ago`, queued behind a held lane (whose write first takes `taken` of the
/// user's change numbers) so that they are inserted together; gives their rows, in the order given.
async fn sessions_together(writes: &Writes, user: Uuid, taken: i64, minutes_ago: &[i64]) -> Vec<records::Record> {
    let (gate, go) = hold_lane_having_taken(writes, user, taken).await;
    let mut queued = Vec::new();
    for &minutes in minutes_ago {
        let body = pump_body(minutes, 30.0, 30.0);
        queued.push(queue_put(writes, user, Collection::PumpSessions, Uuid::new_v4(), body, None).await);
    }
    go.notify_one();
    gate.await.unwrap().unwrap();
    let mut rows = Vec::new();
    for write in queued {
        let (row, created) = write.await.unwrap().unwrap();
        assert!(created);
        rows.push(row);
    }
    rows
}

/// When the latest of new sessions `minutes_ago` started, once [`sessions_together`] has written them.
async fn latest_of_sessions_together(
    writes: &Writes,
    user: Uuid,
    minutes_ago: &[i64],
) -> chrono::DateTime<chrono::Utc> {
    let rows = sessions_together(writes, user, 0, minutes_ago).await;
    rows.iter().map(|row| row.sort_at).max().unwrap()
}

/// On PostgreSQL a lane begins the next batch's transaction on another connection while the batch before it
/// commits, when writes already wait for it. That transaction runs nothing until the commit is over, so it
/// numbers the user's records after the last batch's: here the gate takes three of the user's numbers and
/// the five new records waiting behind it get the next five. (SQLite has one writer: nothing is begun ahead
/// there.)
async fn a_batch_begun_while_the_last_committed_numbers_after_it(app: TestApp) {
    let metrics = Arc::new(WriteMetrics::new());
    let writes = Writes::start(app.db.clone(), metrics.clone()).await.unwrap();
    let (token, _) = app.signed_up().await;
    let user = user_id_of(&app, &token).await;
    let before = change_seq(&app, user).await;
    let rows = sessions_together(&writes, user, 3, &[50, 40, 30, 20, 10]).await;
    let seqs: Vec<i64> = rows.iter().map(|row| row.change_seq).collect();
    assert_eq!(seqs, (before + 4..=before + 8).collect::<Vec<_>>());
    assert_eq!(change_seq(&app, user).await, before + 8);
    let begun_ahead = if matches!(app.kind, milkflow_tests::Db::Postgres) { 1 } else { 0 };
    assert_eq!(metrics.writes_begun_ahead.get(), begun_ahead, "the five's transaction begun during the gate's commit");
    // The gate alone, then the five together, by one statement.
    assert_eq!((metrics.write_batch.get_sample_count(), metrics.write_batch.get_sample_sum()), (2, 6.0));
    assert_eq!(metrics.records_inserted_together.get(), 5);
}

/// A routine of the user's counting from the last session, written through the API (not through `writes`'
/// lanes, as if by another process); gives its id.
async fn routine_after_last(app: &TestApp, token: &str) -> Uuid {
    let routine = serde_json::json!({"kind": "pump", "schedule": {"type": "after_last", "hours": 3}});
    let made = app.post_auth("/v1/routines", &routine, token).await;
    assert_eq!(made.status, 201, "{}", made.body);
    made.body["id"].as_str().unwrap().parse().unwrap()
}

/// A lane remembers the user's change number at the end of a batch that found none of the user's routines
/// counting from the last session, and does not look again while the user's next batch is numbered from
/// there. A routine written elsewhere took the user's next number, so the lane's next batch looks, finds it,
/// and plans it from its sessions.
async fn a_lane_looks_up_routines_again_once_the_owners_number_moved_on(app: TestApp) {
    let writes = Writes::start(app.db.clone(), Arc::new(WriteMetrics::new())).await.unwrap();
    let (token, _) = app.signed_up().await;
    let user = user_id_of(&app, &token).await;
    let first = latest_of_sessions_together(&writes, user, &[100, 90]).await;
    let r = routine_after_last(&app, &token).await;
    assert_eq!(planned(&app, r).await, vec![(first + chrono::Duration::hours(3)).timestamp()]);
    let later = latest_of_sessions_together(&writes, user, &[60, 50]).await;
    assert_eq!(planned(&app, r).await, vec![(later + chrono::Duration::hours(3)).timestamp()], "planned anew");
}

/// What the lane spares shows when the rule it relies on is broken on purpose: the user's routine is written
/// and the user's change number then set back, as if the routine had been written without taking one. The
/// lane that saw that number does not look up the user's routines, so the user's new sessions leave the
/// routine's plan as it was; a lane that has not seen the user looks, and plans it from them.
async fn a_lane_spares_the_routine_lookup_while_the_owners_number_is_where_it_left_it(app: TestApp) {
    let writes = Writes::start(app.db.clone(), Arc::new(WriteMetrics::new())).await.unwrap();
    let (token, _) = app.signed_up().await;
    let user = user_id_of(&app, &token).await;
    let first = latest_of_sessions_together(&writes, user, &[100, 90]).await;
    let seen = change_seq(&app, user).await;
    let r = routine_after_last(&app, &token).await;
    let planned_first = vec![(first + chrono::Duration::hours(3)).timestamp()];
    assert_eq!(planned(&app, r).await, planned_first);
    entity::routine::Entity::update_many()
        .col_expr(entity::routine::Column::ChangeSeq, Expr::value(0))
        .filter(entity::routine::Column::Id.eq(r))
        .exec(&app.db)
        .await
        .unwrap();
    entity::user::Entity::update_many()
        .col_expr(entity::user::Column::ChangeSeq, Expr::value(seen))
        .filter(entity::user::Column::Id.eq(user))
        .exec(&app.db)
        .await
        .unwrap();
    latest_of_sessions_together(&writes, user, &[60, 50]).await;
    assert_eq!(planned(&app, r).await, planned_first, "the lane did not look");
    let unseen = Writes::start(app.db.clone(), Arc::new(WriteMetrics::new())).await.unwrap();
    let latest = latest_of_sessions_together(&unseen, user, &[30, 20]).await;
    assert_eq!(planned(&app, r).await, vec![(latest + chrono::Duration::hours(3)).timestamp()], "a new lane looked");
}
