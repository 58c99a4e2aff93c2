//! milkflow's data layer: the queries and use-cases the API and the scheduler share (records and their group
//! commit, planning reminders, a user's reminders, loading advisories, change numbers). Handlers never see how a write commits.

pub mod accounts;
pub mod advice;
pub mod audit;
pub mod devices;
pub mod error;
pub mod metrics;
pub mod planning;
pub mod records;
pub mod reminders;
pub mod seqs;
pub mod sessions;
pub mod stats;
pub mod writes;

pub use error::StoreError;
