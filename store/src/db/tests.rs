use super::*;
use sea_orm::Statement;

/// The one integer `sql` answers on `db`.
async fn int(db: &Database, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[test]
fn url_selects_the_database() {
    assert_eq!(DatabaseKind::from_url("sqlite://milkflow.db?mode=rwc"), Ok(DatabaseKind::Sqlite));
    assert_eq!(DatabaseKind::from_url("sqlite:///var/lib/m.db"), Ok(DatabaseKind::Sqlite));
    assert_eq!(DatabaseKind::from_url("postgres://u@h/db"), Ok(DatabaseKind::Postgres));
    assert_eq!(DatabaseKind::from_url("postgresql://u@h/db"), Ok(DatabaseKind::Postgres));
    assert!(DatabaseKind::from_url("mysql://u@h/db").is_err());
}

#[tokio::test]
async fn sqlite_writers_of_one_file_take_turns_and_other_files_do_not_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (format!("sqlite://{}/a.db", dir.path().display()), format!("sqlite://{}/b.db", dir.path().display()));
    for url in [&a, &b] {
        migrate(url, DatabaseKind::Sqlite).await.unwrap();
    }
    let (db_a, db_b) =
        (connect(&a, DatabaseKind::Sqlite, 4).await.unwrap(), connect(&b, DatabaseKind::Sqlite, 4).await.unwrap());
    let first = begin_write(&db_a).await.unwrap();
    // Another file's writer does not queue behind it.
    let other = tokio::time::timeout(Duration::from_secs(5), begin_write(&db_b)).await.expect("b.db writes at once");
    other.unwrap().commit().await.unwrap();
    // The same file's next writer waits for its turn, then goes on without a busy error.
    let db = db_a.clone();
    let mut second = tokio::spawn(async move { begin_write(&db).await.map(|_| ()) });
    assert!(tokio::time::timeout(Duration::from_millis(300), &mut second).await.is_err(), "it waits its turn");
    first.execute_unprepared("UPDATE users SET change_seq = change_seq + 1").await.unwrap();
    first.commit().await.unwrap();
    second.await.unwrap().unwrap();
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode_keeps_query_plans_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested.db", dir.path().display());
    migrate(&url, DatabaseKind::Sqlite).await.unwrap();
    migrate(&url, DatabaseKind::Sqlite).await.unwrap();
    let db = connect(&url, DatabaseKind::Sqlite, 2).await.unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), "PRAGMA journal_mode"))
        .await
        .unwrap()
        .unwrap();
    let mode: String = row.try_get_by_index(0).unwrap();
    assert_eq!(mode, "wal");

    // Every pooled connection keeps its query plans (see `keep_query_plans`).
    let mut conn = db.get_sqlite_connection_pool().acquire().await.unwrap();
    let mut handle = conn.lock_handle().await.unwrap();
    let mut enabled = -1;
    let rc = query_plan_stability(&mut handle, -1, &mut enabled);
    assert_eq!((rc, enabled), (libsqlite3_sys::SQLITE_OK, 1));
    assert!(ping(&db).await);
    assert!(dir.path().join("nested.db").exists());
}

