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
//!
//! Most writes are PUTs of new entries from her phone ([`Writes::insert`]). Those waiting together are inserted
//! by one multi-row statement, after one `UPDATE` of each owner's change number (on PostgreSQL, in the same
//! statement); when any of their ids is in use, they go the way above instead.

use crate::metrics::ApiMetrics;
use entity::record;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use platform::Database;
use platform::db::WriteTxn;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnAcquireErr, ConnectionTrait, DbBackend, DbErr, EntityTrait};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;
use crate::services::records;

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
    metrics: Arc<ApiMetrics>,
    /// On PostgreSQL, the next batch's transaction, begun on another connection while the last batch committed
    /// (see [`Lane::commit`]).
    ready: Option<WriteTxn>,
    /// For owners whose writes this lane committed: her change number when that commit found none of her
    /// routines counting from her last session (see [`insert_all`]).
    routine_free: HashMap<Uuid, i64>,
}

impl Writes {
    /// Starts the lanes (tasks of the current runtime; they end when the last `Writes` is dropped). On SQLite the
    /// lane writes through a connection of its own ([`platform::db::writer`]); `db` serves reads.
    pub async fn start(db: Database, metrics: Arc<ApiMetrics>) -> Result<Self, DbErr> {
        let count = if db.get_database_backend() == DbBackend::Sqlite { 1 } else { POSTGRES_LANES };
        let writer = platform::db::writer(&db).await?;
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
    pub async fn run<T, F>(&self, user_id: Uuid, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: for<'t> FnMut(&'t WriteTxn) -> BoxFuture<'t, Result<Step<T>, ApiError>> + Send + 'static,
    {
        self.submit(user_id, work, None).await
    }

    /// [`Writes::run`] for a write that inserts `new` when its id is free (and does `work` otherwise): such
    /// writes waiting together are inserted by one multi-row statement, each with the next of her change
    /// numbers, and answered `(row, true)`. When any id of them is in use, each runs its `work` instead.
    pub async fn insert<F>(&self, new: NewRecord, work: F) -> Result<(record::Model, bool), ApiError>
    where
        F: for<'t> FnMut(&'t WriteTxn) -> BoxFuture<'t, Result<Step<(record::Model, bool)>, ApiError>> + Send + 'static,
    {
        let user_id = new.user_id;
        self.submit(user_id, work, Some((new, |row| (row, true)))).await
    }

    async fn submit<T, F>(&self, user_id: Uuid, work: F, insert: Option<Insertion<T>>) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: for<'t> FnMut(&'t WriteTxn) -> BoxFuture<'t, Result<Step<T>, ApiError>> + Send + 'static,
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
    pub user_id: Uuid,
    /// Every column but `change_seq`, which is hers next when it is inserted.
    pub row: record::ActiveModel,
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
    /// The new record it inserts when its id is free, if it is such a write ([`Writes::insert`]).
    fn insertion(&self) -> Option<&NewRecord>;
    /// Answers with the row inserted for its [`Pending::insertion`], once committed.
    fn inserted(self: Box<Self>, row: record::Model);
}

/// A new record, and the answer of the write that inserts it, made from the inserted row.
type Insertion<T> = (NewRecord, fn(record::Model) -> T);

struct Slot<T, F> {
    work: F,
    /// For [`Writes::insert`]: its new record, and its answer from the inserted row.
    insert: Option<Insertion<T>>,
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

    fn insertion(&self) -> Option<&NewRecord> {
        self.insert.as_ref().map(|(new, _)| new)
    }

    fn inserted(self: Box<Self>, row: record::Model) {
        let answer = match self.insert {
            Some((_, from_row)) => Ok(from_row(row)),
            None => Err(ApiError::Internal(anyhow::anyhow!("a write that inserts nothing was answered with a row"))),
        };
        let _ = self.reply.send(answer);
    }
}

/// How many owners a lane remembers in [`Lane::routine_free`] (about 50 bytes each) before it forgets them all.
const ROUTINE_FREE_KEPT: usize = 65_536;

