//! New records of a batch inserted together: their owners' change numbers taken and the rows written by one
//! statement (on PostgreSQL both in one), the statement shapes padded so a few prepared ones serve every batch.

use entity::record;
use platform::db::WriteTxn;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait};
use std::collections::HashMap;
use uuid::Uuid;

use super::{MAX_BATCH, NewRecord};
use crate::records;

/// How many owners a lane remembers in [`Lane::routine_free`] (about 50 bytes each) before it forgets them all.
pub(super) const ROUTINE_FREE_KEPT: usize = 65_536;

/// Inserts every new record with the next of its owner's change numbers, in one statement; `None` when any id
/// is already in use (nothing is then to be committed). Re-plans what each affects, as each write would alone.
///
/// Re-planning a new session first looks up her routines, in case one counts from her last session: one query
/// of each batch. `routine_free` spares it: it gives, for an owner, her change number at the end of a batch
/// that found none of her routines counting so. Every write of her records, routines included, takes her next
/// change number in its transaction, in any process. So when her records here are numbered from just past that
/// number, no routine of hers has been written since, and the lookup would find what it found then. Gives the
/// rows in the order of `news`, and for each owner found without such a routine, her number at its end.
pub(super) async fn insert_all(
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
            crate::planning::tell_no_routine_counts_from_last_session(txn, *owner);
        }
    }
    crate::planning::look_up_routines_once(txn, &ordered).await?;
    for row in &ordered {
        crate::planning::after_change(txn, row, row.updated_at).await?;
    }
    let routine_free = numbered
        .into_iter()
        .filter(|(owner, _)| crate::planning::knows_no_routine_counts_from_last_session(txn, *owner))
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
