//! The database connection: SQLite (embedded default, WAL) or PostgreSQL, chosen by URL.

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{query, query_as};
use sea_orm::{
    ConnAcquireErr, ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};
use uuid::Uuid;

/// A pooled connection to milkflow's database.
pub type Database = DatabaseConnection;

/// Which database a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    /// `sqlite:` URLs select SQLite, `postgres://` and `postgresql://` PostgreSQL.
    pub fn from_url(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err("must start with sqlite: or postgres://".into())
        }
    }
}

/// Lock id that serialises migrations of concurrent processes on PostgreSQL.
const MIGRATION_LOCK_ID: i64 = 0x6d69_6c6b_666c_6f77;

/// How long a request waits for a connection. While the database is down every acquire waits this long
/// before the request gets its 503, so it is short: an answer soon beats a hung phone.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A pooled connection idle at least this long is pinged before a request gets it; a busy one is not.
///
/// Pinging on every acquire (the pool's default) doubled each statement's round trips: on SQLite each is a
/// hand-off to the connection's own thread and back, which a profile of `GET /v1/pump-sessions` put at 40%
/// of the API's CPU. A connection that breaks while busy (the database restarting) fails its statement with an
/// error that [`is_unavailable`] turns into a 503, and the pool replaces it.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// Rows a SQLite connection's thread may hand over before the reader takes them. It holds a whole page of the
/// largest list (200 and the one that tells whether more follow), so the thread never stops mid-page to wait.
const ROW_BUFFER_SIZE: usize = 256;

fn options(url: &str, kind: DatabaseKind, max_connections: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    match kind {
        DatabaseKind::Sqlite => {
            opts.max_connections(max_connections.min(8)).map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .row_buffer_size(ROW_BUFFER_SIZE)
                    // Checkpoints run in the background instead (see `checkpoint_in_background`).
                    .pragma("wal_autocheckpoint", "0")
                    // A statement that writes many rows under foreign keys (a batch of new records) keeps a
                    // journal of the pages it changed, to undo itself alone. Past 64 KiB SQLite moved it to a
                    // temporary file, opened, written and closed for each such statement: about 9% of all CPU
                    // samples in a profile of PUTs under load. With `temp_store=memory` it never leaves memory.
                    .pragma("temp_store", "memory")
            });
            opts.map_sqlx_sqlite_pool_opts(|pool| pool.after_connect(|conn, _| Box::pin(keep_query_plans(conn))));
        }
        DatabaseKind::Postgres => {
            opts.max_connections(max_connections);
        }
    }
    opts
}

/// Turns on SQLite's query planner stability guarantee for a new connection.
///
/// Without it SQLite plans a statement again whenever a newly bound value might change its plan, and since
/// 3.47 a bound `LIMIT ?` counts: every query with a limit (each `.one()`, each page of a list) was parsed and
/// planned again on every run, bypassing the statement cache. A profile of `GET /v1/pump-sessions` showed 15%
/// of the API's CPU in that re-preparing. Our queries' plans come from their indexes, not from bound values.
async fn keep_query_plans(conn: &mut sea_orm::sqlx::SqliteConnection) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let mut now_on = 0;
    let rc = query_plan_stability(&mut handle, 1, &mut now_on);
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sea_orm::sqlx::Error::Configuration(format!("SQLITE_DBCONFIG_ENABLE_QPSG failed: {rc}").into()));
    }
    Ok(())
}

/// `SQLITE_DBCONFIG_ENABLE_QPSG` on a connection: `set` 1 turns the guarantee on, 0 off, -1 only reads it.
/// `current` receives the setting as it then stands; the result is SQLite's result code.
fn query_plan_stability(
    handle: &mut sea_orm::sqlx::sqlite::LockedSqliteHandle<'_>,
    set: std::ffi::c_int,
    current: &mut std::ffi::c_int,
) -> std::ffi::c_int {
    // SAFETY: the handle is locked away from the connection's worker thread while it is in use here, and
    // SQLITE_DBCONFIG_ENABLE_QPSG takes exactly (int new_value, int *current_value).
    unsafe {
        libsqlite3_sys::sqlite3_db_config(
            handle.as_raw_handle().as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            set,
            current as *mut std::ffi::c_int,
        )
    }
}

