//! The database connection: SQLite (embedded default, WAL) or PostgreSQL, chosen by URL.

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use std::time::Duration;

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

fn options(url: &str, kind: DatabaseKind, max_connections: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false).acquire_timeout(ACQUIRE_TIMEOUT).connect_timeout(ACQUIRE_TIMEOUT);
    match kind {
        DatabaseKind::Sqlite => {
            opts.max_connections(max_connections.min(8)).map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
            });
        }
        DatabaseKind::Postgres => {
            opts.max_connections(max_connections);
        }
    }
    opts
}

/// Connects to the database at `url`.
#[tracing::instrument(skip_all, fields(kind = ?kind))]
pub async fn connect(url: &str, kind: DatabaseKind, max_connections: u32) -> Result<Database, DbErr> {
    sea_orm::Database::connect(options(url, kind, max_connections)).await
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

/// Begins a transaction that writes: `BEGIN IMMEDIATE` on SQLite, so two writers never deadlock on upgrade.
pub async fn begin_write(db: &Database) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_selects_the_database() {
        assert_eq!(DatabaseKind::from_url("sqlite://milkflow.db?mode=rwc"), Ok(DatabaseKind::Sqlite));
        assert_eq!(DatabaseKind::from_url("sqlite:///var/lib/m.db"), Ok(DatabaseKind::Sqlite));
        assert_eq!(DatabaseKind::from_url("postgres://u@h/db"), Ok(DatabaseKind::Postgres));
        assert_eq!(DatabaseKind::from_url("postgresql://u@h/db"), Ok(DatabaseKind::Postgres));
        assert!(DatabaseKind::from_url("mysql://u@h/db").is_err());
    }

    #[tokio::test]
    async fn sqlite_file_is_created_in_wal_mode_and_migrations_are_idempotent() {
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
        assert!(ping(&db).await);
        assert!(dir.path().join("nested.db").exists());
    }
}