/// Inserts every new record with the next of its owner's change numbers, in one statement; `None` when any id
/// is already in use (nothing is then to be committed). Re-plans what each affects, as each write would alone.
///
/// Re-planning a new session first looks up her routines, in case one counts from her last session: one query
/// of each batch. `routine_free` spares it: it gives, for an owner, her change number at the end of a batch
/// that found none of her routines counting so. Every write of her records, routines included, takes her next
/// change number in its transaction, in any process. So when her records here are numbered from just past that
/// number, no routine of hers has been written since, and the lookup would find what it found then. Gives the
/// rows in the order of `news`, and for each owner found without such a routine, her number at its end.
async fn insert_all(
    txn: &WriteTxn,
    news: &[&NewRecord],
    routine_free: &HashMap<Uuid, i64>,
) -> Result<Option<(Vec<record::Model>, Vec<(Uuid, i64)>)>, DbErr> {
    let mut owners: Vec<(Uuid, i32)> = Vec::new();
    for new in news {
        match owners.iter_mut().find(|(owner, _)| *owner == new.user_id) {
            Some((_, count)) => *count += 1,
            None => owners.push((new.user_id, 1)),
        }
    }
    let inserted = if txn.get_database_backend() == DbBackend::Postgres {
        numbered_and_inserted(txn, news, &owners).await?
    } else {
        // Her next number for each of her new records: taken together, as each write would take one.
        let Some(mut next) = numbers_taken(txn, &owners).await? else { return Ok(None) };
        let rows = news.iter().map(|new| {
            let seq = next.get_mut(&new.user_id).expect("every owner was numbered");
            let mut row = new.row.clone();
            row.change_seq = Set(*seq);
            *seq += 1;
            row
        });
        let if_new = OnConflict::column(record::Column::Id).do_nothing().to_owned();
        record::Entity::insert_many(rows).on_conflict(if_new).exec_with_returning(txn).await?
    };
    if inserted.len() != news.len() {
        return Ok(None);
    }
    let mut by_id: HashMap<Uuid, record::Model> = inserted.into_iter().map(|row| (row.id, row)).collect();
    let mut ordered = Vec::with_capacity(news.len());
    for new in news {
        let id = *new.row.id.as_ref();
        let Some(row) = by_id.remove(&id) else { return Ok(None) };
        ordered.push(row);
    }
    // Her numbers here: from just past her number before this batch, to her last.
    let mut numbered: HashMap<Uuid, (i64, i64)> = HashMap::new();
    for row in &ordered {
        let (first, last) = numbered.entry(row.user_id).or_insert((row.change_seq, row.change_seq));
        (*first, *last) = ((*first).min(row.change_seq), (*last).max(row.change_seq));
    }
    for (owner, (first, _)) in &numbered {
        if routine_free.get(owner) == Some(&(first - 1)) {
            scheduler::planning::tell_no_routine_counts_from_last_session(txn, *owner);
        }
    }
    scheduler::planning::look_up_routines_once(txn, &ordered).await?;
    for row in &ordered {
        scheduler::planning::after_change(txn, row, row.updated_at).await?;
    }
    let routine_free = numbered
        .into_iter()
        .filter(|(owner, _)| scheduler::planning::knows_no_routine_counts_from_last_session(txn, *owner))
        .map(|(owner, (_, last))| (owner, last))
        .collect();
    Ok(Some((ordered, routine_free)))
}