/// Turns off SQLite's memory statistics for this process, once, before its first connection.
///
/// With them on, every allocation and free inside SQLite takes one process-wide mutex. Listing a page of 50
/// copies each row's values out of SQLite (and the request frees them), so the connections' threads and the
/// request threads queued on that mutex: a profile of `GET /v1/pump-sessions` put a fifth of the API's CPU
/// there, mostly sleeping on it. Nothing here reads the statistics.
fn sqlite_without_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int. Before SQLite is initialised it changes the setting; after
        // (another connection in this process came first) SQLite leaves it and answers SQLITE_MISUSE.
        let rc =
            unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int) };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::debug!(rc, "SQLite was initialised before its memory statistics could be turned off");
        }
    });
}

/// Connects to the database at `url`.
#[tracing::instrument(skip_all, fields(kind = ?kind))]
pub async fn connect(url: &str, kind: DatabaseKind, max_connections: u32) -> Result<Database, DbErr> {
    connect_restarting_log_at(url, kind, max_connections, RESTART_AT_PAGES).await
}

/// [`connect`], with SQLite's write-ahead log started again past `restart_at_pages` (see [`RESTART_AT_PAGES`]).
async fn connect_restarting_log_at(
    url: &str,
    kind: DatabaseKind,
    max_connections: u32,
    restart_at_pages: i64,
) -> Result<Database, DbErr> {
    if kind == DatabaseKind::Sqlite {
        sqlite_without_memory_statistics();
    }
    let db = sea_orm::Database::connect(options(url, kind, max_connections)).await?;
    if let Some(turn) = writer_queue(&db) {
        tokio::spawn(checkpoint_in_background(db.get_sqlite_connection_pool().clone(), turn, restart_at_pages));
    }
    Ok(db)
}

