//! milkflow's data layer: the connection and migrations, the queries and use-cases the API and the scheduler
//! share (records and their group commit, planning reminders, a user's reminders, loading advisories, change
//! numbers). Handlers never see how a write commits.

pub mod accounts;
pub mod admin_stats;
pub mod admin_users;
pub mod advice;
pub mod audit;
pub mod broadcasts;
pub mod care;
pub mod content;
pub mod db;
pub mod deliveries;
pub mod devices;
pub mod email_tokens;
pub mod error;
pub mod housekeeping;
mod lease;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod planning;
pub mod records;
pub mod recovery;
pub mod reminders;
pub mod secrets;
pub mod seqs;
pub mod sessions;
pub mod staging;
pub mod stats;
pub mod writes;

pub use db::Database;
pub use error::StoreError;
/// The database driver's error, as the functions that run single statements give it.
pub use sea_orm::DbErr;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// A `LIKE` pattern (escaped with `\`) matching strings that start with `raw`, its `%`, `_` and `\` taken
/// literally.
pub(crate) fn like_prefix(raw: &str) -> String {
    let escaped: String =
        raw.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    format!("{escaped}%")
}

/// The rows of `E` whose `column` is one of `ids`, by `key`, read [`planning::IN_CHUNK`] ids at a time.
pub(crate) async fn rows_by_id<E: EntityTrait>(
    db: &impl ConnectionTrait,
    ids: &HashSet<Uuid>,
    column: E::Column,
    key: impl Fn(&E::Model) -> Uuid,
) -> Result<HashMap<Uuid, E::Model>, DbErr> {
    let mut found = HashMap::with_capacity(ids.len());
    for ids in ids.iter().copied().collect::<Vec<_>>().chunks(planning::IN_CHUNK) {
        for row in E::find().filter(column.is_in(ids.iter().copied())).all(db).await? {
            found.insert(key(&row), row);
        }
    }
    Ok(found)
}