/// On SQLite, each owner's next `count` change numbers (as [`records::take_seqs`] takes them), taken by one
/// statement for all owners; gives the first of each owner's numbers, or `None` when an owner has no account.
/// (One statement per owner made a batch of 64 users' sessions 64 round trips to the writer's thread.) Several
/// owners are padded to 8 or 64 by repeating the last: its `WHEN` and `IN` repeated change nothing.
async fn numbers_taken(txn: &WriteTxn, owners: &[(Uuid, i32)]) -> Result<Option<HashMap<Uuid, i64>>, DbErr> {
    use sea_orm::{Statement, Value};
    if let [(owner, count)] = *owners {
        let last = records::take_seqs(txn, owner, count).await?;
        return Ok(last.map(|last| HashMap::from([(owner, last - i64::from(count) + 1)])));
    }
    let padded = platform::db::padded(owners.to_vec(), &PADDED_SIZES);
    let mut values: Vec<Value> = Vec::with_capacity(3 * padded.len());
    for &(owner, count) in &padded {
        values.extend([Value::Uuid(Some(owner)), Value::Int(Some(count))]);
    }
    values.extend(padded.iter().map(|&(owner, _)| Value::Uuid(Some(owner))));
    let sql = format!(
        "UPDATE users SET change_seq = change_seq + CASE id {whens} END WHERE id IN ({ids}) RETURNING id, change_seq",
        whens = vec!["WHEN ? THEN ?"; padded.len()].join(" "),
        ids = vec!["?"; padded.len()].join(", "),
    );
    let mut last: HashMap<Uuid, i64> = HashMap::with_capacity(owners.len());
    for row in txn.query_all_raw(Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)).await? {
        last.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
    }
    let mut first = HashMap::with_capacity(owners.len());
    for &(owner, count) in owners {
        let Some(last) = last.get(&owner) else { return Ok(None) };
        first.insert(owner, last - i64::from(count) + 1);
    }
    Ok(Some(first))
}

/// How many owners and rows one PostgreSQL statement of [`numbered_and_inserted`] names: each list is padded to
/// the next of these, so that nine statements serve every batch (each is prepared once per connection).
const PADDED_SIZES: [usize; 3] = [1, 8, MAX_BATCH];