/// A connection of its own for one writer that writes all the time (the API's write lane): on SQLite, a pool of
/// one connection to `db`'s file, kept open; on PostgreSQL, `db` itself.
///
/// A SQLite connection keeps the pages it read as long as no other connection writes. Writing through whichever
/// pooled connection was free meant each transaction first read its pages again from the file, as another
/// connection had written since.
pub async fn writer(db: &Database) -> Result<Database, DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(db.clone());
    }
    let options = db.get_sqlite_connection_pool().connect_options().as_ref().clone();
    let pool = sea_orm::sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|conn, _| Box::pin(keep_query_plans(conn)))
        .connect_with(options)
        .await
        .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into())))?;
    Ok(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// How soon the next checkpoint of a SQLite database's write-ahead log comes after one that found it grown:
/// writers are at work. A checkpoint ends by syncing what it copied to the disk, and while the disk writes that
/// back, a writer writing the same file waits in the kernel. Under PUTs at full speed, checkpoints 250 ms apart
/// held the writer back for several milliseconds (64 requests at once) several times a second; 50 ms apart,
/// each copied and synced a fifth as much, and the batches slowed by each (2-7 ms instead of 1.4) still made the
/// PUTs' p99: 11.4-17.2 ms. 10 ms apart: 8.9-10.0 ms, for 5-10% fewer PUTs a second (alternating runs, 2026-12-01;
/// 25 ms apart gave 10.0-10.5). While nothing is written a checkpoint finds nothing to copy and syncs nothing.
const CHECKPOINT_WHILE_WRITTEN: Duration = Duration::from_millis(10);

/// How soon the next checkpoint comes after one that found the log as it was: nothing is being written.
const CHECKPOINT_WHILE_IDLE: Duration = Duration::from_millis(250);

/// A write-ahead log this many pages long (about 200 MiB) after a checkpoint means something keeps it from
/// being copied back (a reader that never ends): worth a warning.
const LONG_WAL_PAGES: i64 = 50_000;

/// A write-ahead log this many pages long (256 MiB of 4 KiB pages) is started again from its beginning.
///
/// SQLite starts its log again only when a writer begins just as everything in it has been copied back. While
/// writers follow each other without a pause (a peak of PUTs, a burst's fan-out) that moment never comes: the log
/// grew by 130 MB/s under PUTs and reached 1.3 GB in 10 s. Past this length a `RESTART` checkpoint makes the
/// moment (see [`restart_log`]). It takes its turn in this process's queue of writers (see [`writer_queue`]);
/// waiting in SQLite's busy handler instead, it lost every race to writers that never pause. At 16,384 pages it
/// held the writers back every 0.7 s and the PUTs' p99 went from 16 ms to 39-45 ms; at this length it was 19 ms.
/// The log's file keeps the length it reached (`journal_size_limit` would shrink it, but the commit that shrank it
/// took the PUTs' p99 past 100 ms).
const RESTART_AT_PAGES: i64 = 65_536;

/// Copies a SQLite database's write-ahead log into the database file (every [`CHECKPOINT_WHILE_WRITTEN`] while
/// it grows, every [`CHECKPOINT_WHILE_IDLE`] otherwise), and starts it again past `restart_at_pages`
/// ([`RESTART_AT_PAGES`]), until its pool is closed.
///
/// SQLite's own automatic checkpoint runs inside the commit that crosses 1,000 pages of log, so one writer in
/// about twenty paid for everyone: a profile of PUTs under load put those commits at 10 ms and more, half of the
/// write lane's commit time, and they made the p99. Its connections here have it off
/// (`wal_autocheckpoint=0`), and this task checkpoints beside the writers instead: a `PASSIVE` checkpoint takes
/// no writer's lock and waits for no reader, so writers go on while it copies.
async fn checkpoint_in_background(pool: sea_orm::sqlx::SqlitePool, writers: Arc<Mutex<()>>, restart_at_pages: i64) {
    let (mut pause, mut last_log) = (CHECKPOINT_WHILE_IDLE, 0);
    loop {
        tokio::time::sleep(pause).await;
        if pool.is_closed() {
            return;
        }
        let done = match checkpoint(&pool, "PRAGMA wal_checkpoint(PASSIVE)").await {
            Ok((_, log, copied)) => {
                pause = if log == last_log { CHECKPOINT_WHILE_IDLE } else { CHECKPOINT_WHILE_WRITTEN };
                last_log = log;
                if log - copied > LONG_WAL_PAGES {
                    tracing::warn!(
                        log_pages = log,
                        copied_pages = copied,
                        "the SQLite write-ahead log could not be copied back: a long-running reader may hold it"
                    );
                    Ok(())
                } else if log >= restart_at_pages {
                    restart_log(&pool, &writers, log).await.map(|restarted| {
                        if !restarted && log > 4 * restart_at_pages {
                            tracing::warn!(
                                log_pages = log,
                                "the SQLite write-ahead log could not be started again: readers keep using it"
                            );
                        }
                    })
                } else {
                    Ok(())
                }
            }
            Err(e) => Err(e),
        };
        match done {
            Ok(()) => {}
            Err(_) if pool.is_closed() => return,
            Err(e) => tracing::warn!(error = %e, "a SQLite checkpoint failed; the next one tries again"),
        }
    }
}

/// At most this many `PASSIVE` checkpoints run beside the writers before a `RESTART` holds them back, and for
/// at most [`CATCH_UP_FOR`] (the log grows meanwhile).
const CATCH_UP_PASSES: usize = 8;

/// How long the passes before a `RESTART` may go on.
const CATCH_UP_FOR: Duration = Duration::from_millis(100);

/// A `PASSIVE` pass that copied fewer new pages than this leaves little for the `RESTART` to copy and sync.
/// (Passes until under 256 pages, at most 3, left holds of up to 32 ms and a p99 of 11.7-13.0 ms under PUTs;
/// until under 32, 2-21 ms and 8.6-11.5 ms.)
const CAUGHT_UP_PAGES: i64 = 32;

/// Starts a log of `log` pages, nearly all copied back already, again from its beginning; false when a reader
/// kept it from doing so.
///
/// Writers of this process wait while it runs: under PUTs at full speed it held them for 17-37 ms, about every
/// 2.5 s (2-21 ms about every 1.2 s on a faster disk, checkpoints 50 ms apart; the sync of the few pages it
/// copies is most of it). It does not wait for readers: one still reading from the log leaves it for the next try, rather than
/// hold every writer back behind a long read (an export).
async fn restart_log(
    pool: &sea_orm::sqlx::SqlitePool,
    writers: &Arc<Mutex<()>>,
    log: i64,
) -> Result<bool, sea_orm::sqlx::Error> {
    // What was written while the last checkpoint copied is copied first beside the writers, again while a pass
    // still finds much to copy, so that what remains to copy while they are held back is little: a pass copies
    // what was written during the one before, a shorter time each pass.
    let (_, _, mut copied) = checkpoint(pool, "PRAGMA wal_checkpoint(PASSIVE)").await?;
    let (mut passes, mut fresh) = (1, i64::MAX);
    let catching_up = std::time::Instant::now();
    while passes < CATCH_UP_PASSES && fresh >= CAUGHT_UP_PAGES && catching_up.elapsed() < CATCH_UP_FOR {
        let (_, _, now_copied) = checkpoint(pool, "PRAGMA wal_checkpoint(PASSIVE)").await?;
        (passes, fresh, copied) = (passes + 1, now_copied - copied, now_copied);
    }
    let Ok(_turn) = tokio::time::timeout(SQLITE_BUSY_TIMEOUT, writers.clone().lock_owned()).await else {
        return Ok(false);
    };
    let held = std::time::Instant::now();
    let mut conn = pool.acquire().await?;
    // Set up differently from the pool's other connections, it is closed, not returned.
    conn.close_on_drop();
    query("PRAGMA busy_timeout = 0").execute(&mut *conn).await?;
    let (busy, _, _): (i64, i64, i64) = query_as("PRAGMA wal_checkpoint(RESTART)").fetch_one(&mut *conn).await?;
    let held_ms = held.elapsed().as_secs_f64() * 1000.0;
    tracing::debug!(
        log_pages = log,
        passes,
        last_pass_pages = fresh,
        restarted = busy == 0,
        held_ms,
        "SQLite write-ahead log started again"
    );
    Ok(busy == 0)
}

/// Runs `PRAGMA wal_checkpoint(...)`: (busy, pages in the log, pages of it copied into the database file).
async fn checkpoint(
    pool: &sea_orm::sqlx::SqlitePool,
    pragma: &'static str,
) -> Result<(i64, i64, i64), sea_orm::sqlx::Error> {
    query_as(pragma).fetch_one(pool).await
}

/// Applies pending migrations; idempotent, and safe when several processes start at once.
#[tracing::instrument(skip_all)]
pub async fn migrate(url: &str, kind: DatabaseKind) -> Result<(), DbErr> {
    // One connection, so the advisory lock and the migrations share a session.
    let conn = connect(url, kind, 1).await?;
    if kind == DatabaseKind::Postgres {
        conn.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})")).await?;
    }
    let result = Migrator::up(&conn, None).await;
    if kind == DatabaseKind::Postgres {
        conn.execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})")).await?;
    }
    conn.close().await?;
    result
}

