//! A lane: the task that takes the writes waiting for it, runs them in one transaction and answers each.

use crate::db::WriteTxn;
use sea_orm::{ConnAcquireErr, DbErr};
use tokio::sync::mpsc;

use super::insert::{ROUTINE_FREE_KEPT, insert_all};
use super::{Lane, MAX_BATCH, NewRecord, Pending};

impl Lane {
    pub(super) async fn serve(mut self, mut rx: mpsc::Receiver<Box<dyn Pending>>) {
        let mut waiting = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut waiting, MAX_BATCH).await > 0 {
            self.run_batch(std::mem::take(&mut waiting), &rx).await;
        }
    }

    /// Runs `batch`; `queue` tells whether more writes wait behind it.
    async fn run_batch(&mut self, batch: Vec<Box<dyn Pending>>, queue: &mpsc::Receiver<Box<dyn Pending>>) {
        let (inserts, mut batch): (Vec<_>, Vec<_>) = batch.into_iter().partition(|p| p.insertion().is_some());
        if inserts.len() > 1 {
            batch.extend(self.insert_together(inserts, queue).await);
        } else {
            batch.extend(inserts);
        }
        self.run_each(batch, queue).await;
    }

    /// A write transaction: the one begun while the last batch committed, or a new one.
    async fn begin(&mut self) -> Result<WriteTxn, DbErr> {
        match self.ready.take() {
            Some(txn) => Ok(txn),
            None => crate::db::begin_write(&self.db).await,
        }
    }

    /// Commits `txn`. On PostgreSQL, when more writes already wait in `queue`, the next batch's transaction is
    /// begun on another connection meanwhile, so its `BEGIN` (a round trip) is not spent on the lane's time. It
    /// runs nothing before this commit is over, so it never waits on the locks this batch holds, and (read
    /// committed) it sees what this batch wrote. Only begun when a batch is already waiting for it, so it is
    /// never left open while the lane is idle, and when the pool has a connection to spare, so no read waits for
    /// one because of it.
    async fn commit(&mut self, txn: WriteTxn, queue: &mpsc::Receiver<Box<dyn Pending>>) -> Result<(), DbErr> {
        if queue.is_empty() || !crate::db::has_a_second_writer_to_spare(&self.db) {
            return txn.commit().await;
        }
        let (committed, next) = tokio::join!(txn.commit(), crate::db::begin_write(&self.db));
        // One that could not begin is begun again by the next batch, which then meets the error itself.
        self.ready = next.ok();
        if self.ready.is_some() {
            self.metrics.writes_begun_ahead.inc();
        }
        committed
    }

    /// New records inserted in one statement and committed together; the writes it could not keep (an id in
    /// use, an error) are given back to run one by one.
    async fn insert_together(
        &mut self,
        batch: Vec<Box<dyn Pending>>,
        queue: &mpsc::Receiver<Box<dyn Pending>>,
    ) -> Vec<Box<dyn Pending>> {
        let (size, started) = (batch.len(), std::time::Instant::now());
        let txn = match self.begin().await {
            Ok(txn) => txn,
            Err(e) => {
                tracing::warn!(error = %e, writes = size, "a batch of new records could not begin");
                batch.into_iter().for_each(|p| p.abandon(&e));
                return Vec::new();
            }
        };
        let begun = started.elapsed();
        let news: Vec<&NewRecord> = batch.iter().filter_map(|p| p.insertion()).collect();
        match insert_all(&txn, &news, &self.routine_free).await {
            Ok(Some((rows, routine_free))) => {
                let inserted = started.elapsed();
                let committed = self.commit(txn, queue).await;
                match committed {
                    Ok(()) => {
                        self.metrics.write_batch.observe(size as f64);
                        self.metrics.records_inserted_together.inc_by(size as u64);
                        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
                        let elapsed = started.elapsed();
                        tracing::debug!(
                            writes = size,
                            elapsed_ms = ms(elapsed),
                            begin_ms = ms(begun),
                            insert_ms = ms(inserted - begun),
                            commit_ms = ms(elapsed - inserted),
                            "a batch of new records committed"
                        );
                        if self.routine_free.len() + routine_free.len() > ROUTINE_FREE_KEPT {
                            self.routine_free.clear();
                        }
                        self.routine_free.extend(routine_free);
                        batch.into_iter().zip(rows).for_each(|(p, row)| p.inserted(row));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, writes = size, "a batch of new records failed to commit");
                        batch.into_iter().for_each(|p| p.abandon(&e));
                    }
                }
                Vec::new()
            }
            Err(e) if crate::db::is_unavailable(&e) => {
                let _ = txn.rollback().await;
                tracing::warn!(error = %e, writes = size, "the database is unreachable: a batch of new records is refused");
                batch.into_iter().for_each(|p| p.abandon(&e));
                Vec::new()
            }
            Ok(None) | Err(_) => {
                // (An error is met again, and answered, by the write that meets it on its own.)
                let _ = txn.rollback().await;
                batch
            }
        }
    }

    /// Writes run one after another in one transaction (see the module's comment).
    async fn run_each(&mut self, mut batch: Vec<Box<dyn Pending>>, queue: &mpsc::Receiver<Box<dyn Pending>>) {
        while batch.len() > 1 {
            let size = batch.len();
            let txn = match self.begin().await {
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
                let committed = self.commit(txn, queue).await;
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
            self.alone(refused, queue).await;
        }
        if let Some(last) = batch.pop() {
            self.alone(last, queue).await;
        }
    }

    /// A write in a transaction of its own.
    async fn alone(&mut self, mut pending: Box<dyn Pending>, queue: &mpsc::Receiver<Box<dyn Pending>>) {
        match self.begin().await {
            Err(e) => pending.abandon(&e),
            Ok(txn) => {
                if pending.run(&txn).await {
                    let committed = self.commit(txn, queue).await;
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
