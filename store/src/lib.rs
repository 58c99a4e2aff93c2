//! milkflow's data layer: the queries and use-cases the API and the scheduler share (records and their group
//! commit, planning reminders, a user's reminders, loading advisories, change numbers). Handlers never see how a write commits.

pub mod accounts;
pub mod admin_stats;
pub mod admin_users;
pub mod advice;
pub mod audit;
pub mod broadcasts;
pub mod content;
pub mod deliveries;
pub mod devices;
pub mod error;
pub mod housekeeping;
pub mod limits;
pub mod metrics;
pub mod planning;
pub mod records;
pub mod reminders;
pub mod seqs;
pub mod sessions;
pub mod stats;
pub mod writes;

pub use error::StoreError;

/// A `LIKE` pattern (escaped with `\`) matching strings that start with `raw`, its `%`, `_` and `\` taken
/// literally.
pub(crate) fn like_prefix(raw: &str) -> String {
    let escaped: String =
        raw.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    format!("{escaped}%")
}
