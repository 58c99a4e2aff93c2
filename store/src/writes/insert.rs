//! New records of a batch inserted together. On SQLite their ids are checked, their owners' change numbers
//! taken by one statement, then the rows of each kind inserted by one; on PostgreSQL each kind is one statement
//! ([`numbered`]).

use crate::db::WriteTxn;
use domain::RecordKind;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait};
use std::collections::HashMap;
use uuid::Uuid;

use super::{NewRecord, numbered};
use crate::records::tables::{self, FromRecord, on_table};
use crate::records::{self, Record};

/// How many owners a lane remembers in [`Lane::routine_free`] (about 50 bytes each) before it forgets them all.
pub(super) const ROUTINE_FREE_KEPT: usize = 65_536;

/// Inserts every new record with the next of its owner's change numbers; `None` when any id is already in use
/// (nothing is then to be committed). Re-plans what each affects, as each write would alone.
///
/// Re-planning a new session first looks up the owner's routines, in case one counts from the last session:
/// one query of each batch. `routine_free` spares it: it gives, for an owner, the change number at the end of a
/// batch that found none of the owner's routines counting so. Every write of an owner's records, routines
/// included, takes the owner's next change number in its transaction, in any process. So when the records here
/// are numbered from just past that number, no routine has been written since, and the lookup would find what
/// it found then. Gives the rows in the order of `news`, and for each owner found without such a routine, the
/// owner's number at its end.
pub(super) async fn insert_all(
    txn: &WriteTxn,
    news: &[&NewRecord],
    routine_free: &HashMap<Uuid, i64>,
) -> Result<Option<(Vec<Record>, Vec<(Uuid, i64)>)>, DbErr> {
    let inserted = if numbered::one_statement_per_kind(txn) {
        let mut inserted = Vec::with_capacity(news.len());
        for kind in RecordKind::ALL {
            let rows: Vec<&Record> = news.iter().map(|new| &new.record).filter(|r| r.kind == kind).collect();
            if !rows.is_empty() {
                inserted.extend(numbered::numbered_and_inserted(txn, kind, &rows).await?);
            }
        }
        inserted
    } else {
        let Some(inserted) = numbered_then_inserted(txn, news).await? else { return Ok(None) };
        inserted
    };
    let mut by_key: HashMap<(RecordKind, Uuid), Record> = inserted.into_iter().map(|r| ((r.kind, r.id), r)).collect();
    let mut ordered = Vec::with_capacity(news.len());
    for new in news {
        let Some(row) = by_key.remove(&(new.record.kind, new.record.id)) else { return Ok(None) };
        ordered.push(row);
    }
    // Each owner's numbers here: from just past the number before this batch, to the last.
    let mut spans: HashMap<Uuid, (i64, i64)> = HashMap::new();
    for row in &ordered {
        let (first, last) = spans.entry(row.user_id).or_insert((row.change_seq, row.change_seq));
        (*first, *last) = ((*first).min(row.change_seq), (*last).max(row.change_seq));
    }
    for (owner, (first, _)) in &spans {
        if routine_free.get(owner) == Some(&(first - 1)) {
            crate::planning::tell_no_routine_counts_from_last_session(txn, *owner);
        }
    }
    crate::planning::look_up_routines_once(txn, &ordered).await?;
    for row in &ordered {
        crate::planning::after_change(txn, row, row.updated_at).await?;
    }
    let routine_free = spans
        .into_iter()
        .filter(|(owner, _)| crate::planning::knows_no_routine_counts_from_last_session(txn, *owner))
        .map(|(owner, (_, last))| (owner, last))
        .collect();
    Ok(Some((ordered, routine_free)))
}