/// The first of `sizes` (ascending) at or above `n`, or `n` past the largest: how many items a statement that
/// names a list of them should name. Each distinct statement is prepared once per connection and kept, so a few
/// sizes serve every length, where one statement per length would crowd the statement cache out.
pub fn padded_len(n: usize, sizes: &[usize]) -> usize {
    sizes.iter().copied().find(|&s| s >= n).unwrap_or(n)
}

/// `items` padded to [`padded_len`] by repeating the last of them (a repeat changes nothing in an `IN` list).
pub fn padded<T: Clone>(mut items: Vec<T>, sizes: &[usize]) -> Vec<T> {
    if let Some(last) = items.last().cloned() {
        items.resize(padded_len(items.len(), sizes), last);
    }
    items
}

/// Whether an error means the database is out of reach (down, restarting, the connection lost) rather than a
/// fault of the statement: the request may be retried later (a 503, not a 500).
pub fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx::Error};
    let sqlx = match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => s,
        _ => return false,
    };
    match &**sqlx {
        Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed | Error::Tls(_) => true,
        // SQLSTATE class 08 (connection exception) and 57P (the server is shutting down or starting).
        Error::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// Whether the database answers a trivial query.
pub async fn ping(db: &Database) -> bool {
    db.ping().await.is_ok()
}

/// How long a SQLite writer waits for the database (its busy timeout) and for its turn in this process.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A write transaction. On SQLite it also holds this process's turn to write that database file.
pub struct WriteTxn {
    // Declared first, so an unfinished transaction is rolled back before the turn passes on.
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
    /// What it learnt about owners' rows, by fact and owner (see [`WriteTxn::recall`]).
    facts: std::sync::Mutex<HashMap<(&'static str, Uuid), bool>>,
}

impl WriteTxn {
    /// A fact about `owner`'s rows this transaction learnt earlier, if it did.
    ///
    /// Sound only for facts that every writer of those rows changes while holding a lock this transaction
    /// already held when it learnt them (on PostgreSQL her change number's row lock, which every writer of her
    /// records takes first; on SQLite the one writer), and that this transaction's own writes [`forget`] when
    /// they change them. Writes sharing one transaction (`api::services::writes`) read each such fact once.
    ///
    /// [`forget`]: WriteTxn::forget
    pub fn recall(&self, fact: &'static str, owner: Uuid) -> Option<bool> {
        self.facts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&(fact, owner)).copied()
    }

    /// Keeps a fact about `owner`'s rows until the transaction ends or it is forgotten.
    pub fn learn(&self, fact: &'static str, owner: Uuid, value: bool) {
        self.facts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert((fact, owner), value);
    }

    /// Drops a fact this transaction's own write has just made stale.
    pub fn forget(&self, fact: &'static str, owner: Uuid) {
        self.facts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&(fact, owner));
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// This process's queue of writers for a SQLite file.
///
/// SQLite has one writer at a time. Writers that find it busy sleep in SQLite's busy handler, in steps of up to
/// 100 ms, and whoever retries first wins: under 64 concurrent PUTs a few waited hundreds of milliseconds while
/// the file sat idle between sleeps. Writers of one process therefore wait here, in order, and wake as soon as
/// the one before them finishes. (Other processes' writers still meet the busy handler.)
fn writer_queue(db: &Database) -> Option<Arc<Mutex<()>>> {
    static QUEUES: LazyLock<std::sync::Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = LazyLock::new(Default::default);
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let file = db.get_sqlite_connection_pool().connect_options().get_filename().to_path_buf();
    let mut queues = QUEUES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Some(queues.entry(file).or_default().clone())
}

/// Whether a second write transaction may begin beside one already open without making anything else wait for
/// a connection: on PostgreSQL, when the pool has one idle or may open one more; never on SQLite (one writer).
pub fn has_a_second_writer_to_spare(db: &Database) -> bool {
    if db.get_database_backend() != DbBackend::Postgres {
        return false;
    }
    let pool = db.get_postgres_connection_pool();
    pool.num_idle() > 0 || pool.size() < pool.options().get_max_connections()
}

/// Begins a transaction that writes: `BEGIN IMMEDIATE` on SQLite, after this process's earlier writers of the
/// file (see [`writer_queue`]), so two writers never deadlock on upgrade and none sleeps needlessly.
pub async fn begin_write(db: &Database) -> Result<WriteTxn, DbErr> {
    let turn = match writer_queue(db) {
        Some(queue) => Some(
            tokio::time::timeout(SQLITE_BUSY_TIMEOUT, queue.lock_owned())
                .await
                .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?,
        ),
        None => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn { txn, _turn: turn, facts: Default::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (a, b) =
            (format!("sqlite://{}/a.db", dir.path().display()), format!("sqlite://{}/b.db", dir.path().display()));
        for url in [&a, &b] {
            migrate(url, DatabaseKind::Sqlite).await.unwrap();
        }
        let (db_a, db_b) =
            (connect(&a, DatabaseKind::Sqlite, 4).await.unwrap(), connect(&b, DatabaseKind::Sqlite, 4).await.unwrap());
        let first = begin_write(&db_a).await.unwrap();
        // Another file's writer does not queue behind it.
        let other =
            tokio::time::timeout(Duration::from_secs(5), begin_write(&db_b)).await.expect("b.db writes at once");
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
            assert!(
                other.execute_unprepared("BEGIN IMMEDIATE").await.is_err(),
                "round {round}: not a write transaction"
            );
            next.execute_unprepared(&format!("INSERT INTO t VALUES ({round})")).await.unwrap();
            next.commit().await.unwrap();
        }
        assert_eq!(int(&other, "SELECT count(*) FROM t WHERE x >= 0").await, 20);
        assert_eq!(int(&other, "SELECT count(*) FROM t WHERE x < 0").await, 0);
    }
}
