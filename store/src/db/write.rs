//! Write transactions: on SQLite one writer at a time per file, in turn (`BEGIN IMMEDIATE`); on PostgreSQL a
//! plain transaction.

use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use super::lane::Lane;
use super::{Database, SQLITE_BUSY_TIMEOUT};

/// A write transaction. On SQLite it also holds this process's turn to write that database file.
pub struct WriteTxn {
    // Declared first, so an unfinished transaction is rolled back before the turn passes on.
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
    /// What it learnt about owners' rows, by fact and owner (see [`WriteTxn::recall`]).
    facts: std::sync::Mutex<HashMap<(Fact, Uuid), bool>>,
}

/// A fact about an owner's rows that a write transaction may keep once read (see [`WriteTxn::recall`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fact {
    /// The owner has no live routine that plans its reminders from the last session (`after_last`).
    NoAfterLastRoutine,
    /// Nothing is staged for the owner: this transaction took it back (`staging::unstage`), and no scheduler
    /// stages for an account whose row a writer holds.
    NothingStaged,
}

impl WriteTxn {
    /// A fact about `owner`'s rows this transaction learnt earlier, if it did.
    ///
    /// Sound only for facts that every writer of those rows changes while holding a lock this transaction
    /// already held when it learnt them (on PostgreSQL the owner's change number's row lock, which every writer of
    /// the owner's records takes first; on SQLite the one writer), and that this transaction's own writes
    /// [`forget`] when they change them. Writes sharing one transaction (`api::services::writes`) read each such
    /// fact once.
    ///
    /// [`forget`]: WriteTxn::forget
    pub fn recall(&self, fact: Fact, owner: Uuid) -> Option<bool> {
        self.facts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&(fact, owner)).copied()
    }

    /// Keeps a fact about `owner`'s rows until the transaction ends or it is forgotten.
    pub fn learn(&self, fact: Fact, owner: Uuid, value: bool) {
        self.facts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert((fact, owner), value);
    }

    /// Drops a fact this transaction's own write has just made stale.
    pub fn forget(&self, fact: Fact, owner: Uuid) {
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
/// 100 ms, and whoever retries first wins, so under many concurrent writes a few wait long while the file sits
/// idle between sleeps. Writers of one process therefore wait here, in order, and wake as soon as
/// the one before them finishes; the scheduler's writers let requests go first ([`Lane`]). (Other processes'
/// writers still meet the busy handler.)
pub(super) fn writer_queue(db: &Database) -> Option<Arc<Lane>> {
    static QUEUES: LazyLock<std::sync::Mutex<HashMap<PathBuf, Arc<Lane>>>> = LazyLock::new(Default::default);
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
    begin(db, false).await
}

/// [`begin_write`] for the scheduler's writes, which can wait: on SQLite it lets this process's requests that are
/// waiting to write go first, for at most [`lane::YIELD_AT_MOST`](super::lane::YIELD_AT_MOST).
pub async fn begin_background_write(db: &Database) -> Result<WriteTxn, DbErr> {
    begin(db, true).await
}

async fn begin(db: &Database, background: bool) -> Result<WriteTxn, DbErr> {
    let turn = match writer_queue(db) {
        Some(lane) => {
            let turn = async { if background { lane.background().await } else { lane.request().await } };
            Some(
                tokio::time::timeout(SQLITE_BUSY_TIMEOUT, turn)
                    .await
                    .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?,
            )
        }
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