/// The columns of a new record and their types, in the order [`numbered_and_inserted`] gives them (`back` in
/// place of `change_seq`).
const NEW_RECORD_COLUMNS: [(&str, &str); 12] = [
    ("id", "uuid"),
    ("user_id", "uuid"),
    ("collection", "varchar"),
    ("sort_at", "timestamptz"),
    ("side", "varchar"),
    ("pump_type", "varchar"),
    ("data", "text"),
    ("version", "bigint"),
    ("back", "bigint"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("deleted_at", "timestamptz"),
];

/// On PostgreSQL, her change numbers taken and her new records inserted by one statement: the `UPDATE` of
/// each owner's number and the insert of every record with its number, `ON CONFLICT (id) DO NOTHING`. Under
/// PUTs of one user her row is locked from that `UPDATE` to the commit, one batch after another; taking the
/// numbers and inserting in one round trip holds it one round trip less. Gives the rows inserted, in no order.
///
/// A record whose owner has no account is not inserted (its owner's number is not found), nor is one whose id
/// is in use: the caller then finds fewer rows than records. The lists are padded (see [`PADDED_SIZES`]) with
/// owners and records that match nothing: a padding owner's id is NULL, and a padding record's owner is.
async fn numbered_and_inserted(
    txn: &WriteTxn,
    news: &[&NewRecord],
    owners: &[(Uuid, i32)],
) -> Result<Vec<record::Model>, DbErr> {
    use sea_orm::{FromQueryResult, Statement, Value};
    let padded = |n: usize| platform::db::padded_len(n, &PADDED_SIZES);
    let mut values: Vec<Value> = Vec::with_capacity(2 * padded(owners.len()) + 12 * padded(news.len()));
    let placeholder = |value: Value, cast: &str, values: &mut Vec<Value>| {
        values.push(value);
        format!("${}::{cast}", values.len())
    };
    let mut owner_rows = Vec::with_capacity(padded(owners.len()));
    for i in 0..padded(owners.len()) {
        let (id, count) = owners.get(i).map_or((None, 0), |&(id, count)| (Some(id), i64::from(count)));
        let id = placeholder(Value::Uuid(id), "uuid", &mut values);
        let count = placeholder(Value::BigInt(Some(count)), "bigint", &mut values);
        owner_rows.push(format!("({id}, {count})"));
    }
    // How far each record's number lies before its owner's last: her records take her numbers in their order.
    let mut left: HashMap<Uuid, i64> = owners.iter().map(|&(id, count)| (id, i64::from(count))).collect();
    let first = news.first().map(|new| row_values(new, 0));
    let mut record_rows = Vec::with_capacity(padded(news.len()));
    for i in 0..padded(news.len()) {
        let row = match news.get(i) {
            Some(new) => {
                let left = left.get_mut(&new.user_id).expect("every owner is counted");
                *left -= 1;
                row_values(new, *left)
            }
            None => first.iter().flatten().map(Value::as_null).collect(),
        };
        let row: Vec<String> = row
            .into_iter()
            .zip(NEW_RECORD_COLUMNS)
            .map(|(value, (_, cast))| placeholder(value, cast, &mut values))
            .collect();
        record_rows.push(format!("({})", row.join(", ")));
    }
    let columns = NEW_RECORD_COLUMNS.map(|(c, _)| c).join(", ");
    let chosen = NEW_RECORD_COLUMNS
        .map(|(c, _)| if c == "back" { "numbered.change_seq - v.back".to_owned() } else { format!("v.{c}") });
    let sql = format!(
        "WITH counted (id, n) AS (VALUES {owners}), \
         numbered AS (UPDATE users SET change_seq = users.change_seq + counted.n FROM counted \
         WHERE users.id = counted.id RETURNING users.id, users.change_seq) \
         INSERT INTO records ({inserted}) \
         SELECT {chosen} FROM (VALUES {rows}) AS v ({columns}) JOIN numbered ON numbered.id = v.user_id \
         ON CONFLICT (id) DO NOTHING RETURNING *",
        owners = owner_rows.join(", "),
        inserted = columns.replace("back", "change_seq"),
        chosen = chosen.join(", "),
        rows = record_rows.join(", "),
    );
    record::Model::find_by_statement(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).all(txn).await
}

/// A new record's values in the order of [`NEW_RECORD_COLUMNS`], `back` numbers before her last.
fn row_values(new: &NewRecord, back: i64) -> Vec<sea_orm::Value> {
    let r = new.row.clone();
    let value = |v: Option<sea_orm::Value>| v.expect("a new record sets every column but its change number");
    vec![
        value(r.id.into_value()),
        value(r.user_id.into_value()),
        value(r.collection.into_value()),
        value(r.sort_at.into_value()),
        value(r.side.into_value()),
        value(r.pump_type.into_value()),
        value(r.data.into_value()),
        value(r.version.into_value()),
        sea_orm::Value::BigInt(Some(back)),
        value(r.created_at.into_value()),
        value(r.updated_at.into_value()),
        value(r.deleted_at.into_value()),
    ]
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
    async fn serve(mut self, mut rx: mpsc::Receiver<Box<dyn Pending>>) {
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
            None => platform::db::begin_write(&self.db).await,
        }
    }

    /// Commits `txn`. On PostgreSQL, when more writes already wait in `queue`, the next batch's transaction is
    /// begun on another connection meanwhile: its `BEGIN` (a round trip, a fifth of a batch's time under PUTs)
    /// then leaves the lane's time. It runs nothing before this commit is over, so it never waits on the locks
    /// this batch holds, and (read committed) it sees what this batch wrote. Only begun when a batch is
    /// already waiting for it, so it is never left open while the lane is idle, and when the pool has a
    /// connection to spare, so no read waits for one because of it.
    async fn commit(&mut self, txn: WriteTxn, queue: &mpsc::Receiver<Box<dyn Pending>>) -> Result<(), DbErr> {
        if queue.is_empty() || !platform::db::has_a_second_writer_to_spare(&self.db) {
            return txn.commit().await;
        }
        let (committed, next) = tokio::join!(txn.commit(), platform::db::begin_write(&self.db));
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
            Err(e) if platform::db::is_unavailable(&e) => {
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

    /// A write in a transaction of its own, as before batching.
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
