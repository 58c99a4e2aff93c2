//! The database connection: SQLite (embedded default, WAL) or PostgreSQL, chosen by URL.

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
use std::time::Duration;

/// A pooled connection to milkflow's database.
pub type Database = DatabaseConnection;

/// How long a SQLite writer waits for the database (its busy timeout) and for its turn in this process.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

mod lane;
mod wal;
mod write;

pub use platform::DatabaseKind;
pub use write::{Fact, WriteTxn, begin_background_write, begin_write, has_a_second_writer_to_spare};

use wal::{RESTART_AT_PAGES, checkpoint_in_background};
use write::writer_queue;

/// Lock id that serialises migrations of concurrent processes on PostgreSQL.
const MIGRATION_LOCK_ID: i64 = 0x6d69_6c6b_666c_6f77;

/// How long a request waits for a connection. While the database is down every acquire waits this long
/// before the request gets its 503, so it is short: an answer soon beats a hung phone.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A pooled connection idle at least this long is pinged before a request gets it; a busy one is not.
///
/// Pinging on every acquire (the pool's default) doubles each statement's round trips: on SQLite each is a
/// costly hand-off to the connection's own thread and back. A connection that breaks while busy (the database
/// restarting) fails its statement with an error that [`is_unavailable`] turns into a 503, and the pool replaces
/// it.
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
                    // journal of the pages it changed, to undo itself alone. Past 64 KiB SQLite moves it to a
                    // temporary file, opened, written and closed for each such statement. With
                    // `temp_store=memory` it never leaves memory.
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
/// 3.47 a bound `LIMIT ?` counts: every query with a limit (each `.one()`, each page of a list) would be parsed
/// and planned again on every run, bypassing the statement cache. Our queries' plans come from their indexes, not
/// from bound values.
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
/// request threads would queue on that mutex. Nothing here reads the statistics.
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
    if let Some(lane) = writer_queue(&db) {
        tokio::spawn(checkpoint_in_background(db.get_sqlite_connection_pool().clone(), lane.turn(), restart_at_pages));
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

#[cfg(test)]
mod tests;
