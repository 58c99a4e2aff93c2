//! Business operations behind the handlers; each takes the database explicitly.

pub mod accounts;
pub mod admins;
pub mod audit;
pub mod care;
pub mod devices;
pub mod pages;
pub mod recovery;
pub mod secrets;
pub mod sessions;
pub mod verification;
