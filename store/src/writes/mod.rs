//! Group commit for users' record writes.
//!
//! A write goes to a lane: a task that takes every write waiting for it (up to [`MAX_BATCH`]), runs them one
//! after another in one transaction and commits them together, then answers each. Writes waiting together thus
//! share one durable commit (on PostgreSQL one WAL flush, and one wait for the lock on each owner's change
//! number; on SQLite one turn of the file's one writer). A write that waits alone runs in a transaction of its own.
//!
//! A write whose batch cannot keep it (it failed, or it asks to roll back what it did) is never answered from
//! inside the batch: the batch is rolled back, that write runs again alone (its answer is then the one it gives
//! on its own), and the others run again as a new batch. So each write's effect is all or nothing, and its
//! answer never depends on a neighbour that did not commit. A write that finds the database unreachable is not
//! rerun: its batch is told at once to retry later (503), as each would be alone.
//!
//! Most writes are PUTs of new entries from a user's phone ([`Writes::insert`]). Those waiting together are inserted
//! by one multi-row statement, after one `UPDATE` of each owner's change number (on PostgreSQL, in the same
//! statement); when any of their ids is in use, they go the way above instead.

use crate::Database;
use crate::db::WriteTxn;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{DbBackend, DbErr};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use uuid::Uuid;

use crate::StoreError;
use crate::metrics::WriteMetrics;
use crate::records::Record;

mod insert;
mod lane;
mod numbered;

/// The most writes one transaction takes. (Each holds SQLite's one writer, or the owner's row lock, a little longer.)
pub const MAX_BATCH: usize = 64;

/// Lanes on PostgreSQL: writes of different users commit side by side (PostgreSQL flushes concurrent commits
/// together), while all of one user's writes take one lane, so two batches never wait on each other's locks
/// of the user's row. SQLite has one writer, so one lane.
const POSTGRES_LANES: usize = 4;

/// How many writes may wait for a lane before a request waits to hand its write over.
const QUEUE: usize = 1024;

/// What a write decided inside its transaction.
pub enum Step<T> {
    /// Its changes are to be committed; `T` is its answer once they are.
    Commit(T),
    /// It changed nothing that should last; `T` is its answer as it is and its changes are rolled back.
    Rollback(T),
}

/// The writers of one database, shared by the handlers.
#[derive(Clone)]
pub struct Writes {
    db: Database,
    lanes: Arc<[mpsc::Sender<Box<dyn Pending>>]>,
}

/// What a lane needs.
struct Lane {
    db: Database,
    metrics: Arc<WriteMetrics>,
    /// On PostgreSQL, the next batch's transaction, begun on another connection while the last batch committed
    /// (see [`Lane::commit`]).
    ready: Option<WriteTxn>,
    /// For owners whose writes this lane committed: the owner's change number when that commit found none of
    /// the owner's routines counting from the owner's last session (see [`insert_all`]).
    routine_free: HashMap<Uuid, i64>,
}

impl Writes {
    /// Starts the lanes (tasks of the current runtime; they end when the last `Writes` is dropped). On SQLite the
    /// lane writes through a connection of its own ([`crate::db::writer`]); `db` serves reads.
    pub async fn start(db: Database, metrics: Arc<WriteMetrics>) -> Result<Self, DbErr> {
        let count = if db.get_database_backend() == DbBackend::Sqlite { 1 } else { POSTGRES_LANES };
        let writer = crate::db::writer(&db).await?;
        let lanes = (0..count)
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(
                    Lane { db: writer.clone(), metrics: metrics.clone(), ready: None, routine_free: HashMap::new() }
                        .serve(rx),
                );
                tx
            })
            .collect();
        Ok(Self { db, lanes })
    }

    /// Writes handed over and not yet taken by their lane.
    pub fn waiting(&self) -> usize {
        self.lanes.iter().map(|tx| tx.max_capacity() - tx.capacity()).sum()
    }

    /// The database, for reads.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// Runs `work` for `user_id` in a write transaction, shared with other writes waiting at the same time, and
    /// answers once it is committed (or rolled back, or has failed).
    /// `work` may run more than once (again alone, when its batch could not keep it), each time in a new
    /// transaction, and must then do the same.
    pub async fn run<T, F>(&self, user_id: Uuid, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnMut(&'t WriteTxn) -> BoxFuture<'t, Result<Step<T>, StoreError>> + Send + 'static,
    {
        self.submit(user_id, work, None).await
    }

    /// [`Writes::run`] for a write that inserts `new` when its id is free (and does `work` otherwise): such
    /// writes waiting together are inserted by one multi-row statement, each with the next of its owner's change
    /// numbers, and answered `(row, true)`. When any id of them is in use, each runs its `work` instead.
    pub async fn insert<F>(&self, new: NewRecord, work: F) -> Result<(Record, bool), StoreError>
    where
        F: for<'t> FnMut(&'t WriteTxn) -> BoxFuture<'t, Result<Step<(Record, bool)>, StoreError>> + Send + 'static,
    {
        let user_id = new.record.user_id;
        self.submit(user_id, work, Some((new, |row| (row, true)))).await
    }

    async fn submit<T, F>(&self, user_id: Uuid, work: F, insert: Option<Insertion<T>>) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnMut(&'t WriteTxn) -> BoxFuture<'t, Result<Step<T>, StoreError>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let slot = Slot { work, insert, outcome: None, reply, span: tracing::Span::current() };
        self.lanes[self.lane_of(user_id)].send(Box::new(slot)).await.map_err(|_| lane_gone())?;
        answer.await.map_err(|_| lane_gone())?
    }

    /// The lane that takes `user_id`'s writes.
    pub fn lane_of(&self, user_id: Uuid) -> usize {
        BuildHasherDefault::<DefaultHasher>::default().hash_one(user_id) as usize % self.lanes.len()
    }
}

