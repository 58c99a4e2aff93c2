//! On PostgreSQL, a batch's new records of one kind numbered and inserted by one statement.
//!
//! Under PUTs of one account its row is locked from the `UPDATE` of its change number to the commit, one batch
//! after another, so every round trip in between is time the account's other writes wait. Here the id check,
//! the numbering and the insert are one round trip. The columns come from the kind's entity.

use crate::db::WriteTxn;
use domain::RecordKind;
use sea_orm::{ActiveModelTrait, DbBackend, DbErr, EntityTrait, Iterable, Statement, Value};
use sea_orm::{ConnectionTrait, IdenStatic};
use std::collections::HashMap;
use uuid::Uuid;

use crate::records::Record;
use crate::records::tables::{FromRecord, on_table};

/// How many rows one statement names: the list is padded to the next of these with rows that have no owner
/// (and so join none and insert nothing), so that three prepared statements serve every batch of a kind.
const PADDED_SIZES: [usize; 3] = [1, 8, crate::writes::MAX_BATCH];

/// Inserts `rows` (all of `kind`, at least one), each with the next of its owner's change numbers, unless one
/// of their ids names a record of another kind. Gives the rows inserted, in no order: fewer than `rows` when an
/// id is in use (in any table) or an owner has no account, and the caller then rolls back.
pub(super) async fn numbered_and_inserted(
    txn: &WriteTxn,
    kind: RecordKind,
    rows: &[&Record],
) -> Result<Vec<Record>, DbErr> {
    on_table!(kind, t => {
        let models = t::Entity::find().from_raw_sql(statement::<t::Entity>(kind, rows)).all(txn).await?;
        Ok(models.into_iter().map(Record::from).collect())
    })
}

/// The statement: the rows as a `VALUES` list `v` (its `change_seq` holding how many of the owner's rows here
/// follow it), their owners' numbers raised by their counts (`numbered`, empty when an id is in use in another
/// table), and each row inserted with its owner's new number less that count, `ON CONFLICT (id) DO NOTHING`.
fn statement<E>(kind: RecordKind, rows: &[&Record]) -> Statement
where
    E: EntityTrait,
    E::ActiveModel: FromRecord,
{
    let columns: Vec<E::Column> = E::Column::iter().collect();
    let names: Vec<String> = columns.iter().map(|c| format!("\"{}\"", c.as_str())).collect();
    let mut following: HashMap<Uuid, i64> = HashMap::new();
    for row in rows {
        *following.entry(row.user_id).or_default() += 1;
    }
    let mut values: Vec<Value> = Vec::with_capacity(columns.len() * rows.len());
    for row in rows {
        let model = E::ActiveModel::from_record(row);
        let left = following.get_mut(&row.user_id).expect("every owner is counted");
        *left -= 1;
        values.extend(columns.iter().map(|c| match c.as_str() {
            "change_seq" => Value::BigInt(Some(*left)),
            _ => model.get(*c).into_value().expect("a record's row sets every column"),
        }));
    }
    // Padding rows: NULL in every column (of the first row's types), so their owner is none.
    let padding: Vec<Value> = values[..columns.len()].iter().map(Value::as_null).collect();
    for _ in rows.len()..crate::db::padded_len(rows.len(), &PADDED_SIZES) {
        values.extend(padding.iter().cloned());
    }
    let tuples: Vec<String> = (0..values.len() / columns.len())
        .map(|row| {
            let first = row * columns.len() + 1;
            let placeholders: Vec<String> = (first..first + columns.len()).map(|n| format!("${n}")).collect();
            format!("({})", placeholders.join(", "))
        })
        .collect();
    let taken: Vec<String> = RecordKind::ALL
        .into_iter()
        .filter(|other| *other != kind)
        .map(|other| format!("SELECT 1 FROM {} WHERE id IN (SELECT id FROM v)", other.name()))
        .collect();
    let chosen: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "change_seq" => "numbered.change_seq - v.change_seq".to_owned(),
            name => format!("v.\"{name}\""),
        })
        .collect();
    let sql = format!(
        "WITH v ({names}) AS (VALUES {tuples}), \
         counted AS (SELECT user_id AS id, count(*) AS n FROM v GROUP BY user_id), \
         numbered AS (UPDATE users SET change_seq = users.change_seq + counted.n FROM counted \
         WHERE users.id = counted.id AND NOT EXISTS ({taken}) RETURNING users.id, users.change_seq) \
         INSERT INTO {table} ({names}) SELECT {chosen} FROM v JOIN numbered ON numbered.id = v.user_id \
         ON CONFLICT (id) DO NOTHING RETURNING *",
        names = names.join(", "),
        tuples = tuples.join(", "),
        taken = taken.join(" UNION ALL "),
        table = kind.name(),
        chosen = chosen.join(", "),
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Whether `txn` is on PostgreSQL, where [`numbered_and_inserted`] serves.
pub(super) fn one_statement_per_kind(txn: &WriteTxn) -> bool {
    txn.get_database_backend() == DbBackend::Postgres
}
