//! sea-orm models of milkflow's tables.

pub mod app_secret;
pub mod audit_entry;
pub mod auth_limit;
pub mod broadcast;
pub mod delivery;
pub mod device;
pub mod guide;
pub mod occurrence;
pub mod record;
pub mod refresh_token;
pub mod tip;
pub mod user;
