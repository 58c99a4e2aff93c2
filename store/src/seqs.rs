//! A user's change number, read for many requests by one query.
//!
//! A list reads the user's change number before anything else (see `services::pages`): with the page kept in
//! memory, that read is the list's only database work. So the reads waiting at the same moment go to the
//! database together, as one query over all their accounts.
//!
//! Each request is answered by a query that began after the request was handed over, never by one already
//! under way, so the number it gets is at least as new as every write committed before the request came: a
//! list still shows what was written a moment before, through any API process.

use crate::Database;
use entity::user;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use crate::StoreError;

/// Queries under way at once; a read that finds all of them busy waits for the next one to start.
const READERS: usize = 4;

/// The most accounts one query reads.
const MAX_BATCH: usize = 256;

/// Reads handed over and not yet taken by a query, before a request waits to hand its read over.
const QUEUE: usize = 4096;

type Answer = Result<Option<i64>, StoreError>;

struct Ask {
    user_id: Uuid,
    reply: oneshot::Sender<Answer>,
}

/// The change-number readers of one database, shared by the handlers.
#[derive(Clone)]
pub struct ChangeNumbers {
    asks: mpsc::Sender<Ask>,
}

impl ChangeNumbers {
    /// Starts the readers (tasks of the current runtime; they end when the last `ChangeNumbers` is dropped).
    pub fn start(db: Database) -> Self {
        let (asks, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..READERS {
            tokio::spawn(serve(db.clone(), rx.clone()));
        }
        Self { asks }
    }

    /// The user's change number as it stands now: every write to the user's records takes the next one, in the
    /// same transaction. `None` when the user has no account.
    pub async fn of(&self, user_id: Uuid) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.asks.send(Ask { user_id, reply }).await.map_err(|_| readers_gone())?;
        answer.await.map_err(|_| readers_gone())?
    }
}

fn readers_gone() -> StoreError {
    StoreError::Internal(anyhow::anyhow!("the change-number readers have stopped"))
}

/// One reader: takes every read waiting (up to [`MAX_BATCH`]), answers them from one query, and again.
async fn serve(db: Database, asks: Arc<Mutex<mpsc::Receiver<Ask>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // The lock is held only while waiting: another reader takes the next reads while this one queries.
        if asks.lock().await.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let mut ids: Vec<Uuid> = batch.iter().map(|a| a.user_id).collect();
        ids.sort_unstable();
        ids.dedup();
        match read(&db, ids).await {
            Ok(numbers) => {
                for ask in batch.drain(..) {
                    let _ = ask.reply.send(Ok(numbers.get(&ask.user_id).copied()));
                }
            }
            Err(e) => {
                let unavailable = crate::db::is_unavailable(&e);
                if !unavailable {
                    tracing::error!(error = %e, reads = batch.len(), "reading change numbers failed");
                }
                for ask in batch.drain(..) {
                    let error = if unavailable {
                        StoreError::Unavailable
                    } else {
                        StoreError::Internal(anyhow::anyhow!("reading change numbers: {e}"))
                    };
                    let _ = ask.reply.send(Err(error));
                }
            }
        }
    }
}

/// How many ids a query names: a batch is padded to the next of these by repeating an id, so that four
/// statements serve every batch. Each distinct statement is prepared once per connection and kept; one per
/// batch size would crowd the statement cache out as the mix of waiting accounts changes.
const QUERY_SIZES: [usize; 4] = [1, 8, 64, MAX_BATCH];

/// `ids` (at most [`MAX_BATCH`]) padded to the next of [`QUERY_SIZES`].
fn padded(ids: Vec<Uuid>) -> Vec<Uuid> {
    crate::db::padded(ids, &QUERY_SIZES)
}

async fn read(db: &Database, ids: Vec<Uuid>) -> Result<HashMap<Uuid, i64>, DbErr> {
    let rows: Vec<(Uuid, i64)> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::ChangeSeq)
        .filter(user::Column::Id.is_in(padded(ids)))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_padded_to_one_of_four_sizes_and_keeps_every_id() {
        for n in 1..=MAX_BATCH {
            let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
            let query = padded(ids.clone());
            assert!(QUERY_SIZES.contains(&query.len()), "{n} ids became {}", query.len());
            assert!(query.len() >= n);
            assert_eq!(&query[..n], &ids[..]);
            assert!(query[n..].iter().all(|id| id == &ids[n - 1]));
        }
    }
}