#[tokio::test]
async fn sqlite_commits_leave_checkpoints_to_the_background_task() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.db");
    let db = connect(&format!("sqlite://{}", file.display()), DatabaseKind::Sqlite, 2).await.unwrap();
    assert_eq!(int(&db, "PRAGMA wal_autocheckpoint").await, 0, "a commit never checkpoints");
    db.execute_unprepared("CREATE TABLE t (b BLOB)").await.unwrap();
    let before = std::fs::metadata(&file).unwrap().len();
    // 2 MiB: under SQLite's own threshold of 1,000 pages, so only the background task copies it back.
    db.execute_unprepared(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 512) \
         INSERT INTO t SELECT randomblob(4000) FROM n",
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&file).unwrap().len() < before + 2_000_000 {
        assert!(std::time::Instant::now() < deadline, "the log was not copied into the database file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(int(&db, "SELECT count(*) FROM t").await, 512);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_starts_again_while_writers_never_pause() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.db");
    // Its log starts again past 1,024 pages (4 MiB), not 65,536, so the test need not write 100s of MiB.
    let url = format!("sqlite://{}", file.display());
    let db = connect_restarting_log_at(&url, DatabaseKind::Sqlite, 2, 1_024).await.unwrap();
    db.execute_unprepared("CREATE TABLE t (b BLOB)").await.unwrap();
    let writer = writer(&db).await.unwrap();
    let wal = dir.path().join("t.db-wal");
    let mut longest = 0;
    // 96 MiB of new rows, one transaction after another with no pause between them: the background
    // `PASSIVE` checkpoint alone never finds the moment to start the log again.
    for _ in 0..1536 {
        let txn = begin_write(&writer).await.unwrap();
        txn.execute_unprepared(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 16) \
             INSERT INTO t SELECT randomblob(4000) FROM n",
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        longest = longest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    assert_eq!(int(&db, "SELECT count(*) FROM t").await, 1536 * 16);
    // Past 4 MiB, what is written until a restart finds its moment (a quarter of a second, and the passes
    // that catch up first; twice that when a try finds a reader): well under the 96 MiB a log never started
    // again would reach. (40 MiB was once passed with the whole suite loading the machine.)
    assert!(longest < 64 << 20, "the log reached {longest} bytes");
}

#[tokio::test]
async fn sqlite_writer_keeps_one_connection_set_up_like_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let db = connect(&format!("sqlite://{}/w.db", dir.path().display()), DatabaseKind::Sqlite, 4).await.unwrap();
    let writer = writer(&db).await.unwrap();
    // A temporary table lives as long as its connection: a later transaction finds it, so it ran on the same one.
    let first = begin_write(&writer).await.unwrap();
    first.execute_unprepared("CREATE TEMP TABLE mine (x)").await.unwrap();
    first.commit().await.unwrap();
    for _ in 0..3 {
        let next = begin_write(&writer).await.unwrap();
        next.execute_unprepared("INSERT INTO mine VALUES (1)").await.unwrap();
        next.commit().await.unwrap();
    }
    // Readers use the pool's other connections, never the writer's.
    let pool = db.get_sqlite_connection_pool();
    let held = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
    assert_eq!((pool.size(), writer.get_sqlite_connection_pool().size()), (3, 1));
    drop(held);
    // It is set up as the pool's connections are: no checkpoint inside a commit, query plans kept.
    assert_eq!(int(&writer, "PRAGMA wal_autocheckpoint").await, 0);
    assert_eq!(int(&writer, "PRAGMA temp_store").await, 2, "statement journals in memory");
    let mut conn = writer.get_sqlite_connection_pool().acquire().await.unwrap();
    let mut handle = conn.lock_handle().await.unwrap();
    let mut enabled = -1;
    assert_eq!(query_plan_stability(&mut handle, -1, &mut enabled), libsqlite3_sys::SQLITE_OK);
    assert_eq!(enabled, 1);
}

#[tokio::test]
async fn sqlite_transaction_dropped_unfinished_is_rolled_back_before_its_connection_is_used_again() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/d.db", dir.path().display());
    let db = connect(&url, DatabaseKind::Sqlite, 1).await.unwrap();
    db.execute_unprepared("CREATE TABLE t (x INTEGER)").await.unwrap();
    // Another process's writer, which gives up at once when the database is locked.
    let other = connect(&url, DatabaseKind::Sqlite, 1).await.unwrap();
    other.execute_unprepared("PRAGMA busy_timeout = 0").await.unwrap();
    for round in 0..20 {
        let left = begin_write(&db).await.unwrap();
        left.execute_unprepared("INSERT INTO t VALUES (-1)").await.unwrap();
        drop(left);
        // The one connection again, at once: a write transaction of its own from its first statement (the
        // other writer is locked out), which commits for everyone to see.
        let next = begin_write(&db).await.unwrap();
        assert!(other.execute_unprepared("BEGIN IMMEDIATE").await.is_err(), "round {round}: not a write transaction");
        next.execute_unprepared(&format!("INSERT INTO t VALUES ({round})")).await.unwrap();
        next.commit().await.unwrap();
    }
    assert_eq!(int(&other, "SELECT count(*) FROM t WHERE x >= 0").await, 20);
    assert_eq!(int(&other, "SELECT count(*) FROM t WHERE x < 0").await, 0);
}
