//! Group commit for her record writes.
//!
//! Every write used to be a transaction of its own: on PostgreSQL a durable commit (one WAL flush) each, and
//! her writes queued behind the lock on her change number; on SQLite a turn of the file's one writer each. A
//! write now goes to a lane: a task that takes every write waiting for it (up to [`MAX_BATCH`]), runs them one
//! after another in one transaction and commits them together, then answers each. Alone it runs as before.
//!
//! A write whose batch cannot keep it (it failed, or it asks to roll back what it did) is never answered from
//! inside the batch: the batch is rolled back, that write runs again alone (its answer is then the one it gives
//! on its own, as before batching), and the others run again as a new batch. So each write's effect is all or
//! nothing, and its answer never depends on a neighbour that did not commit. A write that finds the database
//! unreachable is not rerun: its batch is told at once to retry later (503), as each would be alone.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use platform::Database;
use platform::db::WriteTxn;
use scheduler::metrics::Metrics;
use sea_orm::{ConnAcquireErr, DbBackend, DbErr};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;

/// The most writes one transaction takes. (Each holds SQLite's one writer, or her row lock, a little longer.)
pub const MAX_BATCH: usize = 64;

/// Lanes on PostgreSQL: writes of different users commit side by side (PostgreSQL flushes concurrent commits
/// together), while all of one user's writes take one lane, so two batches never wait on each other's locks
/// of her row. SQLite has one writer, so one lane.
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
    metrics: Arc<Metrics>,
}

impl Writes {
    /// Starts the lanes (tasks of the current runtime; they end when the last `Writes` is dropped).
    pub fn start(db: Database, metrics: Arc<Metrics>) -> Self {
        let count = if db.get_database_backend() == DbBackend::Sqlite { 1 } else { POSTGRES_LANES };
        let lanes = (0..count)
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(Lane { db: db.clone(), metrics: metrics.clone() }.serve(rx));
                tx
            })
            .collect();
        Self { db, lanes }
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
    pub async fn run<T, F>(&self, user_id: Uuid, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: for<'t> FnMut(&'t WriteTxn) -> BoxFuture<'t, Result<Step<T>, ApiError>> + Send + 'static,
    {
        let lane = BuildHasherDefault::<DefaultHasher>::default().hash_one(user_id) as usize % self.lanes.len();
        let (reply, answer) = oneshot::channel();
        let pending = Slot { work, outcome: None, reply, span: tracing::Span::current() };
        self.lanes[lane].send(Box::new(pending)).await.map_err(|_| lane_gone())?;
        answer.await.map_err(|_| lane_gone())?
    }
}

fn lane_gone() -> ApiError {
    ApiError::Internal(anyhow::anyhow!("the write lane has stopped"))
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
}

struct Slot<T, F> {
    work: F,
    outcome: Option<Result<Step<T>, ApiError>>,
    reply: oneshot::Sender<Result<T, ApiError>>,
    /// The request's span, so what the write logs carries its request id.
    span: tracing::Span,
}

impl<T, F> Pending for Slot<T, F>
where
    T: Send + 'static,
    F: for<'t> FnMut(&'t WriteTxn) -> BoxFuture<'t, Result<Step<T>, ApiError>> + Send + 'static,
{
    fn run<'t>(&'t mut self, txn: &'t WriteTxn) -> BoxFuture<'t, bool> {
        Box::pin(async move {
            let work = AssertUnwindSafe((self.work)(txn)).catch_unwind().instrument(self.span.clone());
            let outcome = work.await.unwrap_or_else(|_| Err(ApiError::Internal(anyhow::anyhow!("a write panicked"))));
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
            (None, Ok(())) => Err(ApiError::Internal(anyhow::anyhow!("a write was answered before it ran"))),
        };
        // A request that went away meanwhile no longer waits for its answer.
        let _ = self.reply.send(answer);
    }

    fn abandon(self: Box<Self>, e: &DbErr) {
        let _ = self.reply.send(Err(shared_error(e)));
    }

    fn found_database_unreachable(&self) -> bool {
        match &self.outcome {
            Some(Err(ApiError::Unavailable)) => true,
            Some(Err(ApiError::Database(e))) => platform::db::is_unavailable(e),
            _ => false,
        }
    }
}

/// Each write's own copy of an error of their shared transaction (its begin or its commit).
fn shared_error(e: &DbErr) -> ApiError {
    if platform::db::is_unavailable(e) {
        ApiError::Unavailable
    } else {
        ApiError::Database(DbErr::Custom(e.to_string()))
    }
}

impl Lane {
    async fn serve(self, mut rx: mpsc::Receiver<Box<dyn Pending>>) {
        let mut waiting = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut waiting, MAX_BATCH).await > 0 {
            self.run_batch(std::mem::take(&mut waiting)).await;
        }
    }

    async fn run_batch(&self, mut batch: Vec<Box<dyn Pending>>) {
        while batch.len() > 1 {
            let size = batch.len();
            let txn = match platform::db::begin_write(&self.db).await {
                Ok(txn) => txn,
                Err(e) => {
                    tracing::warn!(error = %e, writes = size, "a batch of writes could not begin");
                    batch.into_iter().for_each(|p| p.abandon(&e));
                    return;
                }
            };
            let mut refused = None;
            for (i, pending) in batch.iter_mut().enumerate() {
                if !pending.run(&txn).await {
                    refused = Some(i);
                    break;
                }
            }
            let Some(i) = refused else {
                let committed = txn.commit().await;
                match &committed {
                    Ok(()) => self.metrics.write_batch.observe(size as f64),
                    Err(e) => tracing::warn!(error = %e, writes = size, "a batch of writes failed to commit"),
                }
                batch.into_iter().for_each(|p| p.answer(committed.as_ref().map(|_| ())));
                return;
            };
            let _ = txn.rollback().await;
            let refused = batch.remove(i);
            if refused.found_database_unreachable() {
                // Running each of the others alone would only make each wait to find the same: all are told
                // at once to retry later.
                tracing::warn!(writes = size, "the database is unreachable: a batch of writes is refused");
                refused.answer(Ok(()));
                let unreachable = DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed);
                batch.into_iter().for_each(|p| p.abandon(&unreachable));
                return;
            }
            self.metrics.writes_rerun.inc();
            self.alone(refused).await;
        }
        if let Some(last) = batch.pop() {
            self.alone(last).await;
        }
    }

    /// A write in a transaction of its own, as before batching.
    async fn alone(&self, mut pending: Box<dyn Pending>) {
        match platform::db::begin_write(&self.db).await {
            Err(e) => pending.abandon(&e),
            Ok(txn) => {
                if pending.run(&txn).await {
                    let committed = txn.commit().await;
                    if committed.is_ok() {
                        self.metrics.write_batch.observe(1.0);
                    }
                    pending.answer(committed.as_ref().map(|_| ()));
                } else {
                    let _ = txn.rollback().await;
                    pending.answer(Ok(()));
                }
            }
        }
    }
}