/// A record a write inserts when its id is free.
pub struct NewRecord {
    /// Every field but `change_seq`, which is the owner's next when it is inserted.
    pub record: Record,
}

fn lane_gone() -> StoreError {
    StoreError::Internal(anyhow::anyhow!("the write lane has stopped"))
}

/// A write waiting in a lane, its type hidden.
trait Pending: Send {
    /// Runs the write in `txn`; true when its changes may be committed with the batch.
    fn run<'t>(&'t mut self, txn: &'t WriteTxn) -> BoxFuture<'t, bool>;
    /// Answers, once its transaction is over: `committed` tells how a commit of its changes went.
    fn answer(self: Box<Self>, committed: Result<(), &DbErr>);
    /// Answers with `e`, whatever it did in a transaction that was rolled back.
    fn abandon(self: Box<Self>, e: &DbErr);
    /// Whether it failed because the database cannot be reached.
    fn found_database_unreachable(&self) -> bool;
    /// The new record it inserts when its id is free, if it is such a write ([`Writes::insert`]).
    fn insertion(&self) -> Option<&NewRecord>;
    /// Answers with the row inserted for its [`Pending::insertion`], once committed.
    fn inserted(self: Box<Self>, row: Record);
}

/// A new record, and the answer of the write that inserts it, made from the inserted row.
type Insertion<T> = (NewRecord, fn(Record) -> T);

struct Slot<T, F> {
    work: F,
    /// For [`Writes::insert`]: its new record, and its answer from the inserted row.
    insert: Option<Insertion<T>>,
    outcome: Option<Result<Step<T>, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
    /// The request's span, so what the write logs carries its request id.
    span: tracing::Span,
}

impl<T, F> Pending for Slot<T, F>
where
    T: Send + 'static,
    F: for<'t> FnMut(&'t WriteTxn) -> BoxFuture<'t, Result<Step<T>, StoreError>> + Send + 'static,
{
    fn run<'t>(&'t mut self, txn: &'t WriteTxn) -> BoxFuture<'t, bool> {
        Box::pin(async move {
            let work = AssertUnwindSafe((self.work)(txn)).catch_unwind().instrument(self.span.clone());
            let outcome = work.await.unwrap_or_else(|_| Err(StoreError::Internal(anyhow::anyhow!("a write panicked"))));
            let keep = matches!(outcome, Ok(Step::Commit(_)));
            self.outcome = Some(outcome);
            keep
        })
    }

    fn answer(self: Box<Self>, committed: Result<(), &DbErr>) {
        let answer = match (self.outcome, committed) {
            (Some(Ok(Step::Commit(value))), Ok(())) | (Some(Ok(Step::Rollback(value))), _) => Ok(value),
            (Some(Ok(Step::Commit(_))), Err(e)) => Err(shared_error(e)),
            (Some(Err(e)), _) => Err(e),
            (None, Err(e)) => Err(shared_error(e)),
            (None, Ok(())) => Err(StoreError::Internal(anyhow::anyhow!("a write was answered before it ran"))),
        };
        // A request that went away meanwhile no longer waits for its answer.
        let _ = self.reply.send(answer);
    }

    fn abandon(self: Box<Self>, e: &DbErr) {
        let _ = self.reply.send(Err(shared_error(e)));
    }

    fn found_database_unreachable(&self) -> bool {
        match &self.outcome {
            Some(Err(StoreError::Unavailable)) => true,
            Some(Err(StoreError::Database(e))) => crate::db::is_unavailable(e),
            _ => false,
        }
    }

    fn insertion(&self) -> Option<&NewRecord> {
        self.insert.as_ref().map(|(new, _)| new)
    }

    fn inserted(self: Box<Self>, row: Record) {
        let answer = match self.insert {
            Some((_, from_row)) => Ok(from_row(row)),
            None => Err(StoreError::Internal(anyhow::anyhow!("a write that inserts nothing was answered with a row"))),
        };
        let _ = self.reply.send(answer);
    }
}

/// Each write's own copy of an error of their shared transaction (its begin or its commit).
fn shared_error(e: &DbErr) -> StoreError {
    if crate::db::is_unavailable(e) {
        StoreError::Unavailable
    } else {
        StoreError::Database(DbErr::Custom(e.to_string()))
    }
}