/// The rows of `news` inserted after checking their ids and taking their owners' numbers, a statement each;
/// `None` when an id is in use or an owner has no account.
async fn numbered_then_inserted(txn: &WriteTxn, news: &[&NewRecord]) -> Result<Option<Vec<Record>>, DbErr> {
    let mut owners: Vec<(Uuid, i32)> = Vec::new();
    for new in news {
        match owners.iter_mut().find(|(owner, _)| *owner == new.record.user_id) {
            Some((_, count)) => *count += 1,
            None => owners.push((new.record.user_id, 1)),
        }
    }
    let ids: Vec<Uuid> = news.iter().map(|new| new.record.id).collect();
    if tables::ids_in_use(txn, &ids, None).await? {
        return Ok(None); // Each goes its own way, to be compared or refused.
    }
    let Some(mut next) = numbers_taken(txn, &owners).await? else { return Ok(None) };
    let numbered: Vec<Record> = news
        .iter()
        .map(|new| {
            let seq = next.get_mut(&new.record.user_id).expect("every owner was numbered");
            let row = Record { change_seq: *seq, ..new.record.clone() };
            *seq += 1;
            row
        })
        .collect();
    let mut inserted = Vec::with_capacity(news.len());
    for kind in RecordKind::ALL {
        let rows: Vec<&Record> = numbered.iter().filter(|r| r.kind == kind).collect();
        if rows.is_empty() {
            continue;
        }
        on_table!(kind, t => {
            let if_new = OnConflict::column(t::Column::Id).do_nothing().to_owned();
            let stored = t::Entity::insert_many(rows.iter().map(|r| t::ActiveModel::from_record(r)))
                .on_conflict(if_new)
                .exec_with_returning(txn)
                .await?;
            inserted.extend(stored.into_iter().map(Record::from));
        });
    }
    Ok(Some(inserted))
}

/// Each owner's next `count` change numbers (as [`records::take_seqs`] takes them), taken by one statement for
/// all owners; gives the first of each owner's numbers, or `None` when an owner has no account. Several owners
/// are padded to 8 or 64 by repeating the last (its `WHEN` and `IN` repeated change nothing), so a few
/// prepared statements serve every batch.
async fn numbers_taken(txn: &WriteTxn, owners: &[(Uuid, i32)]) -> Result<Option<HashMap<Uuid, i64>>, DbErr> {
    use sea_orm::{Statement, Value};
    if let [(owner, count)] = *owners {
        let last = records::take_seqs(txn, owner, count).await?;
        return Ok(last.map(|last| HashMap::from([(owner, last - i64::from(count) + 1)])));
    }
    let backend = txn.get_database_backend();
    let padded = crate::db::padded(owners.to_vec(), &[8, super::MAX_BATCH]);
    let mut values: Vec<Value> = Vec::with_capacity(3 * padded.len());
    let mut placeholder = |value: Value, cast: &str| {
        values.push(value);
        match backend {
            DbBackend::Postgres => format!("${}::{cast}", values.len()),
            _ => "?".to_owned(),
        }
    };
    let whens: Vec<String> = padded
        .iter()
        .map(|&(owner, count)| {
            let owner = placeholder(Value::Uuid(Some(owner)), "uuid");
            format!("WHEN {owner} THEN {}", placeholder(Value::BigInt(Some(i64::from(count))), "bigint"))
        })
        .collect();
    let ids: Vec<String> = padded.iter().map(|&(owner, _)| placeholder(Value::Uuid(Some(owner)), "uuid")).collect();
    let sql = format!(
        "UPDATE users SET change_seq = change_seq + CASE id {} END WHERE id IN ({}) RETURNING id, change_seq",
        whens.join(" "),
        ids.join(", "),
    );
    let mut last: HashMap<Uuid, i64> = HashMap::with_capacity(owners.len());
    for row in txn.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await? {
        last.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
    }
    let mut first = HashMap::with_capacity(owners.len());
    for &(owner, count) in owners {
        let Some(last) = last.get(&owner) else { return Ok(None) };
        first.insert(owner, last - i64::from(count) + 1);
    }
    Ok(Some(first))
}
